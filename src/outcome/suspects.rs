//! The commits between an environment's last good deployment and its
//! newest one (issue 20): what the runner looked up so the verdict can name
//! the suspects, with their pull requests.

use serde::{Deserialize, Serialize};

use super::{CommitBrief, DeploymentEntry, same_commit};

/// Suspect commits listed at most, the newest ones: a verdict names a
/// handful, and each costs a pull-request lookup the first time.
pub const SUSPECT_LIMIT: usize = 20;

/// Where a [`Suspects`] list comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SuspectSource {
    /// `git log` in the local clone, which has both commits.
    Git,
    /// GitHub's compare endpoint.
    Github,
}

/// What the runner learned of the commits after `from` up to `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspects {
    /// The last good deployment's commit (full sha).
    pub from: String,
    /// The newest deployment's commit (full sha).
    pub to: String,
    /// The commits after `from` up to `to`, oldest first, each with its
    /// pull request when one was found; None when the lookup failed.
    pub commits: Option<Vec<CommitBrief>>,
    /// How many commits there are in all (more than `commits` lists when cut).
    pub total: Option<u64>,
    /// True when `commits` holds only the newest [`SUSPECT_LIMIT`].
    pub truncated: bool,
    /// Where `commits` came from.
    pub source: Option<SuspectSource>,
    /// The compare page.
    pub diff_url: Option<String>,
    /// Why `commits` is None (a timeout names the endpoint or git command).
    pub error: Option<String>,
    /// Why the pull requests could not be listed.
    pub pull_requests_error: Option<String>,
    /// Wall time of the lookup.
    pub duration_ms: u64,
}

impl Suspects {
    /// Nothing learned yet about `from...to`.
    pub fn new(from: &str, to: &str) -> Self {
        Suspects {
            from: from.to_owned(),
            to: to.to_owned(),
            commits: None,
            total: None,
            truncated: false,
            source: None,
            diff_url: None,
            error: None,
            pull_requests_error: None,
            duration_ms: 0,
        }
    }
}

/// `(last good, newest)` of a history (newest first) when they differ: the
/// newest deployment that went live or is under way, and the newest older
/// one that went live with another commit — the same deployments the
/// report's `last_good` and "what runs now" take for a failing environment.
pub fn suspect_range(entries: &[DeploymentEntry]) -> Option<(&str, &str)> {
    let at = entries
        .iter()
        .position(|d| d.went_live() || d.under_way())?;
    let newest = &entries[at];
    let good = entries[at + 1..]
        .iter()
        .find(|d| d.went_live() && !same_commit(&d.sha, &newest.sha))?;
    Some((&good.sha, &newest.sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, sha: &str, state: &str) -> DeploymentEntry {
        DeploymentEntry {
            id,
            state: state.into(),
            sha: sha.into(),
            git_ref: "main".into(),
            creator: None,
            created_at: "2026-12-01T00:00:00Z".into(),
            updated_at: "2026-12-01T00:00:00Z".into(),
            environment_url: None,
            log_url: None,
            current: None,
            superseded: false,
        }
    }

    /// A failed deploy is not what runs; a replaced success (`inactive`)
    /// once ran; the same commit deployed twice is no range.
    #[test]
    fn the_range_skips_failed_deploys_and_same_commits() {
        let h = [
            entry(4, "aaaa111", "failure"),
            entry(3, "bbbb222", "in_progress"),
            entry(2, "bbbb222", "success"),
            entry(1, "cccc333", "inactive"),
        ];
        assert_eq!(suspect_range(&h), Some(("cccc333", "bbbb222")));
        assert_eq!(suspect_range(&h[..3]), None);
        assert_eq!(suspect_range(&h[..1]), None);
    }
}
