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

/// `$XDG_STATE_HOME/villa-telemetry/audit.jsonl`, else
/// `~/.local/state/villa-telemetry/audit.jsonl`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(base.join("villa-telemetry").join("audit.jsonl"))
}

/// The configured path, else the default one.
pub fn path_for(configured: Option<&Path>) -> Result<PathBuf, String> {
    match configured {
        Some(p) => Ok(p.to_path_buf()),
        None => default_path().ok_or_else(|| {
            "no place for the audit log: set XDG_STATE_HOME or HOME, or `[act] audit = \"FILE\"`"
                .to_owned()
        }),
    }
}

/// Appends one line; the file and its directory are created as needed.
/// The line is one `write` on a file opened for appending, then synced.
pub fn append(path: &Path, entry: &AuditEntry) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write the audit log {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut line = serde_json::to_string(entry).map_err(|e| e.to_string())?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(line.as_bytes()).map_err(fail)?;
    file.sync_data().map_err(fail)
}

/// The last `limit` attempts, oldest first, one entry per attempt (its last
/// line). Lines that do not parse are skipped and counted.
pub fn recent(path: &Path, limit: usize) -> Result<(Vec<AuditEntry>, usize), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(format!("cannot read the audit log {}: {e}", path.display())),
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
