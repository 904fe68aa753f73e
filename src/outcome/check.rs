//! One check's outcome: what the probe saw and what the check concluded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Outcome of one check instance.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
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

/// What went wrong, as a closed set: the dashboard's advice, the summary and
/// an agent's "infrastructure or my code?" read this, never the message text.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No answer before the deadline.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// Nothing listens at the address (connection refused).
    Refused,
    /// The connection failed or broke for another reason.
    Connection,
    /// The TLS handshake or the certificate failed.
    Tls,
    /// A redirect loop, or too many redirects.
    Redirect,
    /// 401 or 403: the credentials are missing, wrong or lack a permission.
    Unauthorized,
    /// 404: the URL, repository, workflow or environment does not exist.
    NotFound,
    /// 429, or GitHub's rate limit.
    RateLimited,
    /// Any other HTTP status the check did not expect (5xx above all).
    HttpStatus,
    /// The answer is larger than the size cap.
    TooLarge,
    /// The body is not JSON where JSON was needed.
    NotJson,
    /// An answer of the wrong shape: not the API that was expected.
    BadResponse,
    /// Prometheus rejected the query.
    Query,
    /// The upstream has nothing to show: no series, no runs, no deployments.
    NoData,
    /// An `expect` or `warn_unless` condition did not hold.
    Condition,
    /// A metric is past its warning or critical threshold.
    Threshold,
    /// CI failed or stalled on the commit.
    CiFailed,
    /// The latest deployment failed.
    DeployFailed,
    /// The plugin crashed, ran out of memory, or could not tell.
    Plugin,
    /// A git command failed.
    Git,
    /// The check's own configuration failed at run time: a missing
    /// variable, a template or condition that cannot be evaluated.
    Config,
}

/// Where a kind of problem points: the question "is staging broken, or is it
/// my code?" answered per kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Blame {
    /// The service or the network: unreachable, slow, 5xx, rate limited.
    Infrastructure,
    /// What the code does: CI failed, an expectation or threshold broken.
    Code,
    /// How the check or its credentials are set up: 401, 404, bad query.
    Config,
}

impl ErrorKind {
    /// The word used in JSON and text.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Dns => "dns",
            ErrorKind::Refused => "refused",
            ErrorKind::Connection => "connection",
            ErrorKind::Tls => "tls",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::NotJson => "not_json",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Query => "query",
            ErrorKind::NoData => "no_data",
            ErrorKind::Condition => "condition",
            ErrorKind::Threshold => "threshold",
            ErrorKind::CiFailed => "ci_failed",
            ErrorKind::DeployFailed => "deploy_failed",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Git => "git",
            ErrorKind::Config => "config",
        }
    }

    /// Where this kind of problem points.
    pub fn blame(self) -> Blame {
        match self {
            ErrorKind::Timeout
            | ErrorKind::Dns
            | ErrorKind::Refused
            | ErrorKind::Connection
            | ErrorKind::Tls
            | ErrorKind::HttpStatus
            | ErrorKind::RateLimited
            | ErrorKind::TooLarge
            | ErrorKind::NoData
            | ErrorKind::DeployFailed
            | ErrorKind::Git => Blame::Infrastructure,
            ErrorKind::Condition
            | ErrorKind::Threshold
            | ErrorKind::CiFailed
            | ErrorKind::Plugin => Blame::Code,
            ErrorKind::Redirect
            | ErrorKind::Unauthorized
            | ErrorKind::NotFound
            | ErrorKind::NotJson
            | ErrorKind::BadResponse
            | ErrorKind::Query
            | ErrorKind::Config => Blame::Config,
        }
    }
}

/// Why something did not pass: its kind and a sentence a person acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The closed-set kind.
    pub kind: ErrorKind,
    /// The sentence shown as `error`.
    pub message: String,
}

impl Problem {
    /// A problem of `kind` described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Problem {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One check instance's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
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
    /// Why the check could not run, for `error`; the failed condition for
    /// `fail`/`warn`. Absent when nothing failed (the summary says the rest).
    pub error: Option<String>,
    /// The kind of `error`: present exactly when `error` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
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
    /// The probe knows this is a warning: with a problem when a line was
    /// crossed (a warning threshold), without one for a waiting state that
    /// the summary already tells (CI or a deploy still running).
    Warn(Option<Problem>),
    /// The probe knows this failed (e.g. CI failed, HTTP 404).
    Fail(Problem),
    /// Could not find out; the reason a person can act on.
    Error(Problem),
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
    pub fn error(kind: ErrorKind, reason: impl Into<String>, duration: Duration) -> Self {
        let reason = Problem::new(kind, reason);
        Probed {
            observation: Observation {
                duration,
                ..Observation::default()
            },
            summary: reason.message.clone(),
            fields: Map::new(),
            verdict: Verdict::Error(reason),
            log: Vec::new(),
        }
    }
}
