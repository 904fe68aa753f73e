//! The one model every output is rendered from.
//!
//! Field names are the public JSON contract, described by the schema in
//! [`schema`] and versioned by [`SCHEMA_VERSION`]. Order is stable:
//! environments as configured, checks by id then environment.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Current version of the JSON shape; bumped on breaking changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Names the JSON Schema of this shape: the report's `$schema` and the
/// schema's `$id` (`villa-telemetry schema`, `GET /api/telemetry/schema.json`).
pub const SCHEMA_ID: &str = "urn:villa-telemetry:report:1";

fn schema_id() -> String {
    SCHEMA_ID.to_owned()
}

/// The result of one run of every check, ready for any renderer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Report {
    /// The JSON Schema this report follows (its `$id`): print it with
    /// `villa-telemetry schema`, or `GET /api/telemetry/schema.json` from `serve`.
    #[serde(rename = "$schema", default = "schema_id")]
    pub schema: String,
    /// Version of this JSON shape.
    pub schema_version: u32,
    /// When the run finished.
    pub timestamp: DateTime<Utc>,
    /// Name, tagline and repository from `[project]`.
    pub project: ProjectInfo,
    /// Worst status over environments and global checks.
    pub status: Health,
    /// One line for people and agents: "2 healthy, 1 warning (production 2 commits behind staging)".
    pub summary: String,
    /// What to know first: headline, local HEAD, what is broken and why,
    /// next steps. Derived from the rest of the report.
    #[serde(default)]
    pub assessment: Assessment,
    /// Per environment, in configured order.
    pub environments: IndexMap<String, EnvironmentReport>,
    /// One entry per GitHub workflow check, keyed by check id.
    pub ci: IndexMap<String, CiRun>,
    /// The local repository, from the first `git` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// Drift between an environment and the one it tracks, keyed `TRACKED_vs_ENV`.
    pub comparison: IndexMap<String, Comparison>,
    /// Quick links, name to URL.
    pub actions: IndexMap<String, String>,
    /// Every check instance, ordered by id then environment.
    pub checks: Vec<CheckResult>,
    /// Dashboard panels in config order, each with the ids of its checks in
    /// config order: the order metric cards and tables are shown in (the
    /// `checks` list is sorted by id). Absent when no check names a panel.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub panels: IndexMap<String, Vec<String>>,
    /// How GitHub was reached, when any GitHub check ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubInfo>,
    /// Where one commit is (local HEAD unless another was asked): pushed,
    /// its CI, per environment live since when or the deploy bringing it.
    /// Only when asked for (`run --journey`), as its lookups cost GitHub
    /// requests a plain run does not make (issue 21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<journey::Journey>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
}

/// Status of an environment or of the whole report.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Every check passed.
    Healthy,
    /// No checks, or an optional environment that is offline.
    Unknown,
    /// A check warned or the environment drifted from what it tracks.
    Warning,
    /// A check failed or could not run.
    Failing,
}

impl Health {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unknown => "unknown",
            Health::Warning => "warning",
            Health::Failing => "failing",
        }
    }
}

/// One environment's card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct EnvironmentReport {
    /// Display name.
    pub name: String,
    /// Worst of its checks, drift and offline state.
    pub status: Health,
    /// Base URL from the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `optional = true` in the config.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    /// Optional environment that could not be reached.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offline: bool,
    /// Extracted `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Extracted `sha` (as the service reports it, often short).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Extracted `uptime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<String>,
    /// Extracted `deployed_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// Latency of its first HTTP check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Drift or warning text, e.g. "2 commits behind staging".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The first failing check's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The kind of that check's error: present exactly when `error` is and
    /// the failing check gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Ids of the checks that ran for it.
    pub checks: Vec<String>,
    /// CI status of the exact commit it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<CommitCi>,
    /// Its last GitHub deployments (`[github] history`), newest first; each
    /// says whether it is the commit the environment reports now. These are
    /// the rollback targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentEntry>,
    /// Why the deployment history could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments_error: Option<String>,
    /// DORA's four keys over `[github] dora_window`, from its deployment
    /// history: absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dora: Option<dora::Dora>,
    /// What it ran when last seen, while it reports no `sha` now (down,
    /// offline): from the last report in which it answered, or its latest
    /// successful GitHub deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known: Option<LastKnown>,
    /// What changed and when, newest first, at most
    /// [`timeline::TIMELINE_LIMIT`]: its deployments (with their commit's
    /// CI where known), CI runs on those commits, the service's start (now
    /// less `uptime`), and under `serve` the transitions it observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<timeline::TimelineEvent>,
    /// When it began failing, with the source and precision of that time;
    /// absent unless it is failing and something dates the onset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<timeline::FailingSince>,
    /// The newest commit it ran while healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<timeline::LastGood>,
    /// The commits between `last_good` and what runs or is being deployed
    /// now, as far as the report's comparisons list them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspect_commits: Option<timeline::SuspectCommits>,
    /// What the run itself learned of the commits between its last good
    /// deployment and its newest one (git or GitHub compare, with pull
    /// requests): the source `suspect_commits` is made from. Not written
    /// out: `suspect_commits` is its public form.
    #[serde(skip)]
    #[schemars(skip)]
    pub suspects: Option<crate::outcome::Suspects>,
    /// Ids of the configured rollback actions (`target = "deployment"`)
    /// for this environment: `villa-telemetry act ID --env ENV --deployment N`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_actions: Vec<String>,
}

/// The commit an environment ran when it last answered: marked as last
/// known, with its time, so drift and "is my commit there" keep an answer
/// while it is down.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LastKnown {
    /// The sha it reported then.
    pub sha: String,
    /// When that was (the run of that report, or the deployment's time).
    pub at: DateTime<Utc>,
    /// Where it comes from.
    pub source: LastKnownSource,
}

/// Where a [`LastKnown`] commit comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LastKnownSource {
    /// The last report (kept by `serve` between refreshes) in which the
    /// environment answered with a sha.
    Report,
    /// Its latest successful deployment on GitHub.
    Deployment,
}

/// The local repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
pub struct GitInfo {
    /// Current branch (None when detached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Short HEAD sha.
    pub sha: String,
    /// Full HEAD sha.
    pub sha_full: String,
    /// Subject of the last commit.
    pub message: String,
    /// Files with uncommitted changes (staged, unstaged or untracked).
    pub uncommitted_changes: u64,
    /// Upstream branch, when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Commits ahead of upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    /// Commits behind upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<u64>,
    /// Whether local HEAD is contained in what each environment runs.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub deployed: IndexMap<String, bool>,
    /// Why `deployed` has no answer for an environment (a sha neither git
    /// nor GitHub has, a timeout naming what it waited for).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub deployed_errors: IndexMap<String, String>,
    /// Environments whose commit this clone does not have (git said so
    /// while checking `deployed`): fetch to compare them locally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in_clone: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub mod assess;
pub mod badge;
mod build;
pub mod dora;
mod filter;
pub mod gate;
pub mod journey;
mod last_known;
mod latest;
pub mod query;
pub mod schema;
pub mod suspects;
pub mod timeline;
pub mod verdict;

pub use crate::outcome::{
    Blame, CheckResult, CheckStatus, CiRun, CiStatus, CommitBrief, CommitCi, Comparison,
    DeploymentEntry, ErrorKind, GithubInfo, ProjectInfo, PullRequestBrief,
};

pub use crate::outcome::{Level, MetricResult, TableResult, Thresholds};
pub use assess::{Assessment, assess};
pub use build::{build, overall, summarize};
pub use filter::only_environments;
pub use last_known::carry_last_known;
pub use latest::{LatestCommit, latest_commit};

/// Report fixtures for the unit tests of the report's parts.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Report;

    /// `tests/fixtures/reports/NAME.json`, parsed.
    pub fn fixture(name: &str) -> Report {
        let path = format!(
            "{}/tests/fixtures/reports/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}
