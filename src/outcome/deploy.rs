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

    /// A deployment still under way.
    pub fn under_way(&self) -> bool {
        matches!(
            self.state.as_str(),
            "in_progress" | "queued" | "pending" | "created"
        )
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
