//! From config to plan: every semantic check happens here, before any probe
//! runs. After this step nothing can fail because of the configuration.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::condition::{CompiledPath, Condition};
use crate::config::{CheckConfig, Config, Located, SourceFile};
use crate::error::{ConfigError, Diagnostic, did_you_mean};
use crate::report::ProjectInfo;

mod metrics;

/// Facts an environment takes from its checks' `extract`.
pub const FACTS: [&str; 4] = ["sha", "version", "uptime", "deployed_at"];

/// A validated, ready-to-run configuration.
#[derive(Debug)]
pub struct Plan {
    /// `[project]` facts.
    pub project: ProjectInfo,
    /// Files read, for messages.
    pub sources: Vec<SourceFile>,
    /// Directory of the main config file.
    pub base_dir: PathBuf,
    /// `[run]`, `[serve]`, `[github]` with defaults applied.
    pub settings: Settings,
    /// In configured order.
    pub environments: Vec<EnvPlan>,
    /// Check definitions.
    pub checks: Vec<CheckPlan>,
    /// Check instances (check × environment), ordered by id then environment.
    pub jobs: Vec<Job>,
    /// Quick links: name and URL template.
    pub links: Vec<(String, String)>,
    /// Environments chosen with `--env` (empty: all).
    pub env_filter: Vec<String>,
    /// `[[actions]]` and `[act]`, validated.
    pub actions: crate::action::ActionSet,
}

/// Settings with defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Checks in flight at once.
    pub concurrency: usize,
    /// Default per-check timeout.
    pub timeout: Duration,
    /// Largest body read.
    pub body_cap: usize,
    /// `serve` address.
    pub listen: String,
    /// `serve` refresh period.
    pub refresh: Duration,
    /// `serve` may listen beyond loopback.
    pub allow_remote: bool,
    /// GitHub API root.
    pub github_api_url: String,
    /// Keep GitHub answers on disk between runs.
    pub github_disk_cache: bool,
    /// Template override directory.
    pub templates_dir: Option<PathBuf>,
}

/// Default `[run] concurrency`: large enough that 200 checks do not queue.
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Default `[run] timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of a plugin check.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `[run] max_body`.
pub const DEFAULT_BODY_CAP: usize = 1 << 20;

/// One environment.
#[derive(Debug, Clone)]
pub struct EnvPlan {
    /// Id used in references and JSON keys.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Base URL.
    pub url: Option<String>,
    /// Down means offline.
    pub optional: bool,
    /// Environment it should match.
    pub tracks: Option<String>,
}

/// One check definition.
#[derive(Debug)]
pub struct CheckPlan {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What to observe.
    pub probe: ProbeSpec,
    /// Must hold, else `fail`.
    pub expect: Vec<Condition>,
    /// Should hold, else `warn`.
    pub warn_unless: Vec<Condition>,
    /// Name and JSONPath.
    pub extract: Vec<(String, CompiledPath)>,
    /// Per-check timeout.
    pub timeout: Duration,
    /// One instance per environment.
    pub per_env: bool,
    /// Some condition or extract reads the body.
    pub needs_body: bool,
    /// Some `expect` reads `status`, so the implicit HTTP status rule is off.
    pub reads_status: bool,
    /// Number shown as a metric card, with thresholds.
    pub metric: Option<crate::metric::MetricSpec>,
    /// Rows shown as a top-N table.
    pub table: Option<crate::metric::TableSpec>,
    /// Dashboard panel of its card or table.
    pub panel: Option<String>,
}

/// The probe of a check, with templates still unrendered.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// `http = { ... }`.
    Http {
        /// Method.
        method: reqwest::Method,
        /// URL template.
        url: String,
        /// Header templates; values may hold `${VAR}`.
        headers: Vec<(String, String)>,
        /// Body template.
        body: Option<String>,
    },
    /// `git = { path }`.
    Git {
        /// Resolved directory.
        path: PathBuf,
    },
    /// `github = { ... }`.
    Github {
        /// `owner/name`.
        repo: String,
        /// What to look at.
        kind: GithubKind,
    },
    /// `plugin = { ... }`.
    Plugin(PluginSpec),
    /// `prometheus = { url, query, range }`.
    Prometheus {
        /// Base URL template.
        url: String,
        /// PromQL template.
        query: String,
        /// History for a trend.
        range: Option<Duration>,
    },
}

/// The three GitHub probes.
#[derive(Debug, Clone)]
pub enum GithubKind {
    /// Latest run of a workflow.
    Workflow {
        /// File name or id.
        workflow: String,
        /// Branch filter.
        branch: Option<String>,
        /// In progress longer than this is `stalled`.
        stalled_after: Option<Duration>,
    },
    /// Latest deployment to a GitHub environment.
    Deployment {
        /// Environment name (templated).
        environment: String,
    },
    /// Compare two refs: `BASE...HEAD` (templated).
    Compare {
        /// The template.
        basehead: String,
    },
}

/// `plugin = { ... }` resolved.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Component path.
    pub wasm: PathBuf,
    /// Memory cap in bytes.
    pub memory_bytes: u64,
    /// Plugin config as JSON (strings templated at run time).
    pub config: Value,
    /// Hosts it may fetch.
    pub allow_http: Vec<String>,
    /// Environment variables passed in.
    pub allow_env: Vec<String>,
    /// Repositories for `github-get`.
    pub allow_github: Vec<String>,
    /// Where `wasm = ...` is written (file index, byte span), for load errors.
    pub source: (usize, std::ops::Range<usize>),
}

/// One check instance.
#[derive(Debug, Clone)]
pub struct Job {
    /// Index into [`Plan::checks`].
    pub check: usize,
    /// Index into [`Plan::environments`] for per-environment checks.
    pub env: Option<usize>,
    /// Jobs that must finish first (indices into [`Plan::jobs`]).
    pub deps: Vec<usize>,
}

impl CheckPlan {
    /// Whether this check's `extract` names `field`: only extracted values
    /// become an environment's facts (a probe's own `sha` field does not).
    pub fn extracts(&self, field: &str) -> bool {
        self.extract.iter().any(|(n, _)| n == field)
    }
}

impl Plan {
    /// The check definition of a job.
    pub fn check_of(&self, job: &Job) -> &CheckPlan {
        &self.checks[job.check]
    }

    /// Environment id of a job.
    pub fn env_id(&self, job: &Job) -> Option<&str> {
        job.env.map(|e| self.environments[e].id.as_str())
    }

    /// Keeps only the jobs of the given environments (and global checks),
    /// with their dependencies.
    pub fn restrict_to(&mut self, envs: &[String]) {
        if envs.is_empty() {
            return;
        }
        let mut keep: Vec<bool> = self
            .jobs
            .iter()
            .map(|j| {
                j.env
                    .is_none_or(|e| envs.contains(&self.environments[e].id))
            })
            .collect();
        // Dependencies of kept jobs stay, so templates still resolve.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.jobs.len() {
                if keep[i] {
                    for &d in &self.jobs[i].deps {
                        if !keep[d] {
                            keep[d] = true;
                            changed = true;
                        }
                    }
                }
            }
        }
        let mut remap = vec![usize::MAX; self.jobs.len()];
        let mut jobs = Vec::new();
        for (i, job) in self.jobs.iter().enumerate() {
            if keep[i] {
                remap[i] = jobs.len();
                jobs.push(job.clone());
            }
        }
        for job in &mut jobs {
            job.deps = job.deps.iter().map(|d| remap[*d]).collect();
        }
        self.jobs = jobs;
        self.env_filter = envs.to_vec();
    }

    /// Whether an environment is shown (all are, unless `--env` chose some).
    pub fn shows_env(&self, id: &str) -> bool {
        self.env_filter.is_empty() || self.env_filter.iter().any(|e| e == id)
    }
}

struct Builder<'a> {
    config: &'a Config,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn error(
        &mut self,
        file: usize,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::new(&self.config.sources[file], span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn help(&mut self, help: impl Into<String>) {
        if let Some(last) = self.diags.pop() {
            self.diags.push(last.with_help(help));
        }
    }

    fn resolve_path(&self, file: usize, rel: &str) -> PathBuf {
        let dir = self.config.sources[file]
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        dir.join(rel)
    }
}

/// Validates `config` into a plan, collecting every problem.
pub fn build(config: Config) -> Result<Plan, ConfigError> {
    let mut b = Builder {
        config: &config,
        diags: Vec::new(),
    };

    // Environments.
    let mut environments = Vec::new();
    let mut env_index: HashMap<String, usize> = HashMap::new();
    for env in &config.environments {
        let id = env.value.id.get_ref().clone();
        if !valid_id(&id) {
            b.error(
                env.file,
                env.value.id.span(),
                format!("invalid environment id `{id}`"),
            );
            b.help("use letters, digits, `_` and `-`");
        }
        if env_index.contains_key(&id) {
            b.error(
                env.file,
                env.value.id.span(),
                format!("duplicate environment id `{id}`"),
            );
            b.help("every [[environments]] needs its own id");
            continue;
        }
        env_index.insert(id.clone(), environments.len());
        environments.push(EnvPlan {
            name: env.value.name.clone().unwrap_or_else(|| id.clone()),
            url: env
                .value
                .url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            optional: env.value.optional,
            tracks: env.value.tracks.as_ref().map(|t| t.get_ref().clone()),
            id,
        });
    }
    let env_ids: Vec<String> = environments.iter().map(|e| e.id.clone()).collect();
    for env in &config.environments {
        if let Some(t) = &env.value.tracks {
            let tracked = t.get_ref();
            if !env_index.contains_key(tracked) {
                b.error(
                    env.file,
                    t.span(),
                    format!("`tracks` names unknown environment `{tracked}`"),
                );
                suggest(&mut b, tracked, env_ids.iter().map(String::as_str));
            } else if tracked == env.value.id.get_ref() {
                b.error(env.file, t.span(), "an environment cannot track itself");
            }
        }
    }

    let repo = config.project.repo.as_ref().map(|r| r.get_ref().clone());
    if let Some(r) = &config.project.repo
        && !valid_repo(r.get_ref())
    {
        b.error(
            0,
            r.span(),
            format!("`repo` must be `owner/name`, got `{}`", r.get_ref()),
        );
    }

    // Checks.
    let mut checks: Vec<CheckPlan> = Vec::new();
    let mut check_envs: Vec<Vec<usize>> = Vec::new();
    let mut check_index: HashMap<String, usize> = HashMap::new();
    let mut refs: Vec<Vec<(Reference, usize, std::ops::Range<usize>)>> = Vec::new();
    let default_timeout = config.run.timeout.unwrap_or(DEFAULT_TIMEOUT);
    for located in &config.checks {
        let c = &located.value;
        let id = c.id.get_ref().clone();
        if !valid_id(&id) {
            b.error(
                located.file,
                c.id.span(),
                format!("invalid check id `{id}`"),
            );
            b.help("use letters, digits, `_` and `-` (ids appear in templates as checks.ID)");
        }
        if let Some(&prev) = check_index.get(&id) {
            let prev_loc = &config.checks[prev].value.id;
            let first = Diagnostic::new(
                &config.sources[config.checks[prev].file],
                prev_loc.span(),
                "first defined here",
            )
            .location();
            b.error(
                located.file,
                c.id.span(),
                format!("duplicate check id `{id}`"),
            );
            b.help(format!(
                "`{id}` is already defined at {first}; rename one of them"
            ));
            continue;
        }
        let Some(probe) = probe_spec(&mut b, located, repo.as_deref()) else {
            continue;
        };
        let display = match metrics::display(c) {
            Ok(d) => d,
            Err(errors) => {
                spec_errors(&mut b, located.file, errors);
                continue;
            }
        };
        let envs = match &c.environments {
            None => Vec::new(),
            Some(list) => {
                let mut out = BTreeSet::new();
                if list.get_ref().is_empty() {
                    b.error(located.file, list.span(), "`environments` is empty");
                    b.help("use [\"*\"] for every environment, or leave the key out for a global check");
                }
                for e in list.get_ref() {
                    if e.get_ref() == "*" {
                        out.extend(0..environments.len());
                    } else if let Some(&i) = env_index.get(e.get_ref()) {
                        out.insert(i);
                    } else {
                        b.error(
                            located.file,
                            e.span(),
                            format!("unknown environment `{}`", e.get_ref()),
                        );
                        suggest(&mut b, e.get_ref(), env_ids.iter().map(String::as_str));
                    }
                }
                out.into_iter().collect()
            }
        };
        let per_env = c.environments.is_some();

        let mut expect = Vec::new();
        let mut warn_unless = Vec::new();
        let mut needs_body = false;
        let mut reads_status = false;
        for (list, out) in [(&c.expect, &mut expect), (&c.warn_unless, &mut warn_unless)] {
            for cond in list {
                match Condition::parse(cond.get_ref()) {
                    Ok(parsed) => {
                        needs_body |= cond.get_ref().trim_start().starts_with('$')
                            || cond.get_ref().trim_start().starts_with("len(");
                        out.push(parsed);
                    }
                    Err(e) => {
                        let start = cond.span().start + 1 + e.offset;
                        let d = b.error(
                            located.file,
                            start..start + e.len.max(1),
                            format!("invalid condition: {}", e.message),
                        );
                        *d = d.clone().with_label(e.message.clone());
                        if let Some(h) = e.help {
                            b.help(h);
                        } else {
                            b.help("write `LEFT OP RIGHT`, e.g. \"status == 200\", \"$.status == 'ok'\", \"duration < 800ms\"");
                        }
                    }
                }
            }
        }
        for cond in &expect {
            reads_status |= cond.reads_status();
        }
        let mut extract = Vec::new();
        for (name, path) in &c.extract {
            match crate::condition::compile_path(path.get_ref()) {
                Ok(p) => {
                    needs_body = true;
                    extract.push((name.clone(), p));
                }
                Err(e) => {
                    let start = path.span().start + 1 + e.offset;
                    b.error(
                        located.file,
                        start..start + e.len.max(1),
                        format!("invalid JSONPath for `{name}`: {}", e.message),
                    );
                    if let Some(h) = e.help {
                        b.help(h);
                    }
                }
            }
        }

        // Template references.
        let mut found = Vec::new();
        for (text, span) in template_strings(c) {
            if let Err(e) = handlebars::Template::compile(&text) {
                b.error(
                    located.file,
                    span.clone(),
                    format!("invalid template: {}", e.reason()),
                );
                b.help("templates look like {{env.url}}, {{environments.staging.sha}}, {{checks.ID.FIELD}}");
                continue;
            }
            for r in references(&text) {
                found.push((r, located.file, span.clone()));
            }
        }

        // Plugins default to a tighter budget than network checks (DESIGN.md).
        let probe_default = if c.plugin.is_some() {
            PLUGIN_TIMEOUT
        } else {
            default_timeout
        };
        let timeout = c
            .timeout
            .or(c.http.as_ref().and_then(|h| h.get_ref().timeout))
            .or(c.plugin.as_ref().and_then(|p| p.get_ref().timeout))
            .unwrap_or(probe_default);
        check_index.insert(id.clone(), checks.len());
        checks.push(CheckPlan {
            name: c.name.clone().unwrap_or_else(|| id.clone()),
            id,
            probe,
            expect,
            warn_unless,
            extract,
            timeout,
            per_env,
            // A metric or table reads the body: a cut one must be an error.
            needs_body: needs_body || display.metric.is_some() || display.table.is_some(),
            reads_status,
            metric: display.metric,
            table: display.table,
            panel: display.panel,
        });
        check_envs.push(envs);
        refs.push(found);
    }

    // Jobs, ordered by check id then environment order.
    let mut order: Vec<usize> = (0..checks.len()).collect();
    order.sort_by(|a, b| checks[*a].id.cmp(&checks[*b].id));
    let mut jobs = Vec::new();
    let mut job_of: HashMap<(usize, Option<usize>), usize> = HashMap::new();
    for &ci in &order {
        if checks[ci].per_env {
            for &e in &check_envs[ci] {
                job_of.insert((ci, Some(e)), jobs.len());
                jobs.push(Job {
                    check: ci,
                    env: Some(e),
                    deps: Vec::new(),
                });
            }
        } else {
            job_of.insert((ci, None), jobs.len());
            jobs.push(Job {
                check: ci,
                env: None,
                deps: Vec::new(),
            });
        }
    }

    // Resolve references into dependencies.
    let check_ids: Vec<String> = checks.iter().map(|c| c.id.clone()).collect();
    for (ji, job) in jobs.clone().iter().enumerate() {
        let mut deps = BTreeSet::new();
        for (r, file, span) in &refs[job.check] {
            match r {
                Reference::Check(id) => match check_index.get(id) {
                    None => {
                        b.error(
                            *file,
                            span.clone(),
                            format!("template references unknown check `{id}`"),
                        );
                        suggest(&mut b, id, check_ids.iter().map(String::as_str));
                    }
                    Some(&target) => {
                        if checks[target].per_env {
                            match job.env {
                                Some(e) if job_of.contains_key(&(target, Some(e))) => {
                                    deps.insert(job_of[&(target, Some(e))]);
                                }
                                _ => {
                                    for &e in &check_envs[target] {
                                        deps.insert(job_of[&(target, Some(e))]);
                                    }
                                }
                            }
                        } else {
                            deps.insert(job_of[&(target, None)]);
                        }
                    }
                },
                Reference::Environment(env, fact) => match env_index.get(env) {
                    None => {
                        b.error(
                            *file,
                            span.clone(),
                            format!("template references unknown environment `{env}`"),
                        );
                        suggest(&mut b, env, env_ids.iter().map(String::as_str));
                    }
                    Some(&e) => add_fact_deps(
                        &mut b,
                        &checks,
                        &jobs,
                        e,
                        fact,
                        ji,
                        &mut deps,
                        *file,
                        span,
                        &environments,
                    ),
                },
                Reference::CurrentEnv(fact) => match job.env {
                    Some(e) => add_fact_deps(
                        &mut b,
                        &checks,
                        &jobs,
                        e,
                        fact,
                        ji,
                        &mut deps,
                        *file,
                        span,
                        &environments,
                    ),
                    None => {
                        b.error(
                            *file,
                            span.clone(),
                            "`env` is only defined in per-environment checks",
                        );
                        b.help("add `environments = [\"*\"]` to the check, or use environments.ID.FIELD");
                    }
                },
            }
        }
        deps.remove(&ji);
        jobs[ji].deps = deps.into_iter().collect();
    }
    if let Some(cycle) = find_cycle(&jobs) {
        let names: Vec<String> = cycle
            .iter()
            .map(|&j| {
                let c = &checks[jobs[j].check].id;
                match jobs[j].env {
                    Some(e) => format!("{c}[{}]", environments[e].id),
                    None => c.clone(),
                }
            })
            .collect();
        let first = &checks[jobs[cycle[0]].check].id;
        let located = config
            .checks
            .iter()
            .find(|c| c.value.id.get_ref() == first)
            .expect("check exists");
        b.error(
            located.file,
            located.value.id.span(),
            format!("dependency cycle: {}", names.join(" → ")),
        );
        b.help("a check cannot read (directly or through others) its own output; remove one of the template references");
    }

    // Links.
    let mut links = Vec::new();
    for l in &config.links {
        if let Err(e) = handlebars::Template::compile(l.value.url.get_ref()) {
            b.error(
                l.file,
                l.value.url.span(),
                format!("invalid template: {}", e.reason()),
            );
        }
        links.push((l.value.name.clone(), l.value.url.get_ref().clone()));
    }

    let settings = settings(&mut b);
    let actions = crate::action::validate::build(&config, &mut b.diags);
    if !b.diags.is_empty() {
        return Err(ConfigError::Invalid(b.diags));
    }
    let project = ProjectInfo {
        name: config.project.name.clone().unwrap_or_else(|| {
            std::fs::canonicalize(&config.base_dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "villa-telemetry".into())
        }),
        tagline: config.project.tagline.clone(),
        repo,
    };
    Ok(Plan {
        project,
        settings,
        environments,
        checks,
        jobs,
        links,
        env_filter: Vec::new(),
        actions,
        base_dir: config.base_dir.clone(),
        sources: config.sources,
    })
}

#[allow(clippy::too_many_arguments)]
fn add_fact_deps(
    b: &mut Builder<'_>,
    checks: &[CheckPlan],
    jobs: &[Job],
    env: usize,
    fact: &Option<String>,
    me: usize,
    deps: &mut BTreeSet<usize>,
    file: usize,
    span: &std::ops::Range<usize>,
    environments: &[EnvPlan],
) {
    let Some(fact) = fact else { return };
    if matches!(fact.as_str(), "id" | "name" | "url") {
        return;
    }
    let providers: Vec<usize> = jobs
        .iter()
        .enumerate()
        .filter(|(i, j)| *i != me && j.env == Some(env) && checks[j.check].extracts(fact))
        .map(|(i, _)| i)
        .collect();
    if providers.is_empty() {
        let env_id = &environments[env].id;
        b.error(
            file,
            span.clone(),
            format!("nothing extracts `{fact}` for environment `{env_id}`"),
        );
        b.help(format!(
            "add `extract = {{ {fact} = \"$.path\" }}` to a check that runs for `{env_id}`; known fields: id, name, url, {}",
            FACTS.join(", ")
        ));
    }
    deps.extend(providers);
}

fn settings(b: &mut Builder<'_>) -> Settings {
    let c = b.config;
    let concurrency = match &c.run.concurrency {
        Some(n) if *n.get_ref() == 0 => {
            b.error(0, n.span(), "`concurrency` must be at least 1");
            1
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_CONCURRENCY,
    };
    let body_cap = match &c.run.max_body {
        None => DEFAULT_BODY_CAP,
        Some(s) => crate::probe::http::parse_size(s.get_ref()).unwrap_or_else(|| {
            b.error(0, s.span(), format!("invalid size `{}`", s.get_ref()));
            b.help("write a size like \"1MiB\", \"512KiB\" or \"2MB\"");
            DEFAULT_BODY_CAP
        }),
    };
    let listen = match &c.serve.listen {
        None => "127.0.0.1:3003".to_owned(),
        Some(l) => {
            if l.get_ref().parse::<std::net::SocketAddr>().is_err() {
                b.error(
                    0,
                    l.span(),
                    format!(
                        "`listen` must be an address like 127.0.0.1:3003, got `{}`",
                        l.get_ref()
                    ),
                );
            }
            l.get_ref().clone()
        }
    };
    let github_api_url = c.github.api_url.as_ref().map_or_else(
        || "https://api.github.com".to_owned(),
        |u| u.get_ref().trim_end_matches('/').to_owned(),
    );
    if let Some(u) = &c.github.api_url
        && reqwest::Url::parse(u.get_ref()).is_err()
    {
        b.error(
            0,
            u.span(),
            format!("`api_url` is not a URL: `{}`", u.get_ref()),
        );
    }
    let templates_dir = c.project.templates.as_ref().map(|t| {
        let p = b.resolve_path(0, t.get_ref());
        if !p.is_dir() {
            b.error(
                0,
                t.span(),
                format!("template directory {} does not exist", p.display()),
            );
        }
        p
    });
    Settings {
        concurrency,
        timeout: c.run.timeout.unwrap_or(DEFAULT_TIMEOUT),
        body_cap,
        listen,
        refresh: c.serve.refresh.unwrap_or(Duration::from_secs(30)),
        allow_remote: c.serve.allow_remote,
        github_api_url,
        github_disk_cache: c.github.disk_cache.unwrap_or(true),
        templates_dir,
    }
}

fn probe_spec(
    b: &mut Builder<'_>,
    located: &Located<CheckConfig>,
    repo: Option<&str>,
) -> Option<ProbeSpec> {
    let c = &located.value;
    let file = located.file;
    let present: Vec<(&str, std::ops::Range<usize>)> = [
        ("http", c.http.as_ref().map(|s| s.span())),
        ("github", c.github.as_ref().map(|s| s.span())),
        ("git", c.git.as_ref().map(|s| s.span())),
        ("plugin", c.plugin.as_ref().map(|s| s.span())),
        ("prometheus", c.prometheus.as_ref().map(|s| s.span())),
    ]
    .into_iter()
    .filter_map(|(n, s)| s.map(|s| (n, s)))
    .collect();
    match present.as_slice() {
        [] => {
            b.error(
                file,
                c.id.span(),
                format!("check `{}` has no probe", c.id.get_ref()),
            );
            b.help("add exactly one of `http = { url = \"...\" }`, `github = { workflow = \"ci.yml\" }`, `git = { path = \".\" }`, `plugin = { wasm = \"...\" }`, `prometheus = { url = \"...\", query = \"...\" }`");
            return None;
        }
        [_] => {}
        [first, second, ..] => {
            b.error(
                file,
                second.1.clone(),
                format!(
                    "check `{}` has two probes, `{}` and `{}`",
                    c.id.get_ref(),
                    first.0,
                    second.0
                ),
            );
            b.help("a check has exactly one probe table; split it into two [[checks]]");
            return None;
        }
    }
    if let Some(h) = &c.http {
        let h = h.get_ref();
        let method = match &h.method {
            None => reqwest::Method::GET,
            Some(m) => {
                match reqwest::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
                    Ok(m) => m,
                    Err(_) => {
                        b.error(
                            file,
                            m.span(),
                            format!("invalid HTTP method `{}`", m.get_ref()),
                        );
                        return None;
                    }
                }
            }
        };
        let url = h.url.get_ref();
        if !url.contains("{{") && reqwest::Url::parse(url).is_err() {
            b.error(
                file,
                h.url.span(),
                format!("`{url}` is not an absolute URL"),
            );
            b.help("write the full URL, e.g. \"https://example.com/api/health\" or \"{{env.url}}/api/health\"");
            return None;
        }
        for (name, value) in &h.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                b.error(file, value.span(), format!("invalid header name `{name}`"));
            }
            for var in secret_refs(value.get_ref()) {
                if !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || var.is_empty() {
                    b.error(
                        file,
                        value.span(),
                        format!("invalid environment variable reference `${{{var}}}`"),
                    );
                }
            }
        }
        return Some(ProbeSpec::Http {
            method,
            url: url.clone(),
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            body: h.body.as_ref().map(|s| s.get_ref().clone()),
        });
    }
    if let Some(p) = &c.prometheus {
        return match metrics::prometheus_spec(p.get_ref()) {
            Ok(spec) => Some(spec),
            Err(errors) => {
                spec_errors(b, file, errors);
                None
            }
        };
    }
    if let Some(g) = &c.git {
        return Some(ProbeSpec::Git {
            path: b.resolve_path(file, g.get_ref().path.get_ref()),
        });
    }
    if let Some(gh) = &c.github {
        let g = gh.get_ref();
        let repo = match (&g.repo, repo) {
            (Some(r), _) => {
                if !valid_repo(r.get_ref()) {
                    b.error(
                        file,
                        r.span(),
                        format!("`repo` must be `owner/name`, got `{}`", r.get_ref()),
                    );
                }
                r.get_ref().clone()
            }
            (None, Some(r)) => r.to_owned(),
            (None, None) => {
                b.error(file, gh.span(), "github checks need a repository");
                b.help("set `repo = \"owner/name\"` under [project] (or in this github table)");
                return None;
            }
        };
        let kinds: Vec<&str> = [
            g.workflow.as_ref().map(|_| "workflow"),
            g.deployment.as_ref().map(|_| "deployment"),
            g.compare.as_ref().map(|_| "compare"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() != 1 {
            b.error(
                file,
                gh.span(),
                if kinds.is_empty() {
                    "github probe needs one of `workflow`, `deployment` or `compare`".to_owned()
                } else {
                    format!(
                        "github probe has both `{}` and `{}`; use one per check",
                        kinds[0], kinds[1]
                    )
                },
            );
            b.help("e.g. github = { workflow = \"ci.yml\", branch = \"main\" }");
            return None;
        }
        let kind = if let Some(w) = &g.workflow {
            GithubKind::Workflow {
                workflow: w.get_ref().clone(),
                branch: g.branch.clone(),
                stalled_after: g.stalled_after,
            }
        } else if let Some(d) = &g.deployment {
            GithubKind::Deployment {
                environment: d.get_ref().clone(),
            }
        } else {
            let cmp = g.compare.as_ref().expect("one kind");
            if !cmp.get_ref().contains("...") {
                b.error(
                    file,
                    cmp.span(),
                    "`compare` must be `BASE...HEAD` (three dots)",
                );
                return None;
            }
            GithubKind::Compare {
                basehead: cmp.get_ref().clone(),
            }
        };
        return Some(ProbeSpec::Github { repo, kind });
    }
    let p = c.plugin.as_ref().expect("one probe").get_ref();
    let memory_bytes = match &p.memory {
        None => 32 << 20,
        Some(m) => match crate::probe::http::parse_size(m.get_ref()) {
            Some(n) => n as u64,
            None => {
                b.error(
                    file,
                    m.span(),
                    format!("invalid memory size `{}`", m.get_ref()),
                );
                b.help("write a size like \"32MiB\"");
                return None;
            }
        },
    };
    let wasm = b.resolve_path(file, p.wasm.get_ref());
    if !wasm.is_file() {
        b.error(
            file,
            p.wasm.span(),
            format!("plugin file {} does not exist", wasm.display()),
        );
        b.help("build it with `cargo build --release --target wasm32-wasip2` and point `wasm` at the .wasm (relative to this file)");
        return None;
    }
    let config = serde_json::to_value(&p.config).unwrap_or(Value::Null);
    Some(ProbeSpec::Plugin(PluginSpec {
        wasm,
        memory_bytes,
        config,
        allow_http: p.allow.http.clone(),
        allow_env: p.allow.env.clone(),
        allow_github: p.allow.github.clone(),
        source: (file, p.wasm.span()),
    }))
}

/// Every templated string of a check, with its span.
fn template_strings(c: &CheckConfig) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    if let Some(h) = &c.http {
        let h = h.get_ref();
        out.push((h.url.get_ref().clone(), h.url.span()));
        for v in h.headers.values() {
            out.push((v.get_ref().clone(), v.span()));
        }
        if let Some(body) = &h.body {
            out.push((body.get_ref().clone(), body.span()));
        }
    }
    if let Some(g) = &c.github {
        let g = g.get_ref();
        for s in [&g.compare, &g.deployment].into_iter().flatten() {
            out.push((s.get_ref().clone(), s.span()));
        }
    }
    if let Some(p) = &c.prometheus {
        let p = p.get_ref();
        out.push((p.url.get_ref().clone(), p.url.span()));
        out.push((p.query.get_ref().clone(), p.query.span()));
    }
    if let Some(p) = &c.plugin {
        let span = p.span();
        collect_toml_strings(&toml::Value::Table(p.get_ref().config.clone()), &mut |s| {
            if s.contains("{{") {
                out.push((s.to_owned(), span.clone()));
            }
        });
    }
    out
}

fn collect_toml_strings(v: &toml::Value, f: &mut impl FnMut(&str)) {
    match v {
        toml::Value::String(s) => f(s),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_toml_strings(x, f)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_toml_strings(x, f)),
        _ => {}
    }
}

/// What a template reads from other checks and environments.
#[derive(Debug, Clone, PartialEq)]
enum Reference {
    Check(String),
    Environment(String, Option<String>),
    CurrentEnv(Option<String>),
}

static MUSTACHE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\{?([^}]*)\}?\}\}").expect("valid regex"));
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s(])(checks|environments|env)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")
        .expect("valid regex")
});

fn references(template: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for m in MUSTACHE.captures_iter(template) {
        for p in PATH.captures_iter(&m[1]) {
            let second = p.get(3).map(|x| x.as_str().to_owned());
            out.push(match &p[1] {
                "checks" => Reference::Check(p[2].to_owned()),
                "environments" => Reference::Environment(p[2].to_owned(), second),
                _ => Reference::CurrentEnv(Some(p[2].to_owned())),
            });
        }
    }
    out
}

/// Names of `${VAR}` references in a header value.
pub fn secret_refs(value: &str) -> Vec<String> {
    static SECRET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\$\{([^}]*)\}").expect("valid regex"));
    SECRET
        .captures_iter(value)
        .map(|c| c[1].to_owned())
        .collect()
}

fn find_cycle(jobs: &[Job]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        j: usize,
        jobs: &[Job],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[j] = Mark::Active;
        stack.push(j);
        for &d in &jobs[j].deps {
            match marks[d] {
                Mark::Active => {
                    let start = stack.iter().position(|&x| x == d).expect("on stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(d, jobs, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[j] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; jobs.len()];
    for j in 0..jobs.len() {
        if marks[j] == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(j, jobs, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Adds the metric and prometheus config problems as diagnostics.
fn spec_errors(b: &mut Builder<'_>, file: usize, errors: Vec<crate::metric::SpecError>) {
    for e in errors {
        b.error(file, e.span, e.message);
        if let Some(h) = e.help {
            b.help(h);
        }
    }
}

fn suggest<'a>(b: &mut Builder<'_>, word: &str, candidates: impl IntoIterator<Item = &'a str>) {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(best) = did_you_mean(word, candidates.iter().copied()) {
        b.help(format!("did you mean `{best}`?"));
    } else if !candidates.is_empty() {
        b.help(format!("known: {}", candidates.join(", ")));
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_in_templates() {
        let refs = references(
            "{{environments.production.sha}}...{{ checks.health.sha }} {{env.url}} {{project.repo}}",
        );
        assert_eq!(
            refs,
            vec![
                Reference::Environment("production".into(), Some("sha".into())),
                Reference::Check("health".into()),
                Reference::CurrentEnv(Some("url".into())),
            ]
        );
    }

    #[test]
    fn finds_secret_references() {
        assert_eq!(
            secret_refs("Bearer ${API_TOKEN} ${X}"),
            vec!["API_TOKEN", "X"]
        );
    }
}
