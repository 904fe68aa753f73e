//! Probes: each turns a resolved check into one JSON observation.
//!
//! The set of probes is closed (an enum); plugins are the open end. Probes
//! never return a Rust error for an upstream fault: they return
//! [`Probed::error`], which becomes the check's `error` status.

pub mod git;
pub mod github;
pub mod http;
#[cfg(feature = "plugins")]
pub mod plugin;
pub mod prometheus;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::redact::Redactor;

/// What a probe saw; `expect`, `warn_unless` and `extract` read it.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// `$` for JSONPath: the JSON body for http, the run object for github,
    /// `{branch, sha, message, uncommitted_changes, ...}` for git,
    /// `{value, series, range}` for prometheus.
    pub value: Value,
    /// False when the HTTP body was not JSON.
    pub body_is_json: bool,
    /// Content type of the HTTP body.
    pub content_type: Option<String>,
    /// HTTP status, None for non-HTTP probes.
    pub status: Option<u16>,
    /// Response headers with lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Wall time of the probe.
    pub duration: Duration,
}

/// A probe's own verdict, before the check's conditions are applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing wrong that the probe itself can tell.
    Pass,
    /// The probe knows this is a warning (e.g. CI still running).
    Warn(String),
    /// The probe knows this failed (e.g. CI failed, HTTP 404).
    Fail(String),
    /// Could not find out; the reason a person can act on.
    Error(String),
}

/// Everything a probe returns.
#[derive(Debug, Clone)]
pub struct Probed {
    /// Read by conditions and extract.
    pub observation: Observation,
    /// Default one-line summary, e.g. "200 OK in 95 ms".
    pub summary: String,
    /// Facts always shown (e.g. git branch), before extracted values.
    pub fields: Map<String, Value>,
    /// The probe's own verdict.
    pub verdict: Verdict,
    /// Captured plugin output.
    pub log: Vec<String>,
}

impl Probed {
    /// A probe that could not find out.
    pub fn error(reason: impl Into<String>, duration: Duration) -> Self {
        let reason = reason.into();
        Probed {
            observation: Observation {
                duration,
                ..Observation::default()
            },
            summary: reason.clone(),
            fields: Map::new(),
            verdict: Verdict::Error(reason),
            log: Vec::new(),
        }
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
            Verdict::Pass => {}
            Verdict::Warn(s) | Verdict::Fail(s) | Verdict::Error(s) => redactor.redact_string(s),
        }
        self.log.iter_mut().for_each(|s| redactor.redact_string(s));
    }
}

/// Formats a duration the way every output shows it: "95 ms", "1.2 s".
pub fn human_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
