//! Focused answers read from one report: what runs where, where a commit
//! runs, how two environments compare, the CI of a commit, one
//! environment's verdict. Pure functions, so the MCP
//! tools answer from the cached report in microseconds; an `Err` is a
//! reason the caller can act on (an unknown environment, a missing sha).

use crate::outcome::short_sha as short;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CiRun, CiStatus, CommitCi, Comparison, Health, LastKnown, Report};
use crate::outcome::{Position, same_commit};

/// What runs where: every environment's commit, how it stands against what
/// it tracks, and the deploy under way to it, in one answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Environments {
    /// Per environment id, in configured order.
    pub environments: IndexMap<String, WhatRuns>,
    /// Workflow runs still under way that name no target environment
    /// (GitHub did not say where they deploy, or they do not deploy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_without_target: Vec<RunningRun>,
    /// One sentence per environment, joined.
    pub summary: String,
}

/// One environment: what it runs and what is on its way to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct WhatRuns {
    /// Display name.
    pub name: String,
    /// Worst of its checks, drift and offline state.
    pub status: Health,
    /// The commit it reports now, as it reports it (often short); absent
    /// when it reports none (down, offline, no `sha` extracted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The version it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// While it reports no sha: what it ran when last seen, when, and where
    /// that comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known: Option<LastKnown>,
    /// How it stands against the environment it `tracks`, when it tracks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<Tracking>,
    /// The workflow run under way that deploys to it, when GitHub names it
    /// as the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<RunningRun>,
}

/// An environment against the one it tracks, counted from its own side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Tracking {
    /// The tracked environment's id (e.g. "staging").
    pub environment: String,
    /// What the tracked environment runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Both run the same commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// Commits the tracked environment has that this one lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_by: Option<u64>,
    /// Commits this one has that the tracked environment lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead_by: Option<u64>,
    /// Where this environment stands, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The compare page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_url: Option<String>,
    /// Set when a side is down and the counts are those of its last known
    /// commit: when that commit was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the drift could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A workflow run that is queued, in progress or stalled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct RunningRun {
    /// The check id in the report's `ci`.
    pub check: String,
    /// Workflow display name.
    pub workflow: String,
    /// queued, in_progress or stalled.
    pub status: CiStatus,
    /// The commit it deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The run's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Whether a workflow run is still under way (a stalled run has not ended).
fn under_way(status: CiStatus) -> bool {
    matches!(
        status,
        CiStatus::Queued | CiStatus::InProgress | CiStatus::Stalled
    )
}

fn running_run(check: &str, r: &CiRun) -> RunningRun {
    RunningRun {
        check: check.to_owned(),
        workflow: r.workflow.clone(),
        status: r.status,
        sha: r.sha.clone(),
        url: r.url.clone(),
    }
}

/// What runs where, from `report` alone: each environment's sha (or its
/// last known one), the comparison with what it tracks, and the running
/// deploy whose target it is.
pub fn environments(report: &Report) -> Environments {
    let mut out = IndexMap::new();
    let mut sentences = Vec::new();
    for (id, env) in &report.environments {
        let tracks = report
            .comparison
            .values()
            .find(|c| c.environment == *id)
            .map(|c| Tracking {
                environment: c.tracked.clone(),
                sha: c.tracked_sha.clone(),
                in_sync: c.in_sync,
                behind_by: c.commits_behind,
                ahead_by: c.commits_ahead,
                position: c.environment_is,
                diff_url: c.diff_url.clone(),
                last_known_at: c.last_known_at,
                error: c.error.clone(),
            });
        let deploy = report
            .ci
            .iter()
            .find(|(_, r)| under_way(r.status) && r.environment.as_deref() == Some(id.as_str()))
            .map(|(k, r)| running_run(k, r));
        let what = WhatRuns {
            name: env.name.clone(),
            status: env.status,
            sha: env.sha.clone(),
            version: env.version.clone(),
            last_known: env.last_known.clone().filter(|_| env.sha.is_none()),
            tracks,
            deploy,
        };
        sentences.push(what_runs_sentence(id, &what));
        out.insert(id.clone(), what);
    }
    let runs_without_target: Vec<RunningRun> = report
        .ci
        .iter()
        .filter(|(_, r)| {
            under_way(r.status)
                && r.environment
                    .as_deref()
                    .is_none_or(|e| !report.environments.contains_key(e))
        })
        .map(|(k, r)| running_run(k, r))
        .collect();
    for r in &runs_without_target {
        sentences.push(format!(
            "{} ({}{}) names no target environment",
            r.workflow,
            ci_word(r.status),
            r.sha
                .as_deref()
                .map(|s| format!(" on {}", short(s)))
                .unwrap_or_default()
        ));
    }
    Environments {
        environments: out,
        runs_without_target,
        summary: if sentences.is_empty() {
            "the report has no environments".to_owned()
        } else {
            sentences.join("; ")
        },
    }
}

/// "production runs 53004a6 (0.4.1), 2 behind staging, and Deploy (in
/// progress) is deploying cbefe7c to it".
fn what_runs_sentence(id: &str, w: &WhatRuns) -> String {
    let mut s = match (&w.sha, &w.last_known) {
        (Some(sha), _) => format!("{id} runs {sha}"),
        (None, Some(k)) => format!(
            "{id} reports no commit (last known {}, {} {})",
            short(&k.sha),
            match k.source {
                super::LastKnownSource::Report => "seen",
                super::LastKnownSource::Deployment => "deployed",
            },
            k.at.format("%Y-%m-%d %H:%M UTC")
        ),
        (None, None) => format!("{id} reports no commit"),
    };
    if let Some(v) = &w.version {
        s.push_str(&format!(" ({v})"));
    }
    if let Some(t) = &w.tracks {
        let of = &t.environment;
        let stands = match (t.in_sync, t.behind_by, t.ahead_by) {
            (Some(true), _, _) | (_, Some(0), Some(0)) => Some(format!("in sync with {of}")),
            (_, Some(b), Some(a)) if b > 0 && a > 0 => {
                Some(format!("diverged from {of} ({b} behind, {a} ahead)"))
            }
            (_, Some(b), _) if b > 0 => Some(format!("{b} behind {of}")),
            (_, _, Some(a)) if a > 0 => Some(format!("{a} ahead of {of}")),
            _ => t.error.as_ref().map(|_| format!("drift from {of} unknown")),
        };
        if let Some(stands) = stands {
            s.push_str(", ");
            s.push_str(&stands);
        }
    }
    if let Some(d) = &w.deploy {
        s.push_str(&format!(
            ", and {} ({}) is deploying {} to it",
            d.workflow,
            ci_word(d.status),
            d.sha.as_deref().map_or("a commit", short)
        ));
    }
    s
}

/// Most timeline events a [`Diagnosis`] carries, newest first; the rest
/// are counted in `timeline_more` (the whole timeline is in `status`).
pub const DIAGNOSE_TIMELINE: usize = 5;

/// What a [`Diagnosis`] may weigh as compact JSON: the timeline is cut
/// (newest events kept) to stay under it. The verdict itself (broken
/// entries, evidence, steps) is never cut; on the demo's down world it
/// leaves room for one event.
pub const DIAGNOSE_BYTES: usize = 3072;

/// One environment's verdict: what is broken and why, from what changed
/// and when (the same objects the report has), with the steps that concern it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Diagnosis {
    /// The environment id asked about.
    pub environment: String,
    /// Its status (`healthy`, `warning`, `failing`, `unknown`).
    pub status: Health,
    /// True when nothing of it is broken: then there is nothing to
    /// diagnose, and `broken` is empty.
    pub healthy: bool,
    /// One line: "staging: unknown, medium confidence", or "staging is
    /// healthy, nothing to diagnose".
    pub summary: String,
    /// Its entries of the report's `assessment.broken`, each with `cause`,
    /// `confidence`, `evidence` (sentences naming their source) and the
    /// `rules` of docs/verdict.md that matched.
    pub broken: Vec<super::assess::Broken>,
    /// When it began failing, with source and precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<super::timeline::FailingSince>,
    /// The newest commit it ran while healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<super::timeline::LastGood>,
    /// The commits between `last_good` and what runs or is being deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspect_commits: Option<super::timeline::SuspectCommits>,
    /// Its newest timeline events, newest first: at most
    /// [`DIAGNOSE_TIMELINE`], and only as many as keep the answer under
    /// [`DIAGNOSE_BYTES`].
    pub timeline: Vec<super::timeline::TimelineEvent>,
    /// Older timeline events left out here; `status {env}` has them all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeline_more: usize,
    /// What to do about its broken entries, most useful first: the
    /// verdict's own steps (wait for the running deploy, roll back, …), else
    /// the error kind's.
    pub next_steps: Vec<super::assess::NextStep>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The verdict on environment `env` of `report`: its broken entries, onset,
/// last good commit, suspects, newest timeline events and next steps. An
/// environment with nothing broken answers `healthy: true`; an unknown id
/// is an error naming the known ones.
pub fn diagnose(report: &Report, env: &str) -> Result<Diagnosis, String> {
    check_env(report, env)?;
    let e = &report.environments[env];
    let broken: Vec<super::assess::Broken> = report
        .assessment
        .broken
        .iter()
        .filter(|b| b.environment.as_deref() == Some(env))
        .cloned()
        .collect();
    let mut next_steps: Vec<super::assess::NextStep> = Vec::new();
    for b in &broken {
        let own = if b.confidence.is_some() {
            super::verdict::steps(report, b)
        } else {
            Vec::new()
        };
        let steps = if own.is_empty() {
            vec![super::assess::step_for(b)]
        } else {
            own
        };
        for s in steps {
            if !next_steps.contains(&s) {
                next_steps.push(s);
            }
        }
    }
    let summary = match broken.first() {
        None => format!(
            "{env} is {}, nothing to diagnose{}",
            e.status.as_str(),
            e.warning
                .as_deref()
                .map(|w| format!(" (nothing is broken; {w})"))
                .unwrap_or_default()
        ),
        Some(b) => {
            // The evidence is in `broken`; the summary only names the verdict.
            let sure = b
                .confidence
                .map(|c| format!(", {} confidence", c.as_str()))
                .unwrap_or_default();
            let more = match broken.len() {
                1 => String::new(),
                n => format!("; and {} more broken", n - 1),
            };
            format!("{env}: {}{sure}{more}", b.cause.as_str())
        }
    };
    let mut out = Diagnosis {
        environment: env.to_owned(),
        status: e.status,
        healthy: broken.is_empty(),
        summary,
        failing_since: e.failing_since.clone(),
        last_good: e.last_good.clone(),
        suspect_commits: e.suspect_commits.clone(),
        timeline: Vec::new(),
        // The most it can be, so the size below is never underestimated.
        timeline_more: e.timeline.len(),
        broken,
        next_steps,
    };
    let mut bytes = json_len(&out);
    for event in e.timeline.iter().take(DIAGNOSE_TIMELINE) {
        // The event and the comma before it.
        let more = json_len(event) + usize::from(!out.timeline.is_empty());
        if bytes + more >= DIAGNOSE_BYTES {
            break;
        }
        bytes += more;
        out.timeline.push(event.clone());
    }
    out.timeline_more = e.timeline.len() - out.timeline.len();
    Ok(out)
}

fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_string(value).map_or(usize::MAX / 2, |s| s.len())
}

/// Where a commit runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Deployed {
    /// The commit asked about.
    pub sha: String,
    /// True when it is local HEAD.
    pub is_local_head: bool,
    /// Per environment: true when what it runs contains the commit, false
    /// when it does not, null when that cannot be told (see `why`).
    pub environments: IndexMap<String, Option<bool>>,
    /// One sentence per environment.
    pub why: IndexMap<String, String>,
    /// One sentence for all of them.
    pub summary: String,
}

/// Drift between an environment and the one it tracks, with one sentence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Compared {
    /// One sentence: "production is 2 commits behind staging".
    pub summary: String,
    /// The comparison, as in the report.
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// CI of one commit: the combined status and check runs of an environment
/// running it, and workflow runs on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct CiOfCommit {
    /// The commit; null when only the latest workflow runs are known.
    pub sha: Option<String>,
    /// The environment asked about, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Combined verdict of the commit's statuses and check runs (GitHub's
    /// commit page), when an environment runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitCi>,
    /// Latest workflow runs on this commit (every workflow's latest run when
    /// no commit is known), by check id.
    pub workflow_runs: IndexMap<String, CiRun>,
    /// One sentence.
    pub summary: String,
}

fn known_envs(report: &Report) -> String {
    report
        .environments
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_env(report: &Report, id: &str) -> Result<(), String> {
    if report.environments.contains_key(id) {
        Ok(())
    } else {
        Err(format!(
            "no environment `{id}` (known: {})",
            known_envs(report)
        ))
    }
}

fn head_sha(report: &Report) -> Result<String, String> {
    report
        .git
        .as_ref()
        .map(|g| {
            if g.sha_full.is_empty() {
                g.sha.clone()
            } else {
                g.sha_full.clone()
            }
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            "the report has no local repository (no `git` check ran); pass a sha".to_owned()
        })
}

/// Where `sha` (default: local HEAD) runs.
pub fn deployed(report: &Report, sha: Option<&str>) -> Result<Deployed, String> {
    let head = head_sha(report).ok();
    let sha = match sha.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.len() < 7 || !s.chars().all(|c| c.is_ascii_hexdigit()) => {
            return Err(format!("`{s}` is not a commit sha (7 to 40 hex digits)"));
        }
        Some(s) => s.to_owned(),
        None => head.clone().ok_or_else(|| head_sha(report).unwrap_err())?,
    };
    let is_local_head = head.as_deref().is_some_and(|h| same_commit(h, &sha));
    let short: String = sha.chars().take(7).collect();
    let mut environments = IndexMap::new();
    let mut why = IndexMap::new();
    for (id, env) in &report.environments {
        let (answer, sentence) = runs_commit(report, id, env, &sha, &short, is_local_head);
        environments.insert(id.clone(), answer);
        why.insert(id.clone(), sentence);
    }
    let summary = deployed_summary(&environments, &short, is_local_head);
    Ok(Deployed {
        sha: short,
        is_local_head,
        environments,
        why,
        summary,
    })
}

/// Whether environment `id` runs `sha` (`short` its first 7 digits), and
/// the sentence that says how the report knows: its own sha, local HEAD's
/// ancestry, a comparison whose end is `sha`, the commits between tracked
/// environments, or not at all. Every fact is tried before "unknown".
fn runs_commit(
    report: &Report,
    id: &str,
    env: &super::EnvironmentReport,
    sha: &str,
    short: &str,
    is_local_head: bool,
) -> (Option<bool>, String) {
    if let Some(s) = env.sha.as_deref().filter(|s| same_commit(s, sha)) {
        return (Some(true), format!("{id} runs {s}"));
    }
    let head = report
        .assessment
        .local_head
        .as_ref()
        .filter(|_| is_local_head);
    if let Some(answer) = head.and_then(|h| h.deployed.get(id).copied().flatten()) {
        let runs = env.sha.as_deref();
        return if answer {
            let sentence = format!(
                "{id} runs {}, which contains {short}",
                runs.unwrap_or("a later commit")
            );
            (Some(true), sentence)
        } else {
            let sentence = format!(
                "{id} runs {}, which does not contain {short}",
                runs.unwrap_or("another commit")
            );
            (Some(false), sentence)
        };
    }
    if let Some((answer, sentence)) = settled_by_comparisons(report, id, sha) {
        return (Some(answer), sentence);
    }
    if let Some(reason) = head.and_then(|h| h.deployed_unknown.get(id)) {
        return (None, reason.clone());
    }
    let sentence = match &env.sha {
        None => format!("{id} reports no commit, so it is unknown whether it runs {short}"),
        Some(s) => format!(
            "{id} runs {s}; whether that contains {short} is not in the report (only local HEAD, each environment's commit and the commits between tracked environments are)"
        ),
    };
    (None, sentence)
}

/// Whether `id` contains `sha` as the report's comparisons tell: `sha` is
/// the commit one end runs (with the counts), or one of the commits listed
/// between two environments. `None` when no comparison settles it.
pub(super) fn settled_by_comparisons(
    report: &Report,
    id: &str,
    sha: &str,
) -> Option<(bool, String)> {
    let short: String = sha.chars().take(7).collect();
    if let Some((Some(answer), sentence)) = report
        .comparison
        .values()
        .find_map(|c| from_comparison_end(c, id, sha, &short))
    {
        return Some((answer, sentence));
    }
    let c = report.comparison.values().find(|c| {
        c.commits.iter().any(|m| same_commit(&m.sha, sha))
            && (c.environment == *id || c.tracked == *id)
    })?;
    Some(if c.environment == *id {
        (
            false,
            format!("{id} lacks {short}, one of the commits {} has", c.tracked),
        )
    } else {
        (
            true,
            format!(
                "{id} has {short}, one of the commits {} lacks",
                c.environment
            ),
        )
    })
}

/// What comparison `c` says of `id` and `sha` when `sha` is the commit the
/// other side of `c` runs: behind by some and ahead by none means one side
/// contains the other's commit (production 2 behind, 0 ahead of staging:
/// staging contains production's commit, production lacks staging's).
fn from_comparison_end(
    c: &Comparison,
    id: &str,
    sha: &str,
    short: &str,
) -> Option<(Option<bool>, String)> {
    let ends = |end: &Option<String>| end.as_deref().is_some_and(|e| same_commit(e, sha));
    let (behind, ahead) = (c.commits_behind?, c.commits_ahead?);
    let counts = format!(
        "{} is {behind} commit{} behind and {ahead} ahead of {}",
        c.environment,
        if behind == 1 { "" } else { "s" },
        c.tracked
    );
    if c.environment == id && ends(&c.tracked_sha) {
        // `sha` is what the tracked side runs.
        match (behind, ahead) {
            (0, _) => Some((
                Some(true),
                format!("{id} contains {short}, which {} runs: {counts}", c.tracked),
            )),
            (_, _) => Some((
                Some(false),
                format!("{id} lacks {short}, which {} runs: {counts}", c.tracked),
            )),
        }
    } else if c.tracked == id && ends(&c.environment_sha) {
        // `sha` is what the tracking side runs.
        match (behind, ahead) {
            (_, 0) => Some((
                Some(true),
                format!(
                    "{id} contains {short}, which {} runs: {counts}",
                    c.environment
                ),
            )),
            (_, _) => Some((
                Some(false),
                format!("{id} lacks {short}, which {} runs: {counts}", c.environment),
            )),
        }
    } else {
        None
    }
}

/// "local HEAD abc1234 is deployed to staging; not deployed to production".
fn deployed_summary(
    environments: &IndexMap<String, Option<bool>>,
    short: &str,
    is_local_head: bool,
) -> String {
    let list = |want: Option<bool>| -> Vec<&str> {
        environments
            .iter()
            .filter(|(_, v)| **v == want)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    let mut parts = Vec::new();
    let (yes, no, unknown) = (list(Some(true)), list(Some(false)), list(None));
    if !yes.is_empty() {
        parts.push(format!("deployed to {}", yes.join(", ")));
    }
    if !no.is_empty() {
        parts.push(format!("not deployed to {}", no.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown for {}", unknown.join(", ")));
    }
    let subject = if is_local_head {
        format!("local HEAD {short}")
    } else {
        short.to_owned()
    };
    if parts.is_empty() {
        format!("{subject}: no environments in the report")
    } else {
        format!("{subject} is {}", parts.join("; "))
    }
}

/// How `environment` compares with `tracked` (default: what it tracks).
pub fn compare(
    report: &Report,
    environment: &str,
    tracked: Option<&str>,
) -> Result<Compared, String> {
    check_env(report, environment)?;
    if let Some(t) = tracked {
        check_env(report, t)?;
    }
    let found = report.comparison.values().find(|c| {
        (c.environment == environment && tracked.is_none_or(|t| c.tracked == t))
            || (tracked.is_some_and(|t| c.environment == t) && c.tracked == environment)
    });
    let Some(c) = found else {
        let pairs: Vec<String> = report
            .comparison
            .values()
            .map(|c| format!("{} tracks {}", c.environment, c.tracked))
            .collect();
        return Err(format!(
            "the report compares no such pair; environments are compared with the one they `tracks` ({})",
            if pairs.is_empty() {
                "none is configured".to_owned()
            } else {
                pairs.join(", ")
            }
        ));
    };
    let summary = match (c.in_sync, c.commits_behind, c.commits_ahead) {
        (Some(true), _, _) => format!("{} and {} run the same commit", c.environment, c.tracked),
        (_, Some(b), Some(a)) if b > 0 && a > 0 => format!(
            "{} and {} have diverged: {b} behind, {a} ahead",
            c.environment, c.tracked
        ),
        (_, Some(b), _) if b > 0 => format!(
            "{} is {b} commit{} behind {}",
            c.environment,
            if b == 1 { "" } else { "s" },
            c.tracked
        ),
        (_, _, Some(a)) if a > 0 => format!(
            "{} is {a} commit{} ahead of {}",
            c.environment,
            if a == 1 { "" } else { "s" },
            c.tracked
        ),
        _ => match &c.error {
            Some(e) => format!("cannot compare {} with {}: {e}", c.environment, c.tracked),
            None => format!(
                "{} and {} differ; the count is unknown",
                c.environment, c.tracked
            ),
        },
    };
    Ok(Compared {
        summary,
        comparison: c.clone(),
    })
}

/// CI of `sha`, or of what `environment` runs; local HEAD when neither is given.
pub fn ci(
    report: &Report,
    sha: Option<&str>,
    environment: Option<&str>,
) -> Result<CiOfCommit, String> {
    let sha = sha.map(str::trim).filter(|s| !s.is_empty());
    if sha.is_some() && environment.is_some() {
        return Err("give `sha` or `environment`, not both".into());
    }
    let (sha, commit) = match (sha, environment) {
        (_, Some(env)) => {
            check_env(report, env)?;
            let e = &report.environments[env];
            let Some(s) = e.sha.clone() else {
                return Err(format!("{env} reports no commit, so its CI is unknown"));
            };
            (Some(s), e.ci.clone())
        }
        (Some(s), None) => (Some(s.to_owned()), None),
        (None, None) => (head_sha(report).ok(), None),
    };
    let commit = commit.or_else(|| {
        let s = sha.as_deref()?;
        report
            .environments
            .values()
            .filter(|e| e.sha.as_deref().is_some_and(|x| same_commit(x, s)))
            .find_map(|e| e.ci.clone())
    });
    let workflow_runs: IndexMap<String, CiRun> = report
        .ci
        .iter()
        .filter(|(_, r)| match sha.as_deref() {
            Some(s) => r.sha.as_deref().is_some_and(|x| same_commit(x, s)),
            None => true,
        })
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    let short = sha
        .as_deref()
        .map(|s| s.chars().take(7).collect::<String>());
    let mut parts = Vec::new();
    if let Some(c) = &commit {
        parts.push(format!("combined status {}", ci_word(c.status)));
    }
    for r in workflow_runs.values() {
        parts.push(format!("{} {}", r.workflow, ci_word(r.status)));
    }
    let summary = match (&short, parts.is_empty()) {
        (Some(s), true) => format!("no CI is known for {s} in this report"),
        (Some(s), false) => format!("CI of {s}: {}", parts.join(", ")),
        (None, true) => "no CI in this report".to_owned(),
        (None, false) => format!("latest CI runs: {}", parts.join(", ")),
    };
    Ok(CiOfCommit {
        sha: short,
        environment: environment.map(str::to_owned),
        commit,
        workflow_runs,
        summary,
    })
}

fn ci_word(s: CiStatus) -> &'static str {
    use CiStatus::*;
    match s {
        Success => "succeeded",
        Failure => "failed",
        InProgress => "in progress",
        Queued => "queued",
        Cancelled => "cancelled",
        Stalled => "stalled",
        Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Report {
        let path = format!(
            "{}/tests/fixtures/reports/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// `deployed {sha}` said `production: null` for staging's commit while
    /// the comparison said production is 2 behind and 0 ahead (issue 19):
    /// the comparison's ends settle it even when its commit list was cut.
    #[test]
    fn the_comparison_settles_where_each_end_commit_runs() {
        let mut report = fixture("warning_drift_ci_failed");
        for c in report.comparison.values_mut() {
            c.commits.clear();
            c.commits_truncated = true;
        }
        let staging_sha = deployed(&report, Some("cbefe7c")).unwrap();
        assert_eq!(
            staging_sha.environments["production"],
            Some(false),
            "{:?}",
            staging_sha.why
        );
        assert!(
            staging_sha.why["production"].contains("2 commits behind"),
            "{:?}",
            staging_sha.why
        );
        let production_sha = deployed(&report, Some("53004a6")).unwrap();
        assert_eq!(
            production_sha.environments["staging"],
            Some(true),
            "{:?}",
            production_sha.why
        );
        assert_eq!(production_sha.environments["production"], Some(true));
        // Diverged: neither side contains the other's commit.
        for c in report.comparison.values_mut() {
            c.commits_ahead = Some(1);
        }
        let diverged = deployed(&report, Some("53004a6")).unwrap();
        assert_eq!(
            diverged.environments["staging"],
            Some(false),
            "{:?}",
            diverged.why
        );
    }

    /// One call answers what runs where: each sha, the drift counted from
    /// the environment's own side, the diff link; a running deploy with no
    /// target is listed apart, never pinned on an environment.
    #[test]
    fn environments_say_what_runs_where_and_what_is_on_its_way() {
        let report = fixture("warning_drift_ci_failed");
        let staging_sha = report.environments["staging"].sha.clone().unwrap();
        let production_sha = report.environments["production"].sha.clone().unwrap();
        let e = environments(&report);
        assert_eq!(
            e.environments.keys().collect::<Vec<_>>(),
            ["local", "staging", "production"]
        );
        let production = &e.environments["production"];
        assert_eq!(production.sha.as_deref(), Some(production_sha.as_str()));
        assert_eq!(production.status, Health::Warning);
        let t = production
            .tracks
            .as_ref()
            .expect("production tracks staging");
        assert_eq!(t.environment, "staging");
        assert_eq!(t.sha.as_deref(), Some(staging_sha.as_str()));
        assert_eq!(
            (t.behind_by, t.ahead_by, t.in_sync),
            (Some(2), Some(0), Some(false))
        );
        assert!(
            t.diff_url
                .as_deref()
                .is_some_and(|u| u.contains("/compare/"))
        );
        assert!(
            e.environments["staging"].tracks.is_none(),
            "staging tracks nothing"
        );
        assert!(production.deploy.is_none());
        // The fixture's deploy names no target.
        assert_eq!(e.runs_without_target.len(), 1, "{e:#?}");
        assert_eq!(e.runs_without_target[0].check, "deploy");
        assert!(
            e.summary.contains(&format!(
                "production runs {production_sha} (0.4.1), 2 behind staging"
            )),
            "{}",
            e.summary
        );
        assert!(
            e.summary.contains("names no target environment"),
            "{}",
            e.summary
        );
    }

    /// A down environment keeps its last known commit; a running deploy that
    /// names its target is that environment's `deploy`.
    #[test]
    fn environments_carry_the_last_known_commit_and_the_deploy_to_each() {
        let mut report = fixture("warning_drift_ci_failed");
        let staging_sha = report.environments["staging"].sha.take().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-22T14:00:00Z")
            .unwrap()
            .to_utc();
        report.environments["staging"].last_known = Some(LastKnown {
            sha: staging_sha.clone(),
            at,
            source: super::super::LastKnownSource::Deployment,
        });
        // A last known commit beside a reported one is not repeated.
        report.environments["production"].last_known =
            report.environments["staging"].last_known.clone();
        report.ci["deploy"].environment = Some("production".to_owned());
        let deploy_sha = report.ci["deploy"].sha.clone().unwrap();
        let e = environments(&report);
        let staging = &e.environments["staging"];
        assert_eq!(staging.sha, None);
        let k = staging.last_known.as_ref().expect("last known");
        assert_eq!((k.sha.as_str(), k.at), (staging_sha.as_str(), at));
        assert!(e.environments["production"].last_known.is_none());
        let d = e.environments["production"]
            .deploy
            .as_ref()
            .expect("the deploy to production");
        assert_eq!(d.status, CiStatus::InProgress);
        assert_eq!(d.sha.as_deref(), Some(deploy_sha.as_str()));
        assert!(
            d.url
                .as_deref()
                .is_some_and(|u| u.contains("/actions/runs/"))
        );
        assert!(e.runs_without_target.is_empty(), "{e:#?}");
        assert!(e.environments["staging"].deploy.is_none());
        assert!(
            e.summary.contains(&format!(
                "staging reports no commit (last known {}, deployed 2026-01-22 14:00 UTC)",
                short(&staging_sha)
            )),
            "{}",
            e.summary
        );
        assert!(
            e.summary
                .contains(&format!("is deploying {} to it", short(&deploy_sha))),
            "{}",
            e.summary
        );
        // A finished run deploys nothing any more.
        report.ci["deploy"].status = CiStatus::Success;
        assert!(
            environments(&report).environments["production"]
                .deploy
                .is_none()
        );
        // The answer is what the schema says.
        let schema = serde_json::to_value(schemars::schema_for!(Environments)).unwrap();
        let answer = serde_json::to_value(environments(&report)).unwrap();
        assert!(jsonschema::is_valid(&schema, &answer), "{answer:#}");
    }
}
