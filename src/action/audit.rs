//! The audit log: one JSON line per attempt, appended to `audit.jsonl` in the
//! XDG state directory (or `[act] audit`).
//!
//! A sent attempt writes two lines with the same `attempt` id: `sending`
//! before the request leaves (if that write fails, nothing is sent) and the
//! outcome after. [`recent`] shows one entry per attempt, so an interrupted
//! one still shows up as `sending`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Origin;
use super::rollback::DeploymentRef;

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Refused before anything was sent.
    Refused,
    /// About to send (the outcome line follows unless the process died).
    Sending,
    /// The upstream answered 2xx.
    Succeeded,
    /// The upstream answered, not 2xx.
    Failed,
    /// No answer: timeout, connection refused, TLS.
    Error,
}

/// Who started an attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Who {
    /// `git config user.email`.
    pub email: Option<String>,
    /// The OS user.
    pub user: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the line was written.
    pub time: DateTime<Utc>,
    /// Same for the `sending` and the outcome line of one attempt.
    pub attempt: String,
    /// Action id as asked for (it may not exist).
    pub action: String,
    /// Environment of a per-environment action.
    pub environment: Option<String>,
    /// The deployment a rollback goes back to: its id and sha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRef>,
    /// Who.
    pub who: Who,
    /// `cli` or `dashboard`.
    pub from: Origin,
    /// Method, URL and the start of the body, secrets masked.
    pub request: Option<String>,
    /// The upstream's HTTP status.
    pub status: Option<u16>,
    /// What became of it.
    pub outcome: AuditOutcome,
    /// Why refused / failed, or the start of the answer; secrets masked.
    pub detail: Option<String>,
}

/// `audit.jsonl` in the user's state directory ([`crate::paths::state_dir`]:
/// `$XDG_STATE_HOME/villa-telemetry`, else `~/.local/state/villa-telemetry`).
pub fn default_path() -> Option<PathBuf> {
    crate::paths::state_dir().map(|d| d.join("audit.jsonl"))
}

/// Why the audit log cannot be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No state directory (no home) and no `[act] audit`.
    #[error("no place for the audit log: set XDG_STATE_HOME or HOME, or `[act] audit = \"FILE\"`")]
    NoPlace,
    /// A symbolic link is at the log's path: it is never written through.
    #[error(
        "refusing to write the audit log {}: it is a symbolic link, and the log is never written through one",
        path.display()
    )]
    Symlink {
        /// The log's path.
        path: PathBuf,
    },
    /// Creating the directories, opening, writing or syncing failed.
    #[error("cannot write the audit log {}: {source}", path.display())]
    Write {
        /// The log's path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the log failed (other than its absence).
    #[error("cannot read the audit log {}: {source}", path.display())]
    Read {
        /// The log's path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An entry could not be made JSON.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
}

/// The configured path, else the default one.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, AuditError> {
    match configured {
        Some(p) => Ok(p.to_path_buf()),
        None => default_path().ok_or(AuditError::NoPlace),
    }
}

/// [`locate`] with the reason as text, for a caller that keeps it so
/// (the dashboard's action desk, until it holds an [`AuditError`]).
pub fn path_for(configured: Option<&Path>) -> Result<PathBuf, String> {
    locate(configured).map_err(|e| e.to_string())
}

/// Appends one line; the file (0600) and its missing directories (0700) are
/// created as needed. The line is one `write` on a file opened for
/// appending, then synced. A symbolic link at `path` is refused, not
/// followed: whoever can plant one could point the log at any file of ours.
pub fn append(path: &Path, entry: &AuditEntry) -> Result<(), AuditError> {
    let fail = |source: std::io::Error| AuditError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dirs(dir).map_err(fail)?;
    }
    let line = line_of(entry)?;
    let mut file = open_private(path).map_err(|e| match e {
        OpenError::Link => AuditError::Symlink {
            path: path.to_path_buf(),
        },
        OpenError::Io(e) => fail(e),
    })?;
    file.write_all(line.as_bytes()).map_err(fail)?;
    file.sync_data().map_err(fail)
}

/// Longest line written, in bytes with its newline: a line never carries
/// a whole request body or answer, whoever sends what.
pub const LINE_MAX: usize = 4096;

/// `entry` as one JSON line of at most [`LINE_MAX`] bytes: each text field
/// cut to its budget, counted in bytes as JSON writes it (escapes too), so
/// the budgets plus the fixed part stay under the bound. The fields come
/// redacted by the caller (only it knows the request's secrets); cutting
/// after redaction cannot leave a piece of a secret that no longer matches.
fn line_of(entry: &AuditEntry) -> serde_json::Result<String> {
    let cut_opt = |t: &Option<String>, n| t.as_deref().map(|t| cut(t, n));
    let bounded = AuditEntry {
        time: entry.time,
        attempt: cut(&entry.attempt, 96),
        action: cut(&entry.action, 256),
        environment: cut_opt(&entry.environment, 256),
        deployment: entry.deployment.as_ref().map(|d| DeploymentRef {
            id: d.id,
            sha: cut(&d.sha, 128),
        }),
        who: Who {
            email: cut_opt(&entry.who.email, 192),
            user: cut_opt(&entry.who.user, 128),
        },
        from: entry.from,
        request: cut_opt(&entry.request, 1280),
        status: entry.status,
        outcome: entry.outcome,
        detail: cut_opt(&entry.detail, 1280),
    };
    let mut line = serde_json::to_string(&bounded)?;
    line.push('\n');
    Ok(line)
}

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `text` if it fits in `budget` JSON bytes, else its start and
/// `… (cut, N bytes)` (N: the whole text's length), together within budget.
fn cut(text: &str, budget: usize) -> String {
    let mut used = 0;
    if text.chars().all(|c| {
        used += json_len(c);
        used <= budget
    }) {
        return text.to_owned();
    }
    let note = format!("… (cut, {} bytes)", text.len());
    let room = budget.saturating_sub(note.chars().map(json_len).sum());
    let (mut used, mut end) = (0, 0);
    for (i, c) in text.char_indices() {
        used += json_len(c);
        if used > room {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}{note}", &text[..end])
}

/// `dir` and its missing parents, the new ones 0700 (existing ones keep
/// their mode: they may be the user's own choice, like a project folder).
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Why the log file could not be opened.
enum OpenError {
    /// A symbolic link is at the path.
    Link,
    Io(std::io::Error),
}

/// Opens `path` for appending without following a symbolic link there; a
/// new file is 0600, an existing one loses any group and other bits.
fn open_private(path: &Path) -> Result<std::fs::File, OpenError> {
    // The check names the problem; O_NOFOLLOW closes the gap between the
    // check and the open (and is the only guard where `open` would race).
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(OpenError::Link);
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(|e| {
        // ELOOP: a link planted since the check (or a loop further up).
        let planted = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if planted {
            OpenError::Link
        } else {
            OpenError::Io(e)
        }
    })?;
    #[cfg(unix)]
    narrow_mode(&file);
    Ok(file)
}

/// A log made by an older version (or by hand) may be 0644: take away the
/// group and other bits, never add any. Best effort: a file we may append
/// to but not chmod (someone else's) is still written.
#[cfg(unix)]
fn narrow_mode(file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700));
        }
    }
}

/// The last `limit` attempts, oldest first, one entry per attempt (its last
/// line). Lines that do not parse are skipped and counted.
pub fn recent(path: &Path, limit: usize) -> Result<(Vec<AuditEntry>, usize), AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(AuditError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut order: Vec<AuditEntry> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<AuditEntry>(line) {
            Ok(e) => match index.get(&e.attempt) {
                Some(&i) => order[i] = e,
                None => {
                    index.insert(e.attempt.clone(), order.len());
                    order.push(e);
                }
            },
            Err(_) => bad += 1,
        }
    }
    let skip = order.len().saturating_sub(limit);
    Ok((order.split_off(skip), bad))
}

/// A fresh attempt id: time and process, unique enough to pair two lines.
pub fn attempt_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Who runs this process: git `user.email` (read in `dir`, under a deadline)
/// and the OS user.
pub fn who(dir: &Path) -> Who {
    let email = git_email(dir);
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    Who { email, user }
}

fn git_email(dir: &Path) -> Option<String> {
    let mut child = std::process::Command::new("git")
        .args(["config", "--get", "user.email"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut()?, &mut out).ok()?;
    let email = out.trim().to_owned();
    (!email.is_empty()).then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attempt: &str, outcome: AuditOutcome) -> AuditEntry {
        AuditEntry {
            time: Utc::now(),
            attempt: attempt.into(),
            action: "promote".into(),
            environment: None,
            deployment: None,
            who: Who::default(),
            from: Origin::Cli,
            request: None,
            status: None,
            outcome,
            detail: None,
        }
    }

    #[test]
    fn recent_keeps_the_last_line_of_each_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/audit.jsonl");
        append(&path, &entry("1", AuditOutcome::Refused)).unwrap();
        append(&path, &entry("2", AuditOutcome::Sending)).unwrap();
        append(&path, &entry("2", AuditOutcome::Succeeded)).unwrap();
        append(&path, &entry("3", AuditOutcome::Sending)).unwrap();
        let (all, bad) = recent(&path, 10).unwrap();
        let outcomes: Vec<_> = all.iter().map(|e| e.outcome).collect();
        assert_eq!(
            outcomes,
            [
                AuditOutcome::Refused,
                AuditOutcome::Succeeded,
                AuditOutcome::Sending
            ]
        );
        assert_eq!(bad, 0);
        assert_eq!(recent(&path, 1).unwrap().0[0].attempt, "3");
    }

    #[test]
    fn every_line_is_bounded_whatever_the_fields_hold() {
        // Worst cases per byte: control characters (6 each escaped),
        // 4-byte characters, quotes; and a plain huge body.
        for filler in ["\u{1}", "😀", "\"", "p"] {
            let big = filler.repeat(1_000_000);
            let mut e = entry(&big, AuditOutcome::Succeeded);
            e.action = big.clone();
            e.environment = Some(big.clone());
            e.deployment = Some(DeploymentRef {
                id: u64::MAX,
                sha: big.clone(),
            });
            e.who = Who {
                email: Some(big.clone()),
                user: Some(big.clone()),
            };
            e.from = Origin::Dashboard;
            e.request = Some(big.clone());
            e.status = Some(u16::MAX);
            e.detail = Some(big.clone());
            let line = line_of(&e).unwrap();
            assert!(line.len() <= LINE_MAX, "{filler:?}: {} bytes", line.len());
            let back: AuditEntry = serde_json::from_str(&line).unwrap();
            let detail = back.detail.unwrap();
            assert!(
                detail.ends_with(&format!("… (cut, {} bytes)", big.len())),
                "{filler:?}: says what was cut"
            );
            assert!(detail.starts_with(filler), "keeps the start");
        }
    }

    #[test]
    fn short_fields_are_written_as_they_are() {
        let mut e = entry("1", AuditOutcome::Refused);
        e.detail = Some("cross-site request refused (Sec-Fetch-Site: cross-site)".into());
        let line = line_of(&e).unwrap();
        assert_eq!(line, format!("{}\n", serde_json::to_string(&e).unwrap()));
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(
            cut(&"a".repeat(100), 30),
            format!("{}… (cut, 100 bytes)", "a".repeat(10))
        );
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn the_log_is_0600_its_new_directories_0700_an_old_one_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/audit.jsonl");
        append(&path, &entry("1", AuditOutcome::Refused)).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        // An existing 0640 log loses its group bit (nothing is ever added).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        append(&path, &entry("2", AuditOutcome::Refused)).unwrap();
        assert_eq!(mode(&path), 0o600);
        let (all, _) = recent(&path, 10).unwrap();
        assert_eq!(all.len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_path_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep\n").unwrap();
        let path = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = append(&path, &entry("1", AuditOutcome::Refused)).unwrap_err();
        assert!(matches!(&err, AuditError::Symlink { path: p } if *p == path));
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to write the audit log {}: it is a symbolic link, and the log is never written through one",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        // A dangling link would be created through: refused the same way.
        std::fs::remove_file(&target).unwrap();
        assert!(append(&path, &entry("1", AuditOutcome::Refused)).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn append_to_an_unwritable_place_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        assert!(
            append(
                &file.join("audit.jsonl"),
                &entry("1", AuditOutcome::Refused)
            )
            .is_err()
        );
    }
}
