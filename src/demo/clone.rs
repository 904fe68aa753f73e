//! The demo's own clone: a small git repository holding the world's
//! commits, so the `git` check, "is my HEAD deployed" and the drift have
//! real answers instead of the questions about the checkout `demo` was
//! started in.
//!
//! The commits are made with fixed names, dates and contents, so their
//! shas are the same on every machine and the world's constants
//! ([`OLD_SHA`], [`NEW_SHA`], [`HEAD_SHA`]) name them.
//!
//! ```text
//! main:    361d279 ── OLD (production) ── MID ── NEW (staging, local)
//! feature/checkout-retry:                          └── HEAD (your clone)
//! ```

use std::io;
use std::path::{Path, PathBuf};

use tokio::process::Command;

/// One commit of the world, oldest first in [`COMMITS`].
#[derive(Debug, Clone, Copy)]
pub struct WorldCommit {
    /// Its sha (what git makes of the fields below).
    pub sha: &'static str,
    /// The first line of its message.
    pub message: &'static str,
    /// Author name.
    pub author: &'static str,
    /// Author e-mail.
    pub email: &'static str,
    /// Author and committer date, RFC 3339.
    pub date: &'static str,
    /// The one file it changes, and that file's new content.
    pub file: (&'static str, &'static str),
}

/// The first commit.
pub const FIRST_SHA: &str = "361d279c7077cab74e80171e65afb83643fb0f8e";
/// What production runs in the drift scenario.
pub const OLD_SHA: &str = "0d17d7f6d2044232eb1026811965b49ea43d56b3";
/// The commit between production and staging in the drift scenario.
pub const MID_SHA: &str = "72f64e60b4a800308a4da0436d4b8d9658122de6";
/// What staging (and the local dev server) run.
pub const NEW_SHA: &str = "0b67ce8d225fdc61cb164ff68aee096569369c53";
/// The clone's HEAD: one commit ahead of staging on a feature branch.
pub const HEAD_SHA: &str = "11548419c35fd91681ef40b060d96df56d542340";
/// The branch HEAD is on.
pub const HEAD_BRANCH: &str = "feature/checkout-retry";

/// The world's commits on `main`, oldest first, then HEAD's.
pub const COMMITS: [WorldCommit; 5] = [
    WorldCommit {
        sha: FIRST_SHA,
        message: "Start the bookings API",
        author: "Ana Lima",
        email: "ana@villa.example",
        date: "2026-11-20T09:00:00Z",
        file: ("api/bookings.txt", "GET /bookings\n"),
    },
    WorldCommit {
        sha: OLD_SHA,
        message: "Show room prices with tax",
        author: "Ben Okafor",
        email: "ben@villa.example",
        date: "2026-11-24T10:12:00Z",
        file: ("api/rooms.txt", "GET /rooms (prices with tax)\n"),
    },
    WorldCommit {
        sha: MID_SHA,
        message: "Cache the room list for 60 seconds",
        author: "Ana Lima",
        email: "ana@villa.example",
        date: "2026-11-30T15:40:00Z",
        file: (
            "api/rooms.txt",
            "GET /rooms (prices with tax, cached 60s)\n",
        ),
    },
    WorldCommit {
        sha: NEW_SHA,
        message: "Move sessions to Redis",
        author: "Ben Okafor",
        email: "ben@villa.example",
        date: "2026-12-01T11:05:00Z",
        file: ("api/sessions.txt", "sessions: redis\n"),
    },
    WorldCommit {
        sha: HEAD_SHA,
        message: "Retry the payment call once on a timeout",
        author: "Ana Lima",
        email: "ana@villa.example",
        date: "2026-12-02T16:20:00Z",
        file: (
            "api/payments.txt",
            "POST /payments (one retry on timeout)\n",
        ),
    },
];

/// The clone and the bare repository it pushes to (its `origin`).
#[derive(Debug)]
pub struct Clone {
    /// The working tree the `git` check looks at.
    pub dir: PathBuf,
}

/// A git command that reads no user or system configuration, so the
/// commits hash the same everywhere (no signing, no hooks, no templates).
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "init.defaultBranch=main",
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> io::Result<String> {
    let out = git(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(io::Error::other(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

async fn commit(dir: &Path, c: &WorldCommit) -> io::Result<String> {
    let (path, content) = c.file;
    let file = dir.join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file, content)?;
    run(dir, &["add", path], &[]).await?;
    let env = [
        ("GIT_AUTHOR_NAME", c.author),
        ("GIT_AUTHOR_EMAIL", c.email),
        ("GIT_AUTHOR_DATE", c.date),
        ("GIT_COMMITTER_NAME", c.author),
        ("GIT_COMMITTER_EMAIL", c.email),
        ("GIT_COMMITTER_DATE", c.date),
    ];
    run(dir, &["commit", "-q", "-m", c.message], &env).await?;
    run(dir, &["rev-parse", "HEAD"], &[]).await
}

impl Clone {
    /// Makes the clone in `dir/clone` (and its origin in `dir/origin.git`):
    /// `main` up to [`NEW_SHA`], HEAD on [`HEAD_BRANCH`] one commit ahead,
    /// both pushed, nothing uncommitted. Fails when git is missing or makes
    /// other shas than [`COMMITS`] names (a git that hashes differently
    /// would make every answer of the world wrong).
    pub async fn create(dir: &Path) -> io::Result<Clone> {
        let origin = dir.join("origin.git");
        let clone = dir.join("clone");
        for d in [&origin, &clone] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
            std::fs::create_dir_all(d)?;
        }
        run(&origin, &["init", "-q", "--bare"], &[]).await?;
        run(&clone, &["init", "-q"], &[]).await?;
        let origin_url = origin.display().to_string();
        run(&clone, &["remote", "add", "origin", &origin_url], &[]).await?;
        let (head, main) = COMMITS.split_last().expect("five commits");
        for c in main {
            check(c, &commit(&clone, c).await?)?;
        }
        run(&clone, &["push", "-q", "-u", "origin", "main"], &[]).await?;
        run(&clone, &["checkout", "-q", "-b", HEAD_BRANCH], &[]).await?;
        check(head, &commit(&clone, head).await?)?;
        run(&clone, &["push", "-q", "-u", "origin", HEAD_BRANCH], &[]).await?;
        Ok(Clone { dir: clone })
    }
}

fn check(c: &WorldCommit, made: &str) -> io::Result<()> {
    if made == c.sha {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the demo clone's commit \"{}\" hashed to {made}, not {}",
            c.message, c.sha
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_clone_holds_the_world_commits_with_head_on_its_pushed_branch() {
        let dir = tempfile::tempdir().unwrap();
        let clone = Clone::create(dir.path()).await.unwrap();
        let at = |args: &'static [&'static str]| {
            let dir = clone.dir.clone();
            async move { run(&dir, args, &[]).await.unwrap() }
        };
        assert_eq!(at(&["rev-parse", "HEAD"]).await, HEAD_SHA);
        assert_eq!(at(&["rev-parse", "main"]).await, NEW_SHA);
        assert_eq!(at(&["branch", "--show-current"]).await, HEAD_BRANCH);
        assert_eq!(at(&["status", "--porcelain"]).await, "");
        // Pushed: HEAD is its upstream's tip.
        assert_eq!(at(&["rev-parse", "@{upstream}"]).await, HEAD_SHA);
        assert_eq!(
            at(&["rev-list", "--count", "main"]).await,
            (COMMITS.len() - 1).to_string()
        );
        // A second world in the same directory starts from scratch.
        Clone::create(dir.path()).await.unwrap();
    }
}
