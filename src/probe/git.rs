//! Git probe: the local repository's branch, HEAD, last message, uncommitted
//! changes and ahead/behind its upstream, from the `git` command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::process::Command;

use super::{ErrorKind, Observation, Probed, Verdict};

/// Settings that keep git from running programs a repository configures:
/// the repository's own `.git/config` is not trusted (it may come with a
/// downloaded or shared checkout), the user's and the system's are.
const OVERRIDES: &[&str] = &[
    // `git status` would start the fsmonitor daemon or hook.
    "core.fsmonitor=false",
    // Index writes trigger `post-index-change`; no hook runs from here.
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "diff.external=",
    // An empty value empties the list of helpers.
    "credential.helper=",
];

/// A `git` command in `dir` with every guard applied, and nothing
/// inherited that points git elsewhere. Every git call goes through here.
fn command(dir: &Path, filter_keys: &[String]) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("--no-pager")
        // `status` would otherwise refresh (write) the index.
        .arg("--no-optional-locks");
    for setting in OVERRIDES {
        cmd.arg("-c").arg(setting);
    }
    for key in filter_keys {
        cmd.arg("-c").arg(format!("{key}="));
    }
    cmd.arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_EXTERNAL_DIFF")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// The repository's clean/smudge/process filter commands (by config key):
/// `git status` runs a clean filter on a file whose stat data changed, and
/// the filter's name is chosen by the repository's `.gitattributes`, so the
/// only way to switch them off is to blank each key the config defines.
async fn filter_keys(dir: &Path) -> Vec<String> {
    let out = command(dir, &[])
        .args([
            "config",
            "--name-only",
            "--get-regexp",
            r"^filter\..*\.(clean|smudge|process)$",
        ])
        .output()
        .await;
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Why git gave no answer; each says what a person can do about it.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No `git` on PATH.
    #[error("git is not installed (or not on PATH); install git to use git checks")]
    NotInstalled(#[source] std::io::Error),
    /// git could not be started for another reason.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// The directory is not inside a repository.
    #[error("{} is not a git repository", dir.display())]
    NotARepository {
        /// The directory.
        dir: PathBuf,
    },
    /// git's `safe.directory` check refused a repository of another user.
    #[error(
        "git refuses {} (dubious ownership); run `git config --global --add safe.directory {}`",
        dir.display(),
        dir.display()
    )]
    DubiousOwnership {
        /// The directory.
        dir: PathBuf,
    },
    /// git ran and failed: its own words.
    #[error("git {args} failed: {stderr}")]
    Failed {
        /// The arguments, space-separated.
        args: String,
        /// git's stderr, trimmed.
        stderr: String,
    },
    /// A commit to compare is not in the local repository.
    #[error("commit {sha} is not in the local repository {}", dir.display())]
    MissingCommit {
        /// The commit asked for.
        sha: String,
        /// The repository.
        dir: PathBuf,
        /// What `git cat-file` said.
        source: Box<GitError>,
    },
    /// `merge-base --is-ancestor` could not decide (a commit is missing).
    #[error("commit {tip} or {ancestor} is not in {}", dir.display())]
    Undecided {
        /// The commit that may contain the other.
        tip: String,
        /// The commit that may be contained.
        ancestor: String,
        /// The repository.
        dir: PathBuf,
    },
}

/// Why git could not be started.
fn spawn_error(e: std::io::Error) -> GitError {
    if e.kind() == std::io::ErrorKind::NotFound {
        GitError::NotInstalled(e)
    } else {
        GitError::Spawn(e)
    }
}

/// Runs git in `dir` (guarded: see [`command`]) and returns stdout, or a
/// reason a person can act on.
pub async fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let filters = filter_keys(dir).await;
    let out = command(dir, &filters)
        .args(args)
        .output()
        .await
        .map_err(spawn_error)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let dir = dir.to_path_buf();
        if err.contains("not a git repository") {
            Err(GitError::NotARepository { dir })
        } else if err.contains("dubious ownership") {
            Err(GitError::DubiousOwnership { dir })
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                stderr: err,
            })
        }
    }
}

/// Observes the repository at `dir`.
pub async fn observe(dir: PathBuf) -> Probed {
    let started = Instant::now();
    if !dir.is_dir() {
        return Probed::error(
            ErrorKind::Config,
            format!("{} does not exist or is not a directory", dir.display()),
            started.elapsed(),
        );
    }
    // Submodules are compared by commit only: looking inside one runs a
    // second git there.
    let status = match git(
        &dir,
        &[
            "status",
            "--porcelain=v2",
            "--branch",
            "--ignore-submodules=dirty",
        ],
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Probed::error(ErrorKind::Git, e.to_string(), started.elapsed()),
    };
    let facts = parse_status(&status);
    let (sha, sha_full, message) = if facts.oid.is_none() {
        (String::new(), String::new(), String::new())
    } else {
        match git(
            &dir,
            &[
                "log",
                "--no-show-signature",
                "-1",
                "--format=%h%x00%H%x00%s",
            ],
        )
        .await
        {
            Ok(out) => {
                let mut parts = out.trim_end_matches('\n').splitn(3, '\0');
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            }
            Err(e) => return Probed::error(ErrorKind::Git, e.to_string(), started.elapsed()),
        }
    };
    let duration = started.elapsed();
    let value = json!({
        "branch": facts.branch,
        "sha": sha,
        "sha_full": sha_full,
        "message": message,
        "uncommitted_changes": facts.changes,
        "upstream": facts.upstream,
        "ahead": facts.ahead,
        "behind": facts.behind,
    });
    // Unknowns (no upstream) stay null in `$` but are not shown as fields.
    let fields: Map<String, Value> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut summary = match (&facts.branch, sha.is_empty()) {
        (_, true) => "empty repository (no commits yet)".to_owned(),
        (Some(b), false) => format!("{b} at {sha}"),
        (None, false) => format!("detached HEAD at {sha}"),
    };
    if facts.changes > 0 {
        summary.push_str(&format!(", {} uncommitted", facts.changes));
    }
    if let (Some(a), Some(b)) = (facts.ahead, facts.behind)
        && (a > 0 || b > 0)
    {
        summary.push_str(&format!(", {a} ahead / {b} behind upstream"));
    }
    Probed {
        observation: Observation {
            value,
            body_is_json: true,
            duration,
            ..Observation::default()
        },
        summary,
        fields,
        verdict: Verdict::Pass,
        log: Vec::new(),
    }
}

#[derive(Debug, Default, PartialEq)]
struct StatusFacts {
    oid: Option<String>,
    branch: Option<String>,
    upstream: Option<String>,
    ahead: Option<u64>,
    behind: Option<u64>,
    changes: u64,
}

/// Reads `git status --porcelain=v2 --branch`.
fn parse_status(text: &str) -> StatusFacts {
    let mut f = StatusFacts::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# branch.oid ") {
            f.oid = (rest != "(initial)").then(|| rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("# branch.head ") {
            f.branch = (rest != "(detached)").then(|| rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("# branch.upstream ") {
            f.upstream = Some(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("# branch.ab ") {
            let mut it = rest.split_whitespace();
            f.ahead = it
                .next()
                .and_then(|a| a.trim_start_matches('+').parse().ok());
            f.behind = it
                .next()
                .and_then(|b| b.trim_start_matches('-').parse().ok());
        } else if !line.starts_with('#') && !line.is_empty() {
            f.changes += 1;
        }
    }
    f
}

/// [`GitError::MissingCommit`] for the first of `shas` the repository at
/// `dir` does not have.
async fn has_commits(dir: &Path, shas: [&str; 2]) -> Result<(), GitError> {
    for sha in shas {
        git(dir, &["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .await
            .map_err(|e| GitError::MissingCommit {
                sha: sha.to_owned(),
                dir: dir.to_path_buf(),
                source: Box::new(e),
            })?;
    }
    Ok(())
}

/// Commits `a` lacks that `b` has, and the other way round, when both are in
/// the repository at `dir`: `(behind, ahead)` of `a` relative to `b`.
pub async fn count_between(dir: &Path, a: &str, b: &str) -> Result<(u64, u64), GitError> {
    has_commits(dir, [a, b]).await?;
    let out = git(
        dir,
        &["rev-list", "--left-right", "--count", &format!("{a}...{b}")],
    )
    .await?;
    let mut it = out
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let ahead = it.next().unwrap_or(0);
    let behind = it.next().unwrap_or(0);
    Ok((behind, ahead))
}

/// One commit as `git log` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedCommit {
    /// Full sha.
    pub sha: String,
    /// Subject line.
    pub subject: String,
    /// Author name.
    pub author: String,
    /// Author date, strict ISO 8601.
    pub date: String,
}

/// The commits after `from` up to `to` in the repository at `dir`, oldest
/// first, at most the newest `limit` of them, and how many there are in all;
/// [`GitError::MissingCommit`] when the clone lacks either commit.
pub async fn log_between(
    dir: &Path,
    from: &str,
    to: &str,
    limit: usize,
) -> Result<(Vec<LoggedCommit>, u64), GitError> {
    has_commits(dir, [from, to]).await?;
    let range = format!("{from}..{to}");
    let total = git(dir, &["rev-list", "--count", &range]).await?;
    let total = total.trim().parse::<u64>().unwrap_or(0);
    // `-n` takes the newest, `--reverse` then orders them oldest first. No
    // signature check: verifying one would run the repository's gpg.program.
    let out = git(
        dir,
        &[
            "log",
            "--no-show-signature",
            "--reverse",
            "-n",
            &limit.to_string(),
            "--format=%H%x00%s%x00%an%x00%aI",
            &range,
        ],
    )
    .await?;
    let commits = out
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, '\0');
            Some(LoggedCommit {
                sha: parts.next().filter(|s| !s.is_empty())?.to_owned(),
                subject: parts.next()?.to_owned(),
                author: parts.next()?.to_owned(),
                date: parts.next()?.to_owned(),
            })
        })
        .collect();
    Ok((commits, total))
}

/// Whether `ancestor` is contained in `tip` in the repository at `dir`.
pub async fn contains(dir: &Path, tip: &str, ancestor: &str) -> Result<bool, GitError> {
    let filters = filter_keys(dir).await;
    let out = command(dir, &filters)
        .args(["merge-base", "--is-ancestor", ancestor, tip])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .map_err(GitError::Spawn)?;
    match out.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(GitError::Undecided {
            tip: tip.to_owned(),
            ancestor: ancestor.to_owned(),
            dir: dir.to_path_buf(),
        }),
    }
}

/// Default time a git check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_commit_names_it_and_keeps_what_git_said() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let e = count_between(dir.path(), "abc1234", "def5678")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "commit abc1234 is not in the local repository {}",
                dir.path().display()
            )
        );
        let under = e
            .source()
            .and_then(|s| s.downcast_ref::<Box<GitError>>())
            .expect("git's own answer underneath");
        assert!(
            matches!(**under, GitError::NotARepository { .. }),
            "{under:?}"
        );
    }

    /// The newest `limit` commits of a range, oldest first, and the count
    /// of all of them.
    #[tokio::test]
    async fn a_log_between_lists_the_newest_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
                .args(["-c", "commit.gpgsign=false"])
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .current_dir(dir.path())
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        for n in 0..4 {
            run(&["commit", "-q", "--allow-empty", "-m", &format!("c{n}")]);
        }
        let sha = |rev: &str| {
            let out = std::process::Command::new("git")
                .args(["rev-parse", rev])
                .current_dir(dir.path())
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let (from, to) = (sha("HEAD~3"), sha("HEAD"));
        let (commits, total) = log_between(dir.path(), &from, &to, 2).await.unwrap();
        assert_eq!(total, 3);
        let subjects: Vec<&str> = commits.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(subjects, ["c2", "c3"]);
        assert_eq!(commits[1].sha, to);
        let missing = log_between(dir.path(), &from, "0123456789abcdef", 2).await;
        assert!(
            matches!(missing, Err(GitError::MissingCommit { .. })),
            "{missing:?}"
        );
    }

    #[test]
    fn parses_porcelain_v2() {
        let text = "# branch.oid 1234abcd\n# branch.head main\n# branch.upstream origin/main\n# branch.ab +2 -1\n1 .M N... 100644 100644 100644 a b src/x.rs\n? new.txt\n";
        let f = parse_status(text);
        assert_eq!(f.branch.as_deref(), Some("main"));
        assert_eq!(f.upstream.as_deref(), Some("origin/main"));
        assert_eq!((f.ahead, f.behind), (Some(2), Some(1)));
        assert_eq!(f.changes, 2);
        let empty = parse_status("# branch.oid (initial)\n# branch.head (detached)\n");
        assert_eq!(empty.oid, None);
        assert_eq!(empty.branch, None);
    }
}
