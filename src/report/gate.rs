//! The promotion gate (issue 21): is promoting into an environment safe
//! *now*, decided from one report alone so `gate`, a CI step and a test
//! all get the same answer from the same facts.
//!
//! Promoting into `target` is safe when:
//! - `target` tracks an environment (the *source*, e.g. staging);
//! - the source is healthy and reports its sha;
//! - CI passed on that exact sha (`environments.SOURCE.ci`), and no workflow
//!   run in `report.ci` on that sha failed or is still running;
//! - no deploy to `target` is running (a workflow run whose `environment`
//!   is `target`, or `target`'s newest deployment still under way);
//! - the drift is known and lists its commits: `target` is behind by
//!   `commits_behind > 0`, ahead by none, and every missing commit is listed.
//!
//! When `target` already runs the source's commit there is nothing to
//! promote: the gate passes and says so, unless a deploy to `target` is
//! running (what it runs is about to change).

use crate::units::commits;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CiStatus, CommitBrief, Comparison, EnvironmentReport, Health, Report};
use crate::outcome::{same_commit, short_sha};

/// The gate's answer for one target environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Gate {
    /// Promoting is safe now: exit 0.
    pub pass: bool,
    /// One line: "safe to promote 2 commits from staging (cbefe7c) to
    /// production (53004a6)", "nothing to promote: …", or "not safe to
    /// promote …: 2 reasons".
    pub verdict: String,
    /// Passed because `to` already runs `from`'s commit.
    #[serde(default)]
    pub nothing_to_promote: bool,
    /// Why it does not pass, in the order the conditions are listed above;
    /// empty when it passes.
    pub reasons: Vec<Reason>,
    /// Which promotion this is about.
    pub promoting: Promoting,
    /// The commits a promotion would bring to `to`, oldest first.
    pub commits: Vec<CommitBrief>,
}

/// From where to where, and the commits each side runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Promoting {
    /// The environment `to` tracks; absent when it tracks none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The sha `from` reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_sha: Option<String>,
    /// The target environment.
    pub to: String,
    /// The sha `to` reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_sha: Option<String>,
}

/// One reason the gate does not pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Reason {
    /// Which condition failed.
    pub code: ReasonCode,
    /// What to tell a person: names the environment, sha or run.
    pub sentence: String,
}

/// The conditions of the gate, one code each.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The target is not in the report.
    UnknownEnvironment,
    /// The target tracks no environment (`tracks` in the config), so there
    /// is nothing to promote from.
    NotTracking,
    /// The source is not healthy.
    SourceUnhealthy,
    /// The source reports no sha: what would be promoted is unknown.
    SourceShaUnknown,
    /// CI of the source's commit did not pass (failed, running or unknown).
    CiNotPassed,
    /// A workflow run on the source's commit failed or is still running.
    CiRunNotPassed,
    /// A deploy to the target is running.
    DeployRunning,
    /// The drift of the target behind the source is not known.
    DriftUnknown,
    /// The target has commits the source lacks: promoting would drop them.
    TargetAhead,
    /// The commits a promotion would bring are not (all) listed.
    CommitsNotListed,
}

/// Decides whether promoting into `target` is safe now, from `report`
/// alone (see the module docs for the conditions).
pub fn gate(report: &Report, target: &str) -> Gate {
    let mut promoting = Promoting {
        from: None,
        from_sha: None,
        to: target.to_owned(),
        to_sha: None,
    };
    let Some(to) = report.environments.get(target) else {
        return failed(
            promoting,
            vec![reason(
                ReasonCode::UnknownEnvironment,
                format!("{target} is not in the report"),
            )],
        );
    };
    promoting.to_sha.clone_from(&to.sha);
    let Some(cmp) = report.comparison.values().find(|c| c.environment == target) else {
        return failed(
            promoting,
            vec![reason(
                ReasonCode::NotTracking,
                format!(
                    "{target} tracks no environment: set `tracks` on it to the one it is promoted from"
                ),
            )],
        );
    };
    let source = cmp.tracked.as_str();
    let from = report.environments.get(source);
    promoting.from = Some(source.to_owned());
    promoting.from_sha = from.and_then(|e| e.sha.clone());
    let mut reasons = Vec::new();
    let running = deploy_running(report, target, to);
    let in_sync = cmp.in_sync == Some(true) && cmp.error.is_none();
    if !in_sync {
        reasons.extend(source_reasons(report, source, from));
    }
    reasons.extend(running);
    if !in_sync {
        reasons.extend(drift_reasons(cmp));
    }
    if !reasons.is_empty() {
        return failed(promoting, reasons);
    }
    let verdict = if in_sync {
        format!(
            "nothing to promote: {target} already runs {source}'s commit {}",
            sha_or_unknown(promoting.from_sha.as_deref())
        )
    } else {
        format!(
            "safe to promote {} from {source} ({}) to {target} ({})",
            commits(cmp.commits.len() as u64),
            sha_or_unknown(promoting.from_sha.as_deref()),
            sha_or_unknown(promoting.to_sha.as_deref()),
        )
    };
    Gate {
        pass: true,
        verdict,
        nothing_to_promote: in_sync,
        reasons,
        promoting,
        commits: if in_sync {
            Vec::new()
        } else {
            cmp.commits.clone()
        },
    }
}

fn failed(promoting: Promoting, reasons: Vec<Reason>) -> Gate {
    let from = promoting.from.as_deref().unwrap_or("?");
    let n = reasons.len();
    Gate {
        pass: false,
        verdict: format!(
            "not safe to promote {from} to {}: {n} reason{}",
            promoting.to,
            if n == 1 { "" } else { "s" }
        ),
        nothing_to_promote: false,
        reasons,
        promoting,
        commits: Vec::new(),
    }
}

fn reason(code: ReasonCode, sentence: String) -> Reason {
    Reason { code, sentence }
}

fn sha_or_unknown(sha: Option<&str>) -> &str {
    sha.map_or("unknown sha", short_sha)
}

/// The source's health, its sha, and CI on that sha.
fn source_reasons(report: &Report, source: &str, from: Option<&EnvironmentReport>) -> Vec<Reason> {
    let Some(from) = from else {
        return vec![reason(
            ReasonCode::SourceUnhealthy,
            format!("{source} is not in the report"),
        )];
    };
    let mut out = Vec::new();
    if from.status != Health::Healthy {
        let why = from
            .error
            .as_deref()
            .or(from.warning.as_deref())
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        out.push(reason(
            ReasonCode::SourceUnhealthy,
            format!("{source} is {}{why}", from.status.as_str()),
        ));
    }
    let Some(sha) = from.sha.as_deref() else {
        out.push(reason(
            ReasonCode::SourceShaUnknown,
            format!("{source} reports no sha: what would be promoted is unknown"),
        ));
        return out;
    };
    let short = short_sha(sha);
    match &from.ci {
        Some(ci) if ci.status == CiStatus::Success => {}
        Some(ci) => {
            let detail = ci
                .tally(short)
                .or_else(|| ci.error.clone())
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            out.push(reason(
                ReasonCode::CiNotPassed,
                format!(
                    "CI on {source}'s commit {short} {}{detail}",
                    ci_verb(ci.status)
                ),
            ));
        }
        None => out.push(reason(
            ReasonCode::CiNotPassed,
            format!("CI on {source}'s commit {short} is unknown (no GitHub CI of that commit)"),
        )),
    }
    for run in report.ci.values() {
        let on_sha = run.sha.as_deref().is_some_and(|s| same_commit(s, sha));
        let blocking = matches!(
            run.status,
            CiStatus::Failure | CiStatus::InProgress | CiStatus::Queued | CiStatus::Stalled
        );
        // A run deploying to the target is the running deploy, said once below.
        if on_sha && blocking && run.environment.is_none() {
            let url = run
                .url
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default();
            out.push(reason(
                ReasonCode::CiRunNotPassed,
                format!(
                    "workflow {} on {short} {}{url}",
                    run.workflow,
                    ci_verb(run.status)
                ),
            ));
        }
    }
    out
}

/// The verb phrase of a CI status: "failed", "is in progress".
fn ci_verb(s: CiStatus) -> &'static str {
    match s {
        CiStatus::Success => "passed",
        CiStatus::Failure => "failed",
        CiStatus::InProgress => "is in progress",
        CiStatus::Queued => "is queued",
        CiStatus::Cancelled => "was cancelled",
        CiStatus::Stalled => "is stalled",
        CiStatus::Unknown => "is unknown",
    }
}

/// A deploy to `target` under way: a workflow run naming it, else its
/// newest deployment not finished. One reason, so one deploy seen both
/// ways is not counted twice.
fn deploy_running(report: &Report, target: &str, to: &EnvironmentReport) -> Option<Reason> {
    let run = report.ci.values().find(|r| {
        r.environment.as_deref() == Some(target)
            && matches!(
                r.status,
                CiStatus::Queued | CiStatus::InProgress | CiStatus::Stalled
            )
    });
    if let Some(r) = run {
        let sha = r
            .sha
            .as_deref()
            .map(|s| format!(" of {}", short_sha(s)))
            .unwrap_or_default();
        let url = r
            .url
            .as_deref()
            .map(|u| format!(": {u}"))
            .unwrap_or_default();
        return Some(reason(
            ReasonCode::DeployRunning,
            format!(
                "a deploy to {target} is running: {}{sha} {}{url}",
                r.workflow,
                ci_verb(r.status)
            ),
        ));
    }
    let newest = to.deployments.first()?;
    newest.under_way().then(|| {
        reason(
            ReasonCode::DeployRunning,
            format!(
                "a deploy to {target} is running: deployment {} of {} is {}",
                newest.id,
                short_sha(&newest.sha),
                newest.state.replace('_', " ")
            ),
        )
    })
}

/// Whether the drift is known, only behind, and listed.
fn drift_reasons(cmp: &Comparison) -> Vec<Reason> {
    let (source, target) = (&cmp.tracked, &cmp.environment);
    if let Some(e) = &cmp.error {
        return vec![reason(
            ReasonCode::DriftUnknown,
            format!("the drift of {target} behind {source} is unknown: {e}"),
        )];
    }
    let (Some(behind), Some(ahead)) = (cmp.commits_behind, cmp.commits_ahead) else {
        return vec![reason(
            ReasonCode::DriftUnknown,
            format!("the drift of {target} behind {source} is unknown (no commit counts)"),
        )];
    };
    let mut out = Vec::new();
    if ahead > 0 {
        out.push(reason(
            ReasonCode::TargetAhead,
            format!(
                "{target} has {} {source} lacks: promoting would drop them",
                commits(ahead)
            ),
        ));
    }
    let listed = cmp.commits.len() as u64;
    if behind > 0 && (listed < behind || cmp.commits_truncated) {
        out.push(reason(
            ReasonCode::CommitsNotListed,
            format!(
                "{target} is {} behind {source} but {listed} {} listed{}",
                commits(behind),
                if listed == 1 { "is" } else { "are" },
                cmp.source
                    .as_deref()
                    .map(|s| format!(" (drift from {s})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if behind == 0 && ahead == 0 {
        // Counts say in sync while `in_sync` did not: do not guess.
        out.push(reason(
            ReasonCode::DriftUnknown,
            format!("{target} and {source} are 0 commits apart but not marked in sync"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    fn codes(g: &Gate) -> Vec<ReasonCode> {
        g.reasons.iter().map(|r| r.code).collect()
    }

    /// The drift fixture with its CI made green and no deploy running:
    /// every condition holds, production is 2 commits behind staging.
    fn promotable() -> Report {
        let mut r = fixture("warning_drift_ci_failed");
        r.environments["staging"].ci.as_mut().unwrap().status = CiStatus::Success;
        r.environments["staging"]
            .ci
            .as_mut()
            .unwrap()
            .failing
            .clear();
        r.ci["ci"].status = CiStatus::Success;
        r.ci["deploy"].status = CiStatus::Success;
        r
    }

    #[test]
    fn drift_with_failed_ci_and_a_running_run_does_not_pass() {
        let g = gate(&fixture("warning_drift_ci_failed"), "production");
        assert!(!g.pass, "{g:#?}");
        assert_eq!(
            codes(&g),
            [
                ReasonCode::CiNotPassed,
                ReasonCode::CiRunNotPassed,
                ReasonCode::CiRunNotPassed
            ]
        );
        assert!(
            g.reasons[0].sentence.contains("cbefe7c failed")
                && g.reasons[0].sentence.contains("test (ubuntu-latest)"),
            "{}",
            g.reasons[0].sentence
        );
        assert!(
            g.reasons[1]
                .sentence
                .contains("CI Pipeline on cbefe7c failed")
        );
        assert!(
            g.reasons[2]
                .sentence
                .contains("Deploy on cbefe7c is in progress")
        );
        assert_eq!(g.promoting.from.as_deref(), Some("staging"));
        assert_eq!(g.promoting.from_sha.as_deref(), Some("cbefe7c"));
        assert_eq!(g.promoting.to_sha.as_deref(), Some("53004a6"));
        assert!(g.commits.is_empty());
        assert_eq!(
            g.verdict,
            "not safe to promote staging to production: 3 reasons"
        );
    }

    #[test]
    fn passes_with_the_commits_it_would_promote() {
        let g = gate(&promotable(), "production");
        assert!(g.pass, "{g:#?}");
        assert!(g.reasons.is_empty());
        assert!(!g.nothing_to_promote);
        assert_eq!(g.commits.len(), 2);
        assert_eq!(
            g.verdict,
            "safe to promote 2 commits from staging (cbefe7c) to production (53004a6)"
        );
    }

    #[test]
    fn in_sync_is_nothing_to_promote() {
        let g = gate(&fixture("all_green"), "production");
        assert!(g.pass && g.nothing_to_promote, "{g:#?}");
        assert!(g.verdict.starts_with("nothing to promote"), "{}", g.verdict);
        // Nothing to promote is safe even when the source's CI is red…
        let mut r = fixture("all_green");
        r.environments["staging"].ci.as_mut().unwrap().status = CiStatus::Failure;
        assert!(gate(&r, "production").pass);
        // …but not while a deploy is changing what the target runs.
        let mut r = fixture("all_green");
        r.ci["deploy"].status = CiStatus::InProgress;
        r.ci["deploy"].environment = Some("production".into());
        assert_eq!(codes(&gate(&r, "production")), [ReasonCode::DeployRunning]);
    }

    #[test]
    fn a_target_that_tracks_nothing_or_is_unknown() {
        let r = promotable();
        assert_eq!(codes(&gate(&r, "staging")), [ReasonCode::NotTracking]);
        assert!(gate(&r, "staging").reasons[0].sentence.contains("`tracks`"));
        assert_eq!(codes(&gate(&r, "qa")), [ReasonCode::UnknownEnvironment]);
    }

    #[test]
    fn an_unhealthy_source_or_one_without_a_sha() {
        let mut r = promotable();
        r.environments["staging"].status = Health::Failing;
        r.environments["staging"].error = Some("HTTP 500".into());
        let g = gate(&r, "production");
        assert_eq!(codes(&g), [ReasonCode::SourceUnhealthy]);
        assert_eq!(g.reasons[0].sentence, "staging is failing: HTTP 500");
        r.environments["staging"].sha = None;
        assert_eq!(
            codes(&gate(&r, "production")),
            [ReasonCode::SourceUnhealthy, ReasonCode::SourceShaUnknown]
        );
    }

    #[test]
    fn ci_unknown_or_running_on_the_source_sha() {
        let mut r = promotable();
        r.environments["staging"].ci = None;
        assert_eq!(codes(&gate(&r, "production")), [ReasonCode::CiNotPassed]);
        let mut r = promotable();
        r.ci["ci"].status = CiStatus::Queued;
        let g = gate(&r, "production");
        assert_eq!(codes(&g), [ReasonCode::CiRunNotPassed]);
        assert!(g.reasons[0].sentence.contains("is queued"), "{g:#?}");
        // A failed run on another commit says nothing about this one.
        r.ci["ci"].sha = Some("53004a6".into());
        r.ci["ci"].status = CiStatus::Failure;
        assert!(gate(&r, "production").pass);
    }

    #[test]
    fn a_running_deploy_to_the_target_run_or_deployment() {
        let mut r = promotable();
        r.ci["deploy"].status = CiStatus::Stalled;
        r.ci["deploy"].environment = Some("production".into());
        let g = gate(&r, "production");
        assert_eq!(codes(&g), [ReasonCode::DeployRunning], "{g:#?}");
        assert!(
            g.reasons[0]
                .sentence
                .contains("Deploy of cbefe7c is stalled")
        );
        let mut r = promotable();
        r.environments["production"].deployments = vec![crate::report::DeploymentEntry {
            id: 813,
            state: "in_progress".into(),
            sha: "cbefe7c1234567890".into(),
            git_ref: "main".into(),
            creator: None,
            created_at: "2026-01-22T14:31:40Z".into(),
            updated_at: "2026-01-22T14:31:40Z".into(),
            environment_url: None,
            log_url: None,
            current: Some(false),
            superseded: false,
        }];
        let g = gate(&r, "production");
        assert_eq!(codes(&g), [ReasonCode::DeployRunning]);
        assert_eq!(
            g.reasons[0].sentence,
            "a deploy to production is running: deployment 813 of cbefe7c is in progress"
        );
        r.environments["production"].deployments[0].state = "success".into();
        assert!(gate(&r, "production").pass);
    }

    #[test]
    fn drift_unknown_ahead_or_unlisted() {
        let mut r = promotable();
        let cmp = &mut r.comparison["staging_vs_production"];
        cmp.error = Some("compare timed out".into());
        assert_eq!(codes(&gate(&r, "production")), [ReasonCode::DriftUnknown]);

        let mut r = promotable();
        r.comparison["staging_vs_production"].commits_behind = None;
        assert_eq!(codes(&gate(&r, "production")), [ReasonCode::DriftUnknown]);

        let mut r = promotable();
        r.comparison["staging_vs_production"].set_counts(2, 1);
        assert_eq!(codes(&gate(&r, "production")), [ReasonCode::TargetAhead]);

        let mut r = promotable();
        r.comparison["staging_vs_production"].commits.truncate(1);
        let g = gate(&r, "production");
        assert_eq!(codes(&g), [ReasonCode::CommitsNotListed]);
        assert_eq!(
            g.reasons[0].sentence,
            "production is 2 commits behind staging but 1 is listed (drift from github)"
        );
    }

    #[test]
    fn the_gate_has_a_schema_and_round_trips() {
        let g = gate(&fixture("warning_drift_ci_failed"), "production");
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["reasons"][0]["code"], "ci_not_passed");
        assert_eq!(serde_json::from_value::<Gate>(json).unwrap(), g);
        let schema = serde_json::to_value(schemars::schema_for!(Gate)).unwrap();
        assert!(schema.to_string().contains("deploy_running"));
    }
}
