//! The one model every output is rendered from.
//!
//! Field names follow the product spec (seed 000) and DESIGN.md. Order is
//! stable: environments as configured, checks by id then environment.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Current version of the JSON shape; bumped on breaking changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of one run of every check, ready for any renderer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
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
    /// How GitHub was reached, when any GitHub check ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubInfo>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
}

/// `[project]` facts carried into every output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProjectInfo {
    /// Display name, e.g. "Villa".
    pub name: String,
    /// Subhead under the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// GitHub `owner/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

/// Status of an environment or of the whole report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// Outcome of one check instance.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Every `expect` and `warn_unless` held.
    Pass,
    /// A check it depends on had no result.
    Skipped,
    /// A `warn_unless` condition was false.
    Warn,
    /// An `expect` condition was false.
    Fail,
    /// Could not find out: timeout, refused, bad JSON, plugin crash.
    Error,
}

impl CheckStatus {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
        }
    }
}

/// GitHub's words for a workflow run, plus `stalled` and `unknown`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    /// Completed successfully.
    Success,
    /// Completed with failure (or timed out / action required).
    Failure,
    /// Running.
    InProgress,
    /// Waiting for a runner.
    Queued,
    /// Cancelled or skipped.
    Cancelled,
    /// Still running after `stalled_after`.
    Stalled,
    /// Could not be determined.
    Unknown,
}

/// One environment's card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// Ids of the checks that ran for it.
    pub checks: Vec<String>,
    /// CI status of the exact commit it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<CommitCi>,
}

/// CI verdict for one commit (combined status and check runs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitCi {
    /// Combined verdict.
    pub status: CiStatus,
    /// Where to look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Counts per conclusion, e.g. {"success": 5, "failure": 1}.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub counts: IndexMap<String, u64>,
}

/// Latest run of one workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CiRun {
    /// Workflow (or check) display name.
    pub workflow: String,
    /// GitHub's words, plus `stalled` / `unknown`.
    pub status: CiStatus,
    /// Head commit of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The run's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the run was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Branch the run is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Run time so far or in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The local repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
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
}

/// Drift between an environment and the one it tracks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// identical | ahead | behind | diverged (GitHub's words, from the tracked side).
    #[serde(skip_serializing_if = "Option::is_none")]
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
    /// The commits in between, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<CommitBrief>,
    /// Where the counts came from: "github" or "git".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why drift could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One commit in a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitBrief {
    /// Short sha.
    pub sha: String,
    /// Subject line.
    pub message: String,
    /// Author name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// One check instance's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// Check id from the config.
    pub id: String,
    /// Environment instance, for per-environment checks.
    pub environment: Option<String>,
    /// Display name.
    pub name: String,
    /// Outcome.
    pub status: CheckStatus,
    /// One line, e.g. "200 OK in 95 ms".
    pub summary: String,
    /// Wall time of the probe.
    pub duration_ms: u64,
    /// When the probe finished.
    pub checked_at: DateTime<Utc>,
    /// Extracted values and probe facts.
    pub fields: Map<String, Value>,
    /// Why the check could not run, for `error`; the failed condition for `fail`/`warn`.
    pub error: Option<String>,
    /// Conditions that did not hold, with the actual value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_conditions: Vec<String>,
    /// Captured plugin output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// The check's metric: value, unit, level against its thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricResult>,
    /// The check's top-N table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableResult>,
    /// Dashboard panel its metric card or table is shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<String>,
}

/// How GitHub was reached during the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct GithubInfo {
    /// "token from GITHUB_TOKEN", "anonymous (set GITHUB_TOKEN ...)".
    pub auth: String,
    /// Requests sent in this run.
    pub requests: u64,
    /// Of which answered 304 (cost no rate limit).
    pub not_modified: u64,
    /// Remaining primary rate limit, as last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_remaining: Option<u64>,
    /// When the limit resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_reset: Option<DateTime<Utc>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

mod build;
mod metrics;

pub use build::{build, summarize};
pub use metrics::{Level, MetricResult, TableResult, Thresholds};
