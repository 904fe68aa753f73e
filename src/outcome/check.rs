//! One check's outcome: what the probe saw and what the check concluded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Outcome of one check instance.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Every `expect` and `warn_unless` held.
    Pass,
    /// A check it depends on had no result.
    Skipped,
    /// A `warn_unless` condition was false.
    Warn,
    /// An `expect` condition was false.
    Fail,
    /// Could not find out: timeout, refused, bad JSON, plugin crash.
    Error,
}

impl CheckStatus {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
        }
    }
}

/// One check instance's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// Check id from the config.
    pub id: String,
    /// Environment instance, for per-environment checks.
    pub environment: Option<String>,
    /// Display name.
    pub name: String,
    /// Outcome.
    pub status: CheckStatus,
    /// One line, e.g. "200 OK in 95 ms".
    pub summary: String,
    /// Wall time of the probe.
    pub duration_ms: u64,
    /// When the probe finished.
    pub checked_at: DateTime<Utc>,
    /// Extracted values and probe facts.
    pub fields: Map<String, Value>,
    /// Why the check could not run, for `error`; the failed condition for `fail`/`warn`.
    pub error: Option<String>,
    /// Conditions that did not hold, with the actual value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_conditions: Vec<String>,
    /// Captured plugin output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// The check's metric: value, unit, level against its thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<super::MetricResult>,
    /// The check's top-N table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<super::TableResult>,
    /// Dashboard panel its metric card or table is shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<String>,
}

impl CheckResult {
    /// A field as text (strings as they are, numbers and booleans printed),
    /// None when absent or not a scalar.
    pub fn text(&self, field: &str) -> Option<String> {
        match self.fields.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

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
