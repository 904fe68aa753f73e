//! What changed, and when, per environment (issue 20): a timeline from the
//! sources that already keep time (GitHub deployments, workflow runs, the
//! health check's `uptime`) plus what `serve` observed between refreshes,
//! labelled as such; from it the onset of a failure (`failing_since`), the
//! last known good commit and the commits since (`suspect_commits`).
//!
//! Pure: a function of the report. Nothing here stores history; `serve`
//! carries its observations from one report into the next
//! ([`carry_observed`]), and `run` only knows what the sources know. The
//! observer's own start is never an onset: a report with no previous one
//! has no observed transition.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CiStatus, CommitBrief, DeploymentEntry, EnvironmentReport, Health, Report};
use crate::outcome::same_commit;

/// Most events kept per environment.
pub const TIMELINE_LIMIT: usize = 20;

/// A deployment this close before the onset (or, without one, before the
/// report) counts as "around the onset".
pub const RECENT_MINUTES: i64 = 30;

/// One thing that happened to an environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TimelineEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// The commit it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Its state in the source's words: a deployment's newest status
    /// (`success`, `in_progress`, `inactive`, …; `superseded` for one still
    /// running on GitHub after a later success), a workflow run's status,
    /// or the environment's health for an observed transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// GitHub's deployment id, for a deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
    /// CI of the deployed commit, where the report has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiStatus>,
    /// Where this is known from.
    pub source: Source,
    /// Where to look (the deployment's log, the run's page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a [`TimelineEvent`] is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A GitHub deployment was created (its state is its newest status).
    Deployment,
    /// A workflow run on a commit of this environment started.
    Ci,
    /// The service started: the report's time less its extracted `uptime`.
    Started,
    /// `serve` saw it go from answering to failing.
    BecameFailing,
    /// `serve` saw it recover.
    BecameHealthy,
}

/// Where a timeline event or a piece of evidence comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The environment's health check (its status, body, `uptime`).
    Health,
    /// GitHub deployments and their statuses (`[github] history`).
    Deployments,
    /// GitHub workflow runs and commit statuses.
    Ci,
    /// A comparison between two commits (GitHub compare or local git).
    Compare,
    /// The local repository.
    Git,
    /// What `serve` saw between its refreshes.
    Observed,
}

impl Source {
    /// The words evidence sentences name their source with.
    pub fn label(self) -> &'static str {
        match self {
            Source::Health => "health check",
            Source::Deployments => "GitHub deployments",
            Source::Ci => "GitHub CI",
            Source::Compare => "compare",
            Source::Git => "local git",
            Source::Observed => "observed by serve",
        }
    }
}

/// When a failing environment began failing, and how well that is known.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct FailingSince {
    /// The onset, or its earliest possible time (see `precision`).
    pub at: DateTime<Utc>,
    /// Where it is known from.
    pub source: Source,
    /// How `at` is meant.
    pub precision: Precision,
    /// The deployment it began with (`precision: deployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
}

/// How a [`FailingSince`] time is meant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `serve` saw it answer, then fail: the onset lies between its previous
    /// refresh and `at`.
    Observed,
    /// It began with a deployment created at `at` (the newest, still under
    /// way or just finished).
    Deployment,
    /// Only "not before `at`" is known: the last time it is known to have
    /// gone live or answered.
    AtMost,
}

/// The newest commit an environment ran while healthy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LastGood {
    /// Its commit.
    pub sha: String,
    /// When it was seen healthy, or went live.
    pub at: DateTime<Utc>,
    /// `observed` (serve saw it healthy), `health` (healthy now) or
    /// `deployments` (a successful deployment that stayed live).
    pub source: Source,
    /// The deployment that brought it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
    /// True when it is (taken as) what the environment runs now: nothing
    /// newer went live since.
    #[serde(default)]
    pub current: bool,
}

/// The commits between the last good one and what the environment runs or
/// is being given now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct SuspectCommits {
    /// The last good commit.
    pub from: String,
    /// What runs or is being deployed now.
    pub to: String,
    /// The commits after `from` up to `to`, oldest first; null when the
    /// report has no comparison of the two (see `unknown`), empty when they
    /// are the same commit.
    pub commits: Option<Vec<CommitBrief>>,
    /// Why `commits` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The compare page, when a comparison has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_url: Option<String>,
    /// True when `commits` lists only the newest of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When a deployment was created.
pub fn created(d: &DeploymentEntry) -> Option<DateTime<Utc>> {
    parse_time(&d.created_at)
}

/// A deployment that once went live (`inactive` is GitHub's word for a
/// success a later deployment replaced).
pub fn went_live(d: &DeploymentEntry) -> bool {
    matches!(d.state.as_str(), "success" | "inactive")
}

/// A deployment still under way: not finished, and not superseded by a
/// later success (issue 21).
pub fn under_way(d: &DeploymentEntry) -> bool {
    d.under_way()
}

/// `uptime` as the service reports it: a humantime duration ("15m",
/// "3d 4h") or a number of seconds.
fn parse_uptime(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::milliseconds((secs * 1000.0) as i64));
    }
    humantime::parse_duration(s)
        .ok()
        .and_then(|d| Duration::from_std(d).ok())
}

/// CI of `sha` where the report has it: an environment running it, else
/// the worst workflow run on it that is not a deploy; with its link.
pub fn ci_of(report: &Report, sha: &str) -> Option<(CiStatus, Option<String>)> {
    if let Some(ci) = report
        .environments
        .values()
        .filter(|e| e.sha.as_deref().is_some_and(|s| same_commit(s, sha)))
        .find_map(|e| e.ci.as_ref())
    {
        return Some((ci.status, ci.url.clone()));
    }
    report
        .ci
        .values()
        .filter(|r| r.environment.is_none())
        .filter(|r| r.sha.as_deref().is_some_and(|s| same_commit(s, sha)))
        .max_by_key(|r| super::assess::ci_rank(r.status))
        .map(|r| (r.status, r.url.clone()))
}

/// Fills `timeline`, `last_good`, `failing_since` and `suspect_commits` of
/// every environment from the rest of `report`, keeping the observed events
/// and observed last good commit already there (carried by `serve`).
pub fn annotate(report: &mut Report) {
    let ids: Vec<String> = report.environments.keys().cloned().collect();
    for id in ids {
        let env = &report.environments[&id];
        let timeline = events(report, env);
        let last_good = last_good(report, env);
        let mut env = report.environments[&id].clone();
        env.timeline = timeline;
        env.last_good = last_good;
        env.failing_since = failing_since(&env);
        env.suspect_commits = suspects(report, &env);
        report.environments.insert(id, env);
    }
}

fn events(report: &Report, env: &EnvironmentReport) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = env
        .timeline
        .iter()
        .filter(|e| e.source == Source::Observed)
        .cloned()
        .collect();
    let mut shas: Vec<&str> = env.sha.iter().map(String::as_str).collect();
    for d in &env.deployments {
        shas.push(&d.sha);
        let Some(at) = created(d) else { continue };
        out.push(TimelineEvent {
            at,
            kind: EventKind::Deployment,
            sha: Some(d.sha.clone()),
            // An orphaned `in_progress` is not shown as running (issue 21).
            state: Some(if d.superseded {
                "superseded".to_owned()
            } else {
                d.state.clone()
            }),
            deployment: Some(d.id),
            ci: ci_of(report, &d.sha).map(|(s, _)| s),
            source: Source::Deployments,
            url: d.log_url.clone(),
        });
    }
    for run in report.ci.values().filter(|r| r.environment.is_none()) {
        let (Some(sha), Some(at)) = (&run.sha, run.created_at.as_deref().and_then(parse_time))
        else {
            continue;
        };
        if shas.iter().any(|s| same_commit(s, sha)) {
            out.push(TimelineEvent {
                at,
                kind: EventKind::Ci,
                sha: Some(sha.clone()),
                state: Some(ci_word(run.status).to_owned()),
                deployment: None,
                ci: Some(run.status),
                source: Source::Ci,
                url: run.url.clone(),
            });
        }
    }
    if let Some(up) = env.uptime.as_deref().and_then(parse_uptime) {
        out.push(TimelineEvent {
            at: report.timestamp - up,
            kind: EventKind::Started,
            sha: env.sha.clone(),
            state: None,
            deployment: None,
            ci: None,
            source: Source::Health,
            url: None,
        });
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.at));
    out.truncate(TIMELINE_LIMIT);
    out
}

/// The newest commit known healthy: now (healthy, with a sha), as `serve`
/// saw it, or the newest deployment that went live and stayed live — not
/// the newest one when that is recent and the environment is failing
/// (then it is the suspect, and the one before is the last good).
fn last_good(report: &Report, env: &EnvironmentReport) -> Option<LastGood> {
    if env.status == Health::Healthy
        && let Some(sha) = &env.sha
    {
        return Some(LastGood {
            sha: sha.clone(),
            at: report.timestamp,
            source: Source::Health,
            deployment: None,
            current: true,
        });
    }
    if let Some(seen) = env
        .last_good
        .as_ref()
        .filter(|g| g.source == Source::Observed)
    {
        return Some(seen.clone());
    }
    let newest = env.deployments.first()?;
    let recent = |d: &DeploymentEntry| {
        created(d).is_some_and(|t| report.timestamp - t <= Duration::minutes(RECENT_MINUTES))
    };
    let skip_newest = env.status == Health::Failing && went_live(newest) && recent(newest);
    let good = env
        .deployments
        .iter()
        .enumerate()
        .filter(|(i, d)| went_live(d) && !(skip_newest && (*i == 0 || d.sha == newest.sha)))
        .map(|(_, d)| d)
        .next()?;
    let current = match &env.sha {
        Some(s) => same_commit(s, &good.sha),
        // Nothing newer went live since.
        None => env
            .deployments
            .iter()
            .take_while(|d| d.id != good.id)
            .all(|d| !went_live(d)),
    };
    Some(LastGood {
        sha: good.sha.clone(),
        at: parse_time(&good.updated_at).or_else(|| created(good))?,
        source: Source::Deployments,
        deployment: Some(good.id),
        current,
    })
}

/// The onset of a failure: observed by `serve`; else the newest deployment
/// when it is newer than the last good one; else "not before" the last
/// good one went live. Never the observer's own start.
fn failing_since(env: &EnvironmentReport) -> Option<FailingSince> {
    if env.status != Health::Failing {
        return None;
    }
    // The newest observed transition, when it is to failing.
    if let Some(seen) = env
        .timeline
        .iter()
        .find(|e| matches!(e.kind, EventKind::BecameFailing | EventKind::BecameHealthy))
        .filter(|e| e.kind == EventKind::BecameFailing)
    {
        return Some(FailingSince {
            at: seen.at,
            source: Source::Observed,
            precision: Precision::Observed,
            deployment: None,
        });
    }
    let good = env.last_good.as_ref();
    if let Some(newest) = env.deployments.first()
        && good.is_none_or(|g| g.deployment != Some(newest.id) && !same_commit(&g.sha, &newest.sha))
        && (went_live(newest) || under_way(newest))
        && let Some(at) = created(newest)
    {
        return Some(FailingSince {
            at,
            source: Source::Deployments,
            precision: Precision::Deployment,
            deployment: Some(newest.id),
        });
    }
    good.map(|g| FailingSince {
        at: g.at,
        source: g.source,
        precision: Precision::AtMost,
        deployment: g.deployment,
    })
}

/// What runs or is being given to `env` now: its sha, else its newest
/// deployment that went live or is under way.
pub fn now_sha(env: &EnvironmentReport) -> Option<&str> {
    env.sha.as_deref().or_else(|| {
        env.deployments
            .iter()
            .find(|d| went_live(d) || under_way(d))
            .map(|d| d.sha.as_str())
    })
}

/// A CI status in its JSON word.
pub fn ci_word(s: CiStatus) -> &'static str {
    match s {
        CiStatus::Success => "success",
        CiStatus::Failure => "failure",
        CiStatus::InProgress => "in_progress",
        CiStatus::Queued => "queued",
        CiStatus::Cancelled => "cancelled",
        CiStatus::Stalled => "stalled",
        CiStatus::Unknown => "unknown",
    }
}

/// The first 7 characters of a sha.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The commits between the last good one and what runs now, from a
/// comparison in the report; never guessed.
fn suspects(report: &Report, env: &EnvironmentReport) -> Option<SuspectCommits> {
    if env.status == Health::Healthy {
        return None;
    }
    let good = env.last_good.as_ref()?;
    let to = now_sha(env)?;
    let mut out = SuspectCommits {
        from: short(&good.sha).to_owned(),
        to: short(to).to_owned(),
        commits: None,
        unknown: None,
        diff_url: None,
        truncated: false,
    };
    if same_commit(&good.sha, to) || same_commit(to, &good.sha) {
        out.commits = Some(Vec::new());
        return Some(out);
    }
    // The run's own lookup of this range, when it has one (issue 20).
    let looked_up = env
        .suspects
        .as_ref()
        .filter(|s| same_commit(&s.from, &good.sha) && same_commit(&s.to, to));
    if let Some(s) = looked_up.filter(|s| s.commits.is_some()) {
        out.commits = s.commits.clone();
        out.diff_url = s.diff_url.clone();
        out.truncated = s.truncated;
        return Some(out);
    }
    let found = report.comparison.values().find(|c| {
        c.environment_sha
            .as_deref()
            .is_some_and(|s| same_commit(s, &good.sha))
            && c.tracked_sha.as_deref().is_some_and(|s| same_commit(s, to))
            && !c.commits.is_empty()
    });
    match found {
        Some(c) => {
            out.commits = Some(c.commits.clone());
            out.diff_url = c.diff_url.clone();
        }
        None => {
            out.unknown = Some(looked_up.and_then(|s| s.error.clone()).unwrap_or_else(|| {
                format!(
                    "the report has no comparison of {}...{} listing its commits",
                    out.from, out.to
                )
            }));
        }
    }
    Some(out)
}

/// `serve`: carries into `report` what `previous` observed (its observed
/// events, its observed last good commit) and adds the transitions seen
/// between the two, then recomputes the timeline. Returns whether anything
/// observed was carried or added.
pub fn carry_observed(report: &mut Report, previous: &Report) -> bool {
    let mut changed = false;
    for (id, env) in &mut report.environments {
        let Some(before) = previous.environments.get(id) else {
            continue;
        };
        let kept: Vec<TimelineEvent> = before
            .timeline
            .iter()
            .filter(|e| e.source == Source::Observed)
            .cloned()
            .collect();
        changed |= !kept.is_empty();
        env.timeline.retain(|e| e.source != Source::Observed);
        env.timeline.extend(kept);
        let answered = |h: Health| matches!(h, Health::Healthy | Health::Warning);
        let kind = match (before.status, env.status) {
            (b, Health::Failing) if answered(b) => Some(EventKind::BecameFailing),
            (Health::Failing, n) if answered(n) => Some(EventKind::BecameHealthy),
            _ => None,
        };
        if let Some(kind) = kind {
            env.timeline.insert(
                0,
                TimelineEvent {
                    at: report.timestamp,
                    kind,
                    sha: env.sha.clone().or_else(|| before.sha.clone()),
                    state: Some(env.status.as_str().to_owned()),
                    deployment: None,
                    ci: None,
                    source: Source::Observed,
                    url: None,
                },
            );
            changed = true;
        }
        let seen_good = match (&before.sha, before.status) {
            (Some(sha), Health::Healthy) => Some(LastGood {
                sha: sha.clone(),
                at: previous.timestamp,
                source: Source::Observed,
                deployment: None,
                current: env.sha.as_deref().is_none_or(|s| same_commit(s, sha)),
            }),
            _ => before
                .last_good
                .clone()
                .filter(|g| g.source == Source::Observed),
        };
        if env.status != Health::Healthy && seen_good.is_some() {
            env.last_good = seen_good;
            changed = true;
        }
    }
    if changed {
        annotate(report);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    /// `serve` saw staging answer, then fail: the onset is observed at the
    /// failing report's time. A report with nothing before it (`run`, or
    /// serve's first) never dates the onset by its own time.
    #[test]
    fn an_observed_transition_dates_the_onset_and_the_first_report_does_not() {
        let up = fixture("all_green");
        let mut down = up.clone();
        down.timestamp = up.timestamp + Duration::minutes(1);
        let env = &mut down.environments["staging"];
        env.status = Health::Failing;
        env.sha = None;
        let mut alone = down.clone();
        annotate(&mut alone);
        assert!(
            alone.environments["staging"]
                .failing_since
                .as_ref()
                .is_none_or(|s| s.precision != Precision::Observed && s.at != alone.timestamp),
            "{:?}",
            alone.environments["staging"].failing_since
        );
        assert!(carry_observed(&mut down, &up));
        let env = &down.environments["staging"];
        let since = env.failing_since.clone().expect("observed");
        assert_eq!(
            (since.at, since.precision),
            (down.timestamp, Precision::Observed)
        );
        assert_eq!(env.timeline[0].kind, EventKind::BecameFailing);
        let good = env.last_good.clone().expect("seen healthy");
        assert_eq!((good.source, good.at), (Source::Observed, up.timestamp));

        // Still failing a refresh later: the same onset, carried.
        let mut later = down.clone();
        later.timestamp = down.timestamp + Duration::minutes(1);
        later.environments["staging"].timeline.clear();
        later.environments["staging"].last_good = None;
        carry_observed(&mut later, &down);
        assert_eq!(later.environments["staging"].failing_since, Some(since));
    }
}
