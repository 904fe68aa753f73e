//! What a browser page on another site, or a hostile argument, can get out
//! of `serve` (issue 17, sections 5 and 6), on a real loopback socket: every
//! answer forbids framing and sniffing, a request with a foreign (or `null`)
//! `Origin` is refused on every route, and MCP errors repeat an argument cut
//! short, however large it was.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use villa_telemetry::serve::{self, AppState};

use crate::serve::{client, raw_exchange, serve_on_socket_with, write_config};

/// A server whose checks fail fast (nothing listens on port 9).
async fn start() -> (String, Arc<AppState>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "1h");
    let (base, state) = serve_on_socket_with(&config, serve::Limits::default()).await;
    (base, state, dir)
}

fn assert_guarded(what: &str, headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["x-frame-options"], "DENY", "{what}: {headers:?}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

/// Pages, JSON, text, errors (404 in and out of `/api`, 405, 421, 403, 400)
/// and MCP all carry the three headers; so does the 503 written to a socket
/// past every cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_forbids_framing_and_sniffing() {
    let (base, _state, _dir) = start().await;
    let port = base.rsplit(':').next().unwrap();
    let c = client();
    let get = |path: &str| c.get(format!("{base}{path}"));
    let cases = [
        ("/", get("/"), StatusCode::OK),
        ("/healthz", get("/healthz"), StatusCode::OK),
        (
            "/api/telemetry/status.json",
            get("/api/telemetry/status.json"),
            StatusCode::OK,
        ),
        ("/metrics", get("/metrics"), StatusCode::OK),
        ("/report/team.txt", get("/report/team.txt"), StatusCode::OK),
        (
            "/report/missing",
            get("/report/missing"),
            StatusCode::NOT_FOUND,
        ),
        ("/api/nope", get("/api/nope"), StatusCode::NOT_FOUND),
        ("/nope", get("/nope"), StatusCode::NOT_FOUND),
        (
            "?refresh=maybe",
            get("/api/telemetry/status?refresh=maybe"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST /healthz",
            c.post(format!("{base}/healthz")),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "foreign Host",
            get("/healthz").header("host", format!("evil.example:{port}")),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        (
            "foreign Origin",
            get("/healthz").header("origin", "http://evil.example"),
            StatusCode::FORBIDDEN,
        ),
        (
            "GET /mcp",
            get("/mcp").header("accept", "text/event-stream"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (what, request, want) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), want, "{what}");
        assert_guarded(what, r.headers());
    }
    let mcp = c
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), StatusCode::OK);
    assert_guarded("POST /mcp", mcp.headers());

    // Past every cap: the raw 503 carries them too.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "1h");
    let full = serve::Limits {
        max_connections: 1,
        queue: 0,
        ..serve::Limits::default()
    };
    let (base, _state) = serve_on_socket_with(&config, full).await;
    let addr = base.trim_start_matches("http://");
    let _held = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let answer = raw_exchange(addr, b"").await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer:?}");
    for line in [
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "content-security-policy: frame-ancestors 'none'",
    ] {
        assert!(answer.contains(line), "{line}: {answer:?}");
    }
}

/// `/`, `/api/telemetry/status.json` and `/mcp` with a foreign Origin, with
/// `Origin: null`, with ours on another port, and with two Origins: 403 that
/// says why, nothing run. Ours, or none: answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_on_every_route() {
    let (base, state, _dir) = start().await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let c = client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let request = |path: &str, origins: &[&str]| {
        let mut r = if path == "/mcp" {
            c.post(format!("{base}{path}"))
                .header("accept", "application/json, text/event-stream")
                .json(&init)
        } else {
            c.get(format!("{base}{path}"))
        };
        for o in origins {
            r = r.header("origin", *o);
        }
        r
    };
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let ours = format!("http://127.0.0.1:{port}");
    let ours_by_name = format!("http://localhost:{port}");
    for path in ["/", "/api/telemetry/status.json", "/mcp"] {
        for origins in [
            vec!["http://evil.example"],
            vec!["null"],
            vec![other_port.as_str()],
            vec!["http://127.0.0.1"],
            vec![&format!("https://127.0.0.1:{port}")],
            vec![ours.as_str(), "http://evil.example"],
        ] {
            let r = request(path, &origins).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {origins:?}");
            let body = r.text().await.unwrap();
            assert!(body.contains("no cross-origin requests"), "{body}");
            assert!(body.len() < 400, "{body}");
        }
    }
    assert_eq!(state.runs(), 0, "a refused request runs nothing");
    for path in ["/", "/api/telemetry/status.json", "/mcp"] {
        for origins in [vec![ours.as_str()], vec![ours_by_name.as_str()], vec![]] {
            let r = request(path, &origins).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path} {origins:?}");
        }
    }
}

/// One JSON-RPC request to `/mcp`; the answer as JSON and its size.
async fn mcp_post(base: &str, body: &Value) -> (Value, usize) {
    let r = client()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", &text[..text.len().min(500)]);
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {}", &text[..text.len().min(500)]));
    (value, text.len())
}

/// A 2 MB argument comes back in an error as its first 200 characters and
/// how long it was: a tool's own error (`status {env}`), rmcp's
/// deserialization error (`status {refresh: "…"}`), the report query's
/// (`deployed {sha}`) and a resource read. Before, each answer repeated the
/// whole 2 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_errors_repeat_a_huge_argument_cut_short() {
    let (base, _state, _dir) = start().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let call = |tool: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}})
    };
    let cases = [
        ("status env", call("status", json!({ "env": huge }))),
        ("status refresh", call("status", json!({ "refresh": huge }))),
        ("deployed sha", call("deployed", json!({ "sha": huge }))),
        (
            "compare environment",
            call("compare", json!({ "environment": huge })),
        ),
        (
            "resources/read",
            json!({"jsonrpc": "2.0", "id": 8, "method": "resources/read",
                "params": {"uri": huge}}),
        ),
    ];
    for (what, request) in cases {
        let (answer, size) = mcp_post(&base, &request).await;
        let text = answer.to_string();
        eprintln!("{what}: {size} bytes: {}", &text[..text.len().min(400)]);
        assert!(size < 4096, "{what}: {size} bytes");
        assert!(
            text.contains(&format!("(cut, {} bytes)", huge.len())),
            "{what}: {text}"
        );
        assert!(text.contains(&"x".repeat(100)), "{what}: the start is kept");
        let is_error = answer["error"].is_object() || answer["result"]["isError"] == true;
        assert!(is_error, "{what}: {text}");
    }
    // A short argument is repeated whole.
    let (answer, _) = mcp_post(&base, &call("status", json!({ "env": "nope" }))).await;
    let text = answer.to_string();
    assert!(text.contains("no environment `nope`"), "{text}");
    assert!(!text.contains("(cut,"), "{text}");
}

/// Arguments that do not fit a tool get a sentence naming the arguments
/// and the values they take, not only serde's "failed to deserialize
/// parameters" (issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_argument_names_what_the_tool_takes() {
    let (base, state, _dir) = start().await;
    let envs: Vec<String> = state
        .current()
        .await
        .report
        .environments
        .keys()
        .cloned()
        .collect();
    assert!(!envs.is_empty());
    let call = |tool: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}})
    };
    for (tool, arguments, names) in [
        (
            "compare",
            json!({}),
            "`compare` needs `environment` (one of ",
        ),
        (
            "status",
            json!({ "refresh": "yes" }),
            "`status` takes `env`",
        ),
    ] {
        let (answer, _) = mcp_post(&base, &call(tool, arguments)).await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.starts_with(names), "{tool}: {text}");
        assert!(
            text.contains(&envs.join(", ")),
            "{tool} lists the environments: {text}"
        );
    }
}

/// `status {refresh: true}` forces at most one run per `refresh / 10`:
/// fifty calls in a row forced fifty runs before (issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_refreshes_from_mcp_are_rate_limited() {
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "status", "arguments": {"refresh": true}}});
    // refresh = 1h: a window of 6 minutes, so 20 calls force one run at most.
    let (base, state, _dir) = start().await;
    let first = mcp_post(&base, &call).await.0;
    assert_ne!(
        first["result"]["isError"],
        true,
        "{}",
        &first.to_string()[..200]
    );
    let before = state.runs();
    for _ in 0..20 {
        mcp_post(&base, &call).await;
    }
    let after = state.runs();
    assert!(
        after <= before + 1,
        "20 forced refreshes ran {} times",
        after - before
    );
    // refresh = 1s: past its 100 ms window a forced refresh runs again.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "1s");
    let (base, state) = serve_on_socket_with(&config, serve::Limits::default()).await;
    mcp_post(&base, &call).await;
    let runs = state.runs();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    mcp_post(&base, &call).await;
    assert!(
        state.runs() > runs,
        "a forced refresh after the window runs"
    );
}
