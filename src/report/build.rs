//! From a run's results to the report: environment facts, drift, CI, git,
//! links, summary. A plain function: everything upstream was asked during
//! the run (see `runner`), so building cannot wait, fail or touch the network.

use handlebars::Handlebars;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::{
    CheckResult, CheckStatus, CiRun, CiStatus, Comparison, DeploymentEntry, EnvironmentReport,
    GitInfo, Health, LastKnown, Report, SCHEMA_VERSION,
};
use crate::outcome::{
    Blame, CommitCi, Deployed, DeploymentHistory, ErrorKind, RunResults, same_commit,
};
use crate::plan::{FACTS, GithubKind, Plan, ProbeSpec};

/// Assembles the report of one run from the plan and what the run learned.
pub fn build(plan: &Plan, run: RunResults) -> Report {
    let RunResults {
        checks: results,
        drift,
        mut commit_ci,
        deployed,
        mut deployments,
        mut suspects,
        github,
        finished_at,
        duration_ms,
    } = run;
    let mut environments: IndexMap<String, EnvironmentReport> = IndexMap::new();
    for (ei, env) in plan.environments.iter().enumerate() {
        if !plan.shows_env(&env.id) {
            continue;
        }
        let history = deployments.shift_remove(&env.id);
        // A history GitHub refused entirely has nothing to count.
        let counted = history
            .as_ref()
            .filter(|h| !(h.entries.is_empty() && h.error.is_some()));
        let dora = counted.map(|h| {
            let window = plan.settings.github_dora_window;
            let label = super::dora::label(window);
            super::dora::compute(h, window, &label, plan.settings.github_history, finished_at)
        });
        let mut report =
            environment_report(plan, ei, &results, history, commit_ci.shift_remove(&env.id));
        report.suspects = suspects.shift_remove(&env.id);
        report.dora = dora;
        environments.insert(env.id.clone(), report);
    }
    let (ci, mut git_info) = ci_and_git(plan, &results);
    let comparison = comparisons(plan, drift, &mut environments);
    if let Some(info) = &mut git_info {
        mark_deployed(info, deployed, &environments);
    }
    let actions = links(plan, &environments, &comparison);
    let global: Vec<&CheckResult> = results.iter().filter(|r| r.environment.is_none()).collect();
    let status = overall(&environments, &global);
    let summary = summarize(&environments, &global);
    let mut report = Report {
        schema: super::SCHEMA_ID.to_owned(),
        schema_version: SCHEMA_VERSION,
        timestamp: finished_at,
        project: plan.project.clone(),
        status,
        summary,
        assessment: super::Assessment::default(),
        environments,
        ci,
        git: git_info,
        comparison,
        actions,
        panels: panels(plan),
        checks: results,
        github,
        journey: None,
        duration_ms,
    };
    suspects_ci(&mut report);
    super::timeline::annotate(&mut report);
    report.assessment = super::assess(&report);
    report
}

/// Each suspect commit's CI where the report has it (an environment
/// running it, or a workflow run on it), so the verdict can name it.
fn suspects_ci(report: &mut Report) {
    type Found = Option<(CiStatus, Option<String>)>;
    let found: Vec<(String, Vec<Found>)> = report
        .environments
        .iter()
        .filter_map(|(id, env)| {
            let commits = env.suspects.as_ref()?.commits.as_ref()?;
            let ci = commits
                .iter()
                .map(|c| super::timeline::ci_of(report, &c.sha))
                .collect();
            Some((id.clone(), ci))
        })
        .collect();
    for (id, ci) in found {
        let commits = report.environments[&id]
            .suspects
            .as_mut()
            .and_then(|s| s.commits.as_mut());
        for (c, found) in commits.into_iter().flatten().zip(ci) {
            let (ci, url) = found.unzip();
            (c.ci, c.ci_url) = (ci, url.flatten());
        }
    }
}

/// Environment `ei`'s card: its health from its checks, its facts, its CI
/// and deployment history.
fn environment_report(
    plan: &Plan,
    ei: usize,
    results: &[CheckResult],
    deployments: Option<DeploymentHistory>,
    ci: Option<CommitCi>,
) -> EnvironmentReport {
    let env = &plan.environments[ei];
    let mine: Vec<(usize, &CheckResult)> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| plan.jobs[*i].env == Some(ei))
        .collect();
    let fact = |name: &str| -> Option<String> {
        plan.fact_jobs(ei, name).find_map(|i| results[i].text(name))
    };
    let latency_ms = mine
        .iter()
        .find(|(i, r)| {
            matches!(plan.check_of(&plan.jobs[*i]).probe, ProbeSpec::Http { .. })
                && r.status != CheckStatus::Error
        })
        .map(|(_, r)| r.duration_ms);
    let considered: Vec<&CheckResult> = mine
        .iter()
        .map(|(_, r)| *r)
        .filter(|r| r.status != CheckStatus::Skipped)
        .collect();
    let offline = env.optional
        && !considered.is_empty()
        && considered.iter().all(|r| r.status == CheckStatus::Error);
    let worst = considered.iter().map(|r| r.status).max();
    let status = if offline {
        Health::Unknown
    } else {
        match worst {
            None | Some(CheckStatus::Skipped) => Health::Unknown,
            Some(CheckStatus::Pass) => Health::Healthy,
            Some(CheckStatus::Warn) => Health::Warning,
            Some(CheckStatus::Fail | CheckStatus::Error) => Health::Failing,
        }
    };
    let first_with = |s: &[CheckStatus]| {
        considered.iter().find(|r| s.contains(&r.status)).map(|r| {
            let text = format!(
                "{}: {}",
                r.name,
                r.error.clone().unwrap_or_else(|| r.summary.clone())
            );
            (text, r.error_kind)
        })
    };
    let (error, error_kind) = if status == Health::Failing || offline {
        first_with(&[CheckStatus::Fail, CheckStatus::Error]).unzip()
    } else {
        (None, None)
    };
    let sha = fact("sha");
    let unanswered = sha.is_none() && considered.iter().any(|r| r.status == CheckStatus::Error);
    let (history, deployments_error, last_known) =
        deployment_history(deployments, sha.as_deref(), unanswered);
    EnvironmentReport {
        name: env.name.clone(),
        status,
        url: env.url.clone(),
        optional: env.optional,
        offline,
        version: fact("version"),
        sha,
        uptime: fact("uptime"),
        deployed_at: fact("deployed_at"),
        latency_ms,
        warning: if status == Health::Warning {
            first_with(&[CheckStatus::Warn]).map(|(text, _)| text)
        } else {
            None
        },
        error,
        error_kind: error_kind.flatten(),
        checks: mine.iter().map(|(_, r)| r.id.clone()).collect(),
        ci,
        deployments: history,
        deployments_error,
        dora: None,
        last_known,
        timeline: Vec::new(),
        failing_since: None,
        last_good: None,
        suspect_commits: None,
        suspects: None,
        rollback_actions: plan
            .actions
            .list
            .iter()
            .filter(|a| {
                a.target == crate::config::actions::ActionTarget::Deployment
                    && a.environments.contains(&env.id)
            })
            .map(|a| a.id.clone())
            .collect(),
    }
}

/// The workflow checks as CI runs, and the first git check that answered as
/// the local repository.
fn ci_and_git(plan: &Plan, results: &[CheckResult]) -> (IndexMap<String, CiRun>, Option<GitInfo>) {
    let mut ci = IndexMap::new();
    let mut git_info: Option<GitInfo> = None;
    for (i, r) in results.iter().enumerate() {
        let check = plan.check_of(&plan.jobs[i]);
        match &check.probe {
            ProbeSpec::Github {
                kind: GithubKind::Workflow { stalled_after, .. },
                ..
            } => {
                let mut run = ci_run(r, *stalled_after);
                run.environment = deploy_target(plan, results, &run);
                ci.insert(r.id.clone(), run);
            }
            ProbeSpec::Git { .. } if git_info.is_none() && r.status != CheckStatus::Error => {
                git_info = Some(GitInfo {
                    branch: r.text("branch"),
                    sha: r.text("sha").unwrap_or_default(),
                    sha_full: r.text("sha_full").unwrap_or_default(),
                    message: r.text("message").unwrap_or_default(),
                    uncommitted_changes: r
                        .fields
                        .get("uncommitted_changes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    upstream: r.text("upstream"),
                    ahead: r.fields.get("ahead").and_then(Value::as_u64),
                    behind: r.fields.get("behind").and_then(Value::as_u64),
                    deployed: IndexMap::new(),
                    deployed_errors: IndexMap::new(),
                    not_in_clone: Vec::new(),
                });
            }
            _ => {}
        }
    }
    (ci, git_info)
}

/// Drift between each shown environment and the one it tracks; a drifted
/// healthy environment becomes a warning saying so.
fn comparisons(
    plan: &Plan,
    mut drift: IndexMap<String, Comparison>,
    environments: &mut IndexMap<String, EnvironmentReport>,
) -> IndexMap<String, Comparison> {
    let mut comparison = IndexMap::new();
    for env in &plan.environments {
        let Some(tracked) = &env.tracks else { continue };
        if !plan.shows_env(&env.id) || !plan.shows_env(tracked) {
            continue;
        }
        let c = match drift.shift_remove(&env.id) {
            Some(c) => c,
            None => unmeasured(plan, environments, &env.id, tracked),
        };
        if c.in_sync == Some(false) {
            let text = drift_text(&c);
            let e = environments.get_mut(&env.id).expect("shown");
            if e.status == Health::Healthy {
                e.status = Health::Warning;
            }
            // Drift first: it is what "are staging and production in
            // sync" asks; a check's own warning follows it.
            e.warning = Some(match e.warning.take() {
                Some(w) => format!("{text}; {w}"),
                None => text,
            });
        }
        comparison.insert(format!("{tracked}_vs_{}", env.id), c);
    }
    comparison
}

/// Whether local HEAD is in what each shown environment runs.
fn mark_deployed(
    info: &mut GitInfo,
    deployed: IndexMap<String, Deployed>,
    environments: &IndexMap<String, EnvironmentReport>,
) {
    for (id, d) in deployed {
        if !environments.contains_key(&id) {
            continue;
        }
        if d.missing_in_clone {
            info.not_in_clone.push(id.clone());
        }
        match d.contained {
            Ok(c) => {
                info.deployed.insert(id, c);
            }
            Err(e) => {
                info.deployed_errors.insert(id, e);
            }
        }
    }
}

/// Dashboard panels in config order, each with its checks.
fn panels(plan: &Plan) -> IndexMap<String, Vec<String>> {
    let mut panels: IndexMap<String, Vec<String>> = IndexMap::new();
    for c in &plan.checks {
        if let Some(panel) = &c.panel {
            panels.entry(panel.clone()).or_default().push(c.id.clone());
        }
    }
    panels
}

/// An environment's deployments with each marked against the sha it
/// reports; when it does not answer (`unanswered`), its latest successful
/// deployment becomes what it last ran.
fn deployment_history(
    history: Option<DeploymentHistory>,
    sha: Option<&str>,
    unanswered: bool,
) -> (Vec<DeploymentEntry>, Option<String>, Option<LastKnown>) {
    let Some(DeploymentHistory {
        mut entries, error, ..
    }) = history
    else {
        return (Vec::new(), None, None);
    };
    for e in &mut entries {
        e.current = sha.map(|s| same_commit(s, &e.sha));
    }
    let last_known = entries
        .iter()
        .find(|e| unanswered && e.succeeded())
        .and_then(|e| {
            Some(LastKnown {
                sha: e.sha.clone(),
                at: chrono::DateTime::parse_from_rfc3339(&e.updated_at)
                    .ok()?
                    .with_timezone(&chrono::Utc),
                source: super::LastKnownSource::Deployment,
            })
        });
    (entries, error, last_known)
}

/// A comparison the run did not look up: the same commit on both sides,
/// or a side whose sha is unknown (and why).
fn unmeasured(
    plan: &Plan,
    environments: &IndexMap<String, EnvironmentReport>,
    env: &str,
    tracked: &str,
) -> Comparison {
    let mine = environments[env].sha.clone();
    let theirs = environments[tracked].sha.clone();
    let mut c = Comparison::new(tracked, env, theirs.clone(), mine.clone());
    match (&mine, &theirs) {
        (Some(a), Some(b)) if same_commit(a, b) => {
            c.in_sync = Some(true);
            c.status = Some("identical".into());
            c.set_counts(0, 0);
        }
        (Some(a), Some(b)) => {
            // Only when a run left it out, e.g. results built by hand.
            c.in_sync = Some(false);
            if let Some(repo) = &plan.project.repo {
                c.diff_url = Some(format!("https://github.com/{repo}/compare/{a}...{b}"));
            }
        }
        _ => {
            let missing = if mine.is_none() { env } else { tracked };
            c.error = Some(
                if environments[missing].status == Health::Failing || environments[missing].offline
                {
                    format!("cannot compare: {missing} is down, so its sha is unknown")
                } else {
                    format!(
                        "{missing} reports no sha; add `extract = {{ sha = \"$.commit\" }}` to one of its checks"
                    )
                },
            );
        }
    }
    c
}

/// Which environment a running workflow deploys to, when GitHub says: a
/// deployment check whose latest deployment is of the run's commit and still
/// under way. The check's environment, else the GitHub environment it names.
/// The check reads the newest deployment, which no later success can have
/// superseded (issue 21), so its state alone says "under way".
fn deploy_target(plan: &Plan, results: &[CheckResult], run: &CiRun) -> Option<String> {
    if !matches!(
        run.status,
        CiStatus::InProgress | CiStatus::Queued | CiStatus::Stalled
    ) {
        return None;
    }
    let sha = run.sha.as_deref()?;
    results.iter().enumerate().find_map(|(i, r)| {
        let ProbeSpec::Github {
            kind: GithubKind::Deployment { environment },
            ..
        } = &plan.check_of(&plan.jobs[i]).probe
        else {
            return None;
        };
        let under_way = matches!(
            r.text("state").as_deref(),
            Some("in_progress" | "queued" | "pending" | "created")
        );
        (under_way && r.text("sha").is_some_and(|s| same_commit(&s, sha))).then(|| {
            r.environment
                .clone()
                .or_else(|| r.text("environment"))
                .unwrap_or_else(|| environment.clone())
        })
    })
}

fn ci_run(r: &CheckResult, stalled_after: Option<std::time::Duration>) -> CiRun {
    let text = |k: &str| r.text(k);
    let status = r
        .fields
        .get("status")
        .and_then(|s| serde_json::from_value::<CiStatus>(s.clone()).ok())
        .unwrap_or(CiStatus::Unknown);
    let duration_s = r.fields.get("duration_s").and_then(Value::as_u64);
    CiRun {
        workflow: text("workflow").unwrap_or_else(|| r.name.clone()),
        status,
        sha: text("sha").map(|s| s.chars().take(7).collect()),
        url: text("url"),
        created_at: text("created_at"),
        branch: text("branch"),
        duration_s,
        environment: None,
        stalled_after_s: stalled_after.map(|d| d.as_secs()),
        stalled_in_s: match (status, stalled_after, duration_s) {
            (CiStatus::InProgress | CiStatus::Queued, Some(limit), Some(ran)) => {
                Some(limit.as_secs().saturating_sub(ran))
            }
            (CiStatus::Stalled, Some(_), _) => Some(0),
            _ => None,
        },
        slow: r
            .fields
            .get("slow")
            .and_then(|s| serde_json::from_value(s.clone()).ok()),
        error: (status == CiStatus::Unknown)
            .then(|| r.error.clone())
            .flatten(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "commit" } else { "commits" }
}

/// "2 commits behind staging" and the like.
pub fn drift_text(c: &Comparison) -> String {
    let t = &c.tracked;
    match (c.commits_behind, c.commits_ahead) {
        (Some(b), Some(0)) if b > 0 => format!("{b} {} behind {t}", plural(b)),
        (Some(0), Some(a)) if a > 0 => format!("{a} {} ahead of {t}", plural(a)),
        (Some(b), Some(a)) if a > 0 && b > 0 => {
            format!("diverged from {t} ({b} behind, {a} ahead)")
        }
        _ => format!(
            "runs {}, {t} runs {}",
            c.environment_sha.as_deref().unwrap_or("?"),
            c.tracked_sha.as_deref().unwrap_or("?")
        ),
    }
}

fn links(
    plan: &Plan,
    environments: &IndexMap<String, EnvironmentReport>,
    comparison: &IndexMap<String, Comparison>,
) -> IndexMap<String, String> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    let envs: Map<String, Value> = environments
        .iter()
        .map(|(id, e)| {
            let mut v = json!({ "id": id, "name": e.name, "url": e.url });
            for f in FACTS {
                let val = match f {
                    "sha" => &e.sha,
                    "version" => &e.version,
                    "uptime" => &e.uptime,
                    _ => &e.deployed_at,
                };
                if let Some(x) = val {
                    v[f] = json!(x);
                }
            }
            (id.clone(), v)
        })
        .collect();
    let context = json!({ "project": plan.project, "environments": envs });
    let mut out = IndexMap::new();
    for (name, url) in &plan.links {
        // Non-strict: a link to a fact nobody reported is still a link.
        if let Ok(u) = hb.render_template(url, &context) {
            out.insert(name.clone(), u);
        }
    }
    if let Some(repo) = &plan.project.repo {
        let base = format!("https://github.com/{repo}");
        for (name, url) in [
            ("Actions", format!("{base}/actions")),
            ("Pull requests", format!("{base}/pulls")),
            ("Issues", format!("{base}/issues")),
        ] {
            if !out.values().any(|u| *u == url) {
                out.entry(name.to_owned()).or_insert(url);
            }
        }
        for c in comparison.values() {
            if let Some(url) = &c.diff_url {
                out.entry(format!("Compare {} with {}", c.environment, c.tracked))
                    .or_insert_with(|| url.clone());
            }
        }
    }
    out
}

/// Worst status over environments (offline ones aside) and global checks.
pub fn overall(
    environments: &IndexMap<String, EnvironmentReport>,
    global: &[&CheckResult],
) -> Health {
    let mut statuses: Vec<Health> = environments
        .values()
        .filter(|e| !e.offline)
        .map(|e| e.status)
        .filter(|s| *s != Health::Unknown)
        .collect();
    statuses.extend(global.iter().filter_map(|r| match r.status {
        CheckStatus::Pass => Some(Health::Healthy),
        CheckStatus::Warn => Some(Health::Warning),
        CheckStatus::Fail | CheckStatus::Error => Some(Health::Failing),
        CheckStatus::Skipped => None,
    }));
    statuses.into_iter().max().unwrap_or(Health::Unknown)
}

/// "2 healthy, 1 warning (production 2 commits behind staging)".
pub fn summarize(
    environments: &IndexMap<String, EnvironmentReport>,
    global: &[&CheckResult],
) -> String {
    let count = |h: Health| {
        environments
            .values()
            .filter(|e| !e.offline && e.status == h)
            .count()
    };
    let offline = environments.values().filter(|e| e.offline).count();
    let mut parts = Vec::new();
    for (h, word) in [
        (Health::Healthy, "healthy"),
        (Health::Warning, "warning"),
        (Health::Failing, "failing"),
        (Health::Unknown, "unknown"),
    ] {
        let n = count(h);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if offline > 0 {
        parts.push(format!("{offline} offline"));
    }
    let mut details = Vec::new();
    for (id, e) in environments {
        match e.status {
            Health::Warning => {
                details.push(format!(
                    "{id} {}",
                    e.warning.as_deref().unwrap_or("has warnings")
                ));
            }
            Health::Failing => {
                // "down" only when the kind says the service is unreachable
                // or broken; a failed expectation or CI is "failing".
                let word = match e.error_kind.map(ErrorKind::blame) {
                    None | Some(Blame::Infrastructure) => "down",
                    Some(Blame::Code | Blame::Config) => "failing",
                };
                details.push(format!(
                    "{id} {word}: {}",
                    e.error.as_deref().unwrap_or("check failed")
                ));
            }
            _ => {}
        }
    }
    // Global checks that did not pass are named in the counts, so the line
    // agrees with the overall status.
    for r in global {
        if matches!(
            r.status,
            CheckStatus::Fail | CheckStatus::Error | CheckStatus::Warn
        ) {
            let word = match r.fields.get("status").and_then(Value::as_str) {
                Some("failure") => "failed",
                Some("in_progress") => "in progress",
                Some("queued") => "queued",
                Some("stalled") => "stalled",
                Some("cancelled") => "cancelled",
                _ => match r.status {
                    CheckStatus::Fail => "failing",
                    CheckStatus::Warn => "warning",
                    _ => "could not run",
                },
            };
            parts.push(format!("{} {word}", r.name));
        }
    }
    if parts.is_empty() {
        let pass = global
            .iter()
            .filter(|r| r.status == CheckStatus::Pass)
            .count();
        parts.push(format!("{pass} of {} checks passing", global.len()));
    }
    let mut s = parts.join(", ");
    if !details.is_empty() {
        s.push_str(&format!(" ({})", details.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_wording() {
        let mut c = Comparison::new(
            "staging",
            "production",
            Some("cbefe7c".into()),
            Some("53004a6".into()),
        );
        c.in_sync = Some(false);
        c.set_counts(2, 0);
        assert_eq!(drift_text(&c), "2 commits behind staging");
        c.commits_behind = Some(1);
        assert_eq!(drift_text(&c), "1 commit behind staging");
        c.commits_ahead = Some(3);
        assert_eq!(drift_text(&c), "diverged from staging (1 behind, 3 ahead)");
        c.commits_behind = None;
        assert_eq!(drift_text(&c), "runs 53004a6, staging runs cbefe7c");
    }
}
