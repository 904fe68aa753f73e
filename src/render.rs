//! Render one [`Report`] into JSON, text, markdown or HTML.
//!
//! JSON is serde's canonical form ([`to_json`]). Everything else is a
//! handlebars template: the defaults in `templates/` are compiled into the
//! binary, and a directory of `*.hbs` files overrides or adds templates by file
//! stem (`report.html.hbs` → `report.html`, `partials/card.hbs` → partial
//! `partials/card`).
//!
//! Templates whose name ends in `.html`, `.htm`, `.xml` or `.svg` are
//! HTML-escaped; every other template (text, markdown, …) is rendered verbatim.
//! Trailing whitespace is stripped from every line of non-HTML output so that
//! column padding never leaves invisible tails.
//!
//! # Template context
//!
//! - every field of the [`Report`], at the root (`project.name`, `environments`, `ci`, …);
//! - `extras`: the [`RenderExtras`] (`live`, `endpoint`, `mcp_endpoint`, `trends`, `stale_seconds`);
//! - `view`: values derived from the report that are awkward to compute in a
//!   template (column widths, per-environment comparison/trend/advice, drift
//!   sentences, checks needing attention, quick actions). See [`view`].
//!
//! Helpers are listed in [`helpers`].

pub mod helpers;
pub mod panels;
pub mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use indexmap::IndexMap;
use serde::Serialize;

use crate::report::Report;

/// Output formats of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// Canonical JSON report.
    Json,
    /// Plain text summary (the `status.txt` shape).
    Text,
    /// Standalone HTML page (also the live dashboard).
    Html,
    /// Markdown with tables, for PR comments and agents.
    Markdown,
}

impl Format {
    /// Built-in template that renders this format; `None` for JSON.
    pub fn template_name(self) -> Option<&'static str> {
        match self {
            Format::Json => None,
            Format::Text => Some("report.txt"),
            Format::Html => Some("report.html"),
            Format::Markdown => Some("report.md"),
        }
    }
}

/// Extras that are not part of the Report (do not serialize into the JSON report).
#[derive(Debug, Default, Clone, Serialize)]
pub struct RenderExtras {
    /// True when served by `serve`: include the SSE script and a Refresh button that calls `?refresh=1`.
    pub live: bool,
    /// Where agents get the JSON, e.g. "http://127.0.0.1:3003/api/telemetry/status"; shown as "AI Endpoint: …".
    pub endpoint: Option<String>,
    /// Where agents speak MCP (streamable HTTP), e.g. "http://127.0.0.1:3003/mcp"; shown beside `endpoint`.
    pub mcp_endpoint: Option<String>,
    /// Per environment id, from serve's last reports (oldest first).
    pub trends: IndexMap<String, EnvTrend>,
    /// Age of the report when it is older than the refresh interval.
    pub stale_seconds: Option<u64>,
    /// Per metric check (`ID` or `ID-ENV`), its values in serve's last
    /// reports, oldest first: the sparkline when Prometheus gives none.
    pub metric_trends: IndexMap<String, Vec<f64>>,
    /// Action buttons and the page's token (only with `[serve] actions = true`).
    pub actions: Option<crate::action::buttons::ActionsView>,
}

/// Recent history of one environment, kept by `serve`.
#[derive(Debug, Default, Serialize, Clone)]
pub struct EnvTrend {
    /// Latency of the environment's first HTTP check, oldest first.
    pub latency_ms: Vec<u64>,
    /// How long the current state has lasted: "healthy since 14:02" / "failing for 3 min".
    pub since: Option<String>,
}

/// Why rendering (or loading templates) failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template does not parse; `file` is the path of a user template or
    /// `templates/NAME.hbs` for a built-in one.
    #[error("{file}{}: invalid template: {message}", position(*.line, *.column))]
    Syntax {
        /// Template file.
        file: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A template parsed but failed while rendering (missing field in strict mode, helper error).
    #[error("{file}{}: cannot render: {message}", position(*.line, *.column))]
    Render {
        /// Template file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// The template directory or a file in it could not be read.
    #[error("cannot read templates from {}: {source}", path.display())]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `Format::Json` was asked of a template renderer; use [`to_json`].
    #[error("JSON is not rendered from a template; use render::to_json")]
    NotATemplate,
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Canonical JSON of a report: pretty-printed, with a trailing newline.
pub fn to_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a Report always serializes");
    s.push('\n');
    s
}

/// Built-in templates: (name, file under `templates/`, source).
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "report.txt",
        "templates/report.txt.hbs",
        include_str!("../templates/report.txt.hbs"),
    ),
    (
        "report.md",
        "templates/report.md.hbs",
        include_str!("../templates/report.md.hbs"),
    ),
    (
        "report.html",
        "templates/report.html.hbs",
        include_str!("../templates/report.html.hbs"),
    ),
    (
        "partials/styles",
        "templates/partials/styles.hbs",
        include_str!("../templates/partials/styles.hbs"),
    ),
    (
        "partials/live",
        "templates/partials/live.hbs",
        include_str!("../templates/partials/live.hbs"),
    ),
    (
        "partials/env_card",
        "templates/partials/env_card.hbs",
        include_str!("../templates/partials/env_card.hbs"),
    ),
    (
        "partials/metric_panels",
        "templates/partials/metric_panels.hbs",
        include_str!("../templates/partials/metric_panels.hbs"),
    ),
    (
        "partials/metric_styles",
        "templates/partials/metric_styles.hbs",
        include_str!("../templates/partials/metric_styles.hbs"),
    ),
    (
        "partials/dora_panel",
        "templates/partials/dora_panel.hbs",
        include_str!("../templates/partials/dora_panel.hbs"),
    ),
    (
        "partials/dora_md",
        "templates/partials/dora_md.hbs",
        include_str!("../templates/partials/dora_md.hbs"),
    ),
    (
        "partials/action_buttons",
        "templates/partials/action_buttons.hbs",
        include_str!("../templates/partials/action_buttons.hbs"),
    ),
    (
        "partials/action_dialog",
        "templates/partials/action_dialog.hbs",
        include_str!("../templates/partials/action_dialog.hbs"),
    ),
];

const PARTIAL_PREFIX: &str = "partials/";

/// Handlebars templates for every non-JSON format, built-in and user-supplied.
pub struct Renderer {
    /// HTML-escaping registry (`*.html`, `*.htm`, `*.xml`, `*.svg`).
    html: Handlebars<'static>,
    /// Verbatim registry for everything else.
    text: Handlebars<'static>,
    /// Template name → file it came from, for error messages.
    files: HashMap<String, String>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("templates", &self.template_names())
            .finish()
    }
}

fn is_html_name(name: &str) -> bool {
    [".html", ".htm", ".xml", ".svg"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

impl Renderer {
    /// Built-in templates, then every `*.hbs` in `dir` overrides/adds by file stem (e.g. `report.html.hbs` → "report.html"; user's `team.txt.hbs` → "team.txt").
    /// `dir/partials/*.hbs` override or add partials (`{{> partials/NAME}}`).
    pub fn new(template_dir: Option<&Path>) -> Result<Self, RenderError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        helpers::register(&mut html);
        helpers::register(&mut text);

        let mut renderer = Renderer {
            html,
            text,
            files: HashMap::new(),
        };
        for (name, file, source) in BUILTIN {
            renderer.add(name, file, source)?;
        }
        if let Some(dir) = template_dir {
            for (name, path) in user_templates(dir)? {
                let source = std::fs::read_to_string(&path).map_err(|source| RenderError::Io {
                    path: path.clone(),
                    source,
                })?;
                renderer.add(&name, &path.display().to_string(), &source)?;
            }
        }
        Ok(renderer)
    }

    fn add(&mut self, name: &str, file: &str, source: &str) -> Result<(), RenderError> {
        let syntax = |e: handlebars::TemplateError| {
            let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
            RenderError::Syntax {
                file: file.to_owned(),
                line,
                column,
                message: syntax_message(e.reason().to_string()),
            }
        };
        if name.starts_with(PARTIAL_PREFIX) {
            // Partials are shared: the same card may appear in HTML and in an SVG badge.
            self.html.register_partial(name, source).map_err(syntax)?;
            self.text.register_partial(name, source).map_err(syntax)?;
        } else if is_html_name(name) {
            self.text.unregister_template(name);
            self.html
                .register_template_string(name, source)
                .map_err(syntax)?;
        } else {
            self.html.unregister_template(name);
            self.text
                .register_template_string(name, source)
                .map_err(syntax)?;
        }
        self.files.insert(name.to_owned(), file.to_owned());
        Ok(())
    }

    /// Render `report` in `format` (JSON goes through [`to_json`]).
    pub fn render(
        &self,
        format: Format,
        report: &Report,
        extras: &RenderExtras,
    ) -> Result<String, RenderError> {
        match format.template_name() {
            None => Ok(to_json(report)),
            Some(name) => self
                .render_named(name, report, extras)
                .unwrap_or(Err(RenderError::NotATemplate)),
        }
    }

    /// Any template by name (for serve's /report/NAME); None if no such template.
    pub fn render_named(
        &self,
        name: &str,
        report: &Report,
        extras: &RenderExtras,
    ) -> Option<Result<String, RenderError>> {
        if name.starts_with(PARTIAL_PREFIX) {
            return None;
        }
        let (registry, verbatim) = if self.html.has_template(name) {
            (&self.html, false)
        } else if self.text.has_template(name) {
            (&self.text, true)
        } else {
            return None;
        };
        let context = context(report, extras);
        Some(
            registry
                .render(name, &context)
                .map(|out| if verbatim { trim_lines(&out) } else { out })
                .map_err(|e| {
                    let file = e
                        .template_name
                        .as_ref()
                        .and_then(|t| self.files.get(t))
                        .or_else(|| self.files.get(name))
                        .cloned()
                        .unwrap_or_else(|| name.to_owned());
                    RenderError::Render {
                        file,
                        line: e.line_no,
                        column: e.column_no,
                        message: e.reason().to_string(),
                    }
                }),
        )
    }

    /// Names of every renderable template (partials excluded), sorted.
    pub fn template_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .html
            .get_templates()
            .keys()
            .chain(self.text.get_templates().keys())
            .filter(|n| !n.starts_with(PARTIAL_PREFIX))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// `*.hbs` directly in `dir`, then `dir/partials/*.hbs`, each with its template name.
fn user_templates(dir: &Path) -> Result<Vec<(String, PathBuf)>, RenderError> {
    let mut found = Vec::new();
    for (sub, prefix) in [
        (dir.to_path_buf(), ""),
        (dir.join("partials"), PARTIAL_PREFIX),
    ] {
        if !prefix.is_empty() && !sub.is_dir() {
            continue;
        }
        let entries = std::fs::read_dir(&sub).map_err(|source| RenderError::Io {
            path: sub.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| RenderError::Io {
                    path: sub.clone(),
                    source,
                })?
                .path();
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(stem) = file_name.strip_suffix(".hbs")
                && path.is_file()
            {
                files.push((format!("{prefix}{stem}"), path.clone()));
            }
        }
        // Directory order is arbitrary; sorted keeps errors reproducible.
        files.sort();
        found.extend(files);
    }
    Ok(found)
}

fn context(report: &Report, extras: &RenderExtras) -> serde_json::Value {
    let mut value = serde_json::to_value(report).expect("a Report always serializes");
    let map = value.as_object_mut().expect("a Report is a JSON object");
    map.insert(
        "extras".into(),
        serde_json::to_value(extras).expect("extras serialize"),
    );
    map.insert(
        "view".into(),
        serde_json::to_value(view::View::new(report, extras)).expect("view serializes"),
    );
    value
}

/// Pest lists every token it could have accepted; past a few that helps nobody.
fn syntax_message(message: String) -> String {
    if message.matches(", ").count() > 3 {
        "unexpected text or end of file: is a block ({{#if}}, {{#each}}, …) left unclosed, or a tag malformed?"
            .to_owned()
    } else {
        message
    }
}

fn trim_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(body.trim_end());
        out.push_str(nl);
    }
    out
}
