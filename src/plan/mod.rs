//! From config to plan: every semantic check happens here, before any probe
//! runs. After this step nothing can fail because of the configuration.
//!
//! Each step has its own module, in the order [`build`] runs them:
//! `environments` → `checks` (with `probe` and `templates`) → `jobs` →
//! `settings` → `actions`; `builder` collects the problems they find.

mod actions;
mod builder;
mod checks;
mod environments;
mod jobs;
mod metrics;
mod probe;
mod settings;
mod templates;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::condition::{CompiledPath, Condition};
use crate::config::Config;
use crate::error::ConfigError;
use crate::outcome::ProjectInfo;
use crate::source::SourceFile;

pub use actions::{
    ActionPlan, ActionSet, ActionTarget, Button, DEFAULT_ACTION_TIMEOUT, DEPLOYMENT_FIELDS,
    RequestSpec,
};
pub use settings::MAX_CONCURRENCY;
pub use templates::{
    FillError, MAX_NESTING, MAX_RENDERED, check_template, fill_secrets, render_template,
    secret_refs,
};

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
    pub actions: ActionSet,
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
    /// `[github] history`: deployments listed per environment (0: none).
    pub github_history: usize,
    /// `[github] pull_requests`: look up the pull requests behind a drift.
    pub github_pull_requests: bool,
    /// `[github] dora_window`: the window of DORA's four keys.
    pub github_dora_window: Duration,
    /// Template override directory.
    pub templates_dir: Option<PathBuf>,
}

/// Default `[run] concurrency`: large enough that 200 checks do not queue.
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Default `[run] timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of a plugin check.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `[github] history`.
pub const DEFAULT_GITHUB_HISTORY: usize = 10;
/// Largest `[github] history`: each entry costs one request for its status.
pub const MAX_GITHUB_HISTORY: usize = 100;
/// Default `[github] dora_window`: 30 days.
pub const DEFAULT_DORA_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
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

    /// Whether the observation's `range` is a Prometheus range answer, the
    /// trend of a metric card (another probe's body may have a `range` key
    /// that means something else).
    pub fn has_trend(&self) -> bool {
        matches!(self.probe, ProbeSpec::Prometheus { range: Some(_), .. })
    }
}

impl Plan {
    /// The check definition of a job.
    pub fn check_of(&self, job: &Job) -> &CheckPlan {
        &self.checks[job.check]
    }

    /// Jobs of environment `env` (an index into [`Plan::environments`]) whose
    /// check extracts `fact`, in job order: the first of them with a value
    /// gives the environment's fact, in templates, the runner and the report.
    pub fn fact_jobs<'a>(&'a self, env: usize, fact: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.jobs
            .iter()
            .enumerate()
            .filter(move |(_, j)| j.env == Some(env) && self.check_of(j).extracts(fact))
            .map(|(i, _)| i)
    }

    /// Jobs of `git` checks with their directories, in job order.
    pub fn git_jobs(&self) -> impl Iterator<Item = (usize, &std::path::Path)> + '_ {
        self.jobs
            .iter()
            .enumerate()
            .filter_map(|(i, j)| match &self.check_of(j).probe {
                ProbeSpec::Git { path } => Some((i, path.as_path())),
                _ => None,
            })
    }

    /// The first `github = { deployment = … }` job of environment `env`.
    pub fn deployment_job(&self, env: usize) -> Option<usize> {
        self.jobs.iter().position(|j| {
            j.env == Some(env)
                && matches!(
                    self.check_of(j).probe,
                    ProbeSpec::Github {
                        kind: GithubKind::Deployment { .. },
                        ..
                    }
                )
        })
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
        let mut todo: Vec<usize> = (0..self.jobs.len()).filter(|&i| keep[i]).collect();
        while let Some(i) = todo.pop() {
            for &d in &self.jobs[i].deps {
                if !keep[d] {
                    keep[d] = true;
                    todo.push(d);
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

/// Validates `config` into a plan, collecting every problem.
pub fn build(config: Config) -> Result<Plan, ConfigError> {
    let mut b = builder::Builder::new(&config);
    let envs = environments::environments(&mut b);
    let repo = project_repo(&mut b);
    let checks = checks::checks(&mut b, &envs, repo.as_deref());
    let jobs = jobs::jobs(&mut b, &checks, &envs);
    let links = links(&mut b);
    let settings = settings::settings(&mut b);
    let actions = actions::actions(&mut b, &envs, &checks, repo.as_deref());
    if !b.problems.is_empty() {
        return Err(ConfigError::Invalid(b.problems));
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
        environments: envs.list,
        checks: checks.plans,
        jobs,
        links,
        env_filter: Vec::new(),
        actions,
        base_dir: config.base_dir.clone(),
        sources: config.sources,
    })
}

/// `[project] repo`, checked for the `owner/name` shape.
fn project_repo(b: &mut builder::Builder<'_>) -> Option<String> {
    let r = b.config.project.repo.as_ref()?;
    if !valid_repo(r.get_ref()) {
        b.error(
            0,
            r.span(),
            format!(
                "`repo` must be `owner/name`, got `{}`",
                builder::quote(r.get_ref())
            ),
        );
    }
    Some(r.get_ref().clone())
}

/// `[[links]]`: name and URL template.
fn links(b: &mut builder::Builder<'_>) -> Vec<(String, String)> {
    let mut links = Vec::new();
    for l in &b.config.links {
        if let Err(why) = templates::check_template(l.value.url.get_ref()) {
            b.error(l.file, l.value.url.span(), why);
        }
        templates::misplaced_secret(
            b,
            l.file,
            l.value.url.get_ref(),
            l.value.url.span(),
            templates::SecretsIn::Check,
        );
        links.push((l.value.name.clone(), l.value.url.get_ref().clone()));
    }
    links
}

/// Ids are letters, digits, `_` and `-` (they appear in templates).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `owner/name`, both non-empty.
fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A config parsed from `toml` as if it were `villa-telemetry.toml`.
    pub(crate) fn config_from(toml: &str) -> Config {
        Config::from_text(
            std::path::Path::new("villa-telemetry.toml"),
            toml.to_owned(),
        )
        .expect("valid TOML")
    }

    #[test]
    fn builds_jobs_per_environment_in_id_order() {
        let plan = build(config_from(
            r#"
[[environments]]
id = "p"
url = "http://p"
[[environments]]
id = "s"
url = "http://s"
[[checks]]
id = "b"
environments = ["*"]
http = { url = "{{env.url}}/v?sha={{env.sha}}" }
[[checks]]
id = "a"
environments = ["*"]
http = { url = "{{env.url}}/h" }
extract = { sha = "$.sha" }
"#,
        ))
        .expect("valid plan");
        let jobs: Vec<(String, Option<&str>, Vec<usize>)> = plan
            .jobs
            .iter()
            .map(|j| (plan.check_of(j).id.clone(), plan.env_id(j), j.deps.clone()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("a".into(), Some("p"), vec![]),
                ("a".into(), Some("s"), vec![]),
                ("b".into(), Some("p"), vec![0]),
                ("b".into(), Some("s"), vec![1]),
            ]
        );
    }

    #[test]
    fn restrict_keeps_dependencies() {
        let mut plan = build(config_from(
            r#"
[[environments]]
id = "p"
[[environments]]
id = "s"
[[checks]]
id = "a"
environments = ["p"]
http = { url = "http://a/" }
extract = { sha = "$.sha" }
[[checks]]
id = "b"
environments = ["s"]
http = { url = "http://b/{{environments.p.sha}}" }
"#,
        ))
        .expect("valid plan");
        plan.restrict_to(&["s".to_owned()]);
        let ids: Vec<&str> = plan
            .jobs
            .iter()
            .map(|j| plan.check_of(j).id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(plan.jobs[1].deps, [0]);
        assert!(plan.shows_env("s") && !plan.shows_env("p"));
    }

    #[test]
    fn validates_ids_and_repos() {
        assert!(valid_id("a-b_9") && !valid_id("") && !valid_id("a.b"));
        assert!(valid_repo("o/n") && !valid_repo("o/") && !valid_repo("o/n/x"));
    }
}
