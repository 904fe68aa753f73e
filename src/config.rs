//! The TOML files as written: serde mirror with spans, loading and includes.
//!
//! Only syntax, types and unknown keys are checked here; everything semantic
//! (references, probes, conditions) is the plan's job, so that all its errors
//! can point at the right place in the right file.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, Diagnostic, ReadError, Unreadable};
use crate::source::SourceFile;

pub mod actions;

/// Name of the config file `run`, `serve` and `check` look for.
pub const DEFAULT_CONFIG: &str = "villa-telemetry.toml";

/// Everything read from the main file and its includes.
#[derive(Debug)]
pub struct Config {
    /// Every file read; index 0 is the main file.
    pub sources: Vec<SourceFile>,
    /// Directory of the main file: relative paths in it resolve from here.
    pub base_dir: PathBuf,
    /// `[project]`.
    pub project: ProjectConfig,
    /// `[github]`.
    pub github: GithubConfig,
    /// `[run]`.
    pub run: RunConfig,
    /// `[serve]`.
    pub serve: ServeConfig,
    /// `[mcp]`.
    pub mcp: McpConfig,
    /// `[[environments]]` in order.
    pub environments: Vec<Located<EnvironmentConfig>>,
    /// `[[checks]]` from every file, in file order.
    pub checks: Vec<Located<CheckConfig>>,
    /// `[[links]]` from every file.
    pub links: Vec<Located<LinkConfig>>,
    /// `[[actions]]` from every file.
    pub actions: Vec<Located<actions::ActionConfig>>,
    /// `[act]`: settings of every action.
    pub act: actions::ActSettingsConfig,
}

/// A value with the file it came from and its byte span there.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// Index into [`Config::sources`].
    pub file: usize,
    /// Byte range of the whole table.
    pub span: std::ops::Range<usize>,
    /// The value.
    pub value: T,
}

/// The main file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MainFile {
    #[serde(default)]
    project: ProjectConfig,
    #[serde(default)]
    github: GithubConfig,
    #[serde(default)]
    run: RunConfig,
    #[serde(default)]
    serve: ServeConfig,
    #[serde(default)]
    mcp: McpConfig,
    #[serde(default)]
    environments: Vec<Spanned<EnvironmentConfig>>,
    #[serde(default)]
    checks: Vec<Spanned<CheckConfig>>,
    #[serde(default)]
    links: Vec<Spanned<LinkConfig>>,
    #[serde(default)]
    actions: Vec<Spanned<actions::ActionConfig>>,
    #[serde(default)]
    act: actions::ActSettingsConfig,
}

/// An included file may only add checks, links and actions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncludeFile {
    #[serde(default)]
    checks: Vec<Spanned<CheckConfig>>,
    #[serde(default)]
    links: Vec<Spanned<LinkConfig>>,
    #[serde(default)]
    actions: Vec<Spanned<actions::ActionConfig>>,
}

/// `[project]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Display name; defaults to the directory name.
    pub name: Option<String>,
    /// Subhead.
    pub tagline: Option<String>,
    /// GitHub `owner/name`.
    pub repo: Option<Spanned<String>>,
    /// Globs of more files with `[[checks]]` / `[[links]]`.
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    /// Directory whose `*.hbs` override or add templates.
    pub templates: Option<Spanned<String>>,
}

/// `[github]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// API root; GitHub Enterprise or a test server.
    pub api_url: Option<Spanned<String>>,
    /// Keep ETag-cached answers on disk between runs (default true).
    pub disk_cache: Option<bool>,
    /// Deployments listed per environment (default 10, 0 turns it off).
    pub history: Option<Spanned<u64>>,
    /// Look up the pull requests behind a drift (default true).
    pub pull_requests: Option<bool>,
    /// The window DORA's four keys are computed over, e.g. "30d" (default
    /// 30 days; between 1 hour and a year).
    #[serde(default, deserialize_with = "dora_window")]
    pub dora_window: Option<Duration>,
}

/// `[github] dora_window`: shorter than an hour says nothing of a rate per
/// day; longer than a year (365.25 days, humantime's) is past what
/// `[github] history` can list.
pub const DORA_WINDOW: crate::units::DurationRange = crate::units::DurationRange {
    min: Duration::from_secs(3600),
    max: Duration::from_secs(31_557_600),
    why: "`dora_window`",
};

/// `#[serde(deserialize_with = "dora_window")]`: an optional duration in
/// [`DORA_WINDOW`], refused with its file, line and column otherwise.
fn dora_window<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    crate::units::bounded(de, &DORA_WINDOW)
}

/// `[run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Checks in flight at once.
    pub concurrency: Option<Spanned<usize>>,
    /// Default per-check timeout.
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
    /// Largest response body read, e.g. "1MiB".
    pub max_body: Option<Spanned<String>>,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to bind.
    pub listen: Option<Spanned<String>>,
    /// Reports older than this are re-checked.
    #[serde(default, deserialize_with = "crate::units::refresh")]
    pub refresh: Option<Duration>,
    /// Allow a `listen` address that is not loopback (no authentication).
    #[serde(default)]
    pub allow_remote: bool,
    /// Buttons for `[[actions]]` on the dashboard (default false).
    pub actions: Option<bool>,
}

/// `[mcp]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// The `[[actions]]` as MCP tools, each confirmed by the user through
    /// the client (default false).
    #[serde(default)]
    pub actions: bool,
}

/// `[[environments]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Stable id used in references and JSON keys.
    pub id: Spanned<String>,
    /// Display name; defaults to the id.
    pub name: Option<String>,
    /// Base URL, `{{env.url}}` in checks.
    pub url: Option<Spanned<String>>,
    /// Down means offline, not failing.
    #[serde(default)]
    pub optional: bool,
    /// Environment whose sha this one should run.
    pub tracks: Option<Spanned<String>>,
}

/// `[[checks]]`: one struct with optional probe tables, not an enum:
/// `#[serde(tag)]`, untagged and `flatten` lose TOML spans and break
/// `deny_unknown_fields`, so the plan step enforces "exactly one probe" with
/// an error that points at the check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique id.
    pub id: Spanned<String>,
    /// Display name; defaults to the id.
    pub name: Option<String>,
    /// `["*"]` or environment ids: one instance per environment.
    pub environments: Option<Spanned<Vec<Spanned<String>>>>,
    /// HTTP probe.
    pub http: Option<Spanned<HttpConfig>>,
    /// GitHub probe.
    pub github: Option<Spanned<GithubCheckConfig>>,
    /// Local git probe.
    pub git: Option<Spanned<GitConfig>>,
    /// WASM plugin probe.
    pub plugin: Option<Spanned<PluginConfig>>,
    /// Prometheus instant query probe.
    pub prometheus: Option<Spanned<PrometheusConfig>>,
    /// Conditions that must hold, else `fail`.
    #[serde(default)]
    pub expect: Vec<Spanned<String>>,
    /// Conditions that should hold, else `warn`.
    #[serde(default)]
    pub warn_unless: Vec<Spanned<String>>,
    /// Name to JSONPath; values shown in the report.
    #[serde(default)]
    pub extract: IndexMap<String, Spanned<String>>,
    /// Per-check timeout.
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
    /// Show a number from the observation as a metric card with thresholds.
    pub metric: Option<Spanned<MetricConfig>>,
    /// Show rows from the observation as a top-N table.
    pub table: Option<Spanned<TableConfig>>,
    /// Heading the metric card or table is grouped under.
    pub panel: Option<Spanned<String>>,
}

/// `prometheus = { url, query, range }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Prometheus base URL (templated), e.g. `http://127.0.0.1:9090`.
    pub url: Spanned<String>,
    /// PromQL (templated).
    pub query: Spanned<String>,
    /// History fetched with `query_range` for a trend, e.g. "1h".
    pub range: Option<Spanned<String>>,
}

/// `metric = { value, unit, warn, critical }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// JSONPath of the number, e.g. `$.value`.
    pub value: Spanned<String>,
    /// Shown after the number ("ms", "%"), or before it ("$").
    pub unit: Option<String>,
    /// Threshold for a warning, e.g. "> 800" or "< 99.5".
    pub warn: Option<Spanned<String>>,
    /// Threshold for a failure, e.g. "> 1500".
    pub critical: Option<Spanned<String>>,
}

/// `table = { rows, columns, sort, limit }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// JSONPath of the rows, e.g. `$.series`.
    pub rows: Spanned<String>,
    /// Column name to JSONPath inside a row, in display order.
    #[serde(default)]
    pub columns: IndexMap<String, Spanned<String>>,
    /// Column to sort by; `-name` sorts descending.
    pub sort: Option<Spanned<String>>,
    /// Rows shown (default 10).
    pub limit: Option<Spanned<usize>>,
}

/// `http = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Templated URL.
    pub url: Spanned<String>,
    /// GET by default.
    pub method: Option<Spanned<String>>,
    /// Header values may hold `${ENV_VAR}` secrets.
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    /// Request body (templated).
    pub body: Option<Spanned<String>>,
    /// Overrides the check's timeout.
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
}

/// `github = { ... }`: exactly one of workflow, deployment, compare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubCheckConfig {
    /// Workflow file name or id.
    pub workflow: Option<Spanned<String>>,
    /// Branch filter for workflow runs.
    pub branch: Option<String>,
    /// Running longer than this is `stalled`.
    #[serde(default, deserialize_with = "crate::units::stalled_after")]
    pub stalled_after: Option<Duration>,
    /// GitHub deployment environment name.
    pub deployment: Option<Spanned<String>>,
    /// `BASE...HEAD` (templated).
    pub compare: Option<Spanned<String>>,
    /// Another repository than `[project] repo`.
    pub repo: Option<Spanned<String>>,
}

/// `git = { path }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// Repository directory, relative to the file.
    pub path: Spanned<String>,
}

/// `plugin = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Component file, relative to the file.
    pub wasm: Spanned<String>,
    /// Default 2s.
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
    /// Memory cap, e.g. "32MiB".
    pub memory: Option<Spanned<String>>,
    /// Passed to the plugin as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// What the sandbox may reach.
    #[serde(default)]
    pub allow: PluginAllow,
}

/// `allow = { http = [...], env = [...], github = [...] }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginAllow {
    /// Host names the plugin may fetch.
    #[serde(default)]
    pub http: Vec<String>,
    /// Environment variables passed in.
    #[serde(default)]
    pub env: Vec<String>,
    /// `owner/repo` the plugin may read through `github-get`.
    #[serde(default)]
    pub github: Vec<String>,
}

/// `[[links]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Button text.
    pub name: String,
    /// Templated URL.
    pub url: Spanned<String>,
}

/// Largest config file read (the main file or one include).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most files all `include` patterns together may add.
pub const MAX_INCLUDED_FILES: usize = 256;
/// Most files and directories the `include` patterns together may look at.
pub const MAX_VISITED: usize = 10_000;

impl Config {
    /// Reads `path` and every file its `include` globs match.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_source(path).map_err(|e| e.at(path))?;
        Config::from_text(path, text)
    }

    /// Parses `text` as the main file at `path`; includes are read relative
    /// to `path`.
    pub fn from_text(path: &Path, text: String) -> Result<Config, ConfigError> {
        let mut sources = vec![SourceFile {
            path: path.to_path_buf(),
            text: Arc::new(text),
        }];
        let main: MainFile = parse(&sources[0])?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));

        let mut checks = locate(0, main.checks);
        let mut links = locate(0, main.links);
        let mut actions = locate(0, main.actions);
        // Canonical paths, so that `./a.toml`, `a.toml` and a link to it are
        // one file, and the main file never includes itself.
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let mut seen: HashSet<PathBuf> = HashSet::from([canonical(path)]);
        let mut budget = IncludeBudget::default();
        for pattern in &main.project.include {
            let main_file = sources[0].clone();
            let at = |reason: String| {
                ConfigError::invalid(vec![Diagnostic::new(&main_file, pattern.span(), reason)])
            };
            let matched = expand_include(&base_dir, pattern.get_ref(), &mut budget).map_err(at)?;
            for p in matched {
                if !seen.insert(canonical(&p)) {
                    continue;
                }
                let text = read_source(&p).map_err(|reason| {
                    at(format!(
                        "cannot include {}: {reason}",
                        crate::source::shorten(&p.display().to_string(), 200)
                    ))
                })?;
                let index = sources.len();
                sources.push(SourceFile {
                    path: p,
                    text: Arc::new(text),
                });
                let inc: IncludeFile = parse(&sources[index])?;
                checks.extend(locate(index, inc.checks));
                links.extend(locate(index, inc.links));
                actions.extend(locate(index, inc.actions));
            }
        }
        Ok(Config {
            base_dir,
            project: main.project,
            github: main.github,
            run: main.run,
            serve: main.serve,
            mcp: main.mcp,
            environments: locate(0, main.environments),
            checks,
            links,
            actions,
            act: main.act,
            sources,
        })
    }
}

/// The text of a config file: a regular file (not a device, FIFO or
/// directory), at most [`MAX_FILE_BYTES`], UTF-8.
fn read_source(path: &Path) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Unreadable::NotAFile.into());
    }
    let too_big = || Unreadable::TooLarge {
        limit: MAX_FILE_BYTES,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big().into());
    }
    let mut bytes = Vec::new();
    // The size can change after the check (or be unknown, as in /proc).
    std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big().into());
    }
    String::from_utf8(bytes).map_err(|e| Unreadable::NotUtf8(e.utf8_error()).into())
}

/// What the `include` patterns of one config may still look at and add.
#[derive(Default)]
struct IncludeBudget {
    visited: usize,
    included: usize,
}

/// The files an `include` pattern matches, sorted. The walk is bounded:
/// a pattern that looks at more than [`MAX_VISITED`] entries or matches
/// more than [`MAX_INCLUDED_FILES`] files is an error that says so.
fn expand_include(
    base_dir: &Path,
    pattern: &str,
    budget: &mut IncludeBudget,
) -> Result<Vec<PathBuf>, String> {
    let shown = crate::source::shorten(pattern, 60);
    let full = base_dir.join(pattern);
    let compiled = glob::Pattern::new(&full.to_string_lossy())
        .map_err(|e| format!("invalid include glob: {}", e.msg))?;
    let is_glob =
        |c: &std::path::Component<'_>| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let components: Vec<_> = full.components().collect();
    let literal = components.iter().take_while(|c| !is_glob(c)).count();
    let mut found = Vec::new();
    if literal == components.len() {
        if full.exists() {
            found.push(full);
        }
    } else {
        let root: PathBuf = components[..literal].iter().collect();
        let rest = &components[literal..];
        let mut walk = walkdir::WalkDir::new(&root)
            .min_depth(1)
            .follow_links(false);
        if !rest.iter().any(|c| c.as_os_str() == "**") {
            walk = walk.max_depth(rest.len());
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        for entry in walk.into_iter().filter_map(Result::ok) {
            budget.visited += 1;
            if budget.visited > MAX_VISITED {
                return Err(format!(
                    "include `{shown}` looks through more than {MAX_VISITED} files and directories; narrow the pattern, e.g. \"checks/*.toml\""
                ));
            }
            if compiled.matches_path_with(entry.path(), options) {
                found.push(entry.into_path());
            }
        }
    }
    budget.included += found.len();
    if budget.included > MAX_INCLUDED_FILES {
        return Err(format!(
            "include `{shown}` matches too many files (more than {MAX_INCLUDED_FILES} in all); narrow the pattern"
        ));
    }
    // Paths as the user wrote them: `checks.toml`, not `./checks.toml`.
    let mut found: Vec<PathBuf> = found
        .into_iter()
        .map(|p| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p))
        .collect();
    found.sort();
    Ok(found)
}

fn locate<T>(file: usize, items: Vec<Spanned<T>>) -> Vec<Located<T>> {
    items
        .into_iter()
        .map(|s| Located {
            file,
            span: s.span(),
            value: s.into_inner(),
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(src: &SourceFile) -> Result<T, ConfigError> {
    toml::from_str(&src.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let mut d = Diagnostic::new(src, span, message.clone());
        if let Some(help) = unknown_field_help(&message) {
            d = d.with_help(help);
        }
        ConfigError::invalid(vec![d])
    })
}

/// serde says "unknown field `urll`, expected one of `url`, `method`"; turn
/// that into a "did you mean" when one candidate is close.
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let candidates: Vec<&str> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| !c.is_empty())
        .collect();
    match crate::error::did_you_mean(field, candidates.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !candidates.is_empty() => Some(format!(
            "allowed keys here: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => None,
    }
}
