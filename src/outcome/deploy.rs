//! Deployment history: the last GitHub deployments of each environment.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One GitHub deployment, as an environment's history lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct DeploymentEntry {
    /// GitHub's deployment id.
    pub id: u64,
    /// State of its newest deployment status in GitHub's words (`success`,
    /// `failure`, `error`, `inactive`, `in_progress`, `queued`, `pending`),
    /// or `created` when it has no status yet.
    pub state: String,
    /// The deployed commit (full sha).
    pub sha: String,
    /// The ref that was deployed (branch, tag or sha).
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Login of whoever created it (absent for deleted users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// When the deployment was created.
    pub created_at: String,
    /// When it last changed (its newest status, else the deployment itself).
    pub updated_at: String,
    /// `environment_url` of its newest status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_url: Option<String>,
    /// `log_url` of its newest status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// Whether this is the commit the environment reports running now;
    /// absent when the environment reports no sha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    /// Still `in_progress`/`queued`/`pending` on GitHub, but a later
    /// deployment to the same environment succeeded since: orphaned, never
    /// to finish, so not a deploy under way (issue 21).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
}

impl DeploymentEntry {
    /// A deployment whose newest status says it went live.
    pub fn succeeded(&self) -> bool {
        self.state == "success"
    }

    /// A deployment that once went live: `inactive` is GitHub's word for a
    /// success a later deployment replaced.
    pub fn went_live(&self) -> bool {
        matches!(self.state.as_str(), "success" | "inactive")
    }

    /// A deployment still under way: GitHub says it runs, and no later
    /// deployment succeeded since (else it is [`Self::superseded`]).
    pub fn under_way(&self) -> bool {
        !self.superseded && self.state_says_running()
    }

    /// GitHub's state is one of a deployment not finished.
    fn state_says_running(&self) -> bool {
        matches!(
            self.state.as_str(),
            "in_progress" | "queued" | "pending" | "created"
        )
    }

    /// Seconds from creation to its newest status, for a deployment that
    /// succeeded: how long it took to go live. None for other states
    /// (`inactive`'s time is when it was replaced) and unreadable times.
    pub fn took_s(&self) -> Option<u64> {
        if !self.succeeded() {
            return None;
        }
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
        let secs = (at(&self.updated_at)? - at(&self.created_at)?).num_seconds();
        u64::try_from(secs).ok()
    }
}

/// Marks every deployment of `entries` (newest first, as GitHub lists
/// them) that GitHub still calls running though a later one went live
/// (`success`, or `inactive`: a success replaced since) as `superseded`.
pub fn mark_superseded(entries: &mut [DeploymentEntry]) {
    let mut later_live = false;
    for e in entries.iter_mut() {
        e.superseded = later_live && e.state_says_running();
        later_live |= e.went_live();
    }
}

/// How long the successful deployments of `entries` took to go live, in
/// seconds, newest first: the sample an expected arrival and `slow` are
/// read from.
pub fn deploy_durations(entries: &[DeploymentEntry]) -> Vec<u64> {
    entries.iter().filter_map(DeploymentEntry::took_s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, state: &str) -> DeploymentEntry {
        DeploymentEntry {
            id,
            state: state.to_owned(),
            sha: format!("{id:040}"),
            git_ref: "main".into(),
            creator: None,
            created_at: "2026-01-01T10:00:00Z".into(),
            updated_at: "2026-01-01T10:03:10Z".into(),
            environment_url: None,
            log_url: None,
            current: None,
            superseded: false,
        }
    }

    #[test]
    fn a_running_deployment_older_than_a_success_is_superseded() {
        let mut h = vec![
            entry(5, "in_progress"),
            entry(4, "success"),
            entry(3, "queued"),
            entry(2, "inactive"),
            entry(1, "in_progress"),
        ];
        mark_superseded(&mut h);
        let running: Vec<u64> = h.iter().filter(|e| e.under_way()).map(|e| e.id).collect();
        assert_eq!(running, [5], "only the newest is under way");
        assert!(h[2].superseded && h[4].superseded && !h[0].superseded);
        assert!(!h[1].superseded, "a finished one is never superseded");
        assert_eq!(deploy_durations(&h), [190]);
    }
}

/// What the runner learned of one environment's deployments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeploymentHistory {
    /// The GitHub environment asked for (from the environment's
    /// `github = { deployment = … }` check).
    pub github_environment: String,
    /// Newest first, at most `[github] history`.
    pub entries: Vec<DeploymentEntry>,
    /// Why the history is missing or incomplete.
    pub error: Option<String>,
    /// Wall time of the lookup.
    pub duration_ms: u64,
    /// The committer date of each deployed commit GitHub was asked about
    /// (`repos/{repo}/commits/{sha}`), keyed by full sha: DORA's lead time.
    pub commit_times: IndexMap<String, DateTime<Utc>>,
    /// Why a commit's date could not be read (the first failure).
    pub commit_times_error: Option<String>,
}
