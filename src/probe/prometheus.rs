//! Prometheus probe: an instant query (`/api/v1/query`), plus a range query
//! (`/api/v1/query_range`) for a trend when the check asks for one.
//!
//! The observation is `{ value, series: [{ labels, value }], range? }`:
//! `value` is the scalar, or the value of the only series (null when the
//! result is empty or has several series); `range` holds `{ labels, values:
//! [[unix_seconds, value], ...] }` per series of the range query. Sample
//! values are numbers; `NaN` and `±Inf` stay the strings Prometheus sent.
//!
//! What Prometheus sends is bounded before it reaches the report: its error
//! message is masked, then cut to [`MESSAGE_CHARS`]; at most
//! [`WARNINGS_SHOWN`] warnings are kept, the rest counted; a range keeps at
//! most [`RANGE_SERIES`] series of at most [`RANGE_POINTS`] points each,
//! evenly spread, and the check's log says what was left out.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::http::describe_error;
use super::{ErrorKind, Observation, Probed, Problem, Verdict};
use crate::error::thousands;
use crate::redact::Redactor;
use crate::units::{self, ByteSize};

/// Most points a trend asks for; the step is the range divided by this.
pub const TREND_POINTS: u32 = 60;

/// Characters of Prometheus's error message (or of one warning) kept, after
/// masking.
pub const MESSAGE_CHARS: usize = 1000;

/// Warnings kept per check (instant and range query together); the rest
/// are counted in one more log line.
pub const WARNINGS_SHOWN: usize = 20;

/// Points kept per range series: twice what a trend asks for, so an
/// ordinary answer (61 points) is never thinned.
pub const RANGE_POINTS: usize = 2 * TREND_POINTS as usize;

/// Series of a range kept (a trend needs one; more are only for conditions).
pub const RANGE_SERIES: usize = 100;

/// A query with every template already rendered.
#[derive(Debug, Clone)]
pub struct PromRequest {
    /// Prometheus base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// PromQL.
    pub query: String,
    /// Also fetch this much history for a trend.
    pub range: Option<Duration>,
    /// Passed to Prometheus so it stops evaluating when the check gives up.
    pub timeout: Duration,
}

/// Renders a `prometheus` check's URL and query.
pub(super) fn start<'a>(
    cx: &mut super::Cx<'a, '_>,
    url: &str,
    query: &str,
    range: Option<Duration>,
) -> Result<super::ProbeFuture<'a>, String> {
    let req = PromRequest {
        url: (cx.render)(url)?,
        query: (cx.render)(query)?,
        range,
        timeout: cx.check.timeout,
    };
    let redactor = cx.services.redactor.with(&cx.secrets);
    let (client, body_cap) = (&cx.services.http, cx.plan.settings.body_cap);
    Ok(Box::pin(async move {
        observe(client, req, body_cap, &redactor).await
    }))
}

/// Runs the instant query (and the range query, concurrently) and observes
/// the answer. Prometheus's own error message becomes the check's error,
/// masked with `redactor` and then cut (the runner masks again; cutting
/// before masking could leave a piece of a secret no longer recognised).
pub async fn observe(
    client: &reqwest::Client,
    req: PromRequest,
    body_cap: usize,
    redactor: &Redactor,
) -> Probed {
    let started = Instant::now();
    let base = api_base(&req.url);
    let timeout = format!("{}ms", req.timeout.as_millis().max(1));
    let instant = endpoint(
        &base,
        "query",
        &[("query", &req.query), ("timeout", &timeout)],
    );
    let range = req
        .range
        .map(|range| range_endpoint(&base, &req.query, range, &timeout));
    let fetch = |url| fetch(client, url, body_cap, redactor);
    let (instant, range) = match range {
        None => (fetch(instant).await, None),
        Some(r) => {
            let (i, r) = tokio::join!(fetch(instant), fetch(r));
            (i, Some(r))
        }
    };
    let duration = started.elapsed();
    let (data, mut warnings) = match instant {
        Ok(ok) => ok,
        Err(p) => return Probed::error(p.kind, p.message, duration),
    };
    let mut value = match instant_value(&data) {
        Ok(v) => v,
        Err(reason) => return Probed::error(ErrorKind::BadResponse, reason, duration),
    };
    let mut notes = Vec::new();
    if let Some(range) = range {
        let range = range.and_then(|(data, more)| {
            let (series, cut) =
                range_series(&data).map_err(|m| Problem::new(ErrorKind::BadResponse, m))?;
            Ok((series, more, cut))
        });
        match range {
            Ok((series, more, cut)) => {
                value["range"] = Value::Array(series);
                warnings.extend(more);
                notes = cut;
            }
            Err(p) => {
                return Probed::error(p.kind, format!("range query: {}", p.message), duration);
            }
        }
    }
    let mut log = shown_warnings(&warnings, redactor);
    log.extend(notes);
    let summary = summarize(&value, duration);
    Probed {
        observation: Observation {
            value,
            body_is_json: true,
            content_type: Some("application/json".into()),
            status: None,
            headers: Vec::new(),
            duration,
        },
        summary,
        fields: Map::new(),
        verdict: Verdict::Pass,
        log,
    }
}

/// The `query_range` URL for a trend over the last `range`.
fn range_endpoint(
    base: &str,
    query: &str,
    range: Duration,
    timeout: &str,
) -> Result<reqwest::Url, Problem> {
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let start = end - range.as_secs_f64();
    let step = (range.as_secs_f64() / f64::from(TREND_POINTS)).max(1.0);
    endpoint(
        base,
        "query_range",
        &[
            ("query", query),
            ("start", &format!("{start:.3}")),
            ("end", &format!("{end:.3}")),
            ("step", &format!("{step:.3}")),
            ("timeout", timeout),
        ],
    )
}

/// `text` masked, then cut to `max_chars` characters ending `… (cut, N
/// bytes)` (N: the masked text's length) when longer.
fn masked_and_cut(redactor: &Redactor, text: &str, max_chars: usize) -> String {
    let masked = redactor.redact(text);
    match masked.char_indices().nth(max_chars) {
        None => masked.into_owned(),
        Some((end, _)) => format!("{}… (cut, {} bytes)", &masked[..end], masked.len()),
    }
}

/// The log lines of Prometheus's warnings: the first [`WARNINGS_SHOWN`],
/// each masked and cut, then how many more there were.
fn shown_warnings(warnings: &[String], redactor: &Redactor) -> Vec<String> {
    let mut log: Vec<String> = warnings
        .iter()
        .take(WARNINGS_SHOWN)
        .map(|w| {
            format!(
                "Prometheus warning: {}",
                masked_and_cut(redactor, w, MESSAGE_CHARS)
            )
        })
        .collect();
    if let Some(more) = warnings
        .len()
        .checked_sub(WARNINGS_SHOWN)
        .filter(|n| *n > 0)
    {
        log.push(format!(
            "Prometheus: and {} more warnings (not shown)",
            thousands(more)
        ));
    }
    log
}

/// `http://host:9090/`, `http://host:9090/api/v1/query` and
/// `http://host:9090/api/v1` all mean the same Prometheus.
fn api_base(url: &str) -> String {
    let mut base = url.trim().trim_end_matches('/');
    for suffix in ["/api/v1/query_range", "/api/v1/query", "/api/v1"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped;
            break;
        }
    }
    format!("{base}/api/v1")
}

/// The URL of an API endpoint with its parameters, or why it cannot be built.
fn endpoint(base: &str, path: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, Problem> {
    let mut url = reqwest::Url::parse(&format!("{base}/{path}")).map_err(|e| {
        Problem::new(
            ErrorKind::Config,
            format!("`{base}` is not a Prometheus URL: {e}"),
        )
    })?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url)
}

/// One API call: the `data` member of a `success` answer and its warnings,
/// or Prometheus's own error message.
async fn fetch(
    client: &reqwest::Client,
    url: Result<reqwest::Url, Problem>,
    body_cap: usize,
    redactor: &Redactor,
) -> Result<(Value, Vec<String>), Problem> {
    let url = url?;
    let shown = without_query(&url);
    let response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe_error(&e, &shown))?;
    let status = response.status();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let bytes = chunk.map_err(|e| {
            Problem::new(
                ErrorKind::Connection,
                format!("connection to {shown} broke: {e}"),
            )
        })?;
        if body.len() + bytes.len() > body_cap {
            return Err(Problem::new(
                ErrorKind::TooLarge,
                format!(
                    "the answer from {shown} is larger than the {} limit (narrow the query, or raise [run] max_body)",
                    ByteSize::from(body_cap)
                ),
            ));
        }
        body.extend_from_slice(&bytes);
    }
    let Ok(answer) = serde_json::from_slice::<Value>(&body) else {
        return Err(Problem::new(
            ErrorKind::BadResponse,
            format!(
                "HTTP {} from {shown} is not a Prometheus API answer (is `url` the Prometheus base URL, like http://prometheus:9090?)",
                status.as_u16()
            ),
        ));
    };
    let warnings = answer
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match answer.get("status").and_then(Value::as_str) {
        Some("success") => Ok((answer.get("data").cloned().unwrap_or(Value::Null), warnings)),
        Some("error") => {
            let message = answer.get("error").and_then(Value::as_str).map_or_else(
                || "no message".into(),
                |m| masked_and_cut(redactor, m, MESSAGE_CHARS),
            );
            let kind = answer
                .get("errorType")
                .and_then(Value::as_str)
                .map(|k| format!(" ({})", masked_and_cut(redactor, k, 40)))
                .unwrap_or_default();
            // Prometheus's own error types: bad_data is the query, the
            // rest (timeout, canceled, execution, unavailable) the server.
            let problem = match answer.get("errorType").and_then(Value::as_str) {
                Some("bad_data") => ErrorKind::Query,
                Some("timeout") => ErrorKind::Timeout,
                _ if status.is_client_error() => ErrorKind::Query,
                _ => ErrorKind::HttpStatus,
            };
            Err(Problem::new(
                problem,
                format!("Prometheus: {message}{kind}"),
            ))
        }
        _ => Err(Problem::new(
            ErrorKind::BadResponse,
            format!(
                "HTTP {} from {shown} is JSON but not a Prometheus API answer (no `status`)",
                status.as_u16()
            ),
        )),
    }
}

/// A URL without its query string: PromQL can be long and is in the config.
fn without_query(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// `{ value, series }` from an instant query's `data`.
fn instant_value(data: &Value) -> Result<Value, String> {
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    let result = data.get("result").unwrap_or(&Value::Null);
    match kind {
        "scalar" | "string" => Ok(json!({ "value": sample(result), "series": [] })),
        "vector" | "matrix" => {
            let list = result
                .as_array()
                .ok_or("Prometheus sent a result that is not a list")?;
            let series: Vec<Value> = list
                .iter()
                .map(|s| {
                    // A range selector in an instant query gives a matrix:
                    // its newest sample is the value.
                    let value = match s.get("value") {
                        Some(v) => sample(v),
                        None => s
                            .get("values")
                            .and_then(Value::as_array)
                            .and_then(|v| v.last())
                            .map_or(Value::Null, sample),
                    };
                    json!({ "labels": labels(s), "value": value })
                })
                .collect();
            let value = match series.as_slice() {
                [only] => only["value"].clone(),
                _ => Value::Null,
            };
            Ok(json!({ "value": value, "series": series }))
        }
        other => Err(format!("Prometheus sent an unknown result type `{other}`")),
    }
}

/// `[{ labels, values: [[t, v], ...] }]` from a range query's `data`, at
/// most [`RANGE_SERIES`] series of at most [`RANGE_POINTS`] points each,
/// and the log lines that say what was left out.
fn range_series(data: &Value) -> Result<(Vec<Value>, Vec<String>), String> {
    let list = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or("Prometheus sent a range result that is not a list")?;
    let mut notes = Vec::new();
    if list.len() > RANGE_SERIES {
        notes.push(format!(
            "Prometheus range: kept the first {RANGE_SERIES} of {} series",
            thousands(list.len())
        ));
    }
    let (mut thinned, mut longest) = (0, 0);
    let series = list
        .iter()
        .take(RANGE_SERIES)
        .map(|s| {
            let points = s
                .get("values")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            if points.len() > RANGE_POINTS {
                thinned += 1;
                longest = longest.max(points.len());
            }
            let values: Vec<Value> = spread(points.len(), RANGE_POINTS)
                .map(|i| {
                    let pair = &points[i];
                    json!([pair.get(0).cloned().unwrap_or(Value::Null), sample(pair)])
                })
                .collect();
            json!({ "labels": labels(s), "values": values })
        })
        .collect();
    let how = "evenly spread, the oldest and newest among them";
    match thinned {
        0 => {}
        1 => notes.push(format!(
            "Prometheus range: kept {RANGE_POINTS} of {} points ({how})",
            thousands(longest)
        )),
        n => notes.push(format!(
            "Prometheus range: kept {RANGE_POINTS} points of each of {n} longer series (up to {}; {how})",
            thousands(longest)
        )),
    }
    Ok((series, notes))
}

/// Indices of at most `keep` of `len` points, evenly spread, the first and
/// the last among them; all of them when `len <= keep`.
fn spread(len: usize, keep: usize) -> impl Iterator<Item = usize> {
    let all = len <= keep || keep < 2;
    let n = if all { len } else { keep };
    // Steps of (len - 1) / (keep - 1) > 1, so the indices never repeat.
    (0..n).map(move |k| if all { k } else { k * (len - 1) / (keep - 1) })
}

fn labels(series: &Value) -> Value {
    series
        .get("metric")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The value of a `[unix_time, "1.5"]` pair: a number when finite, else the
/// string as sent (`NaN`, `+Inf`).
fn sample(pair: &Value) -> Value {
    match pair.get(1) {
        Some(Value::String(s)) => match s.parse::<f64>() {
            Ok(n) if n.is_finite() => serde_json::Number::from_f64(n)
                .map_or_else(|| Value::String(s.clone()), Value::Number),
            _ => Value::String(s.clone()),
        },
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn summarize(value: &Value, took: Duration) -> String {
    let n = value["series"].as_array().map_or(0, Vec::len);
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let what = match (&value["value"], n) {
        (Value::Null, 0) => "no data".to_owned(),
        (Value::Null, n) => format!("{n} series"),
        (v, 0) => format!("scalar {}", shown(v)),
        (v, _) => format!("1 series: {}", shown(v)),
    };
    format!("{what} in {}", units::duration(took))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms_mean_the_same_prometheus() {
        for u in [
            "http://p:9090",
            "http://p:9090/",
            "http://p:9090/api/v1",
            "http://p:9090/api/v1/query",
        ] {
            assert_eq!(api_base(u), "http://p:9090/api/v1", "{u}");
        }
    }

    #[test]
    fn vector_with_one_series_has_a_value() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"job": "app"}, "value": [1.0, "0.25"]}]});
        let v = instant_value(&data).unwrap();
        assert_eq!(v["value"], json!(0.25));
        assert_eq!(v["series"][0]["labels"]["job"], "app");
    }

    #[test]
    fn several_series_or_none_have_no_single_value() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"m": "a"}, "value": [1.0, "1"]},
            {"metric": {"m": "b"}, "value": [1.0, "NaN"]}]});
        let v = instant_value(&data).unwrap();
        assert_eq!(v["value"], Value::Null);
        assert_eq!(v["series"][1]["value"], json!("NaN"));
        let empty = instant_value(&json!({"resultType": "vector", "result": []})).unwrap();
        assert_eq!(empty, json!({"value": null, "series": []}));
    }

    #[test]
    fn spread_keeps_the_ends_and_never_repeats() {
        assert_eq!(spread(3, 120).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(spread(0, 120).count(), 0);
        for len in [121, 122, 239, 240, 241, 200_000] {
            let picked: Vec<usize> = spread(len, 120).collect();
            assert_eq!(picked.len(), 120, "{len}");
            assert_eq!((picked[0], picked[119]), (0, len - 1), "{len}");
            assert!(picked.windows(2).all(|w| w[0] < w[1]), "{len}");
        }
    }

    #[test]
    fn masked_before_cut_and_the_cut_is_named() {
        let r = Redactor::new(["s3cret-token"]);
        let text = format!("{}s3cret-token{}", "a".repeat(995), "b".repeat(100));
        let cut = masked_and_cut(&r, &text, MESSAGE_CHARS);
        assert!(cut.starts_with(&"a".repeat(995)));
        assert!(cut.contains("a•••"), "{cut}");
        assert!(!cut.contains("s3c"), "{cut}");
        assert!(cut.ends_with("… (cut, 1107 bytes)"), "{cut}");
        assert_eq!(masked_and_cut(&r, "short", MESSAGE_CHARS), "short");
    }

    #[test]
    fn scalar_is_the_value() {
        let v = instant_value(&json!({"resultType": "scalar", "result": [1.0, "42"]})).unwrap();
        assert_eq!(v, json!({"value": 42.0, "series": []}));
    }
}
