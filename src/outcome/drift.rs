//! Drift: how far an environment is from the one it tracks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CiStatus;

/// Drift between an environment and the one it tracks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Comparison {
    /// The environment that is tracked (e.g. staging).
    pub tracked: String,
    /// The environment that should run the same (e.g. production).
    pub environment: String,
    /// Same commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// Commits `environment` lacks that `tracked` has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits_behind: Option<u64>,
    /// Commits `environment` has that `tracked` lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits_ahead: Option<u64>,
    /// Where `environment` stands against `tracked`, read from the
    /// environment's side: "production is behind". Set with the counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_is: Option<Position>,
    /// identical | ahead | behind | diverged (GitHub's words, from the
    /// tracked side: "ahead" means `tracked` is ahead, so `environment` is
    /// behind; `environment_is` says it the other way round).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DriftStatus>")]
    pub status: Option<String>,
    /// Sha of `environment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_sha: Option<String>,
    /// Sha of `tracked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracked_sha: Option<String>,
    /// Compare page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_url: Option<String>,
    /// The commits `environment` lacks, oldest first, as far as they were
    /// listed (GitHub lists at most 250; git lists none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<CommitBrief>,
    /// True when `commits` lists fewer than `commits_behind`: the list was cut.
    #[serde(default, skip_serializing_if = "is_false")]
    pub commits_truncated: bool,
    /// The pull requests the missing commits came from, in commit order,
    /// each once (GitHub only; off with `[github] pull_requests = false`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<PullRequestBrief>,
    /// Why the pull requests could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_requests_error: Option<String>,
    /// Where the counts came from: "github" or "git".
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DriftSource>")]
    pub source: Option<String>,
    /// Why drift could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when a side is down and the counts are those of its last known
    /// commit (`environments.ID.last_known`): when that commit was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Wall time of the upstream lookup, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl Comparison {
    /// A comparison of `environment` (running `environment_sha`) with the
    /// one it tracks, nothing learned yet.
    pub fn new(
        tracked: &str,
        environment: &str,
        tracked_sha: Option<String>,
        environment_sha: Option<String>,
    ) -> Self {
        Comparison {
            tracked: tracked.to_owned(),
            environment: environment.to_owned(),
            in_sync: None,
            environment_is: None,
            commits_behind: None,
            commits_ahead: None,
            status: None,
            environment_sha,
            tracked_sha,
            diff_url: None,
            commits: Vec::new(),
            commits_truncated: false,
            pull_requests: Vec::new(),
            pull_requests_error: None,
            source: None,
            error: None,
            last_known_at: None,
            duration_ms: None,
        }
    }

    /// Sets the counts, and marks the commit list cut when it is shorter
    /// than `behind`, so the two never disagree silently.
    pub fn set_counts(&mut self, behind: u64, ahead: u64) {
        self.commits_behind = Some(behind);
        self.commits_ahead = Some(ahead);
        self.commits_truncated = (self.commits.len() as u64) < behind;
        self.environment_is = Some(match (behind, ahead) {
            (0, 0) => Position::InSync,
            (_, 0) => Position::Behind,
            (0, _) => Position::Ahead,
            _ => Position::Diverged,
        });
    }
}

/// Where an environment stands against the one it tracks, from its own
/// side ([`Comparison::environment_is`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// No commits either way.
    InSync,
    /// It lacks commits the tracked environment has: a promotion is due.
    Behind,
    /// It has commits the tracked environment lacks (a hotfix, say).
    Ahead,
    /// Each has commits the other lacks.
    Diverged,
}

/// How an environment stands against the one it tracks (GitHub's compare
/// words, seen from the tracked side). Only describes the schema of
/// [`Comparison::status`].
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DriftStatus {
    /// Both run the same commit.
    Identical,
    /// The tracked environment has commits the environment lacks: it is behind
    /// and waits for a promotion.
    Ahead,
    /// The environment has commits the tracked one lacks (e.g. a hotfix).
    Behind,
    /// Each has commits the other lacks.
    Diverged,
}

/// Where drift counts came from. Only describes the schema of
/// [`Comparison::source`].
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DriftSource {
    /// GitHub's compare API.
    Github,
    /// The local repository (`git rev-list`).
    Git,
}

/// The first 7 characters of a sha, as GitHub shows it (all of a shorter
/// one). Every output shortens shas with this.
pub fn short_sha(sha: &str) -> &str {
    match sha.char_indices().nth(7) {
        Some((i, _)) => &sha[..i],
        None => sha,
    }
}

/// Same commit, when one sha may be abbreviated.
pub fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let n = a.len().min(b.len());
    n >= 4 && a[..n] == b[..n]
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A pull request behind a drift: where a missing commit came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct PullRequestBrief {
    /// Its number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Login of its author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Its page.
    pub url: String,
}

/// One commit in a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct CommitBrief {
    /// Short sha.
    pub sha: String,
    /// Subject line.
    pub message: String,
    /// Author name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// When it was authored (RFC 3339, as GitHub gives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Its CI, where the report has it (suspect commits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiStatus>,
    /// The page of that CI result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_url: Option<String>,
    /// The pull request it came from, when looked up and found (suspect
    /// commits only; a drift lists its pull requests on the comparison).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestBrief>,
}

impl CommitBrief {
    /// A commit with nothing looked up about it yet.
    pub fn new(sha: String, message: String, author: Option<String>, date: Option<String>) -> Self {
        CommitBrief {
            sha,
            message,
            author,
            date,
            ci: None,
            ci_url: None,
            pull_request: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full_shas_match() {
        assert!(same_commit("cbefe7c", "cbefe7c1234567890"));
        assert!(!same_commit("cbefe7c", "53004a6"));
        assert!(!same_commit("", "53004a6"));
    }

    #[test]
    fn a_short_commit_list_is_marked_cut() {
        let mut c = Comparison::new("staging", "production", None, None);
        c.commits
            .push(CommitBrief::new("cbefe7c".into(), "m".into(), None, None));
        c.set_counts(2, 0);
        assert!(c.commits_truncated);
        c.set_counts(1, 0);
        assert!(!c.commits_truncated);
    }

    /// `status: "ahead"` on production's comparison read backwards (issue
    /// 19): `environment_is` names the direction from the environment.
    #[test]
    fn the_position_reads_from_the_environment() {
        let mut c = Comparison::new("staging", "production", None, None);
        for (behind, ahead, word) in [
            (2, 0, "behind"),
            (0, 1, "ahead"),
            (0, 0, "in_sync"),
            (3, 1, "diverged"),
        ] {
            c.set_counts(behind, ahead);
            assert_eq!(serde_json::to_value(c.environment_is).unwrap(), word);
        }
    }
}
