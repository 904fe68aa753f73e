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
    /// Running past the p95 of the workflow's recent completed runs
    /// (issue 21): slower than usual, whether or not `stalled_after` is
    /// reached. Absent when the run is done or there are too few runs to
    /// know what usual is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<Slow>,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run (or deploy) going on longer than its recent history says it
/// should: "usually takes 3m 10s, running 9m".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Slow {
    /// The median duration of the recent runs, in seconds.
    pub usual_s: u64,
    /// Their 95th percentile (nearest rank): past it the run is slow.
    pub p95_s: u64,
    /// How long this one has been running.
    pub running_s: u64,
    /// How many recent runs `usual_s` and `p95_s` are taken from.
    pub runs: u64,
}

/// Fewer finished runs than this say nothing about what usual is.
pub const MIN_RUNS_FOR_USUAL: usize = 3;

/// The longest duration believed, in seconds: GitHub's times are data, and
/// a "duration" of more than a day is a clock or a status that never ended,
/// not how long a run takes.
pub const MAX_USUAL_S: u64 = 86_400;

impl Slow {
    /// `running_s` compared with `durations` (seconds of recent finished
    /// runs, any order): Some when it is past their p95. Durations of 0 or
    /// over [`MAX_USUAL_S`] are dropped first; fewer than
    /// [`MIN_RUNS_FOR_USUAL`] left say nothing.
    pub fn of(durations: &[u64], running_s: u64) -> Option<Slow> {
        let mut kept: Vec<u64> = durations
            .iter()
            .copied()
            .filter(|d| (1..=MAX_USUAL_S).contains(d))
            .collect();
        if kept.len() < MIN_RUNS_FOR_USUAL {
            return None;
        }
        kept.sort_unstable();
        let p95_s = percentile(&kept, 95);
        (running_s > p95_s).then(|| Slow {
            usual_s: percentile(&kept, 50),
            p95_s,
            running_s,
            runs: kept.len() as u64,
        })
    }

    /// "usually takes 3m 10s, running 9m", in the one duration format.
    pub fn text(&self) -> String {
        let d = |s: u64| crate::units::duration(std::time::Duration::from_secs(s));
        format!(
            "usually takes {}, running {}",
            d(self.usual_s),
            d(self.running_s)
        )
    }
}

/// The nearest-rank `p`th percentile of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[u64], p: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted[(rank - 1) as usize]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_is_past_the_p95_of_the_recent_runs() {
        let usual = [190, 185, 200, 195, 190, 210];
        let slow = Slow::of(&usual, 570).expect("3x usual is slow");
        assert_eq!((slow.usual_s, slow.p95_s, slow.runs), (190, 210, 6));
        assert_eq!(slow.text(), "usually takes 3m 10s, running 9m 30s");
        assert_eq!(Slow::of(&usual, 210), None, "at the p95 is not past it");
        // Too few runs, and durations that are not believable, say nothing.
        assert_eq!(Slow::of(&[100, 100], 900), None);
        assert_eq!(Slow::of(&[0, 100, 10_000_000, 100], 900), None);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 95), 19);
        assert_eq!(percentile(&v, 50), 10);
        assert_eq!(percentile(&[7], 95), 7);
    }
}
