//! What the GitHub probe returns, and the raw shapes it reads.
//!
//! Raw structs name only the fields used and tolerate `null` where the
//! OpenAPI schema allows it (run `name`, `head_branch`, `conclusion`), so old
//! and new response shapes both parse; the whole object is kept as `json` for
//! JSONPath `expect` / `extract`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::outcome::{CiStatus, CommitBrief, MAX_FAILING_NAMES, failing_name};

/// The latest run of one workflow, as a check observes it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRun {
    /// Run name (nullable in GitHub's schema).
    pub name: Option<String>,
    /// Mapped status, including `stalled`.
    pub status: CiStatus,
    /// GitHub's `status` as sent (`completed`, `in_progress`, `queued`, ...).
    pub raw_status: String,
    /// GitHub's `conclusion` (`success`, `failure`, ...), None while running.
    pub conclusion: Option<String>,
    /// Commit the run is for.
    pub head_sha: String,
    /// Branch the run is for (nullable: tag and some fork runs have none).
    pub head_branch: Option<String>,
    /// The run's page.
    pub html_url: String,
    /// When the run was created.
    pub created_at: String,
    /// When the current attempt started.
    pub run_started_at: Option<String>,
    /// Last change.
    pub updated_at: Option<String>,
    /// Completed: start to last update. Running: start to now.
    pub duration_s: Option<u64>,
    /// Workflow file, e.g. `.github/workflows/ci.yml`.
    pub path: Option<String>,
    /// How long the workflow's earlier successful runs on the same page
    /// took, in seconds, newest first: what "usually takes" is read from.
    pub recent_durations_s: Vec<u64>,
    /// The run object, for JSONPath expect/extract.
    pub json: Value,
}

/// Seconds from start (`run_started_at`, else `created_at`) to last update
/// of a run that completed successfully; None for any other run.
pub(crate) fn finished_in_s(raw: &RawRun) -> Option<u64> {
    if raw.status.as_deref() != Some("completed") || raw.conclusion.as_deref() != Some("success") {
        return None;
    }
    let started = raw
        .run_started_at
        .as_deref()
        .and_then(parse_time)
        .or_else(|| parse_time(&raw.created_at))?;
    let ended = raw.updated_at.as_deref().and_then(parse_time)?;
    u64::try_from((ended - started).num_seconds()).ok()
}

/// The latest deployment to one GitHub environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Deployed commit.
    pub sha: String,
    /// Ref that was deployed (branch, tag or sha).
    pub r#ref: String,
    /// When the deployment was created.
    pub created_at: String,
    /// Login of whoever created it (null for deleted users).
    pub creator: Option<String>,
    /// `state` of the newest deployment status, None when it has none yet.
    pub state: Option<String>,
    /// `environment_url` of the newest status.
    pub environment_url: Option<String>,
    /// The deployment object with the newest status object added under
    /// `latest_status` (null when none), for JSONPath expect/extract.
    pub json: Value,
}

/// How `head` relates to `base` (GitHub's compare API).
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    /// `identical | ahead | behind | diverged`: `head` relative to `base`.
    pub status: String,
    /// Commits in `head` not in `base`.
    pub ahead_by: u64,
    /// Commits in `base` not in `head`.
    pub behind_by: u64,
    /// The compare page.
    pub html_url: String,
    /// Commits in `head` not in `base`, oldest first, as GitHub lists them.
    pub commits: Vec<CommitBrief>,
    /// The full shas of `commits`, in the same order, for per-commit lookups.
    pub commit_shas: Vec<String>,
    /// The compare object, for JSONPath expect/extract.
    pub json: Value,
}

#[derive(Deserialize)]
pub(crate) struct RawRunList {
    pub workflow_runs: Vec<Value>,
}

#[derive(Deserialize)]
pub(crate) struct RawRun {
    pub name: Option<String>,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub head_sha: String,
    pub head_branch: Option<String>,
    pub html_url: String,
    pub created_at: String,
    pub run_started_at: Option<String>,
    pub updated_at: Option<String>,
    pub path: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawCompare {
    pub status: String,
    pub ahead_by: u64,
    pub behind_by: u64,
    pub html_url: String,
    #[serde(default)]
    pub commits: Vec<RawCompareCommit>,
}

#[derive(Deserialize)]
pub(crate) struct RawCompareCommit {
    pub sha: String,
    pub commit: RawCommitDetail,
}

#[derive(Deserialize)]
pub(crate) struct RawCommitDetail {
    pub message: String,
    pub author: Option<RawGitAuthor>,
}

#[derive(Deserialize)]
pub(crate) struct RawGitAuthor {
    pub name: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// Commit statuses; one GitHub sends in another shape is `None` (counted
/// as `unknown`), not a reason to drop the verdict of all the others.
#[derive(Deserialize)]
pub(crate) struct RawCombinedStatus {
    #[serde(default, deserialize_with = "each")]
    pub statuses: Vec<Option<RawStatus>>,
}

#[derive(Deserialize)]
pub(crate) struct RawStatus {
    pub state: String,
    /// The status's label, e.g. `ci/circleci: build`.
    #[serde(default)]
    pub context: Option<String>,
}

/// Check runs, each read on its own as the statuses are.
#[derive(Deserialize)]
pub(crate) struct RawCheckRuns {
    #[serde(default, deserialize_with = "each")]
    pub check_runs: Vec<Option<RawCheckRun>>,
}

/// A list whose items are read one by one: an item that does not parse is
/// `None` in its place.
fn each<'de, D, T>(de: D) -> Result<Vec<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let items = Vec::<Value>::deserialize(de)?;
    Ok(items.into_iter().map(|v| T::deserialize(v).ok()).collect())
}

#[derive(Deserialize)]
pub(crate) struct RawCheckRun {
    pub status: String,
    pub conclusion: Option<String>,
    /// The check run's name, e.g. `build`.
    #[serde(default)]
    pub name: Option<String>,
}

/// Map GitHub's `status` / `conclusion` of a run to the report's words.
///
/// `started` is `run_started_at` (else `created_at`); a run not yet completed
/// that began more than `stalled_after` before `now` is `Stalled`: a deploy
/// stuck for an hour should read differently from one that just started.
pub fn ci_status(
    status: &str,
    conclusion: Option<&str>,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stalled_after: Option<Duration>,
) -> CiStatus {
    let stalled = || match (started, stalled_after) {
        (Some(started), Some(limit)) => (now - started)
            .to_std()
            .map(|elapsed| elapsed > limit)
            .unwrap_or(false),
        _ => false,
    };
    match status {
        "completed" => match conclusion {
            Some("success") | Some("neutral") => CiStatus::Success,
            Some("failure")
            | Some("timed_out")
            | Some("startup_failure")
            | Some("action_required") => CiStatus::Failure,
            Some("cancelled") | Some("skipped") => CiStatus::Cancelled,
            _ => CiStatus::Unknown,
        },
        "in_progress" if stalled() => CiStatus::Stalled,
        "in_progress" => CiStatus::InProgress,
        "queued" | "waiting" | "pending" | "requested" if stalled() => CiStatus::Stalled,
        "queued" | "waiting" | "pending" | "requested" => CiStatus::Queued,
        _ => CiStatus::Unknown,
    }
}

/// A time as GitHub writes it: `2012-07-20T01:19:13Z`.
pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A deployment status's `state` in GitHub's words (`in_progress`, `success`, ...).
pub(crate) fn state_word(state: octocrab::models::repos::DeploymentStatusState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl WorkflowRun {
    pub(crate) fn from_raw(
        raw: RawRun,
        json: Value,
        now: DateTime<Utc>,
        stalled_after: Option<Duration>,
    ) -> Self {
        let raw_status = raw.status.unwrap_or_default();
        let started = raw
            .run_started_at
            .as_deref()
            .and_then(parse_time)
            .or_else(|| parse_time(&raw.created_at));
        let status = ci_status(
            &raw_status,
            raw.conclusion.as_deref(),
            started,
            now,
            stalled_after,
        );
        let end = if raw_status == "completed" {
            raw.updated_at.as_deref().and_then(parse_time)
        } else {
            Some(now)
        };
        let duration_s = match (started, end) {
            (Some(s), Some(e)) => (e - s).to_std().ok().map(|d| d.as_secs()),
            _ => None,
        };
        WorkflowRun {
            name: raw.name,
            status,
            raw_status,
            conclusion: raw.conclusion,
            head_sha: raw.head_sha,
            head_branch: raw.head_branch,
            html_url: raw.html_url,
            created_at: raw.created_at,
            run_started_at: raw.run_started_at,
            updated_at: raw.updated_at,
            duration_s,
            path: raw.path,
            recent_durations_s: Vec::new(),
            json,
        }
    }
}

impl Compare {
    pub(crate) fn from_raw(raw: RawCompare, json: Value) -> Self {
        let commit_shas = raw.commits.iter().map(|c| c.sha.clone()).collect();
        let commits = raw
            .commits
            .into_iter()
            .map(|c| {
                CommitBrief::new(
                    c.sha.chars().take(7).collect(),
                    c.commit.message.lines().next().unwrap_or("").to_string(),
                    c.commit.author.as_ref().and_then(|a| a.name.clone()),
                    c.commit.author.and_then(|a| a.date),
                )
            })
            .collect();
        Compare {
            status: raw.status,
            ahead_by: raw.ahead_by,
            behind_by: raw.behind_by,
            html_url: raw.html_url,
            commits,
            commit_shas,
            json,
        }
    }
}

/// Fold commit statuses and check runs into one verdict with counts.
///
/// Counts use the report's words (`success`, `failure`, `in_progress`,
/// `queued`, `cancelled`, `unknown`) in that fixed order so output diffs
/// cleanly. An empty combined status reads "pending" on GitHub even when the
/// repo uses only Actions, so only individual statuses are counted, never the
/// combined `state`.
pub(crate) fn combine_ci(
    statuses: &RawCombinedStatus,
    checks: &RawCheckRuns,
) -> (CiStatus, IndexMap<String, u64>, Vec<String>) {
    let mut tally: [u64; 6] = [0; 6];
    // The first failing names, statuses then check runs as counted.
    let mut failing: Vec<String> = Vec::new();
    let mut note_failing = |name: Option<&str>| {
        if let Some(name) = name.filter(|n| !n.trim().is_empty())
            && failing.len() < MAX_FAILING_NAMES
        {
            failing.push(failing_name(name));
        }
    };
    const KEYS: [&str; 6] = [
        "success",
        "failure",
        "in_progress",
        "queued",
        "cancelled",
        "unknown",
    ];
    for s in &statuses.statuses {
        let Some(s) = s else {
            tally[5] += 1;
            continue;
        };
        let i = match s.state.as_str() {
            "success" => 0,
            "failure" | "error" => {
                note_failing(s.context.as_deref());
                1
            }
            // A pending status means an external CI is working on it.
            "pending" => 2,
            _ => 5,
        };
        tally[i] += 1;
    }
    for c in &checks.check_runs {
        let Some(c) = c else {
            tally[5] += 1;
            continue;
        };
        let i = match ci_status(&c.status, c.conclusion.as_deref(), None, Utc::now(), None) {
            CiStatus::Success => 0,
            CiStatus::Failure => {
                note_failing(c.name.as_deref());
                1
            }
            CiStatus::InProgress => 2,
            CiStatus::Queued => 3,
            CiStatus::Cancelled => 4,
            CiStatus::Stalled | CiStatus::Unknown => 5,
        };
        tally[i] += 1;
    }
    let verdict = if tally[1] > 0 {
        CiStatus::Failure
    } else if tally[2] > 0 {
        CiStatus::InProgress
    } else if tally[3] > 0 {
        CiStatus::Queued
    } else if tally[0] > 0 {
        CiStatus::Success
    } else if tally[4] > 0 {
        CiStatus::Cancelled
    } else {
        CiStatus::Unknown
    };
    let counts = KEYS
        .iter()
        .zip(tally)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    (verdict, counts, failing)
}
