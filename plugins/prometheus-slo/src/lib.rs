//! Prometheus SLO plugin: runs one instant query (`/api/v1/query`) and
//! compares the single number it returns against a target.
//!
//! `direction = "above"` means higher is better (availability), `"below"`
//! means lower is better (latency, error rate). The value fails when it is
//! on the wrong side of `critical` (default: `target`) and warns when it is
//! on the wrong side of `warn` (default: `target`). So `target` alone gives
//! pass/fail; add a looser `critical` for a warning band below the target, or
//! a tighter `warn` for an early warning while the target is still met.
wit_bindgen::generate!({ path: "../wit", world: "check-plugin" });

use serde::Deserialize;
use villa::telemetry::host::{self, HttpError, HttpRequest};
use villa::telemetry::types::Status;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Prometheus base URL, e.g. `http://prometheus:9090`.
    url: String,
    /// PromQL; must yield a scalar or a vector with exactly one series.
    query: String,
    target: f64,
    #[serde(default)]
    warn: Option<f64>,
    #[serde(default)]
    critical: Option<f64>,
    #[serde(default)]
    direction: Direction,
    /// Name of an allowed env var holding a bearer token.
    #[serde(default)]
    bearer_token_env: Option<String>,
    /// Display unit for the summary, e.g. "%" or "s".
    #[serde(default)]
    unit: String,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Direction {
    /// Higher is better.
    #[default]
    Above,
    /// Lower is better.
    Below,
}

impl Direction {
    fn meets(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::Above => value >= threshold,
            Direction::Below => value <= threshold,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        serde_json::json!({
            "name": "prometheus-slo",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Compares a Prometheus instant query with an SLO target",
            "config": {
                "url": "string, required: Prometheus base URL",
                "query": "string, required: PromQL yielding one number",
                "target": "number, required",
                "warn": "number, optional (default target)",
                "critical": "number, optional (default target)",
                "direction": "\"above\" (default, higher is good) or \"below\"",
                "bearer_token_env": "string, optional: allowed env var with a bearer token",
                "unit": "string, optional: shown after numbers in the summary"
            }
        })
        .to_string()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        let config: Config =
            serde_json::from_str(&input.config_json).map_err(|e| format!("bad config: {e}"))?;
        let url = format!(
            "{}/api/v1/query?query={}",
            config.url.trim_end_matches('/'),
            percent_encode(&config.query)
        );
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if let Some(name) = &config.bearer_token_env {
            let token = input
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
            let token = token.ok_or_else(|| {
                format!("bearer_token_env {name:?} is not in the check's allow.env")
            })?;
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        let resp = host::http_fetch(&HttpRequest {
            method: "GET".into(),
            url,
            headers,
            body: None,
        })
        .map_err(|e| match e {
            HttpError::Denied(why) => format!("query to {} was denied: {why}", config.url),
            HttpError::Timeout => format!("query to {} timed out", config.url),
            HttpError::TooLarge => format!("query result from {} is too large", config.url),
            HttpError::Transport(why) => format!("query to {} failed: {why}", config.url),
        })?;
        let doc: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
            format!(
                "Prometheus answered HTTP {} with non-JSON: {e}",
                resp.status
            )
        })?;
        if doc["status"] != "success" {
            let why = doc["error"].as_str().unwrap_or("no error message");
            return Err(format!("Prometheus answered HTTP {}: {why}", resp.status));
        }

        let mut fields = serde_json::Map::new();
        fields.insert("query".into(), config.query.clone().into());
        fields.insert("target".into(), config.target.into());
        fields.insert("direction".into(), config.direction.name().into());
        let value = match single_value(&doc["data"]) {
            Ok(v) => v,
            Err(why) => {
                // A query with no data is a fact about the system, not a plugin fault.
                return Ok(output(Status::Unknown, why, fields));
            }
        };
        fields.insert("value".into(), value.into());
        let warn = config.warn.unwrap_or(config.target);
        let critical = config.critical.unwrap_or(config.target);
        fields.insert("warn".into(), warn.into());
        fields.insert("critical".into(), critical.into());
        let margin = match config.direction {
            Direction::Above => value - config.target,
            Direction::Below => config.target - value,
        };
        fields.insert("margin".into(), margin.into());

        let u = &config.unit;
        let cmp = if config.direction.meets(value, config.target) {
            "meets"
        } else {
            "misses"
        };
        let summary = format!(
            "{value}{u} {cmp} target {} {}{u}",
            config.direction.name(),
            config.target
        );
        let status = if !config.direction.meets(value, critical) {
            Status::Fail
        } else if !config.direction.meets(value, warn) {
            Status::Warn
        } else {
            Status::Pass
        };
        Ok(output(status, summary, fields))
    }
}

fn output(
    status: Status,
    summary: String,
    fields: serde_json::Map<String, serde_json::Value>,
) -> CheckOutput {
    CheckOutput {
        status,
        summary,
        fields_json: Some(serde_json::Value::Object(fields).to_string()),
    }
}

/// Extracts the one number from a `scalar` or single-series `vector` result.
fn single_value(data: &serde_json::Value) -> Result<f64, String> {
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let series = data["result"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            match series {
                [one] => &one["value"],
                [] => return Err("query returned no series".into()),
                many => {
                    return Err(format!(
                        "query returned {} series; it must return one (wrap it in sum() or similar)",
                        many.len()
                    ));
                }
            }
        }
        other => {
            return Err(format!(
                "query returned a {} result; expected scalar or vector",
                other.unwrap_or("missing")
            ));
        }
    };
    // Prometheus encodes a sample as [unix_time, "value-as-string"].
    let text = sample[1].as_str().ok_or("sample has no value")?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("sample value {text:?} is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("query returned {text}"))
    }
}

/// RFC 3986 query-component encoding (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

export!(Plugin);
