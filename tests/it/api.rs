//! The agent API through the router (no socket): `?env=` filtering,
//! `?fields=` members, strict `?refresh=`, `Accept: text/plain`, ETag /
//! 304 / Age, the JSON Schema, the 404 that lists endpoints (under `/api`
//! and anywhere else), and discovery: `Link` headers, the page's line for
//! agents, `GET /` answering the report to who asks for JSON or text. The demo world's loopback services and fake
//! GitHub stand behind it.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use villa_telemetry::cli::load_plan;
use villa_telemetry::demo::world::{Scenario, World};
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

struct Demo {
    _dir: tempfile::TempDir,
    _world: World,
    state: Arc<AppState>,
}

async fn demo(scenario: Scenario) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(scenario, dir.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, None);
    let renderer = Renderer::new(None).unwrap();
    let state = AppState::new(plan, services, renderer, "127.0.0.1:3003");
    Demo {
        _dir: dir,
        _world: world,
        state,
    }
}

async fn send(state: &Arc<AppState>, mut req: Request<Body>) -> Answer {
    // serve refuses requests that name no host (DNS-rebinding guard).
    req.headers_mut().insert(
        header::HOST,
        header::HeaderValue::from_static("127.0.0.1:3003"),
    );
    let resp = serve::app(Arc::clone(state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(state: &Arc<AppState>, uri: &str) -> Answer {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_with(
    state: &Arc<AppState>,
    uri: &str,
    name: header::HeaderName,
    value: &str,
) -> Answer {
    send(
        state,
        Request::get(uri)
            .header(name, value)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn env_filters_the_report_and_unknown_envs_are_refused() {
    let d = demo(Scenario::Drift).await;
    let full = get(&d.state, "/api/telemetry/status").await.json();
    assert_eq!(full["environments"].as_object().unwrap().len(), 3);

    let prod = get(&d.state, "/api/telemetry/status?env=production").await;
    assert_eq!(prod.status, StatusCode::OK, "{}", prod.body);
    let prod = prod.json();
    let envs: Vec<&String> = prod["environments"].as_object().unwrap().keys().collect();
    assert_eq!(envs, ["production"]);
    assert!(
        prod["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["environment"].is_null() || c["environment"] == "production"),
        "{:#}",
        prod["checks"]
    );
    assert!(
        prod["comparison"]["staging_vs_production"].is_object(),
        "its drift stays: {:#}",
        prod["comparison"]
    );
    assert_eq!(prod["timestamp"], full["timestamp"], "the same cached run");
    assert_eq!(d.state.runs(), 1);

    let two = get(
        &d.state,
        "/api/telemetry/status.json?env=staging&env=production",
    )
    .await
    .json();
    let envs: Vec<&String> = two["environments"].as_object().unwrap().keys().collect();
    assert_eq!(envs, ["staging", "production"]);

    let text = get(&d.state, "/api/telemetry/status.txt?env=staging").await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(text.body.contains("Staging"), "{}", text.body);
    assert!(!text.body.contains("Production"), "{}", text.body);

    let bad = get(&d.state, "/api/telemetry/status?env=prod").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let reason = bad.json()["error"].as_str().unwrap().to_owned();
    assert!(reason.contains("env=prod"), "{reason}");
    assert!(
        reason.contains("local, staging, production"),
        "names the known ones: {reason}"
    );
}

#[tokio::test]
async fn fields_keep_only_the_named_members_and_stay_small() {
    let d = demo(Scenario::Drift).await;
    let full = get(&d.state, "/api/telemetry/status").await;
    let full_json = full.json();

    let a = get(&d.state, "/api/telemetry/status?fields=assessment").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let aj = a.json();
    let members: Vec<&String> = aj.as_object().unwrap().keys().collect();
    assert_eq!(members, ["assessment"]);
    assert_eq!(
        aj["assessment"], full_json["assessment"],
        "the same cached run"
    );
    assert!(
        a.body.len() * 3 < full.body.len(),
        "assessment alone is a small answer: {} of {} bytes",
        a.body.len(),
        full.body.len()
    );

    // Report order, not the order asked; combined with ?env=.
    let two = get(
        &d.state,
        "/api/telemetry/status.json?fields=environments,status&env=production",
    )
    .await
    .json();
    let members: Vec<&String> = two.as_object().unwrap().keys().collect();
    assert_eq!(members, ["status", "environments"]);
    let envs: Vec<&String> = two["environments"].as_object().unwrap().keys().collect();
    assert_eq!(envs, ["production"]);
    assert_eq!(d.state.runs(), 1);

    // Each answer has its own ETag; a repeat is a 304.
    let tag = a.header(header::ETAG).to_owned();
    assert_ne!(tag, full.header(header::ETAG));
    let again = get_with(
        &d.state,
        "/api/telemetry/status?fields=assessment",
        header::IF_NONE_MATCH,
        &tag,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let bad = get(&d.state, "/api/telemetry/status?fields=assesment").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let reason = bad.json()["error"].as_str().unwrap().to_owned();
    assert!(reason.contains("`assesment`"), "{reason}");
    assert!(reason.contains("assessment"), "lists the members: {reason}");

    let text = get(&d.state, "/api/telemetry/status.txt?fields=assessment").await;
    assert_eq!(text.status, StatusCode::BAD_REQUEST, "{}", text.body);
    assert!(text.body.contains("JSON"), "{}", text.body);
}

#[tokio::test]
async fn refresh_takes_1_or_true_only() {
    let d = demo(Scenario::Healthy).await;
    get(&d.state, "/api/telemetry/status").await;
    assert_eq!(d.state.runs(), 1);
    for bad in ["refresh=0", "refresh=yes", "refresh", "refresh=TRUE"] {
        for path in ["/api/telemetry/status", "/api/telemetry/status.txt", "/"] {
            let a = get(&d.state, &format!("{path}?{bad}")).await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{path}?{bad}: {}",
                a.body
            );
            assert!(
                a.body.contains("takes 1 or true"),
                "{path}?{bad}: {}",
                a.body
            );
        }
    }
    assert_eq!(d.state.runs(), 1, "a refused request runs nothing");
    for good in ["refresh=1", "refresh=true"] {
        let a = get(&d.state, &format!("/api/telemetry/status?{good}")).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    assert_eq!(d.state.runs(), 3);

    let unknown = get(&d.state, "/api/telemetry/status?format=json").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("`format`")
    );
}

#[tokio::test]
async fn accept_text_plain_gets_the_text() {
    let d = demo(Scenario::Healthy).await;
    let text = get_with(
        &d.state,
        "/api/telemetry/status",
        header::ACCEPT,
        "text/plain",
    )
    .await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(text.header(header::CONTENT_TYPE).starts_with("text/plain"));
    assert_eq!(text.header(header::VARY), "accept");
    let txt = get(&d.state, "/api/telemetry/status.txt").await;
    assert_eq!(text.body, txt.body, "the same text as status.txt");

    let json = get_with(
        &d.state,
        "/api/telemetry/status",
        header::ACCEPT,
        "application/json, text/plain;q=0.5",
    )
    .await;
    assert_eq!(json.header(header::CONTENT_TYPE), "application/json");
    json.json();
}

#[tokio::test]
async fn etag_if_none_match_gives_304_and_age_is_sent() {
    let d = demo(Scenario::Healthy).await;
    let first = get(&d.state, "/api/telemetry/status").await;
    let tag = first.header(header::ETAG).to_owned();
    assert!(tag.starts_with('"') && tag.len() > 2, "{tag}");
    assert!(
        first.header(header::AGE).parse::<u64>().is_ok(),
        "Age on every answer: {:?}",
        first.headers
    );
    assert_eq!(first.header(header::CACHE_CONTROL), "no-cache");

    let again = get_with(
        &d.state,
        "/api/telemetry/status",
        header::IF_NONE_MATCH,
        &tag,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), tag);
    assert!(again.header(header::AGE).parse::<u64>().is_ok());

    let listed = get_with(
        &d.state,
        "/api/telemetry/status",
        header::IF_NONE_MATCH,
        &format!("\"other\", W/{tag}"),
    )
    .await;
    assert_eq!(listed.status, StatusCode::NOT_MODIFIED, "a list, weak form");

    // Text and JSON are different representations.
    let text = get(&d.state, "/api/telemetry/status.txt").await;
    assert_ne!(text.header(header::ETAG), tag);

    // A new run is a new report: the old tag no longer matches.
    let fresh = get(&d.state, "/api/telemetry/status?refresh=1").await;
    assert_ne!(fresh.header(header::ETAG), tag);
    let stale = get_with(
        &d.state,
        "/api/telemetry/status",
        header::IF_NONE_MATCH,
        &tag,
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_paths_list_the_endpoints() {
    let d = demo(Scenario::Healthy).await;
    for path in [
        "/api/nope",
        "/api",
        "/api/telemetry/status.xml",
        "/api/telemetry",
    ] {
        let a = get(&d.state, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.header(header::CONTENT_TYPE), "application/json");
        let body = a.json();
        assert!(body["error"].as_str().unwrap().contains(path), "{body:#}");
        let endpoints = body["endpoints"].as_object().unwrap();
        for want in [
            "GET /api/telemetry/status",
            "GET /api/telemetry/schema.json",
            "POST /mcp",
        ] {
            assert!(endpoints.contains_key(want), "{path}: {body:#}");
        }
    }
    assert_eq!(d.state.runs(), 0, "a 404 runs nothing");
}

#[tokio::test]
async fn schema_json_describes_the_served_report() {
    let d = demo(Scenario::Drift).await;
    let a = get(&d.state, "/api/telemetry/schema.json").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header(header::CONTENT_TYPE), "application/schema+json");
    let schema = a.json();
    let report = get(&d.state, "/api/telemetry/status").await;
    assert!(
        report.header(header::LINK).contains(
            "</api/telemetry/schema.json>; rel=\"describedby\"; type=\"application/schema+json\""
        ),
        "{:?}",
        report.headers
    );
    let report = report.json();
    assert_eq!(
        report["$schema"], schema["$id"],
        "the report names its schema"
    );
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// What an agent given only the dashboard's URL is told: `Link` headers to
/// the JSON, the text, the schema and MCP, on the page and on the report,
/// and the same on the page for whoever reads it.
#[tokio::test]
async fn the_page_and_the_report_advertise_json_text_schema_and_mcp() {
    let d = demo(Scenario::Drift).await;
    let want = [
        "</api/telemetry/status>; rel=\"alternate\"; type=\"application/json\"",
        "</api/telemetry/status.txt>; rel=\"alternate\"; type=\"text/plain\"",
        "</api/telemetry/schema.json>; rel=\"describedby\"; type=\"application/schema+json\"",
        "</mcp>; rel=\"service\"; title=\"MCP (streamable HTTP)\"",
    ];
    for path in ["/", "/api/telemetry/status", "/api/telemetry/status.txt"] {
        let a = get(&d.state, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        let links: Vec<&str> = a.header(header::LINK).split(", ").collect();
        assert_eq!(links, want, "{path}");
    }
    let page = get(&d.state, "/").await;
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(page.header(header::VARY), "accept");
    let line = page
        .body
        .split("data-testid=\"for-agents\"")
        .nth(1)
        .and_then(|rest| rest.split("</span>").next())
        .unwrap_or_else(|| panic!("no line for agents on the page"));
    for shown in [
        "href=\"http://127.0.0.1:3003/api/telemetry/status\"",
        "href=\"/api/telemetry/schema.json\"",
        "href=\"/api/telemetry/status.txt\"",
        "MCP (streamable HTTP, POST): <code data-testid=\"mcp-endpoint\">http://127.0.0.1:3003/mcp</code>",
    ] {
        assert!(line.contains(shown), "{shown} not in: {line}");
    }
}

/// `GET /` answers the report, exactly as `/api/telemetry/status` does, to
/// an `Accept` that names JSON or text above HTML; a browser gets the page.
#[tokio::test]
async fn the_page_answers_the_report_to_an_agent_that_asks_for_it() {
    let d = demo(Scenario::Drift).await;
    for (accept, path) in [
        ("application/json", "/api/telemetry/status"),
        ("application/json, text/plain, */*", "/api/telemetry/status"),
        ("text/plain", "/api/telemetry/status.txt"),
    ] {
        let root = get_with(&d.state, "/", header::ACCEPT, accept).await;
        let api = get(&d.state, path).await;
        assert_eq!(root.status, StatusCode::OK, "{accept}: {}", root.body);
        assert_eq!(root.body, api.body, "{accept}: the same bytes as {path}");
        for name in [
            header::CONTENT_TYPE,
            header::ETAG,
            header::CACHE_CONTROL,
            header::LINK,
        ] {
            assert_eq!(
                root.header(name.clone()),
                api.header(name.clone()),
                "{accept}: {name}"
            );
        }
        assert_eq!(root.header(header::VARY), "accept", "{accept}");
    }
    let json = get_with(&d.state, "/", header::ACCEPT, "application/json").await;
    assert_eq!(json.json()["environments"].as_object().unwrap().len(), 3);
    // The report's query works on `/` too, and so does If-None-Match.
    let part = get_with(
        &d.state,
        "/?env=production",
        header::ACCEPT,
        "application/json",
    )
    .await;
    let envs: Vec<String> = part.json()["environments"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(envs, ["production"]);
    let bad = get_with(&d.state, "/?env=prod", header::ACCEPT, "application/json").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let tag = json.header(header::ETAG).to_owned();
    let again = send(
        &d.state,
        Request::get("/")
            .header(header::ACCEPT, "application/json")
            .header(header::IF_NONE_MATCH, &tag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let browser =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
    for accept in [browser, "*/*", "application/json;q=0.5, text/html"] {
        let page = get_with(&d.state, "/", header::ACCEPT, accept).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            page.header(header::CONTENT_TYPE),
            "text/html; charset=utf-8",
            "{accept}"
        );
        assert!(
            page.body.starts_with("<!doctype html") || page.body.starts_with("<!DOCTYPE html"),
            "{accept}"
        );
    }
    assert_eq!(d.state.runs(), 1, "every answer from one run");
}

/// A path no route serves answers the same JSON 404 as `/api/*`, so an
/// agent that guessed wrong learns what exists; the Host guard still
/// comes first.
#[tokio::test]
async fn unknown_paths_anywhere_list_the_endpoints() {
    let d = demo(Scenario::Healthy).await;
    for path in [
        "/nope",
        "/status",
        "/report",
        "/mcp.json",
        "/nope/deeper?x=1",
    ] {
        let a = get(&d.state, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.header(header::CONTENT_TYPE), "application/json", "{path}");
        let body = a.json();
        let bare = path.split('?').next().unwrap();
        assert_eq!(body["error"], format!("no endpoint at {bare}"), "{body:#}");
        let endpoints = body["endpoints"].as_object().unwrap();
        for want in ["GET /", "GET /api/telemetry/status", "POST /mcp"] {
            assert!(endpoints.contains_key(want), "{path}: {body:#}");
        }
        // The security headers are on it like on every answer.
        assert_eq!(a.header(header::X_FRAME_OPTIONS), "DENY");
    }
    let foreign = serve::app(Arc::clone(&d.state))
        .oneshot(
            Request::get("/nope")
                .header(header::HOST, "evil.example:3003")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(d.state.runs(), 0, "a 404 runs nothing");
}

/// shields.io's endpoint badge format: `schemaVersion` 1, `label` and
/// `message` strings, and only the keys it documents.
fn assert_shields_endpoint(b: &Value) {
    const KEYS: &[&str] = &[
        "schemaVersion",
        "label",
        "message",
        "color",
        "labelColor",
        "isError",
        "namedLogo",
        "logoSvg",
        "logoColor",
        "logoWidth",
        "style",
        "cacheSeconds",
    ];
    let obj = b
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {b}"));
    assert_eq!(b["schemaVersion"], 1, "{b}");
    assert!(b["label"].is_string() && b["message"].is_string(), "{b}");
    assert!(b["color"].is_string(), "{b}");
    for k in obj.keys() {
        assert!(
            KEYS.contains(&k.as_str()),
            "{k} is not a shields endpoint key: {b}"
        );
    }
}

/// Issue 21: badges for a README or a pull request, from the cached report.
#[tokio::test]
async fn badges_say_what_an_environment_runs_and_where_a_commit_is_live() {
    use villa_telemetry::demo::world::{HEAD_SHA, NEW_SHA, OLD_SHA};
    let d = demo(Scenario::Drift).await;
    let prod = get(&d.state, "/api/badge/production.json").await;
    assert_eq!(prod.status, StatusCode::OK, "{}", prod.body);
    assert_eq!(prod.header(header::CONTENT_TYPE), "application/json");
    let b = prod.json();
    assert_shields_endpoint(&b);
    assert_eq!(b["label"], "Production");
    assert_eq!(b["message"], format!("{} · warning", &OLD_SHA[..7]));
    assert_eq!(b["color"], "yellow");

    let new = get(&d.state, &format!("/api/badge/commit/{NEW_SHA}.json")).await;
    let b = new.json();
    assert_shields_endpoint(&b);
    assert_eq!(b["message"], "live in local, staging", "{b}");
    let head = get(
        &d.state,
        &format!("/api/badge/commit/{}.json", &HEAD_SHA[..7]),
    )
    .await;
    assert_eq!(head.json()["message"], "not deployed", "{}", head.body);

    for (uri, status) in [
        ("/api/badge/qa.json", StatusCode::NOT_FOUND),
        ("/api/badge/production", StatusCode::NOT_FOUND),
        ("/api/badge/commit/not-hex.json", StatusCode::BAD_REQUEST),
    ] {
        let a = get(&d.state, uri).await;
        assert_eq!(a.status, status, "{uri}: {}", a.body);
        let b = a.json();
        assert_shields_endpoint(&b);
        assert_eq!(b["isError"], true, "{uri}: {b}");
    }
}
