//! Runs a plan: independent checks together, dependent ones after what they
//! read, each under its timeout, at most `concurrency` in flight.
//!
//! Everything that talks to the outside is run work, not report work: after
//! the checks that give an environment its sha, the runner also asks how far
//! it drifted from what it tracks, the CI of its exact commit and whether
//! local HEAD is in it (see [`upstream`]). Each of those starts as soon as the
//! shas it needs are known, under `[run] timeout`, inside the same
//! concurrency limit, and a lookup that cannot finish says so in its result.

use std::collections::HashMap;
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
use crate::plan::{
    CheckPlan, FACTS, FillError, GithubKind, Job, Plan, ProbeSpec, RequestSpec, fill_secrets,
    secret_refs,
};
use crate::probe::github::GithubClient;
use crate::probe::{self, ErrorKind, Probed, Problem, Verdict};
use crate::redact::Redactor;

mod upstream;

/// Shared clients every run uses: one HTTP client, one GitHub client, one
/// plugin host.
#[derive(Clone)]
pub struct Services {
    /// Shared by every HTTP check.
    pub http: reqwest::Client,
    /// Present when the plan talks to GitHub (a repo and a github check).
    pub github: Option<GithubClient>,
    /// For plugins' `http-fetch`: follows no redirects itself, so the host
    /// can re-check the allowlist on every hop.
    pub plugin_http: reqwest::Client,
    /// Compares GitHub answered 404 (a sha it does not have, e.g. an
    /// unpushed local HEAD), by API path, with when. A 404 carries no ETag,
    /// so asking again on every `serve` refresh would cost a rate-limit
    /// point each time; the runner skips them for [`NOT_FOUND_TTL`].
    pub(crate) github_not_found: std::sync::Arc<Mutex<HashMap<String, Instant>>>,
    /// The GitHub token (for plugins' `github-get`).
    pub(crate) secrets: Vec<String>,
    /// The run's secrets (the GitHub token and every `${VAR}` in a header
    /// value) in every form: a proxy or an upstream that echoes a header must
    /// not leak it, whichever check's output it lands in.
    pub(crate) redactor: Redactor,
}

/// How long a GitHub 404 for a compare is believed before asking again.
pub const NOT_FOUND_TTL: std::time::Duration = std::time::Duration::from_secs(600);

impl Services {
    /// Clients for `plan`, with the GitHub token from the environment.
    pub fn new(plan: &Plan) -> Self {
        let wants_token = uses_github(plan)
            || plan
                .checks
                .iter()
                .any(|c| matches!(&c.probe, ProbeSpec::Plugin(p) if !p.allow_github.is_empty()));
        let token = if wants_token {
            GithubClient::resolve_token()
        } else {
            None
        };
        Self::with_token(plan, token)
    }

    /// Clients for `plan` with this GitHub token (None: anonymous).
    pub fn with_token(plan: &Plan, token: Option<(String, probe::github::TokenSource)>) -> Self {
        let http = probe::http::client();
        let secrets: Vec<String> = token
            .iter()
            .map(|(t, _)| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        // Plugins' `github-get` goes through the same client as the probe.
        let plugins_read_github = plan
            .checks
            .iter()
            .any(|c| matches!(&c.probe, ProbeSpec::Plugin(p) if !p.allow_github.is_empty()));
        let github = (uses_github(plan) || plugins_read_github).then(|| {
            let cache_dir = plan.settings.github_disk_cache.then(cache_dir).flatten();
            GithubClient::new(
                http.clone(),
                &plan.settings.github_api_url,
                token,
                cache_dir,
            )
        });
        if let Some(gh) = &github {
            // A secondary limit's retry must still fit in the check's timeout.
            let shortest = plan
                .checks
                .iter()
                .filter(|c| matches!(c.probe, ProbeSpec::Github { .. }))
                .map(|c| c.timeout)
                .min()
                .unwrap_or(plan.settings.timeout);
            gh.set_max_retry_wait(shortest / 2);
        }
        // Building a TLS client reads the system's root certificates (~150
        // files): only pay for a second one when a plugin may fetch.
        let plugin_http = if plan
            .checks
            .iter()
            .any(|c| matches!(c.probe, ProbeSpec::Plugin(_)))
        {
            probe::http::plugin_client()
        } else {
            http.clone()
        };
        Services {
            http,
            github,
            plugin_http,
            github_not_found: std::sync::Arc::default(),
            redactor: Redactor::new(secrets.iter().chain(&header_secrets(plan))),
            secrets,
        }
    }
}

/// The values of every `${VAR}` the plan names, as set now: in checks'
/// header values, and in actions' header values and bodies (a report must
/// not show a deploy token that a check happened to read).
fn header_secrets(plan: &Plan) -> Vec<String> {
    let checks = plan
        .checks
        .iter()
        .filter_map(|c| match &c.probe {
            ProbeSpec::Http { headers, .. } => Some(headers),
            _ => None,
        })
        .flatten()
        .map(|(_, value)| value);
    let actions = plan.actions.list.iter().flat_map(|a| match &a.request {
        RequestSpec::Http { headers, body, .. } => {
            headers.iter().map(|(_, v)| v).chain(body).collect()
        }
        RequestSpec::Dispatch { .. } => Vec::new(),
    });
    checks
        .chain(actions)
        .flat_map(|value| secret_refs(value))
        .filter_map(|var| std::env::var(var).ok())
        .collect()
}

/// A plan uses GitHub when it has a github check.
pub fn uses_github(plan: &Plan) -> bool {
    plan.checks
        .iter()
        .any(|c| matches!(c.probe, ProbeSpec::Github { .. }))
}

/// `$XDG_CACHE_HOME/villa-telemetry`, else `~/.cache/villa-telemetry`.
fn cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("villa-telemetry"))
}

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
    let (_, drift, commit_ci, deployed, deployments) = tokio::join!(
        futures::future::join_all(finished.iter().cloned()),
        lookups.drift(),
        lookups.commit_ci(),
        lookups.deployed(),
        lookups.deployments(),
    );
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

    let mut secrets: Vec<String> = services.secrets.clone();
    let probed = match resolve_and_observe(plan, check, services, github, &render, &mut secrets) {
        Err(reason) => Probed::error(ErrorKind::Config, reason, started.elapsed()),
        // A plugin enforces its own timeout (and says so precisely); the
        // outer one only backs it up.
        Ok(fut) => match tokio::time::timeout(
            if matches!(check.probe, ProbeSpec::Plugin(_)) {
                check.timeout + std::time::Duration::from_secs(1)
            } else {
                check.timeout
            },
            fut,
        )
        .await
        {
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

type ProbeFuture<'a> = BoxFuture<'a, Probed>;

/// Renders the check's templates and starts its probe. `Err` is a reason
/// that becomes the check's `error`.
fn resolve_and_observe<'a>(
    plan: &'a Plan,
    check: &'a CheckPlan,
    services: &'a Services,
    github: Option<&'a GithubClient>,
    render: &dyn Fn(&str) -> Result<String, String>,
    secrets: &mut Vec<String>,
) -> Result<ProbeFuture<'a>, String> {
    match &check.probe {
        ProbeSpec::Http {
            method,
            url,
            headers,
            body,
        } => {
            let url = render(url)?;
            let mut resolved = Vec::new();
            let mut secret_headers = Vec::new();
            for (name, value) in headers {
                if !secret_refs(value).is_empty() {
                    secret_headers.push(name.clone());
                }
                let value =
                    fill_secrets(value, render, str::to_owned, secrets).map_err(|e| match e {
                        FillError::Template(why) => why,
                        FillError::Unset(var) => format!("environment variable {var} is not set"),
                    })?;
                resolved.push((name.clone(), value));
            }
            let body = body.as_deref().map(render).transpose()?;
            let req = probe::http::HttpRequest {
                method: method.clone(),
                url,
                headers: resolved,
                secret_headers,
                body,
            };
            Ok(probe::http::observe(
                &services.http,
                req,
                plan.settings.body_cap,
                check.needs_body,
            )
            .boxed())
        }
        ProbeSpec::Git { path } => Ok(probe::git::observe(path.clone()).boxed()),
        ProbeSpec::Prometheus { url, query, range } => {
            let req = probe::prometheus::PromRequest {
                url: render(url)?,
                query: render(query)?,
                range: *range,
                timeout: check.timeout,
            };
            Ok(probe::prometheus::observe(&services.http, req, plan.settings.body_cap).boxed())
        }
        ProbeSpec::Github { repo, kind } => {
            let client = github.ok_or("no GitHub client was set up for this run")?;
            let request = match kind {
                GithubKind::Workflow {
                    workflow,
                    branch,
                    stalled_after,
                } => probe::github::Request::Workflow {
                    workflow: workflow.clone(),
                    branch: branch.clone(),
                    stalled_after: *stalled_after,
                    name: check.name.clone(),
                },
                GithubKind::Deployment { environment } => probe::github::Request::Deployment {
                    environment: render(environment)?,
                },
                GithubKind::Compare { basehead } => {
                    let rendered = render(basehead)?;
                    let (base, head) = rendered.split_once("...").ok_or_else(|| {
                        format!("`compare` rendered to `{rendered}`, not BASE...HEAD")
                    })?;
                    if base.trim().is_empty() || head.trim().is_empty() {
                        return Err(format!(
                            "`compare` rendered to `{rendered}`: a side is empty"
                        ));
                    }
                    probe::github::Request::Compare {
                        base: base.trim().to_owned(),
                        head: head.trim().to_owned(),
                    }
                }
            };
            Ok(probe::github::observe(client, repo, request).boxed())
        }
        ProbeSpec::Plugin(spec) => plugin_probe(plan, check, services, spec, render),
    }
}

#[cfg(feature = "plugins")]
fn plugin_probe<'a>(
    plan: &'a Plan,
    check: &'a CheckPlan,
    services: &'a Services,
    spec: &'a crate::plan::PluginSpec,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<ProbeFuture<'a>, String> {
    use crate::probe::plugin::{PluginRequest, PluginStatus};
    let host = plugin_host()?;
    let plugin = host.load(&spec.wasm).map_err(|e| e.to_string())?;
    let config = render_strings(&spec.config, render)?;
    let env = spec
        .allow_env
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
        .collect();
    let mut req = PluginRequest::new(check.id.clone(), config, services.plugin_http.clone());
    req.env = env;
    req.timeout = check.timeout;
    req.memory_bytes = spec.memory_bytes;
    req.allow_http = spec.allow_http.clone();
    req.allow_github = spec.allow_github.clone();
    req.body_cap = plan.settings.body_cap;
    req.redactor = services.redactor.clone();
    req.github = services.github.clone();
    Ok(async move {
        let outcome = host.run(&plugin, req).await;
        let mut probed = match outcome.result {
            Err(reason) => Probed::error(ErrorKind::Plugin, reason, outcome.duration),
            Ok(out) => {
                // The plugin's summary is its reason: a warn says nothing more.
                let verdict = match out.status {
                    PluginStatus::Pass => Verdict::Pass,
                    PluginStatus::Warn => Verdict::Warn(None),
                    PluginStatus::Fail => {
                        Verdict::Fail(Problem::new(ErrorKind::Condition, out.summary.clone()))
                    }
                    PluginStatus::Unknown => Verdict::Error(Problem::new(
                        ErrorKind::Plugin,
                        format!("plugin could not tell: {}", out.summary),
                    )),
                };
                Probed {
                    observation: probe::Observation {
                        value: Value::Object(out.fields.clone()),
                        body_is_json: true,
                        duration: outcome.duration,
                        ..probe::Observation::default()
                    },
                    summary: out.summary,
                    fields: out.fields,
                    verdict,
                    log: Vec::new(),
                }
            }
        };
        probed.log = outcome.log;
        probed
    }
    .boxed())
}

#[cfg(not(feature = "plugins"))]
fn plugin_probe<'a>(
    _plan: &'a Plan,
    _check: &'a CheckPlan,
    _services: &'a Services,
    _spec: &'a crate::plan::PluginSpec,
    _render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<ProbeFuture<'a>, String> {
    Err("this build has no plugin support (built without the `plugins` feature)".into())
}

/// Renders every string in a plugin's config that holds a template.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))]
fn render_strings(
    v: &Value,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(render(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_strings(x, render))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_strings(x, render)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The process's one plugin host (engine, epoch thread, compiled components).
#[cfg(feature = "plugins")]
pub fn plugin_host() -> Result<&'static crate::probe::plugin::PluginHost, String> {
    static HOST: std::sync::OnceLock<Result<crate::probe::plugin::PluginHost, String>> =
        std::sync::OnceLock::new();
    HOST.get_or_init(|| crate::probe::plugin::PluginHost::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Compiles every plugin of the plan once, so a bad `.wasm` is a config
/// error naming the file, before anything runs.
pub fn load_plugins(plan: &Plan) -> Result<(), crate::error::ConfigError> {
    let mut diags = Vec::new();
    for check in &plan.checks {
        let ProbeSpec::Plugin(spec) = &check.probe else {
            continue;
        };
        let (file, span) = &spec.source;
        #[cfg(feature = "plugins")]
        let problem =
            plugin_host().and_then(|h| h.load(&spec.wasm).map(drop).map_err(|e| e.to_string()));
        #[cfg(not(feature = "plugins"))]
        let problem: Result<(), String> = Err(
            "this build has no plugin support (rebuild with the default `plugins` feature)".into(),
        );
        if let Err(reason) = problem {
            diags.push(
                crate::error::Diagnostic::new(&plan.sources[*file], span.clone(), reason)
                    .with_help("build plugins with `cargo build --release --target wasm32-wasip2` against plugins/wit (villa:telemetry@0.1.0)"),
            );
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(crate::error::ConfigError::invalid(diags))
    }
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
        let trend = match (&check.probe, obs.value.get("range")) {
            (ProbeSpec::Prometheus { .. }, Some(range)) => metric::trend_of(range),
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
