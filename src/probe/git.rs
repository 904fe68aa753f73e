//! Git probe: the local repository's branch, HEAD, last message, uncommitted
//! changes and ahead/behind its upstream, from the `git` command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::process::Command;

use super::{Observation, Probed, Verdict};

/// Runs git in `dir` and returns stdout, or a reason a person can act on.
pub async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "git is not installed (or not on PATH); install git to use git checks".to_owned()
            } else {
                format!("cannot run git: {e}")
            }
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if err.contains("not a git repository") {
            Err(format!("{} is not a git repository", dir.display()))
        } else if err.contains("dubious ownership") {
            Err(format!(
                "git refuses {} (dubious ownership); run `git config --global --add safe.directory {}`",
                dir.display(),
                dir.display()
            ))
        } else {
            Err(format!("git {} failed: {err}", args.join(" ")))
        }
    }
}

/// Observes the repository at `dir`.
pub async fn observe(dir: PathBuf) -> Probed {
    let started = Instant::now();
    if !dir.is_dir() {
        return Probed::error(
            format!("{} does not exist or is not a directory", dir.display()),
            started.elapsed(),
        );
    }
    let status = match git(&dir, &["status", "--porcelain=v2", "--branch"]).await {
        Ok(s) => s,
        Err(e) => return Probed::error(e, started.elapsed()),
    };
    let facts = parse_status(&status);
    let (sha, sha_full, message) = if facts.oid.is_none() {
        (String::new(), String::new(), String::new())
    } else {
        match git(&dir, &["log", "-1", "--format=%h%x00%H%x00%s"]).await {
            Ok(out) => {
                let mut parts = out.trim_end_matches('\n').splitn(3, '\0');
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            }
            Err(e) => return Probed::error(e, started.elapsed()),
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

/// Commits `a` lacks that `b` has, and the other way round, when both are in
/// the repository at `dir`: `(behind, ahead)` of `a` relative to `b`.
pub async fn count_between(dir: &Path, a: &str, b: &str) -> Result<(u64, u64), String> {
    for sha in [a, b] {
        git(dir, &["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .await
            .map_err(|_| {
                format!(
                    "commit {sha} is not in the local repository {}",
                    dir.display()
                )
            })?;
    }
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

/// Whether `ancestor` is contained in `tip` in the repository at `dir`.
pub async fn contains(dir: &Path, tip: &str, ancestor: &str) -> Result<bool, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["merge-base", "--is-ancestor", ancestor, tip])
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    match out.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "commit {tip} or {ancestor} is not in {}",
            dir.display()
        )),
    }
}

/// Default time a git check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

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
