//! The MCP server with real clients, against the demo world (drift):
//! - the Python `mcp` package over stdio (`villa-telemetry mcp`) and over
//!   streamable HTTP (`/mcp` on a real `serve` socket), via tests/mcp/client.py;
//! - rmcp's own client, in process and over HTTP;
//! - the Host guard in front of `/mcp`;
//! - the latency of `deployed`, `compare`, `next_steps` from the cached report.
//!
//! The Python client needs a virtualenv with `mcp` and `jsonschema`
//! (`.ci/run` makes it at target/mcp-venv; `VILLA_MCP_PYTHON` points
//! elsewhere). Missing: a failure under CI=true, a SKIP line otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use villa_telemetry::cli::load_plan;
use villa_telemetry::demo::world::{Scenario, World};
use villa_telemetry::render::Renderer;
use villa_telemetry::report::schema::report_schema_json;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState, mcp::Telemetry};

use crate::support::BIN;

struct Demo {
    dir: tempfile::TempDir,
    world: World,
    state: Arc<AppState>,
}

async fn demo(listen: &str) -> Demo {
    demo_of(Scenario::Drift, listen).await
}

async fn demo_of(scenario: Scenario, listen: &str) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(scenario, &dir.path().join("world"))
        .await
        .unwrap();
    let mut plan = load_plan(&world.config_path).unwrap();
    // The demo refreshes every 10 s; a slow client on a loaded machine must
    // still see one run, so "answered from the cache" is what is measured.
    plan.settings.refresh = Duration::from_secs(3600);
    let services = Services::with_token(&plan, None);
    let state = AppState::new(plan, services, Renderer::new(None).unwrap(), listen);
    Demo { dir, world, state }
}

/// The venv's python with `mcp` and `jsonschema`, or why there is none.
fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("VILLA_MCP_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python"),
        PathBuf::from,
    );
    let ok = std::process::Command::new(&python)
        .args(["-c", "import mcp, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import mcp and jsonschema; make the venv: python3 -m venv target/mcp-venv && target/mcp-venv/bin/pip install mcp jsonschema",
            python.display()
        ))
    }
}

/// The Python client, or None after a SKIP line (outside CI).
pub(crate) fn python_or_skip(test: &str) -> Option<PathBuf> {
    match python() {
        Ok(p) => Some(p),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{why}"),
        Err(why) => {
            eprintln!("SKIP: {test}: {why}");
            None
        }
    }
}

async fn run_client(python: &Path, args: &[&str]) -> Value {
    run_client_at(python, args, "2025-11-25").await
}

/// client.py opening at MCP `revision`: the 2025-11-25 `initialize`
/// handshake, or 2026-07-28's `server/discover`.
async fn run_client_at(python: &Path, args: &[&str], revision: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(&script)
            .args(args)
            .env("MCP_REVISION", revision)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Python client finishes within 2 min")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client.py {args:?} failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("client.py printed no JSON line ({e}):\n{stdout}\n{stderr}"))
}

fn schema_file(dir: &Path) -> PathBuf {
    let path = dir.join("report.schema.json");
    std::fs::write(&path, report_schema_json()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_stdio() {
    let Some(python) = python_or_skip("python_client_over_stdio") else {
        return;
    };
    let d = demo("127.0.0.1:3003").await;
    // The session takes seconds on a loaded machine; the world's 10 s
    // refresh could start a second run inside it and make the count of one
    // run per service below flaky. An hour cannot.
    let text = std::fs::read_to_string(&d.world.config_path).unwrap();
    assert!(text.contains("refresh = \"10s\""));
    std::fs::write(
        &d.world.config_path,
        text.replace("refresh = \"10s\"", "refresh = \"1h\""),
    )
    .unwrap();
    let schema = schema_file(d.dir.path());
    let seen = run_client(
        &python,
        &[
            "stdio",
            BIN,
            d.world.config_path.to_str().unwrap(),
            schema.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["protocol_version"], "2025-11-25", "{seen}");
    eprintln!("python client over stdio: {seen}");
    assert_eq!(
        seen["tools"],
        json!([
            "ci",
            "compare",
            "deployed",
            "diagnose",
            "environments",
            "journey",
            "next_steps",
            "status"
        ])
    );
    assert!(seen["tools_list_bytes"].as_u64().unwrap() < 8192, "{seen}");
    // One process, one run: 240 more calls came from its cache.
    for s in &d.world.services {
        assert_eq!(
            s.requests.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{} was checked once for ~250 tool calls",
            s.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_http_costs_no_extra_github_requests() {
    let Some(python) = python_or_skip("python_client_over_http") else {
        return;
    };
    let listener = serve::bind("127.0.0.1:0", serve::Access::Local)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let d = demo(&addr.to_string()).await;
    // The real server: Host guard, connection limits, HTTP/1 and HTTP/2.
    let server = tokio::spawn(serve::serve_with(
        listener,
        Arc::clone(&d.state),
        serve::Limits::default(),
        std::future::pending(),
    ));
    // The first report, so the client's calls are all cached answers.
    d.state.current().await;
    let github_before = d.world.github.total_requests();
    let schema = schema_file(d.dir.path());
    let url = format!("http://{addr}/mcp");
    let seen = run_client(&python, &["http", &url, schema.to_str().unwrap()]).await;
    assert_eq!(seen["ok"], true, "{seen}");
    eprintln!("python client over HTTP: {seen}");
    assert_eq!(seen["repeated_calls"], 100);
    assert_eq!(d.state.runs(), 1, "~250 tool calls, one run");
    assert_eq!(
        d.world.github.total_requests(),
        github_before,
        "cached answers cost GitHub nothing"
    );
    server.abort();
}

/// The 2026-07-28 revision (no `initialize`: `server/discover`, then each
/// request carries its version) over stdio and over HTTP, with the same
/// checks as 2025-11-25 and the `tools/list` cache hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_negotiates_2026_07_28_over_stdio_and_http() {
    let Some(python) = python_or_skip("python_client_negotiates_2026_07_28") else {
        return;
    };
    let listener = serve::bind("127.0.0.1:0", serve::Access::Local)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let d = demo(&addr.to_string()).await;
    let server = tokio::spawn(serve::serve_with(
        listener,
        Arc::clone(&d.state),
        serve::Limits::default(),
        std::future::pending(),
    ));
    let schema = schema_file(d.dir.path());
    let url = format!("http://{addr}/mcp");
    let config = d.world.config_path.to_str().unwrap();
    for args in [
        vec!["stdio", BIN, config, schema.to_str().unwrap()],
        vec!["http", &url, schema.to_str().unwrap()],
    ] {
        let seen = run_client_at(&python, &args, "2026-07-28").await;
        assert_eq!(seen["ok"], true, "{seen}");
        assert_eq!(seen["protocol_version"], "2026-07-28", "{args:?}: {seen}");
        assert_eq!(
            seen["tools_list_ttl_ms"],
            villa_telemetry::serve::mcp::TOOLS_LIST_TTL_MS,
            "{seen}"
        );
        eprintln!("python client at 2026-07-28 over {}: {seen}", args[0]);
    }
    server.abort();
}

#[tokio::test]
async fn mcp_is_behind_the_host_guard() {
    let d = demo("127.0.0.1:3003").await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    for (host, want) in [
        ("evil.example:3003", StatusCode::MISDIRECTED_REQUEST),
        ("127.0.0.1:3003", StatusCode::OK),
    ] {
        let req = Request::post("/mcp")
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Body::from(init.to_string()))
            .unwrap();
        let resp = serve::app(Arc::clone(&d.state)).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), want, "Host: {host}");
    }
}

fn args(v: Value) -> rmcp::model::JsonObject {
    v.as_object().cloned().unwrap()
}

/// rmcp's client in process: every tool, structured content, resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_calls_every_tool() {
    let d = demo("127.0.0.1:3003").await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn({
        let t = Telemetry::new(Arc::clone(&d.state));
        async move { t.serve(server_io).await.unwrap().waiting().await }
    });
    let client = ().serve(client_io).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ci",
            "compare",
            "deployed",
            "diagnose",
            "environments",
            "journey",
            "next_steps",
            "status"
        ]
    );
    assert!(
        tools.iter().all(|t| t.output_schema.is_some()),
        "{tools:#?}"
    );

    let call = |name: &'static str, a: Value| {
        let client = &client;
        async move {
            let r = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(args(a)))
                .await
                .unwrap();
            assert_ne!(r.is_error, Some(true), "{name}: {r:?}");
            r.structured_content
                .unwrap_or_else(|| panic!("{name}: no structured content"))
        }
    };
    let status = call("status", json!({})).await;
    assert_eq!(status["status"], "failing", "{:#}", status["summary"]);
    let headline = status["assessment"]["headline"].as_str().unwrap();
    assert!(
        headline.contains("production is 2 commits behind staging"),
        "{headline}"
    );

    let one = call("status", json!({"env": "staging"})).await;
    assert_eq!(one["environments"].as_object().unwrap().len(), 1);

    let deployed = call("deployed", json!({})).await;
    assert_eq!(deployed["is_local_head"], true);
    let compared = call("compare", json!({"environment": "production"})).await;
    assert_eq!(compared["commits_behind"], 2);
    // The count and its list agree: the world's two commits.
    let commits = compared["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 2, "{compared:#}");
    assert_ne!(compared["commits_truncated"], true, "{compared:#}");
    for c in commits {
        assert!(c["sha"].is_string() && c["message"].is_string(), "{c}");
        assert!(c["date"].as_str().is_some_and(|d| d.len() >= 20), "{c}");
    }
    let ci = call("ci", json!({"environment": "production"})).await;
    assert_eq!(ci["commit"]["status"], "success", "{ci:#}");
    let where_ = call("environments", json!({})).await;
    assert_eq!(
        where_["environments"]["production"]["tracks"]["behind_by"], compared["commits_behind"],
        "{where_:#}"
    );
    assert_eq!(
        where_["environments"]["staging"]["sha"], status["environments"]["staging"]["sha"],
        "{where_:#}"
    );
    let steps = call("next_steps", json!({})).await;
    let first = &steps["next_steps"][0];
    assert!(
        first["url"].as_str().unwrap().contains("/actions/runs/"),
        "{steps:#}"
    );

    let wrong = client
        .call_tool(
            CallToolRequestParams::new("compare")
                .with_arguments(args(json!({"environment": "nope"}))),
        )
        .await
        .unwrap();
    assert_eq!(wrong.is_error, Some(true));

    let txt = client
        .read_resource(ReadResourceRequestParams::new("villa://status.txt"))
        .await
        .unwrap();
    assert_eq!(txt.contents.len(), 1);
    let schema = client
        .read_resource(ReadResourceRequestParams::new("villa://schema.json"))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &schema.contents[0]
    else {
        panic!("the schema is text: {schema:?}");
    };
    assert_eq!(*text, report_schema_json());
    assert_eq!(d.state.runs(), 1, "every call answered from one run");

    client.cancel().await.unwrap();
    let _ = server.await;
}

/// `diagnose` on the demo's down world: staging's answer is the verdict
/// `status` has (the same broken entry, onset, last good commit), under
/// 3 KB; a healthy environment is data, an unknown one an error naming the
/// known ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_diagnoses_the_down_world_as_status_does() {
    let d = demo_of(Scenario::Down, "127.0.0.1:3003").await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn({
        let t = Telemetry::new(Arc::clone(&d.state));
        async move { t.serve(server_io).await.unwrap().waiting().await }
    });
    let client = ().serve(client_io).await.unwrap();
    let call = |name: &'static str, a: Value| {
        let client = &client;
        async move {
            client
                .call_tool(CallToolRequestParams::new(name).with_arguments(args(a)))
                .await
                .unwrap()
        }
    };
    let status = call("status", json!({})).await.structured_content.unwrap();
    let answer = call("diagnose", json!({"environment": "staging"})).await;
    assert_ne!(answer.is_error, Some(true), "{answer:?}");
    let staging = answer.structured_content.clone().unwrap();
    let bytes = serde_json::to_string(&staging).unwrap().len();
    let whole = serde_json::to_string(&answer).unwrap().len();
    eprintln!("diagnose staging: {bytes} bytes of JSON ({whole} bytes as the whole tool result)");
    assert!(bytes < 3 * 1024, "{bytes} bytes: {staging:#}");

    let from_status: Vec<&Value> = status["assessment"]["broken"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["environment"] == "staging")
        .collect();
    assert_eq!(
        staging["broken"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        from_status,
        "{staging:#}"
    );
    let env = &status["environments"]["staging"];
    for field in ["failing_since", "last_good", "suspect_commits"] {
        assert_eq!(staging[field], env[field], "{field}");
    }
    assert_eq!(staging["healthy"], false);
    assert_eq!(staging["broken"][0]["cause"], "unknown");
    assert_eq!(staging["failing_since"]["deployment"], 814);
    // The newest events that fit under 3 KB (maybe none); the rest counted.
    let timeline = staging["timeline"].as_array().unwrap();
    for (i, event) in timeline.iter().enumerate() {
        assert_eq!(*event, env["timeline"][i]);
    }
    assert_eq!(
        timeline.len() + staging["timeline_more"].as_u64().unwrap_or(0) as usize,
        env["timeline"].as_array().unwrap().len()
    );
    let steps: Vec<&str> = staging["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert!(steps[0].starts_with("Wait for deploy #814"), "{steps:#?}");
    assert!(
        steps.iter().all(|s| !s.contains("production")),
        "only staging's steps: {steps:#?}"
    );
    let summary = staging["summary"].as_str().unwrap();
    assert!(summary.starts_with("staging: unknown, "), "{summary}");

    let production = call("diagnose", json!({"environment": "production"}))
        .await
        .structured_content
        .unwrap();
    assert_eq!(production["broken"][0]["cause"], "infrastructure");
    assert_eq!(production["broken"][0]["confidence"], "high");

    let local = call("diagnose", json!({"environment": "local"})).await;
    assert_ne!(local.is_error, Some(true), "healthy is data: {local:?}");
    let local = local.structured_content.unwrap();
    assert_eq!(local["healthy"], true, "{local:#}");
    assert!(local["broken"].as_array().unwrap().is_empty());
    assert_eq!(local["summary"], "local is healthy, nothing to diagnose");

    let wrong = call("diagnose", json!({"environment": "nope"})).await;
    assert_eq!(wrong.is_error, Some(true));
    let said = format!("{:?}", wrong.content);
    assert!(
        said.contains("no environment `nope` (known: local, staging, production)"),
        "{said}"
    );
    let missing = call("diagnose", json!({})).await;
    assert_eq!(missing.is_error, Some(true));
    let said = format!("{:?}", missing.content);
    assert!(said.contains("`diagnose` needs `environment`"), "{said}");
    assert_eq!(d.state.runs(), 1);
    client.cancel().await.unwrap();
    let _ = server.await;
}

/// `deployed`, `compare` and `next_steps` answer from the cached report in
/// well under 5 ms at the MCP layer (JSON-RPC in and out, in process).
/// Medians are printed; BENCHMARKS.md records a release run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tools_answer_under_5_ms() {
    let d = demo("127.0.0.1:3003").await;
    d.state.current().await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn({
        let t = Telemetry::new(Arc::clone(&d.state));
        async move { t.serve(server_io).await.unwrap().waiting().await }
    });
    let client = ().serve(client_io).await.unwrap();
    for (name, a) in [
        ("deployed", json!({})),
        ("compare", json!({"environment": "production"})),
        ("next_steps", json!({})),
        ("environments", json!({})),
        ("status", json!({})),
        ("status", json!({"env": "production"})),
    ] {
        let mut times = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let r = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(args(a.clone())))
                .await
                .unwrap();
            times.push(started.elapsed());
            assert!(r.structured_content.is_some());
        }
        times.sort_unstable();
        let median = times[times.len() / 2];
        let p95 = times[times.len() * 95 / 100];
        eprintln!("mcp {name} {a}: median {median:?}, p95 {p95:?} (200 calls)");
        // The 5 ms target is measured by benches/agents.sh (release);
        // here, in a debug build on a shared machine, the bound only catches
        // a tool that runs checks instead of reading the cache (>= 100 ms).
        if name != "status" {
            assert!(
                median < Duration::from_millis(50),
                "{name}: median {median:?}"
            );
        }
    }
    assert_eq!(d.state.runs(), 1);
    client.cancel().await.unwrap();
    let _ = server.await;
}
