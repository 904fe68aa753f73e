//! DORA's four keys for one environment, computed from its GitHub
//! deployment history over `[github] dora_window` (issue 21, item 3):
//! deployment frequency, lead time for changes, change failure rate and
//! time to restore.
//!
//! A pure function of what the run already read: the deployments (each
//! with the state and time of its newest status) and the committer date of
//! each deployed commit (`GET repos/{repo}/commits/{sha}`, ETag-cached).
//! Every time is GitHub's data, so each is range-checked: a deployment
//! dated in the future, with an unreadable time or with a status older
//! than itself is left out and named in `excluded`; a lead time or a
//! restore that would be negative is not a sample and is named there too.
//!
//! How each deployment is dated, since its newest status is all the history
//! keeps: a `success` went live at that status; an `inactive` one (a success
//! a later deployment replaced) at its creation, because its newest status
//! dates the replacement, not the success; a `failure` or `error` failed at
//! that status.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::outcome::{DeploymentEntry, DeploymentHistory};

/// How far after the report's time a GitHub time may be and still count:
/// the clocks of GitHub and of this machine differ by seconds.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// DORA's four keys for one environment over the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Dora {
    /// `[github] dora_window` as configured, e.g. "30d".
    pub window: String,
    /// Start of the window: the report's time less the window.
    pub since: DateTime<Utc>,
    /// Whether the fetched history covers the whole window. False when
    /// GitHub may have more deployments inside the window than `[github]
    /// history` fetched, or some could not be read; then the counts are
    /// those of `history_since` onwards and the rates are per day of that span.
    pub complete: bool,
    /// When the oldest fetched deployment was created: how far back the
    /// history goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_since: Option<DateTime<Utc>>,
    /// Days the rates are over: the window, or when incomplete the span
    /// from `history_since` to the report's time.
    pub days: f64,
    /// Finished deployments created in the window: went live, failed or
    /// errored (the change failure rate's denominator).
    pub deployments: u64,
    /// Deployments in the window still under way (not counted anywhere else).
    pub under_way: u64,
    /// Deployments that went live in the window.
    pub deployment_frequency: Frequency,
    /// From a deployed commit's committer date to its deployment going live.
    pub lead_time: LeadTime,
    /// Failed deployments and rolled-back ones over all finished ones.
    pub change_failure_rate: ChangeFailureRate,
    /// From a failure to the next deployment that went live and stayed.
    pub time_to_restore: TimeToRestore,
    /// The deployments (or samples) left out because their times cannot be
    /// right, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Exclusion>,
}

/// Deployment frequency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Frequency {
    /// Deployments that went live (`success`, or `inactive`: live until
    /// replaced), rollbacks included.
    pub count: u64,
    /// `count` per day of `days`, to 3 decimals; absent when `days` is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<f64>,
    /// `count` per 7 days of `days`, to 3 decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_week: Option<f64>,
}

/// Lead time for changes, over the first deployment that took each commit
/// live in this environment (a redeploy or a rollback of a commit already
/// live before says nothing of how fast a change gets out).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LeadTime {
    /// Where the commit's time comes from: always `github_commit`, the
    /// committer date of `GET repos/{repo}/commits/{sha}` (when the commit
    /// landed on its branch; an older author date is not the change's start
    /// on the branch).
    pub source: String,
    /// Lead times measured.
    pub samples: u64,
    /// Their median in seconds (the mean of the middle two for an even count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_s: Option<u64>,
    /// Their 90th percentile in seconds (nearest rank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_s: Option<u64>,
    /// Deployments that needed a sample but whose commit's time is unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: u64,
    /// Why a commit's time is unknown (the first lookup that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Change failure rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ChangeFailureRate {
    /// Deployments whose newest status is `failure` or `error`.
    pub failed: u64,
    /// Deployments that went live and were then replaced by a rollback: a
    /// deployment of a commit that went live here before, other than the
    /// one it replaced.
    pub rolled_back: u64,
    /// (`failed` + `rolled_back`) / `deployments`, to 4 decimals; absent
    /// with no finished deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// Time to restore service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TimeToRestore {
    /// Outages restored: a run of failed or rolled-back deployments that
    /// began in the window, ended by the next deployment that went live and
    /// was not rolled back.
    pub restores: u64,
    /// Median seconds from the outage's first failure (its failed status, or
    /// a rolled-back deployment going live) to that deployment going live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_s: Option<u64>,
    /// Outages with no such deployment in the history yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unrestored: u64,
}

/// One deployment, or one of its samples, left out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Exclusion {
    /// GitHub's deployment id.
    pub deployment: u64,
    /// Why.
    pub reason: ExclusionReason,
}

/// Why a deployment or a sample was left out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// Its creation or newest status is dated after the report (beyond a
    /// minute of clock skew): the whole deployment is left out.
    Future,
    /// Its creation or newest status time is not an RFC 3339 time: the
    /// whole deployment is left out.
    UnreadableTime,
    /// Its newest status is dated before the deployment was created: the
    /// whole deployment is left out.
    StatusBeforeCreated,
    /// Its commit is dated after the deployment went live: no lead time.
    CommitAfterDeploy,
    /// The deployment that ended its outage went live before the failure's
    /// time: no time to restore.
    RestoreBeforeFailure,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What DORA needs of one deployment, with its times read.
struct Dated<'a> {
    entry: &'a DeploymentEntry,
    created: DateTime<Utc>,
    /// When it went live, failed or last changed (see the module's doc).
    at: DateTime<Utc>,
    live: bool,
    failed: bool,
}

/// DORA's four keys for `history` over `window` ending at `now`. `limit` is
/// `[github] history` (a full page means GitHub may have more), `label` the
/// window as configured.
pub fn compute(
    history: &DeploymentHistory,
    window: Duration,
    label: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Dora {
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let mut excluded = Vec::new();
    let mut dated: Vec<Dated<'_>> = history
        .entries
        .iter()
        .filter_map(|e| match date(e, now) {
            Ok(d) => Some(d),
            Err(reason) => {
                excluded.push(Exclusion {
                    deployment: e.id,
                    reason,
                });
                None
            }
        })
        .collect();
    // Oldest first; GitHub lists newest first, by creation.
    dated.sort_by_key(|d| (d.created, d.entry.id));
    let history_since = history
        .entries
        .iter()
        .filter_map(|e| parse(&e.created_at))
        .min();
    let full_page = history.entries.len() >= limit;
    let complete =
        history.error.is_none() && (!full_page || history_since.is_some_and(|t| t < since));
    let start = if complete {
        since
    } else {
        history_since.map_or(now, |t| t.max(since))
    };
    let days = round((now - start).num_seconds().max(0) as f64 / 86_400.0, 3);
    let rolled_back = rolled_back(&dated);
    let in_window = |d: &Dated<'_>| d.created >= since;
    let mut counts = (0u64, 0u64, 0u64, 0u64); // finished, live, failed, under way
    for d in dated.iter().filter(|d| in_window(d)) {
        if d.entry.under_way() {
            counts.3 += 1;
            continue;
        }
        counts.0 += u64::from(d.live || d.failed);
        counts.1 += u64::from(d.live);
        counts.2 += u64::from(d.failed);
    }
    let (finished, live, failed, under_way) = counts;
    let rolled = rolled_back
        .iter()
        .filter(|&&i| in_window(&dated[i]))
        .count() as u64;
    let rate = (days > 0.0).then(|| live as f64 / days);
    Dora {
        window: label.to_owned(),
        since,
        complete,
        history_since,
        days,
        deployments: finished,
        under_way,
        deployment_frequency: Frequency {
            count: live,
            per_day: rate.map(|r| round(r, 3)),
            per_week: rate.map(|r| round(r * 7.0, 3)),
        },
        lead_time: lead_time(history, &dated, since, &mut excluded),
        change_failure_rate: ChangeFailureRate {
            failed,
            rolled_back: rolled,
            rate: (finished > 0).then(|| round((failed + rolled) as f64 / finished as f64, 4)),
        },
        time_to_restore: time_to_restore(&dated, &rolled_back, since, &mut excluded),
        excluded,
    }
}

/// `e` with its times read and checked against each other and `now`.
fn date(e: &DeploymentEntry, now: DateTime<Utc>) -> Result<Dated<'_>, ExclusionReason> {
    let created = parse(&e.created_at).ok_or(ExclusionReason::UnreadableTime)?;
    let status = parse(&e.updated_at).ok_or(ExclusionReason::UnreadableTime)?;
    if created > now + CLOCK_SKEW || status > now + CLOCK_SKEW {
        return Err(ExclusionReason::Future);
    }
    if status < created {
        return Err(ExclusionReason::StatusBeforeCreated);
    }
    let failed = matches!(e.state.as_str(), "failure" | "error");
    Ok(Dated {
        entry: e,
        created,
        at: if e.succeeded() || failed {
            status
        } else {
            created
        },
        live: e.went_live(),
        failed,
    })
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Indexes into `dated` of the deployments a rollback replaced: went live,
/// and the next deployment that went live runs a commit that went live
/// before, other than theirs.
fn rolled_back(dated: &[Dated<'_>]) -> Vec<usize> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut previous: Option<usize> = None;
    let mut replaced = Vec::new();
    for (i, d) in dated.iter().enumerate().filter(|(_, d)| d.live) {
        let sha = d.entry.sha.as_str();
        if let Some(p) = previous
            && dated[p].entry.sha != sha
            && seen.contains(sha)
        {
            replaced.push(p);
        }
        seen.insert(sha);
        previous = Some(i);
    }
    replaced
}

/// Lead times of the first deployment in the window that took each commit
/// live (first in the whole fetched history: a commit live before the
/// window has no lead time in it).
fn lead_time(
    history: &DeploymentHistory,
    dated: &[Dated<'_>],
    since: DateTime<Utc>,
    excluded: &mut Vec<Exclusion>,
) -> LeadTime {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut samples = Vec::new();
    let mut unknown = 0;
    for d in dated.iter().filter(|d| d.live) {
        if !seen.insert(d.entry.sha.as_str()) || d.created < since {
            continue;
        }
        match history.commit_times.get(&d.entry.sha) {
            None => unknown += 1,
            Some(&committed) if committed > d.at => excluded.push(Exclusion {
                deployment: d.entry.id,
                reason: ExclusionReason::CommitAfterDeploy,
            }),
            Some(&committed) => samples.push((d.at - committed).num_seconds().unsigned_abs()),
        }
    }
    samples.sort_unstable();
    LeadTime {
        source: "github_commit".to_owned(),
        samples: samples.len() as u64,
        median_s: median(&samples),
        p90_s: nearest_rank(&samples, 90),
        unknown,
        error: if unknown > 0 {
            history.commit_times_error.clone()
        } else {
            None
        },
    }
}

/// Outages (runs of failed or rolled-back deployments) that began in the
/// window, and how long each took to end.
fn time_to_restore(
    dated: &[Dated<'_>],
    rolled_back: &[usize],
    since: DateTime<Utc>,
    excluded: &mut Vec<Exclusion>,
) -> TimeToRestore {
    let mut samples = Vec::new();
    let mut unrestored = 0;
    let mut outage: Option<&Dated<'_>> = None;
    for (i, d) in dated.iter().enumerate() {
        let bad = d.failed || rolled_back.contains(&i);
        match (outage, bad, d.live) {
            (None, true, _) => outage = Some(d),
            (Some(first), false, true) => {
                if first.created >= since {
                    if d.at < first.at {
                        excluded.push(Exclusion {
                            deployment: d.entry.id,
                            reason: ExclusionReason::RestoreBeforeFailure,
                        });
                    } else {
                        samples.push((d.at - first.at).num_seconds().unsigned_abs());
                    }
                }
                outage = None;
            }
            _ => {}
        }
    }
    if outage.is_some_and(|first| first.created >= since) {
        unrestored += 1;
    }
    samples.sort_unstable();
    TimeToRestore {
        restores: samples.len() as u64,
        median_s: median(&samples),
        unrestored,
    }
}

/// The median of sorted `s`: the middle one, or the mean of the middle two.
fn median(s: &[u64]) -> Option<u64> {
    match s.len() {
        0 => None,
        n if n % 2 == 1 => Some(s[n / 2]),
        n => Some((s[n / 2 - 1] + s[n / 2]) / 2),
    }
}

/// The `p`th percentile of sorted `s` by nearest rank: the smallest value
/// with at least p% of the samples at or below it.
fn nearest_rank(s: &[u64], p: usize) -> Option<u64> {
    let rank = (s.len() * p).div_ceil(100);
    s.get(rank.checked_sub(1)?).copied()
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// `window` as a person writes it: "30d", "12h", else humantime's words.
pub fn label(window: Duration) -> String {
    let secs = window.as_secs();
    match secs {
        s if s > 0 && s % 86_400 == 0 && window.subsec_nanos() == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 && window.subsec_nanos() == 0 => format!("{}h", s / 3600),
        _ => humantime::format_duration(window).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// The report's time in every test.
    fn now() -> DateTime<Utc> {
        "2026-12-04T12:00:00Z".parse().unwrap()
    }

    /// `now` less `days` days plus `secs` seconds ("day -20 +10h" below),
    /// as GitHub writes it.
    fn ago(days: i64, secs: i64) -> String {
        (now() - chrono::Duration::seconds(days * DAY) + chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn entry(id: u64, sha: &str, state: &str, created: String, status: String) -> DeploymentEntry {
        DeploymentEntry {
            id,
            state: state.to_owned(),
            sha: sha.to_owned(),
            git_ref: "main".to_owned(),
            creator: None,
            created_at: created,
            updated_at: status,
            environment_url: None,
            log_url: None,
            current: None,
            superseded: false,
        }
    }

    /// A history as GitHub lists it (newest first) from `oldest_first`, with
    /// each commit's date.
    fn history(
        oldest_first: Vec<DeploymentEntry>,
        commits: &[(&str, String)],
    ) -> DeploymentHistory {
        DeploymentHistory {
            github_environment: "production".to_owned(),
            entries: oldest_first.into_iter().rev().collect(),
            commit_times: commits
                .iter()
                .map(|(sha, at)| ((*sha).to_owned(), at.parse().unwrap()))
                .collect(),
            ..DeploymentHistory::default()
        }
    }

    const H: i64 = 3600;
    const M: i64 = 60;

    /// Ten deployments over 20 days, one failure (3) and one rollback (7
    /// redeploys e, which 5 took live, replacing f). Each inactive one is
    /// replaced when the next is created; times are days ago + seconds.
    fn ten() -> DeploymentHistory {
        let e = entry;
        history(
            vec![
                e(1, "a", "inactive", ago(20, 10 * H), ago(18, 9 * H)),
                e(2, "b", "inactive", ago(18, 9 * H), ago(15, 15 * H)),
                e(3, "c", "failure", ago(15, 14 * H), ago(15, 14 * H + 10 * M)),
                e(4, "d", "inactive", ago(15, 15 * H), ago(12, 10 * H)),
                e(5, "e", "inactive", ago(12, 10 * H), ago(10, 10 * H)),
                e(
                    6,
                    "f",
                    "inactive",
                    ago(10, 10 * H),
                    ago(10, 11 * H + 30 * M),
                ),
                e(7, "e", "inactive", ago(10, 11 * H + 30 * M), ago(5, 9 * H)),
                e(8, "g", "inactive", ago(5, 9 * H), ago(2, 9 * H)),
                e(9, "h", "inactive", ago(2, 9 * H), ago(1, 9 * H + 5 * M)),
                e(10, "i", "success", ago(1, 9 * H), ago(1, 9 * H + 5 * M)),
            ],
            &[
                ("a", ago(20, 8 * H)),
                ("b", ago(18, 8 * H + 30 * M)),
                ("c", ago(15, 12 * H)),
                ("d", ago(15, 14 * H + 30 * M)),
                ("e", ago(13, 10 * H)),
                ("f", ago(10, 6 * H)),
                ("g", ago(6, 9 * H)),
                ("h", ago(2, 8 * H)),
                ("i", ago(1, 8 * H + 5 * M)),
            ],
        )
    }

    fn thirty_days() -> Duration {
        Duration::from_secs(30 * DAY as u64)
    }

    #[test]
    fn ten_deployments_with_one_failure_and_one_rollback_match_the_hand_computed_table() {
        let d = compute(&ten(), thirty_days(), "30d", 100, now());
        // Lead times, first deployment of each commit (an inactive one is
        // dated by its creation, the success by its status), live - commit:
        //   1 a: day -20 +10h    - day -20 +8h     =  2h  =  7200 s
        //   2 b: day -18 +9h     - day -18 +8h30m  = 30m  =  1800 s
        //   3 c: failed, no lead time
        //   4 d: day -15 +15h    - day -15 +14h30m = 30m  =  1800 s
        //   5 e: day -12 +10h    - day -13 +10h    = 24h  = 86400 s
        //   6 f: day -10 +10h    - day -10 +6h     =  4h  = 14400 s
        //   7 e: e went live at 5 before: no sample
        //   8 g: day -5 +9h      - day -6 +9h      = 24h  = 86400 s
        //   9 h: day -2 +9h      - day -2 +8h      =  1h  =  3600 s
        //  10 i: day -1 +9h5m (its success) - day -1 +8h5m = 1h = 3600 s
        // sorted: 1800 1800 3600 3600 | 7200 14400 86400 86400 (8 samples)
        // median = (3600 + 7200) / 2 = 5400; p90 = rank ceil(8 × 0.9) = 8th = 86400.
        //
        // Restores: 3 failed at day -15 +14h10m, 4 live at +15h: 50m = 3000 s;
        // 6 went live at day -10 +10h, rolled back by 7 live at +11h30m: 90m = 5400 s.
        // median = (3000 + 5400) / 2 = 4200.
        //
        // Frequency: 9 went live (all but 3) / 30 days = 0.3 a day, 2.1 a week.
        // Change failure rate: (1 failed + 1 rolled back) / 10 finished = 0.2.
        let table: [(&str, f64, f64); 12] = [
            ("deployments", d.deployments as f64, 10.0),
            ("under way", d.under_way as f64, 0.0),
            ("frequency count", d.deployment_frequency.count as f64, 9.0),
            ("per day", d.deployment_frequency.per_day.unwrap(), 0.3),
            ("per week", d.deployment_frequency.per_week.unwrap(), 2.1),
            ("lead samples", d.lead_time.samples as f64, 8.0),
            (
                "lead median s",
                d.lead_time.median_s.unwrap() as f64,
                5400.0,
            ),
            ("lead p90 s", d.lead_time.p90_s.unwrap() as f64, 86_400.0),
            ("failed", d.change_failure_rate.failed as f64, 1.0),
            ("rolled back", d.change_failure_rate.rolled_back as f64, 1.0),
            ("failure rate", d.change_failure_rate.rate.unwrap(), 0.2),
            (
                "restore median s",
                d.time_to_restore.median_s.unwrap() as f64,
                4200.0,
            ),
        ];
        for (what, got, want) in table {
            assert!((got - want).abs() < 1e-9, "{what}: got {got}, want {want}");
        }
        assert_eq!(d.time_to_restore.restores, 2);
        assert_eq!(d.time_to_restore.unrestored, 0);
        assert!(d.complete, "10 of at most 100: GitHub has no more");
        assert_eq!(d.days, 30.0);
        assert_eq!(d.history_since, Some(ago(20, 10 * H).parse().unwrap()));
        assert_eq!(d.since, now() - chrono::Duration::days(30));
        assert!(d.excluded.is_empty(), "{:?}", d.excluded);
        assert_eq!(d.lead_time.source, "github_commit");
    }

    #[test]
    fn a_full_page_inside_the_window_is_incomplete_and_rates_are_over_its_span() {
        // 10 fetched of a limit of 10, the oldest 20 days ago and the window
        // 30 days: GitHub may have more between 30 and 20 days ago.
        let d = compute(&ten(), thirty_days(), "30d", 10, now());
        assert!(!d.complete);
        // From day -20 +10h to now: 19 days 14 hours = 19.583 days.
        assert_eq!(d.days, 19.583);
        // 9 / 19.583 = 0.4596, to 3 decimals.
        assert_eq!(d.deployment_frequency.per_day, Some(0.46));
        // A window the page reaches past is complete with the same page.
        let week = compute(&ten(), Duration::from_secs(7 * DAY as u64), "7d", 10, now());
        assert!(week.complete);
        assert_eq!(week.days, 7.0);
        // In the last 7 days: 8, 9, 10 went live; nothing failed.
        assert_eq!(week.deployment_frequency.count, 3);
        assert_eq!(week.deployments, 3);
        assert_eq!(week.change_failure_rate.rate, Some(0.0));
        assert_eq!(week.time_to_restore.restores, 0);
        // 8 g (24h), 9 h (1h), 10 i (1h): median 1h, p90 = 3rd = 24h.
        assert_eq!(week.lead_time.median_s, Some(3600));
        assert_eq!(week.lead_time.p90_s, Some(86_400));
        // A history that could not all be read is not complete either.
        let mut skipped = ten();
        skipped.error = Some("1 of 11 deployments could not be read".into());
        assert!(!compute(&skipped, thirty_days(), "30d", 100, now()).complete);
    }

    #[test]
    fn times_that_cannot_be_right_are_excluded_and_named_never_negative() {
        let e = entry;
        let h = history(
            vec![
                // Live, with a commit dated an hour after it went live.
                e(1, "a", "success", ago(3, 0), ago(3, 60)),
                // Its status is older than itself.
                e(2, "b", "success", ago(2, 0), ago(2, -60)),
                e(3, "c", "failure", ago(1, 0), "yesterday".to_owned()),
                // Failed at its status, 30 minutes after creation; the next
                // went live (inactive: dated by its creation) 10 minutes in.
                e(4, "d", "error", ago(0, -5 * H), ago(0, -5 * H + 30 * M)),
                e(5, "f", "inactive", ago(0, -5 * H + 10 * M), ago(0, -H)),
                // Dated two hours from now.
                e(6, "g", "success", ago(0, 2 * H), ago(0, 2 * H)),
                // A failure nothing restored yet.
                e(7, "h", "failure", ago(0, -H), ago(0, -H + 60)),
            ],
            &[("a", ago(3, H)), ("f", ago(0, -6 * H))],
        );
        let d = compute(&h, thirty_days(), "30d", 100, now());
        let reasons: Vec<(u64, ExclusionReason)> = d
            .excluded
            .iter()
            .map(|x| (x.deployment, x.reason))
            .collect();
        use ExclusionReason::*;
        assert_eq!(
            reasons,
            [
                // Read newest first, as GitHub lists them.
                (6, Future),
                (3, UnreadableTime),
                (2, StatusBeforeCreated),
                (1, CommitAfterDeploy),
                (5, RestoreBeforeFailure),
            ]
        );
        // Counted: 1, 4, 5, 7 (2, 3 and 6 are left out).
        assert_eq!(d.deployments, 4);
        assert_eq!(d.deployment_frequency.count, 2);
        // 5 f: went live 5h - 10m ago, committed 6h ago: 70 minutes.
        assert_eq!(d.lead_time.samples, 1);
        assert_eq!(d.lead_time.median_s, Some(70 * 60));
        assert_eq!(d.time_to_restore.restores, 0);
        assert_eq!(d.time_to_restore.unrestored, 1);
        assert_eq!(d.time_to_restore.median_s, None);
        // (4 error + 7 failure) / 4.
        assert_eq!(d.change_failure_rate.rate, Some(0.5));
    }

    #[test]
    fn an_empty_history_has_no_rates_and_an_unknown_commit_is_counted() {
        let d = compute(&history(vec![], &[]), thirty_days(), "30d", 10, now());
        assert!(d.complete);
        assert_eq!(d.deployments, 0);
        assert_eq!(d.deployment_frequency.per_day, Some(0.0));
        assert_eq!(d.change_failure_rate.rate, None);
        assert_eq!(d.lead_time.median_s, None);
        let mut h = history(
            vec![
                entry(1, "a", "success", ago(1, 0), ago(1, 60)),
                entry(2, "b", "in_progress", ago(0, -60), ago(0, -60)),
            ],
            &[],
        );
        h.commit_times_error = Some("GitHub answered 500".into());
        let d = compute(&h, thirty_days(), "30d", 10, now());
        assert_eq!(d.under_way, 1);
        assert_eq!(d.deployments, 1);
        assert_eq!(d.lead_time.unknown, 1);
        assert_eq!(d.lead_time.error.as_deref(), Some("GitHub answered 500"));
    }

    #[test]
    fn windows_read_as_written() {
        assert_eq!(label(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(label(Duration::from_secs(12 * 3600)), "12h");
        assert_eq!(label(Duration::from_secs(90 * 60)), "1h 30m");
    }
}
