//! The agent API: the report as JSON or text (whole, or some environments'
//! part), its JSON Schema, conditional requests, and a 404 under `/api` that
//! lists what exists.
//!
//! Query strings are checked, not guessed at: an unknown parameter, an
//! unknown environment or report member, or a `refresh` other than `1` /
//! `true` is a 400 that says why, so an agent never reads a report it did
//! not ask for. `?fields=` keeps answers small: `fields=assessment` is the
//! whole "what is wrong and what next" in a quarter of the report's bytes.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

use super::headers::add_links;
use super::{AppState, Snapshot};
use crate::render::{Format, RenderExtras, to_json};
use crate::report::{Report, only_environments, schema};

/// Every endpoint, with what it answers; the 404 under `/api` lists them.
pub const ENDPOINTS: &[(&str, &str)] = &[
    (
        "GET /api/telemetry/status",
        "the report as JSON (text with `Accept: text/plain`); ?env=ID (repeatable), ?fields=NAME,… (top-level members, JSON only), ?refresh=1",
    ),
    (
        "GET /api/telemetry/status.json",
        "the report as JSON; ?env=ID (repeatable), ?fields=NAME,… (top-level members), ?refresh=1",
    ),
    (
        "GET /api/telemetry/status.txt",
        "the report as plain text; ?env=ID (repeatable), ?refresh=1",
    ),
    (
        "GET /api/telemetry/schema.json",
        "JSON Schema (2020-12) of the report, every status word with its meaning",
    ),
    (
        "GET /api/telemetry/events",
        "server-sent events, one `report` per new report",
    ),
    (
        "GET /api/badge/ENV.json",
        "a shields.io endpoint badge: the commit ENV runs and its status",
    ),
    (
        "GET /api/badge/commit/SHA.json",
        "a shields.io endpoint badge: the environments where commit SHA is live",
    ),
    (
        "POST /mcp",
        "Model Context Protocol (streamable HTTP): tools status, environments, deployed, compare, ci, next_steps; resources villa://status.json, villa://status.txt, villa://schema.json",
    ),
    (
        "POST /api/actions/ID",
        "run a declared action (only with `[serve] actions = true`; same-origin, CSRF token)",
    ),
    ("GET /metrics", "Prometheus text format"),
    ("GET /healthz", "liveness"),
    (
        "GET /",
        "the HTML dashboard; the report as JSON with `Accept: application/json`, as text with `Accept: text/plain`",
    ),
];

/// What a status request asked for.
#[derive(Debug, Default, PartialEq)]
pub struct StatusQuery {
    /// `?env=ID`, repeatable; empty means every environment.
    pub envs: Vec<String>,
    /// `?refresh=1` or `?refresh=true`: re-check before answering.
    pub refresh: bool,
    /// `?fields=a,b` (repeatable): only these top-level members of the JSON
    /// report, in the report's order; empty means all of them.
    pub fields: Vec<String>,
}

impl StatusQuery {
    /// Parses a raw query string; `known` are the configured environment ids.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self, String> {
        let mut q = StatusQuery::default();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "env" => {
                    if !known.contains(&value.as_ref()) {
                        return Err(format!(
                            "env={value}: no such environment (known: {})",
                            known.join(", ")
                        ));
                    }
                    if !q.envs.iter().any(|e| *e == value) {
                        q.envs.push(value.into_owned());
                    }
                }
                "refresh" => q.refresh = parse_refresh(&value)?,
                "fields" => {
                    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if !report_members().iter().any(|m| m == name) {
                            return Err(format!(
                                "fields={name}: the report has no top-level member `{name}` (it has: {})",
                                report_members().join(", ")
                            ));
                        }
                        if !q.fields.iter().any(|f| f == name) {
                            q.fields.push(name.to_owned());
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown query parameter `{other}`; this endpoint takes env=ID (repeatable), fields=NAME,… and refresh=1"
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// The report's top-level member names, from its JSON Schema: what
/// `?fields=` may name, whether or not this report happens to have them.
fn report_members() -> &'static [String] {
    static MEMBERS: OnceLock<Vec<String>> = OnceLock::new();
    MEMBERS.get_or_init(|| {
        schema::report_schema()["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    })
}

/// `refresh` takes `1` or `true`; anything else is a mistake worth saying.
pub fn parse_refresh(value: &str) -> Result<bool, String> {
    match value {
        "1" | "true" => Ok(true),
        other => Err(format!(
            "refresh={other}: takes 1 or true (leave it out for the cached report)"
        )),
    }
}

/// A 400 with the reason as JSON.
pub fn bad_request(reason: String) -> Response {
    let body = serde_json::json!({ "error": reason });
    let mut r = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Which representation of the report a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repr {
    /// The JSON report.
    Json,
    /// The text report.
    Text,
}

/// `GET /api/telemetry/status`: JSON, or text when `Accept` prefers it.
pub async fn status(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let repr = if prefers_text(&headers) {
        Repr::Text
    } else {
        Repr::Json
    };
    let mut r = answer(&state, raw.as_deref(), &headers, repr).await;
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    r
}

/// `GET /api/telemetry/status.json`.
pub async fn status_json(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(&state, raw.as_deref(), &headers, Repr::Json).await
}

/// `GET /api/telemetry/status.txt`.
pub async fn status_text(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(&state, raw.as_deref(), &headers, Repr::Text).await
}

/// The status report in `repr` for query `raw`: a 400 for a query it does
/// not take, else the report (or a 304) with its ETag, Age and [`add_links`].
pub(super) async fn answer(
    state: &Arc<AppState>,
    raw: Option<&str>,
    headers: &HeaderMap,
    repr: Repr,
) -> Response {
    let known: Vec<&str> = state
        .plan
        .environments
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    let q = match StatusQuery::parse(raw, &known) {
        Ok(q) => q,
        Err(reason) => return bad_request(reason),
    };
    if repr == Repr::Text && !q.fields.is_empty() {
        return bad_request(
            "fields= picks members of the JSON report; ask for JSON (status.json, or Accept: application/json)"
                .to_owned(),
        );
    }
    let s = if q.refresh {
        state.refresh_now().await
    } else {
        state.current().await
    };
    let body = match body_for(state, &s, &q, repr) {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render the report: {e}\n"),
            )
                .into_response();
        }
    };
    let content_type = match repr {
        Repr::Json => "application/json",
        Repr::Text => "text/plain; charset=utf-8",
    };
    let mut r = conditional(headers, body, content_type);
    r.headers_mut()
        .insert(header::AGE, HeaderValue::from(s.at.elapsed().as_secs()));
    add_links(r.headers_mut());
    r
}

/// The bytes of `snapshot` for this query: the pre-rendered whole report,
/// or the asked-for environments and members rendered now.
fn body_for(state: &AppState, s: &Snapshot, q: &StatusQuery, repr: Repr) -> Result<Bytes, String> {
    if q.envs.is_empty() && q.fields.is_empty() {
        return Ok(match repr {
            Repr::Json => s.json.clone(),
            Repr::Text => s.text.clone(),
        });
    }
    let cut;
    let part: &Report = if q.envs.is_empty() {
        &s.report
    } else {
        cut = only_environments(&s.report, &q.envs);
        &cut
    };
    Ok(match repr {
        Repr::Json if q.fields.is_empty() => Bytes::from(to_json(part)),
        Repr::Json => Bytes::from(members_json(part, &q.fields)?),
        Repr::Text => Bytes::from(
            state
                .renderer
                .render(Format::Text, part, &RenderExtras::default())
                .map_err(|e| e.to_string())?,
        ),
    })
}

/// `report` as pretty JSON with only the top-level members in `fields`
/// (report order; a member this report omits stays omitted).
fn members_json(report: &Report, fields: &[String]) -> Result<String, String> {
    let mut value = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if let Some(members) = value.as_object_mut() {
        members.retain(|k, _| fields.iter().any(|f| f == k));
    }
    let mut s = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

/// `GET /api/telemetry/schema.json`.
pub async fn schema_json(headers: HeaderMap) -> Response {
    static SCHEMA: OnceLock<Bytes> = OnceLock::new();
    let body = SCHEMA
        .get_or_init(|| Bytes::from(schema::report_schema_json()))
        .clone();
    conditional(&headers, body, "application/schema+json")
}

/// Any path no route serves (under `/api` or not): 404 with the list of endpoints.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let endpoints: serde_json::Map<String, serde_json::Value> = ENDPOINTS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    let body = serde_json::json!({
        "error": format!("no endpoint at {}", uri.path()),
        "endpoints": endpoints,
    });
    let mut r = (StatusCode::NOT_FOUND, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 200 with `body` and its ETag, or 304 when `If-None-Match` names it.
fn conditional(headers: &HeaderMap, body: Bytes, content_type: &'static str) -> Response {
    let tag = etag(&body);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    let mut r = if matches {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(body));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = r.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).expect("hex is a valid header"),
    );
    // Clients may keep a copy but must ask (cheaply, with If-None-Match) before using it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A strong validator: the first 16 hex digits of the body's SHA-256, quoted.
fn etag(body: &[u8]) -> String {
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(body);
    let mut s = String::with_capacity(18);
    s.push('"');
    for b in &digest[..8] {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
    s
}

/// True when `Accept` ranks `text/plain` above JSON (q-values honoured;
/// `*/*` and no header mean JSON).
fn prefers_text(headers: &HeaderMap) -> bool {
    let mut best: Option<(f32, Repr)> = None;
    for (media, q) in accept_ranges(headers) {
        let repr = match media.as_str() {
            "text/plain" => Repr::Text,
            "application/json" | "*/*" | "application/*" => Repr::Json,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, repr));
        }
    }
    matches!(best, Some((_, Repr::Text)))
}

/// What `GET /` answers for `Accept`: the report for an agent that names
/// JSON or text above HTML, else the page (None). Only named types count:
/// `*/*` takes anything, so it gets the page; a tie goes to HTML, then JSON.
/// A browser's `text/html,…,*/*;q=0.8` gets the page.
pub(super) fn page_wants_report(headers: &HeaderMap) -> Option<Repr> {
    // (q, rank, what): a higher q wins, then a lower rank.
    let mut best: Option<(f32, u8, Option<Repr>)> = None;
    for (media, q) in accept_ranges(headers) {
        let (rank, what) = match media.as_str() {
            "text/html" | "application/xhtml+xml" => (0, None),
            "application/json" => (1, Some(Repr::Json)),
            "text/plain" => (2, Some(Repr::Text)),
            _ => continue,
        };
        let better = best.is_none_or(|(bq, brank, _)| q > bq || (q == bq && rank < brank));
        if q > 0.0 && better {
            best = Some((q, rank, what));
        }
    }
    best.and_then(|(_, _, what)| what)
}

/// Every media range of `Accept`, lowercased, with its q-value (1 when none).
fn accept_ranges(headers: &HeaderMap) -> impl Iterator<Item = (String, f32)> + '_ {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (media, q)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["staging", "production"];

    #[test]
    fn query_takes_repeated_envs_and_strict_refresh() {
        let q = StatusQuery::parse(Some("env=staging&env=production&refresh=true"), KNOWN).unwrap();
        assert_eq!(q.envs, ["staging", "production"]);
        assert!(q.refresh);
        assert_eq!(
            StatusQuery::parse(None, KNOWN).unwrap(),
            StatusQuery::default()
        );
        for bad in [
            "refresh=0",
            "refresh=yes",
            "refresh",
            "env=prod",
            "fields=x",
            "fields=assessment,nope",
        ] {
            let e = StatusQuery::parse(Some(bad), KNOWN).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(
            StatusQuery::parse(Some("env=prod"), KNOWN)
                .unwrap_err()
                .contains("known: staging, production")
        );
    }

    #[test]
    fn fields_are_checked_against_the_schema_and_deduplicated() {
        let q = StatusQuery::parse(
            Some("fields=assessment,status&fields=assessment&fields="),
            KNOWN,
        )
        .unwrap();
        assert_eq!(q.fields, ["assessment", "status"]);
        let e = StatusQuery::parse(Some("fields=envs"), KNOWN).unwrap_err();
        assert!(e.contains("no top-level member `envs`"), "{e}");
        assert!(e.contains("environments"), "{e}");
    }

    #[test]
    fn accept_ranks_text_and_json() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(prefers_text(&h("text/plain")));
        assert!(prefers_text(&h("text/plain, application/json;q=0.5")));
        assert!(!prefers_text(&h("application/json, text/plain")));
        assert!(!prefers_text(&h("*/*")));
        assert!(!prefers_text(&h("text/plain;q=0, */*")));
        assert!(!prefers_text(&HeaderMap::new()));
    }

    #[test]
    fn the_page_answers_the_report_only_to_who_asks_for_it() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        let browser =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert_eq!(page_wants_report(&h(browser)), None);
        assert_eq!(page_wants_report(&HeaderMap::new()), None);
        assert_eq!(page_wants_report(&h("*/*")), None);
        assert_eq!(page_wants_report(&h("application/json")), Some(Repr::Json));
        assert_eq!(page_wants_report(&h("text/plain")), Some(Repr::Text));
        // axios and fetch libraries: JSON first, text, anything.
        assert_eq!(
            page_wants_report(&h("application/json, text/plain, */*")),
            Some(Repr::Json)
        );
        assert_eq!(
            page_wants_report(&h("text/html;q=0.5, text/plain")),
            Some(Repr::Text)
        );
        assert_eq!(page_wants_report(&h("application/json, text/html")), None);
        assert_eq!(page_wants_report(&h("application/json;q=0")), None);
    }

    #[test]
    fn etag_is_quoted_and_content_based() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a").len(), 18);
        assert!(etag(b"a").starts_with('"') && etag(b"a").ends_with('"'));
    }
}
