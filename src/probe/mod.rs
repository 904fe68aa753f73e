//! Probes: each turns a check into one JSON observation.
//!
//! The set of probes is closed (an enum); plugins are the open end. [`start`]
//! is the one dispatch on the probe kind: each probe module renders its own
//! templates, fills its own `${VAR}` secrets and builds its own request, so
//! adding a probe touches config, plan and one file here. Probes never return
//! a Rust error for an upstream fault: they return [`Probed::error`], which
//! becomes the check's `error` status.

pub mod git;
pub mod github;
pub mod http;
#[cfg(feature = "plugins")]
pub mod plugin;
pub mod prometheus;
mod services;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::plan::{CheckPlan, Plan, ProbeSpec};
use crate::redact::Redactor;

pub use services::{NOT_FOUND_TTL, Services, uses_github};

pub use crate::outcome::{ErrorKind, Observation, Probed, Problem, Verdict};

/// What a probe reads besides its own spec.
pub struct Cx<'a, 'r> {
    /// The plan (its settings: body cap, GitHub history).
    pub plan: &'a Plan,
    /// The check being run.
    pub check: &'a CheckPlan,
    /// The shared clients.
    pub services: &'a Services,
    /// This run's GitHub client (it counts this run's requests).
    pub github: Option<&'a github::GithubClient>,
    /// Renders one of the check's template strings over what it depends on;
    /// `Err` is the reason.
    pub render: &'r dyn Fn(&str) -> Result<String, String>,
    /// The secret values the probe filled in, for the redactor.
    pub secrets: Vec<String>,
}

/// A started probe.
pub type ProbeFuture<'a> = BoxFuture<'a, Probed>;

/// Starts the check's probe: renders its templates, fills its secrets and
/// returns the observation to await (with no I/O before it is awaited).
/// `Err` is a reason found before anything is sent, which becomes the
/// check's `error` (kind `config`).
pub fn start<'a>(cx: &mut Cx<'a, '_>) -> Result<ProbeFuture<'a>, String> {
    match &cx.check.probe {
        ProbeSpec::Http {
            method,
            url,
            headers,
            body,
        } => http::start(cx, method, url, headers, body.as_deref()),
        ProbeSpec::Git { path } => Ok(Box::pin(git::observe(path.clone()))),
        ProbeSpec::Prometheus { url, query, range } => prometheus::start(cx, url, query, *range),
        ProbeSpec::Github { repo, kind } => github::start(cx, repo, kind),
        #[cfg(feature = "plugins")]
        ProbeSpec::Plugin(spec) => plugin::start(cx, spec),
        #[cfg(not(feature = "plugins"))]
        ProbeSpec::Plugin(_) => Err(NO_PLUGINS.to_owned()),
    }
}

/// Why a plugin check cannot run in a build without the `plugins` feature.
pub const NO_PLUGINS: &str =
    "this build has no plugin support (rebuild with the default `plugins` feature)";

/// How long the runner waits for the check's probe. A plugin enforces its
/// own timeout (and says so precisely); the runner's deadline only backs it
/// up.
pub fn deadline(check: &CheckPlan) -> Duration {
    match check.probe {
        ProbeSpec::Plugin(_) => check.timeout.saturating_add(Duration::from_secs(1)),
        _ => check.timeout,
    }
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
        let problem = plugin::plugin_host()
            .and_then(|h| h.load(&spec.wasm).map(drop).map_err(|e| e.to_string()));
        #[cfg(not(feature = "plugins"))]
        let problem: Result<(), String> = Err(NO_PLUGINS.to_owned());
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

impl Probed {
    /// Takes the run's secrets out of everything the probe saw, before any
    /// condition reads it or any output shortens it.
    pub fn redact(&mut self, redactor: &Redactor) {
        if redactor.is_empty() {
            return;
        }
        redactor.redact_value(&mut self.observation.value);
        for (_, value) in &mut self.observation.headers {
            redactor.redact_string(value);
        }
        redactor.redact_string(&mut self.summary);
        redactor.redact_map(&mut self.fields);
        match &mut self.verdict {
            Verdict::Pass | Verdict::Warn(None) => {}
            Verdict::Warn(Some(p)) | Verdict::Fail(p) | Verdict::Error(p) => {
                redactor.redact_string(&mut p.message)
            }
        }
        self.log.iter_mut().for_each(|s| redactor.redact_string(s));
    }

    /// Appends to an HTTP error's reason (status 400 and up) the start of
    /// the response body, on one line, so "500 from staging" says what
    /// staging said. Call after [`Probed::redact`]: the body is cut here, and
    /// a cut secret would no longer be recognised.
    pub fn show_error_body(&mut self) {
        if self.observation.status.is_none_or(|s| s < 400) {
            return;
        }
        let text = match &self.observation.value {
            serde_json::Value::Null => return,
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return;
        }
        let excerpt = crate::redact::shorten(&line, ERROR_BODY_CHARS);
        if let Verdict::Fail(p) | Verdict::Error(p) = &mut self.verdict {
            p.message.push_str("; body: ");
            p.message.push_str(&excerpt);
        }
    }
}

/// Characters of an HTTP error's body shown in its reason.
pub const ERROR_BODY_CHARS: usize = 160;
