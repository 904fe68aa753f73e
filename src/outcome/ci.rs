//! CI verdicts: a workflow's latest run, an exact commit's checks, and how
//! GitHub was reached.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// GitHub's words for a workflow run, plus `stalled` and `unknown`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, JsonSchema)]
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

/// CI verdict for one commit (combined status and check runs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct CommitCi {
    /// Combined verdict.
    pub status: CiStatus,
    /// Where to look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Counts per conclusion, e.g. {"success": 5, "failure": 1}.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub counts: IndexMap<String, u64>,
    /// Names of the check runs (`name`) and statuses (`context`) that
    /// failed, as GitHub sent them (upstream data, never interpreted): at
    /// most [`MAX_FAILING_NAMES`], each cut to [`MAX_FAILING_NAME_CHARS`];
    /// `counts.failure` says how many failed in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub failing: Vec<String>,
    /// Why the status is `unknown`: GitHub's error, or a timeout naming the
    /// endpoints it waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Failing names a [`CommitCi`] keeps: enough to act on, few enough that a
/// commit with a hundred failed matrix jobs does not fill the report.
pub const MAX_FAILING_NAMES: usize = 5;

/// Characters kept of one failing name; a longer one ends in `…`.
pub const MAX_FAILING_NAME_CHARS: usize = 60;

impl CommitCi {
    /// "1 of 4 check runs and statuses on cbefe7c passed; failed: build,
    /// test (+1 more)": what is counted, on which commit, and which did not
    /// pass, from `counts` and `failing` (so text and JSON agree). None
    /// when GitHub reported nothing.
    pub fn tally(&self, on: &str) -> Option<String> {
        let total: u64 = self.counts.values().sum();
        if total == 0 {
            return None;
        }
        let passed = self.counts.get("success").copied().unwrap_or(0);
        let failed = self.counts.get("failure").copied().unwrap_or(0);
        let mut parts: Vec<String> = Vec::new();
        if failed > 0 {
            let more = failed.saturating_sub(self.failing.len() as u64);
            let mut names = self.failing.join(", ");
            match (names.is_empty(), more) {
                (true, n) => names = format!("{n} failed"),
                (false, 0) => names = format!("failed: {names}"),
                (false, n) => names = format!("failed: {names} (+{n} more)"),
            }
            parts.push(names);
        }
        // The rest (running, queued, cancelled, unknown) by count.
        parts.extend(
            self.counts
                .iter()
                .filter(|(word, n)| !matches!(word.as_str(), "success" | "failure") && **n > 0)
                .map(|(word, n)| format!("{n} {}", word.replace('_', " "))),
        );
        let rest = if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        };
        Some(format!(
            "{passed} of {total} check runs and statuses on {on} passed{rest}"
        ))
    }
}

/// A failing check's name as kept in [`CommitCi::failing`]: on one line
/// (control characters become spaces), cut to [`MAX_FAILING_NAME_CHARS`].
pub fn failing_name(name: &str) -> String {
    let one_line: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_FAILING_NAME_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_FAILING_NAME_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Latest run of one workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
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
    /// The environment a running deploy targets, when a GitHub deployment
    /// of the same commit that is still under way says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The check's `stalled_after`, in seconds: a run not finished by then
    /// is `stalled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_after_s: Option<u64>,
    /// While the run is queued or in progress: seconds left before it counts
    /// as stalled (0 once it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_in_s: Option<u64>,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How GitHub was reached during the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
pub struct GithubInfo {
    /// "token from GITHUB_TOKEN", "anonymous (set GITHUB_TOKEN ...)".
    pub auth: String,
    /// Requests sent in this run.
    pub requests: u64,
    /// Of which answered 304 (cost no rate limit).
    pub not_modified: u64,
    /// Primary rate-limit points this run spent: its requests less its 304s
    /// (GitHub documents that a 304 to a conditional request costs none).
    /// 0 when nothing changed since the last run, in memory or on disk.
    #[serde(default)]
    pub rate_limit_points: u64,
    /// Remaining primary rate limit, as last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_remaining: Option<u64>,
    /// When the limit resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_reset: Option<DateTime<Utc>>,
    /// What GitHub sent that was not used as sent: a rate-limit header out
    /// of range (clamped or ignored), a cache file that was not trusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
