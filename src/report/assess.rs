//! The assessment: what a developer asks right after a push, answered from
//! the rest of the report. A pure function: no I/O, the same report gives the
//! same assessment, so `?env=` and the MCP tools recompute it freely.
//!
//! - `headline`: one sentence, what is wrong and where;
//! - `local_head`: your clone's HEAD (the `git` check's repository, not the
//!   `local` environment), whether it is pushed, where it is deployed
//!   (true / false / null with the reason) and its CI;
//! - `broken`: each failing environment or check, what failed, why, and
//!   whether that points at infrastructure, code or config;
//! - `next_steps`: ordered `{action, reason, url}`.

use crate::outcome::short_sha as short;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckResult, CheckStatus, CiRun, CiStatus, CommitCi, Health, Report};
use crate::outcome::{Blame, ErrorKind, same_commit};
use crate::units::coarse;

/// What to know first, derived from the rest of the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Assessment {
    /// One sentence: what is wrong and where, e.g. "CI failed on cbefe7c,
    /// which staging runs; production is 2 commits behind staging".
    pub headline: String,
    /// Local HEAD and where it runs; present whenever the report has the
    /// local repository (a `git` check that ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_head: Option<LocalHead>,
    /// Each failing environment or check, worst first in configured order.
    #[serde(default)]
    pub broken: Vec<Broken>,
    /// What to do, most useful first.
    #[serde(default)]
    pub next_steps: Vec<NextStep>,
    /// The newest commit CI ran on and its CI ("CI of the latest commit"),
    /// beside the CI of each environment's commit; absent without workflow
    /// runs that name a commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_commit: Option<super::LatestCommit>,
}

/// Local HEAD and where it is deployed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LocalHead {
    /// Short sha of HEAD.
    pub sha: String,
    /// Current branch; null when HEAD is detached.
    pub branch: Option<String>,
    /// HEAD is on its upstream branch (nothing to push); null when there is
    /// no upstream to tell (see `pushed_unknown`).
    pub pushed: Option<bool>,
    /// Why `pushed` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_unknown: Option<String>,
    /// Files with uncommitted changes.
    pub uncommitted_changes: u64,
    /// Per environment: true when what it runs contains HEAD, false when it
    /// does not, null when that could not be told (see `deployed_unknown`).
    pub deployed: IndexMap<String, Option<bool>>,
    /// Why an environment's `deployed` is null (empty when none is).
    #[serde(default)]
    pub deployed_unknown: IndexMap<String, String>,
    /// Answers in `deployed` that rest on a down environment's last known
    /// commit (`environments.ID.last_known`), saying which and when it was seen.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub deployed_last_known: IndexMap<String, String>,
    /// Environments running a commit your clone does not have, one sentence
    /// per commit: "local runs cbefe7c, which your clone does not have (git
    /// fetch?)". Said here once, not in each environment's reason.
    #[serde(default)]
    pub not_in_clone: Vec<String>,
    /// CI of HEAD's commit, when an environment running it or a workflow run
    /// on it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CommitCi>,
}

/// One thing that is broken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Broken {
    /// The environment it concerns; null for a global check (CI, deploy).
    pub environment: Option<String>,
    /// The check id (`ci` for an environment's commit CI).
    pub check: String,
    /// What failed, one line.
    pub what: String,
    /// The commit it concerns, when known: the failing CI run's, or the one
    /// the environment runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Why, from the check's status and error.
    pub why: String,
    /// What went wrong, as the check classified it (`error_kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// Where the fault most likely lies.
    pub cause: Cause,
    /// Where to look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How sure `cause` is, for an environment's check (the verdict of
    /// `report::verdict`'s rule table); absent for global checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<super::verdict::Confidence>,
    /// The facts the verdict rests on, each sentence naming its source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<super::verdict::Evidence>,
    /// The names of the rules of the table that matched, in table order
    /// (docs/verdict.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// Where a fault most likely lies: "is staging broken, or is it my code?".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The service or what it runs on: unreachable, refused, timed out, a
    /// 5xx, a stalled deploy. Not the code you pushed.
    Infrastructure,
    /// The code: CI failed on the commit it runs, or an `expect` on the
    /// service's answer did not hold.
    Code,
    /// The configuration or credentials: 401/403, a missing variable, a
    /// rate limit without a token, a wrong URL.
    Config,
    /// Not enough is known to tell.
    Unknown,
}

impl Cause {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Infrastructure => "infrastructure",
            Cause::Code => "code",
            Cause::Config => "config",
            Cause::Unknown => "unknown",
        }
    }
}

/// One thing to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct NextStep {
    /// What to do, imperative: "Open the failing CI run for cbefe7c".
    pub action: String,
    /// Why, from the report: "CI failed on cbefe7c, which staging runs".
    pub reason: String,
    /// Where to do it, when there is a page for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The assessment of `report` (its own `assessment` is not read).
pub fn assess(report: &Report) -> Assessment {
    let local_head = local_head(report);
    let mut broken = broken(report);
    // An environment's failing check gets a verdict from what changed and
    // when (issue 20); its CI entry is already about code.
    for b in broken
        .iter_mut()
        .filter(|b| b.environment.is_some() && b.check != "ci")
    {
        super::verdict::judge(report, b);
    }
    let mut headline_parts: Vec<String> = Vec::new();
    let mut steps: Vec<NextStep> = Vec::new();

    // Code first: a failed CI on what an environment runs is the usual answer.
    for b in &broken {
        headline_parts.push(b.what.clone());
        let own = if b.confidence.is_some() {
            super::verdict::steps(report, b)
        } else {
            Vec::new()
        };
        if own.is_empty() {
            steps.push(step_for(b));
        } else {
            steps.extend(own);
        }
    }
    for (what, step) in drift_steps(report, &broken)
        .into_iter()
        .map(|(what, step)| (what, Some(step)))
        .chain(running_steps(report, &broken))
    {
        headline_parts.push(what);
        steps.extend(step);
    }
    if let Some(h) = &local_head {
        steps.extend(local_head_steps(report, h));
    }

    let headline = if headline_parts.is_empty() {
        calm_headline(report, local_head.as_ref())
    } else {
        let mut s = headline_parts
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if headline_parts.len() > 3 {
            s.push_str(&format!("; and {} more", headline_parts.len() - 3));
        }
        s
    };
    dedupe(&mut steps);
    Assessment {
        headline,
        local_head,
        broken,
        next_steps: steps,
        latest_commit: super::latest_commit(report),
    }
}

/// Drift: what is behind what it tracks, each with its promotion step
/// (headline part, step).
fn drift_steps(report: &Report, broken: &[Broken]) -> Vec<(String, NextStep)> {
    let mut out = Vec::new();
    // Drift: what is behind what it tracks.
    for c in report.comparison.values() {
        if c.in_sync != Some(false) {
            continue;
        }
        let what = match (c.commits_behind, c.commits_ahead) {
            (Some(n), Some(0) | None) if n > 0 => format!(
                "{} is {n} commit{} behind {}",
                c.environment,
                plural(n),
                c.tracked
            ),
            (Some(0) | None, Some(n)) if n > 0 => format!(
                "{} is {n} commit{} ahead of {}",
                c.environment,
                plural(n),
                c.tracked
            ),
            (Some(b), Some(a)) if b > 0 && a > 0 => format!(
                "{} and {} have diverged ({b} behind, {a} ahead)",
                c.environment, c.tracked
            ),
            _ => format!("{} does not run what {} runs", c.environment, c.tracked),
        };
        // Promoting what the tracked environment runs would ship its faults.
        let tracked_broken = report.environments.get(&c.tracked).is_some_and(|e| {
            e.status == Health::Failing
                || e.ci
                    .as_ref()
                    .is_some_and(|ci| ci.status == CiStatus::Failure)
        }) || broken
            .iter()
            .any(|b| b.environment.as_deref() == Some(c.tracked.as_str()));
        out.push((
            what.clone(),
            NextStep {
                action: if tracked_broken {
                    format!(
                        "Fix {} before promoting it to {}; then review the diff",
                        c.tracked, c.environment
                    )
                } else {
                    format!(
                        "Review the diff and promote {} to {}",
                        c.tracked, c.environment
                    )
                },
                reason: what,
                url: c.diff_url.clone(),
            },
        ));
    }

    out
}

/// Deploys and other workflows still running, or running too long
/// (headline part, step). No step for a run a verdict in `broken` already
/// waits on: its "Wait for deploy #814 …" names the deployment.
fn running_steps(report: &Report, broken: &[Broken]) -> Vec<(String, Option<NextStep>)> {
    let mut out = Vec::new();
    for (id, run) in &report.ci {
        let on = run
            .sha
            .as_deref()
            .map(|s| format!(" on {s}"))
            .unwrap_or_default();
        let since = run
            .duration_s
            .map(|s| format!(" for {}", coarse(s)))
            .unwrap_or_default();
        let to = run
            .environment
            .as_deref()
            .map(|e| format!(" to {e}"))
            .unwrap_or_default();
        let (what, action) = match run.status {
            CiStatus::InProgress => (
                format!(
                    "{}{to} is running{on}{since}{}",
                    run.workflow,
                    stall_note(run)
                ),
                format!("Wait for {} to finish, or watch its log", run.workflow),
            ),
            CiStatus::Queued => (
                format!(
                    "{}{to} is queued{on}{since}{}",
                    run.workflow,
                    stall_note(run)
                ),
                format!("Wait for a runner to pick up {}", run.workflow),
            ),
            CiStatus::Stalled => (
                format!(
                    "{}{to} stalled{on}: still running{since}{}",
                    run.workflow,
                    stall_note(run)
                ),
                format!(
                    "Open the log of {}: it has run past `stalled_after`",
                    run.workflow
                ),
            ),
            _ => continue,
        };
        // A failing check already said it (and gave its step).
        if report
            .checks
            .iter()
            .any(|c| &c.id == id && c.environment.is_none() && is_broken(c))
        {
            continue;
        }
        let waited = broken
            .iter()
            .any(|b| super::verdict::waits_on(report, b, run));
        out.push((
            what.clone(),
            (!waited).then(|| NextStep {
                action,
                reason: what,
                url: run.url.clone(),
            }),
        ));
    }

    out
}

/// Local HEAD: push it, then deploy it.
fn local_head_steps(report: &Report, h: &LocalHead) -> Vec<NextStep> {
    let mut steps = Vec::new();
    if h.pushed == Some(false) {
        steps.push(NextStep {
            action: format!("Push {}", h.branch.as_deref().unwrap_or("HEAD")),
            reason: format!("your clone's HEAD {} is not on its upstream branch", h.sha),
            url: None,
        });
    }
    let missing: Vec<&str> = h
        .deployed
        .iter()
        .filter(|(id, d)| **d == Some(false) && !is_optional(report, id))
        .map(|(id, _)| id.as_str())
        .collect();
    // Production behind staging is already a step above; HEAD missing
    // from the first environment is the one to act on.
    if let Some(first) = missing.first()
        && !report
            .comparison
            .values()
            .any(|c| c.environment == *first && c.in_sync == Some(false))
    {
        steps.push(NextStep {
            action: format!("Deploy {} to {first}", h.sha),
            reason: format!("{first} does not run your clone's HEAD {} yet", h.sha),
            url: None,
        });
    }
    steps
}

fn calm_headline(report: &Report, head: Option<&LocalHead>) -> String {
    let shown: Vec<&str> = report
        .environments
        .iter()
        .filter(|(_, e)| !e.offline)
        .map(|(id, _)| id.as_str())
        .collect();
    let offline: Vec<&str> = report
        .environments
        .iter()
        .filter(|(_, e)| e.offline)
        .map(|(id, _)| id.as_str())
        .collect();
    let unknown = report
        .environments
        .values()
        .any(|e| !e.offline && e.status == Health::Unknown);
    let mut s = match (shown.len(), report.status) {
        (0, _) => "No environment answered".to_owned(),
        (_, Health::Warning) => format!("{} has warnings", report.summary),
        (_, _) if unknown => format!("Nothing is failing; {}", report.summary),
        (n, _) if report.comparison.is_empty() => format!(
            "All {n} environment{} healthy",
            if n == 1 { "" } else { "s" }
        ),
        (n, _) => format!(
            "All {n} environment{} healthy and in sync",
            if n == 1 { "" } else { "s" }
        ),
    };
    if !offline.is_empty() {
        s.push_str(&format!(" ({} offline)", offline.join(", ")));
    }
    if let Some(h) = head {
        let everywhere = !h.deployed.is_empty()
            && h.deployed
                .iter()
                .all(|(id, d)| *d == Some(true) || is_optional(report, id));
        if everywhere {
            s.push_str(&format!(
                "; your clone's HEAD {} is deployed everywhere",
                h.sha
            ));
        }
    }
    s
}

fn local_head(report: &Report) -> Option<LocalHead> {
    let git = report.git.as_ref()?;
    let head_sha = if git.sha_full.is_empty() {
        &git.sha
    } else {
        &git.sha_full
    };
    let (pushed, pushed_unknown) = match (&git.upstream, git.ahead) {
        (Some(_), Some(0)) => (Some(true), None),
        (Some(_), Some(_)) => (Some(false), None),
        (None, _) => (
            None,
            Some(match &git.branch {
                Some(b) => format!("branch {b} has no upstream; push it with `git push -u`"),
                None => "HEAD is detached, so it has no upstream".to_owned(),
            }),
        ),
        (Some(up), None) => (None, Some(format!("could not count commits ahead of {up}"))),
    };
    let mut deployed = IndexMap::new();
    let mut deployed_unknown = IndexMap::new();
    let mut deployed_last_known = IndexMap::new();
    for (id, env) in &report.environments {
        let last = env.last_known.as_ref().filter(|_| env.sha.is_none());
        let running = env.sha.as_deref().or(last.map(|k| k.sha.as_str()));
        let known = git
            .deployed
            .get(id)
            .copied()
            .or_else(|| running.filter(|s| same_commit(s, head_sha)).map(|_| true))
            // HEAD is what another environment runs, or among the commits
            // between two: the comparison settles it (issue 19).
            .or_else(|| super::query::settled_by_comparisons(report, id, head_sha).map(|(b, _)| b));
        deployed.insert(id.clone(), known);
        if let Some(k) = last {
            let seen = format!(
                "it last ran {} at {} (last known)",
                short(&k.sha),
                k.at.format("%Y-%m-%d %H:%M UTC")
            );
            if known.is_some() {
                deployed_last_known.insert(id.clone(), format!("{id} is down; {seen}"));
            } else {
                deployed_unknown.insert(
                    id.clone(),
                    format!("{id} is down; {seen}, and whether that contains HEAD is unknown"),
                );
                continue;
            }
        }
        if known.is_none() {
            let why = match &env.sha {
                _ if git.deployed_errors.contains_key(id) => git.deployed_errors[id].clone(),
                None if env.offline => format!("{id} is offline, so what it runs is unknown"),
                None if env.status == Health::Failing => {
                    format!("{id} is down, so what it runs is unknown")
                }
                None => format!(
                    "{id} reports no sha; extract one from its health check (`extract = {{ sha = \"$.commit\" }}`)"
                ),
                Some(s) => format!(
                    "neither your clone nor GitHub could compare {id}'s {s} with HEAD (git fetch, or push HEAD)"
                ),
            };
            deployed_unknown.insert(id.clone(), why);
        }
    }
    Some(LocalHead {
        sha: git.sha.clone(),
        branch: git.branch.clone(),
        pushed,
        pushed_unknown,
        uncommitted_changes: git.uncommitted_changes,
        deployed,
        deployed_unknown,
        deployed_last_known,
        not_in_clone: not_in_clone(&report.environments, git),
        ci: head_ci(report, head_sha),
    })
}

/// [`LocalHead::not_in_clone`]: the environments git said run a commit the
/// clone lacks, grouped by that commit, in report order.
pub(super) fn not_in_clone(
    environments: &IndexMap<String, super::EnvironmentReport>,
    git: &super::GitInfo,
) -> Vec<String> {
    let mut by_sha: IndexMap<String, Vec<&str>> = IndexMap::new();
    for (id, env) in environments {
        if let Some(sha) = env.sha.as_deref()
            && git.not_in_clone.contains(id)
        {
            by_sha.entry(short(sha).to_owned()).or_default().push(id);
        }
    }
    by_sha
        .into_iter()
        .map(|(sha, ids)| {
            let run = if ids.len() == 1 { "runs" } else { "run" };
            format!(
                "{} {run} {sha}, which your clone does not have (git fetch?)",
                ids.join(" and ")
            )
        })
        .collect()
}

/// CI of `sha`: the combined verdict of an environment running it, else
/// the worst workflow run on it.
fn head_ci(report: &Report, sha: &str) -> Option<CommitCi> {
    if let Some(ci) = report
        .environments
        .values()
        .filter(|e| e.sha.as_deref().is_some_and(|s| same_commit(s, sha)))
        .find_map(|e| e.ci.clone())
    {
        return Some(ci);
    }
    report
        .ci
        .values()
        .filter(|r| r.sha.as_deref().is_some_and(|s| same_commit(s, sha)))
        .max_by_key(|r| ci_rank(r.status))
        .map(|r| CommitCi {
            status: r.status,
            url: r.url.clone(),
            counts: IndexMap::new(),
            failing: Vec::new(),
            error: None,
            duration_ms: None,
        })
}

pub(super) fn ci_rank(s: CiStatus) -> u8 {
    match s {
        CiStatus::Success => 0,
        CiStatus::Unknown => 1,
        CiStatus::Queued => 2,
        CiStatus::InProgress => 3,
        CiStatus::Cancelled => 4,
        CiStatus::Stalled => 5,
        CiStatus::Failure => 6,
    }
}

fn is_broken(c: &CheckResult) -> bool {
    matches!(c.status, CheckStatus::Fail | CheckStatus::Error)
}

fn is_optional(report: &Report, id: &str) -> bool {
    report.environments.get(id).is_some_and(|e| e.optional)
}

/// What a broken global check says: a failed workflow names the
/// environments that run its commit (deployed ones first), a stalled one
/// where it deploys and for how long.
fn global_what(report: &Report, c: &CheckResult, run: Option<&CiRun>) -> String {
    match run {
        Some(r) if r.status == CiStatus::Failure => match &r.sha {
            Some(sha) => {
                // Already said per environment when one runs this commit.
                // Deployed environments first: a dev machine running it matters less.
                let running: Vec<(&str, bool)> = report
                    .environments
                    .iter()
                    .filter(|(_, e)| e.sha.as_deref().is_some_and(|s| same_commit(s, sha)))
                    .map(|(id, e)| (id.as_str(), e.optional))
                    .collect();
                let deployed: Vec<&str> = running
                    .iter()
                    .filter(|(_, o)| !o)
                    .map(|(id, _)| *id)
                    .collect();
                let runs_it = if deployed.is_empty() {
                    running.iter().map(|(id, _)| *id).collect()
                } else {
                    deployed
                };
                if runs_it.is_empty() {
                    format!("{} failed on {sha}", r.workflow)
                } else {
                    format!(
                        "{} failed on {sha}, which {} run{}",
                        r.workflow,
                        runs_it.join(" and "),
                        if runs_it.len() == 1 { "s" } else { "" }
                    )
                }
            }
            None => format!("{} failed", r.workflow),
        },
        Some(r) if r.status == CiStatus::Stalled => format!(
            "{}{} stalled{}{}",
            r.workflow,
            r.environment
                .as_deref()
                .map(|e| format!(" to {e}"))
                .unwrap_or_default(),
            r.duration_s
                .map(|s| format!(", running for {}", coarse(s)))
                .unwrap_or_default(),
            stall_note(r)
        ),
        _ => format!("{} {}", c.name, failed_word(c.status)),
    }
}

fn broken(report: &Report) -> Vec<Broken> {
    let mut out = Vec::new();
    // A failed workflow run on the commit an environment runs is one fault,
    // named once (with the run's link) below.
    let failed_runs: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.environment.is_none() && is_broken(c))
        .filter_map(|c| report.ci.get(&c.id))
        .filter(|r| r.status == CiStatus::Failure)
        .filter_map(|r| r.sha.as_deref())
        .collect();
    // Environments in configured order: their commit's CI, then their checks.
    for (id, env) in &report.environments {
        if env.offline {
            continue;
        }
        if let Some(ci) = &env.ci
            && ci.status == CiStatus::Failure
            && !env
                .sha
                .as_deref()
                .is_some_and(|s| failed_runs.iter().any(|f| same_commit(f, s)))
        {
            let sha = env.sha.as_deref().unwrap_or("its commit");
            out.push(Broken {
                environment: Some(id.clone()),
                check: "ci".into(),
                what: format!("CI failed on {sha}, which {id} runs"),
                sha: env.sha.clone(),
                // The same tally as the card: what is counted and which failed.
                why: ci
                    .tally(short(sha))
                    .unwrap_or_else(|| format!("GitHub's combined status for {sha} is failure")),
                kind: Some(ErrorKind::CiFailed),
                cause: Cause::Code,
                url: ci.url.clone(),
                confidence: None,
                evidence: Vec::new(),
                rules: Vec::new(),
            });
        }
        for c in report
            .checks
            .iter()
            .filter(|c| c.environment.as_deref() == Some(id.as_str()) && is_broken(c))
        {
            let (cause, why) = classify(c, None);
            out.push(Broken {
                environment: Some(id.clone()),
                check: c.id.clone(),
                what: match cause {
                    Cause::Infrastructure => {
                        format!("{id} is down ({} {})", c.name, c.status.as_str())
                    }
                    _ => format!("{} {} on {id}", c.name, failed_word(c.status)),
                },
                sha: env.sha.clone(),
                why,
                kind: c.error_kind,
                cause,
                url: env.url.clone(),
                confidence: None,
                evidence: Vec::new(),
                rules: Vec::new(),
            });
        }
    }
    // Global checks: workflows, plugins, the local repository.
    for c in report
        .checks
        .iter()
        .filter(|c| c.environment.is_none() && is_broken(c))
    {
        let run = report.ci.get(&c.id);
        let (cause, why) = classify(c, run);
        let what = global_what(report, c, run);
        out.push(Broken {
            environment: None,
            check: c.id.clone(),
            what,
            sha: run.and_then(|r| r.sha.clone()),
            why,
            kind: c.error_kind,
            cause,
            url: run.and_then(|r| r.url.clone()),
            confidence: None,
            evidence: Vec::new(),
            rules: Vec::new(),
        });
    }
    out
}

fn failed_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Error => "could not run",
        _ => "failed",
    }
}

/// Where a failing check's fault lies, and why: from its `error_kind`
/// (never the message text); a stalled run points at infrastructure (the
/// runner or the deploy target, not the commit).
fn classify(c: &CheckResult, run: Option<&CiRun>) -> (Cause, String) {
    let message = c.error.clone().unwrap_or_else(|| c.summary.clone());
    if run.is_some_and(|r| r.status == CiStatus::Stalled) {
        return (Cause::Infrastructure, message);
    }
    match c.error_kind {
        Some(kind) => {
            let cause = match kind.blame() {
                Blame::Infrastructure => Cause::Infrastructure,
                Blame::Code => Cause::Code,
                Blame::Config => Cause::Config,
            };
            (cause, message)
        }
        None => match run.map(|r| r.status) {
            Some(CiStatus::Failure) => (Cause::Code, message),
            _ => (Cause::Unknown, message),
        },
    }
}

pub(super) fn step_for(b: &Broken) -> NextStep {
    let ci = b.check == "ci" || b.kind == Some(ErrorKind::CiFailed);
    let action = match (b.cause, &b.environment) {
        (Cause::Code, _) if ci => match &b.sha {
            Some(sha) => format!("Open the failing CI run for {sha} and fix it"),
            None => "Open the failing CI run and fix it".to_owned(),
        },
        (Cause::Code, Some(env)) => format!("Fix what {env} answers to {}", b.check),
        (Cause::Code, None) => format!("Fix what {} checks", b.check),
        (Cause::Infrastructure, Some(env)) => {
            format!("Check {env}'s service and hosting: infrastructure, not your code")
        }
        (Cause::Infrastructure, None) => format!("Open the logs of {}", b.check),
        (Cause::Config, _) => format!("Fix the configuration or credentials of {}", b.check),
        (Cause::Unknown, _) => format!("Look into {}", b.check),
    };
    NextStep {
        action,
        reason: step_reason(b),
        url: b.url.clone(),
    }
}

/// One sentence for a next step: what is broken, and why when `why` adds
/// something `what` does not say. Links stay in `url` and the error code in
/// `kind`: a `"; logs: URL"` part of `why` is left out of the prose.
fn step_reason(b: &Broken) -> String {
    let why: Vec<&str> = b
        .why
        .split("; ")
        .filter(|part| !is_labelled_link(part))
        .collect();
    let why = why.join("; ");
    let first_clause = b.what.split([',', ';']).next().unwrap_or(&b.what).trim();
    if why.is_empty() || why.starts_with(first_clause) {
        b.what.clone()
    } else {
        format!("{}: {why}", b.what)
    }
}

/// "logs: https://…": a label and nothing but a link.
fn is_labelled_link(part: &str) -> bool {
    part.split_once(": ").is_some_and(|(label, rest)| {
        !label.contains(' ')
            && (rest.starts_with("https://") || rest.starts_with("http://"))
            && !rest.contains(' ')
    })
}

fn dedupe(steps: &mut Vec<NextStep>) {
    let mut seen: Vec<(String, Option<String>)> = Vec::new();
    steps.retain(|s| {
        let key = (s.action.clone(), s.url.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "; slower than usual: usually takes 3m 10s, running 9m" past the p95
/// of the workflow's recent runs (issue 21), then [`stalled_note`].
fn stall_note(run: &CiRun) -> String {
    // Slower than its recent runs is said whether or not a threshold is set.
    let slow = run
        .slow
        .map(|s| format!("; slower than usual: {}", s.text()))
        .unwrap_or_default();
    slow + &stalled_note(run)
}

/// ", stalled in 10m (stalled_after 15m)" while running; ", 20m past
/// stalled_after 15m" once stalled; empty without a threshold. The
/// remainder is computed from the elapsed time as shown ("for 4m"), so the
/// two always add up to the threshold in the same sentence.
fn stalled_note(run: &CiRun) -> String {
    let Some(limit) = run.stalled_after_s else {
        return String::new();
    };
    let shown = run.duration_s.map(crate::units::coarse_shown);
    match (run.status, run.stalled_in_s, shown) {
        (CiStatus::Stalled, _, Some(ran)) => format!(
            ", {} past stalled_after {}",
            coarse(ran.saturating_sub(limit)),
            coarse(limit)
        ),
        (_, Some(left), ran) if left > 0 => format!(
            "; stalled in {} (stalled_after {})",
            exact_rest(ran.map_or(left, |r| limit.saturating_sub(r))),
            coarse(limit)
        ),
        _ => String::new(),
    }
}

/// A remainder as [`coarse`] but with the seconds it would drop, so that
/// "for 59s; stalled in 14m 1s" adds up as "for 4m; stalled in 11m" does.
fn exact_rest(secs: u64) -> String {
    match secs % 60 {
        0 => coarse(secs),
        _ if secs < 60 => coarse(secs),
        s => format!("{} {s}s", coarse(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(duration_s: u64, limit: u64) -> CiRun {
        CiRun {
            workflow: "Deploy".to_owned(),
            status: CiStatus::InProgress,
            sha: None,
            url: None,
            created_at: None,
            branch: None,
            duration_s: Some(duration_s),
            environment: None,
            stalled_after_s: Some(limit),
            stalled_in_s: Some(limit.saturating_sub(duration_s)),
            slow: None,
            error: None,
        }
    }

    /// "running for 4m; stalled in 10m (stalled_after 15m)" read 4 + 10 ≠ 15
    /// (issue 19): the remainder comes from the elapsed time as shown.
    #[test]
    fn the_shown_elapsed_and_remainder_add_up_to_the_threshold() {
        for ran in [0, 59, 60, 61, 220, 239, 240, 599, 899] {
            let run = running(ran, 900);
            let note = stall_note(&run);
            let left = note
                .strip_prefix("; stalled in ")
                .and_then(|r| r.split(" (").next())
                .unwrap_or_else(|| panic!("{note}"));
            let shown = coarse(ran);
            let secs = |t: &str| -> u64 {
                t.split(' ')
                    .map(|part| match part.strip_suffix('m') {
                        Some(m) => m.parse::<u64>().unwrap() * 60,
                        None => part.trim_end_matches('s').parse::<u64>().unwrap(),
                    })
                    .sum()
            };
            assert_eq!(
                secs(&shown) + secs(left),
                900,
                "ran {ran}: for {shown}{note}"
            );
        }
        let mut stalled = running(1_260, 900);
        stalled.duration_s = Some(1_260);
        stalled.status = CiStatus::Stalled;
        assert_eq!(stall_note(&stalled), ", 6m past stalled_after 15m");
    }

    /// A next step's reason is one sentence: no repeat of `what`, no link
    /// (it is in `url`), no error code (it is in `kind`) (issue 19).
    #[test]
    fn a_step_reason_says_it_once_without_links_or_codes() {
        let ci = Broken {
            environment: None,
            check: "ci".to_owned(),
            what: "CI Pipeline failed on cbefe7c, which staging runs".to_owned(),
            sha: Some("cbefe7c".to_owned()),
            why: "CI Pipeline failed on cbefe7c (failure); logs: https://github.com/o/r/actions/runs/1"
                .to_owned(),
            kind: Some(ErrorKind::CiFailed),
            cause: Cause::Code,
            url: Some("https://github.com/o/r/actions/runs/1".to_owned()),
            confidence: None,
            evidence: Vec::new(),
            rules: Vec::new(),
        };
        assert_eq!(
            step_reason(&ci),
            "CI Pipeline failed on cbefe7c, which staging runs"
        );
        let health = Broken {
            environment: Some("staging".to_owned()),
            check: "health".to_owned(),
            what: "staging is down (health error)".to_owned(),
            why: "HTTP 500 Internal Server Error from http://127.0.0.1:1/api/health: the service is up but failing".to_owned(),
            kind: Some(ErrorKind::HttpStatus),
            cause: Cause::Infrastructure,
            url: None,
            sha: None,
            confidence: None,
            evidence: Vec::new(),
            rules: Vec::new(),
        };
        let reason = step_reason(&health);
        assert_eq!(
            reason,
            "staging is down (health error): HTTP 500 Internal Server Error from http://127.0.0.1:1/api/health: the service is up but failing"
        );
        assert!(!reason.contains("(http_status)"), "{reason}");
    }

    /// "Is my HEAD deployed" is true or false whenever the report's own facts
    /// settle it, even when the git lookup gave no answer (issue 19).
    #[test]
    fn head_deployed_is_settled_by_the_comparison() {
        let path = format!(
            "{}/tests/fixtures/reports/warning_drift_ci_failed.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut report: Report =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let git = report.git.as_mut().unwrap();
        git.deployed.clear();
        git.deployed_errors.clear();
        for c in report.comparison.values_mut() {
            c.commits.clear();
        }
        let head = local_head(&report).unwrap();
        assert_eq!(
            head.deployed["staging"],
            Some(true),
            "{:?}",
            head.deployed_unknown
        );
        assert_eq!(
            head.deployed["production"],
            Some(false),
            "{:?}",
            head.deployed_unknown
        );
        assert!(!head.deployed_unknown.contains_key("production"));
    }
}
