//! Runs a plan: independent checks together, dependent ones after what they
//! read, each under its timeout, at most `concurrency` in flight.
//!
//! Everything that talks to the outside is run work, not report work: after
//! the checks that give an environment its sha, the runner also asks how far
//! it drifted from what it tracks, the CI of its exact commit and whether
//! local HEAD is in it (see [`upstream`]). Each of those starts as soon as the
//! shas it needs are known, under `[run] timeout`, inside the same
//! concurrency limit, and a lookup that cannot finish says so in its result.

use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use handlebars::Handlebars;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::condition::Outcome;
use crate::metric::{self, MetricSpec};
use crate::outcome::{CheckResult, CheckStatus, RunResults};
use crate::plan::{CheckPlan, FACTS, Job, Plan};
use crate::probe::github::GithubClient;
use crate::probe::{self, ErrorKind, Probed, Problem, Verdict};
use crate::redact::Redactor;

mod journey;
mod upstream;

pub use journey::journey;

pub use crate::probe::{NOT_FOUND_TTL, Services, uses_github};

/// Called as checks finish: (finished, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Runs every job once, and the upstream lookups after them. Check results
/// come back in job order (check id, then environment).
pub async fn run(plan: &Plan, services: &Services, progress: Option<Progress<'_>>) -> RunResults {
    let started = Instant::now();
    // Counts only this run's GitHub requests, whatever else runs meanwhile.
    let github = services.github.as_ref().map(GithubClient::for_run);
    let semaphore = Semaphore::new(plan.settings.concurrency);
    let results: Vec<Mutex<Option<CheckResult>>> =
        plan.jobs.iter().map(|_| Mutex::new(None)).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let templates = templates();
    let total = plan.jobs.len();

    let mut futures: Vec<Option<Shared<BoxFuture<'_, ()>>>> = vec![None; plan.jobs.len()];
    // Build in dependency order so every job can clone its deps' futures.
    for index in topo_order(&plan.jobs) {
        let deps: Vec<Shared<BoxFuture<'_, ()>>> = plan.jobs[index]
            .deps
            .iter()
            .map(|&d| futures[d].clone().expect("dependencies come first"))
            .collect();
        let (semaphore, results, done, templates, github) =
            (&semaphore, &results, &done, &templates, github.as_ref());
        let fut = async move {
            futures::future::join_all(deps).await;
            let job = &plan.jobs[index];
            let result = {
                let _permit = semaphore.acquire().await.expect("never closed");
                run_job(plan, job, services, github, results, templates).await
            };
            *results[index].lock().expect("not poisoned") = Some(result);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(p) = progress {
                p(n, total);
            }
        }
        .boxed()
        .shared();
        futures[index] = Some(fut);
    }
    let finished: Vec<Shared<BoxFuture<'_, ()>>> = futures.into_iter().flatten().collect();
    let lookups = upstream::Lookups {
        plan,
        services,
        github: github.as_ref(),
        semaphore: &semaphore,
        results: &results,
        finished: &finished,
    };
    let histories: upstream::Histories<'_> = lookups.deployments().boxed().shared();
    let (_, drift, commit_ci, deployed, suspects, commit_times, mut deployments) = tokio::join!(
        futures::future::join_all(finished.iter().cloned()),
        lookups.drift(histories.clone()),
        lookups.commit_ci(),
        lookups.deployed(histories.clone()),
        lookups.suspects(histories.clone()),
        lookups.commit_times(histories.clone()),
        histories,
    );
    for h in deployments.values_mut() {
        upstream::attach_commit_times(h, &commit_times);
    }
    // The jobs' futures borrow `results`; they are done, let them go.
    drop(finished);
    RunResults {
        checks: results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .expect("not poisoned")
                    .expect("every job ran")
            })
            .collect(),
        drift,
        commit_ci,
        deployed,
        deployments,
        suspects,
        github: github.as_ref().map(GithubClient::stats),
        finished_at: Utc::now(),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

fn topo_order(jobs: &[Job]) -> Vec<usize> {
    let mut order = Vec::with_capacity(jobs.len());
    let mut seen = vec![false; jobs.len()];
    fn visit(j: usize, jobs: &[Job], seen: &mut [bool], order: &mut Vec<usize>) {
        if seen[j] {
            return;
        }
        seen[j] = true;
        for &d in &jobs[j].deps {
            visit(d, jobs, seen, order);
        }
        order.push(j);
    }
    for j in 0..jobs.len() {
        visit(j, jobs, &mut seen, &mut order);
    }
    order
}

fn templates() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb
}

async fn run_job(
    plan: &Plan,
    job: &Job,
    services: &Services,
    github: Option<&GithubClient>,
    results: &[Mutex<Option<CheckResult>>],
    templates: &Handlebars<'static>,
) -> CheckResult {
    let check = plan.check_of(job);
    let started = Instant::now();
    let env_id = plan.env_id(job).map(str::to_owned);
    let base = |status: CheckStatus, summary: String| CheckResult {
        id: check.id.clone(),
        environment: env_id.clone(),
        name: check.name.clone(),
        status,
        summary,
        duration_ms: started.elapsed().as_millis() as u64,
        checked_at: Utc::now(),
        fields: Map::new(),
        error: None,
        error_kind: None,
        failed_conditions: Vec::new(),
        log: Vec::new(),
        metric: None,
        table: None,
        panel: check.panel.clone(),
    };

    // A dependency without a result means this one cannot be resolved.
    for &d in &job.deps {
        let guard = results[d].lock().expect("not poisoned");
        if let Some(r) = guard.as_ref()
            && matches!(r.status, CheckStatus::Error | CheckStatus::Skipped)
        {
            let who = match &r.environment {
                Some(e) => format!("{} ({e})", r.id),
                None => r.id.clone(),
            };
            let reason = format!("skipped: depends on {who}, which has no result");
            return base(CheckStatus::Skipped, reason);
        }
    }

    // Built on first use: most strings have no template at all.
    let context = std::sync::OnceLock::new();
    let render = |text: &str| -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_owned());
        }
        crate::plan::render_template(
            templates,
            text,
            context.get_or_init(|| template_context(plan, job, results)),
        )
        .map_err(|e| template_error(text, &e))
    };

    let (started_probe, secrets) = {
        let mut cx = probe::Cx {
            plan,
            check,
            services,
            github,
            render: &render,
            secrets: services.secrets.clone(),
        };
        (probe::start(&mut cx), cx.secrets)
    };
    let probed = match started_probe {
        Err(reason) => Probed::error(ErrorKind::Config, reason, started.elapsed()),
        Ok(fut) => match tokio::time::timeout(probe::deadline(check), fut).await {
            Ok(p) => p,
            Err(_) => Probed::error(
                ErrorKind::Timeout,
                format!(
                    "timed out after {}",
                    humantime::format_duration(check.timeout)
                ),
                check.timeout,
            ),
        },
    };
    // Redacted before the conditions read it: a failed condition shows the
    // value cut short, and a cut secret would no longer be recognised.
    let redactor = services.redactor.with(secrets.as_slice());
    let mut probed = probed;
    probed.redact(&redactor);
    probed.show_error_body();
    let mut result = evaluate(check, probed, base(CheckStatus::Pass, String::new()));
    redact(&mut result, &redactor);
    result
}

/// Applies the probe's verdict, `expect`, `warn_unless` and `extract`.
pub fn evaluate(check: &CheckPlan, probed: Probed, mut result: CheckResult) -> CheckResult {
    let obs = &probed.observation;
    result.duration_ms = obs.duration.as_millis() as u64;
    result.fields = probed.fields;
    result.log = probed.log;
    result.summary = probed.summary;
    // An errored metric still has a card, showing its unit and thresholds.
    result.metric = check.metric.as_ref().map(MetricSpec::unknown);
    let mut status = CheckStatus::Pass;
    // Why the status is what it is; None when the summary says it all.
    let mut reason: Option<Problem> = None;
    // An HTTP error status is the probe's verdict unless the check expects
    // exactly that status (e.g. `status == 503` on a maintenance page).
    let own_status = check.reads_status
        && obs.status.is_some()
        && check
            .expect
            .iter()
            .any(|c| c.reads_status() && matches!(c.eval(obs), Outcome::Held));
    match probed.verdict {
        Verdict::Error(e) if !own_status => return errored(result, e),
        Verdict::Fail(e) if !own_status => {
            status = CheckStatus::Fail;
            reason = Some(e);
        }
        Verdict::Warn(w) => {
            status = CheckStatus::Warn;
            reason = w;
        }
        _ => {}
    }
    for (conditions, on_false) in [
        (&check.expect, CheckStatus::Fail),
        (&check.warn_unless, CheckStatus::Warn),
    ] {
        for cond in conditions {
            match cond.eval(obs) {
                Outcome::Held => {}
                Outcome::Violated { actual } => {
                    let text = format!("{} ({actual})", cond.source);
                    result.failed_conditions.push(text.clone());
                    if on_false > status || on_false == status && reason.is_none() {
                        status = on_false;
                        reason = Some(Problem::new(
                            ErrorKind::Condition,
                            format!("expected {text}"),
                        ));
                    }
                }
                Outcome::Error(e) => {
                    let why = format!("cannot evaluate `{}`: {e}", cond.source);
                    let kind = if obs.body_is_json {
                        ErrorKind::Config
                    } else {
                        ErrorKind::NotJson
                    };
                    return errored(result, Problem::new(kind, why));
                }
            }
        }
    }
    for (name, path) in &check.extract {
        if let Some(v) = path.query(&obs.value).first() {
            result.fields.insert(name.clone(), (*v).clone());
        }
    }
    if let Some(spec) = &check.metric {
        let trend = match obs.value.get("range") {
            Some(range) if check.has_trend() => metric::trend_of(range),
            _ => Vec::new(),
        };
        let (m, verdict) = spec.evaluate(obs, trend);
        if let Some(v) = m.value {
            result.summary = metric::format_value(v, m.unit.as_deref());
        }
        result.metric = Some(m);
        let (worse, why) = match verdict {
            Verdict::Error(e) => return errored(result, e),
            Verdict::Fail(e) => (CheckStatus::Fail, Some(e)),
            Verdict::Warn(w) => (CheckStatus::Warn, w),
            Verdict::Pass => (CheckStatus::Pass, None),
        };
        if worse > status {
            status = worse;
            reason = why;
        }
    }
    if let Some(spec) = &check.table {
        match spec.evaluate(obs) {
            Ok(t) => result.table = Some(t),
            Err(e) => return errored(result, Problem::new(ErrorKind::BadResponse, e)),
        }
    }
    result.status = status;
    if status != CheckStatus::Pass
        && let Some(p) = reason
    {
        result.error = Some(p.message);
        result.error_kind = Some(p.kind);
    }
    result
}

/// The result of a check that could not find out.
fn errored(mut result: CheckResult, problem: Problem) -> CheckResult {
    result.status = CheckStatus::Error;
    result.error = Some(problem.message);
    result.error_kind = Some(problem.kind);
    result
}

/// The data templates see: project, env, environments, checks.
///
/// Only the job's dependencies are read: the plan made every reference a
/// dependency, so this stays linear however many checks there are.
fn template_context(plan: &Plan, job: &Job, results: &[Mutex<Option<CheckResult>>]) -> Value {
    let finished: Vec<(usize, CheckResult)> = job
        .deps
        .iter()
        .filter_map(|&i| {
            results[i]
                .lock()
                .expect("not poisoned")
                .clone()
                .map(|r| (i, r))
        })
        .collect();
    let mut environments = Map::new();
    for (ei, env) in plan.environments.iter().enumerate() {
        let mut e = json!({ "id": env.id, "name": env.name });
        if let Some(url) = &env.url {
            e["url"] = json!(url);
        }
        for (ji, r) in &finished {
            if plan.jobs[*ji].env == Some(ei) {
                for fact in FACTS {
                    if e.get(fact).is_none()
                        && plan.check_of(&plan.jobs[*ji]).extracts(fact)
                        && let Some(v) = r.fields.get(fact)
                    {
                        e[fact] = v.clone();
                    }
                }
            }
        }
        environments.insert(env.id.clone(), e);
    }
    let mut checks = Map::new();
    for (ji, r) in &finished {
        let other = &plan.jobs[*ji];
        let mut fields = r.fields.clone();
        fields.insert("status".into(), json!(r.status));
        fields.insert("summary".into(), json!(r.summary));
        let id = plan.check_of(other).id.clone();
        match (other.env, job.env) {
            (Some(a), Some(b)) if a == b => {
                checks.insert(id, Value::Object(fields));
            }
            (Some(a), _) => {
                let entry = checks.entry(id).or_insert_with(|| json!({}));
                if entry.get("status").is_none() {
                    entry[plan.environments[a].id.as_str()] = Value::Object(fields);
                }
            }
            (None, _) => {
                checks.insert(id, Value::Object(fields));
            }
        }
    }
    let env = job
        .env
        .map(|e| environments[&plan.environments[e].id].clone())
        .unwrap_or(Value::Null);
    json!({
        "project": plan.project,
        "env": env,
        "environments": environments,
        "checks": checks,
    })
}

fn template_error(text: &str, e: &handlebars::RenderError) -> String {
    let reason = e.to_string();
    match reason.split('"').nth(1) {
        Some(var) if reason.contains("strict mode") => {
            format!("template `{text}`: `{var}` has no value yet")
        }
        _ => format!("template `{text}` failed: {reason}"),
    }
}

/// Replaces every secret in the result's text with `••••`.
pub fn redact(result: &mut CheckResult, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    redactor.redact_string(&mut result.summary);
    if let Some(e) = &mut result.error {
        redactor.redact_string(e);
    }
    result
        .failed_conditions
        .iter_mut()
        .chain(result.log.iter_mut())
        .for_each(|s| redactor.redact_string(s));
    redactor.redact_map(&mut result.fields);
}
