//! WASM plugin host guarantees, each exercised by a plugin that misbehaves
//! in exactly one way, plus the shipped heartbeat and prometheus-slo plugins
//! against loopback fakes.
//!
//! All plugins under `plugins/` are built once per test binary with a single
//! nested `cargo build --release --target wasm32-wasip2` into
//! `target/plugin-build` (or taken from `$VILLA_PLUGIN_WASM_DIR` if CI built them).
#![cfg(feature = "plugins")]

use std::net::SocketAddr;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use villa_telemetry::probe::github::{GithubClient, TokenSource};
use villa_telemetry::probe::plugin::{
    LoadedPlugin, PluginHost, PluginOutcome, PluginOutput, PluginRequest, PluginStatus,
};

use crate::support::plugin_build;
use plugin_build::{manifest_dir, nested_wasm_build, wasm};

/// One host per test binary, as in the real process.
fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new().expect("plugin host"))
}

fn load(name: &str) -> Arc<LoadedPlugin> {
    host().load(&wasm(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// A client like the daemon's, but never following redirects itself.
fn client() -> reqwest::Client {
    // reqwest is built without a default crypto provider; the binary installs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn request(check_id: &str, config: Value) -> PluginRequest {
    PluginRequest::new(check_id, config, client())
}

fn output(outcome: &PluginOutcome) -> &PluginOutput {
    match &outcome.result {
        Ok(out) => out,
        Err(why) => panic!("plugin failed: {why}\nlog: {:#?}", outcome.log),
    }
}

fn error(outcome: &PluginOutcome) -> &str {
    match &outcome.result {
        Ok(out) => panic!("expected an error, got {out:?}"),
        Err(why) => why,
    }
}

/// What a loopback fake saw.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    query: String,
    authorization: Option<String>,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn json(v: Value) -> Self {
        Self {
            status: StatusCode::OK,
            location: None,
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    fn redirect(to: String) -> Self {
        Self {
            status: StatusCode::FOUND,
            location: Some(to),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
}

struct Fake {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Fake {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn paths(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.path.clone())
            .collect()
    }
}

/// An axum server on 127.0.0.1:0 answering every request with `handler`.
/// The handler also gets the server's own port, for redirects.
async fn fake(handler: impl Fn(&Hit, u16) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let handler = Arc::new(handler);
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (handler, seen) = (handler.clone(), seen.clone());
        async move {
            let hit = Hit {
                path: req.uri().path().to_owned(),
                query: req.uri().query().unwrap_or("").to_owned(),
                authorization: req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from),
            };
            seen.lock().unwrap().push(hit.clone());
            let reply = handler(&hit, addr.port());
            tokio::time::sleep(reply.delay).await;
            let mut resp: Response = (reply.status, reply.body).into_response();
            if let Some(to) = reply.location {
                resp.headers_mut().insert("location", to.parse().unwrap());
            }
            resp
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { addr, hits }
}

// ---------------------------------------------------------------- limits

/// Spinning guests on every worker must still be stopped on time, and a
/// well-behaved plugin started meanwhile must not wait for them. Runs on
/// its own 2-worker runtime in a thread so a starved runtime shows up as a
/// test failure, not a hung test.
#[test]
fn infinite_loop_times_out_while_other_runs_finish() {
    let (looping, noop) = (load("testdata-loop"), load("testdata-noop"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            let spinners: Vec<_> = (0..3)
                .map(|i| {
                    let looping = looping.clone();
                    tokio::spawn(async move {
                        host()
                            .run(&looping, request(&format!("spin{i}"), json!({})))
                            .await
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let quick =
                tokio::spawn(async move { host().run(&noop, request("quick", json!({}))).await });
            let quick = quick.await.unwrap();
            let quick_done = start.elapsed();
            let mut spun = Vec::new();
            for s in spinners {
                spun.push(s.await.unwrap());
            }
            tx.send((spun, quick, quick_done, start.elapsed())).unwrap();
        });
    });
    let (spun, quick, quick_done, all_done) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("spinning plugins starved the runtime (hang)");
    for outcome in &spun {
        assert_eq!(error(outcome), "plugin exceeded timeout 2s");
        assert!(
            outcome.duration < Duration::from_secs(3),
            "stopped late: {:?}",
            outcome.duration
        );
    }
    assert!(
        all_done < Duration::from_secs(4),
        "spinners took {all_done:?}"
    );
    assert_eq!(output(&quick).status, PluginStatus::Pass);
    assert!(
        quick.duration < Duration::from_millis(500),
        "a quick check took {:?}",
        quick.duration
    );
    // Started 100 ms in; must not wait for the spinners' 2 s timeout.
    assert!(
        quick_done < Duration::from_secs(1),
        "a quick check waited {quick_done:?} for the spinners"
    );
}

#[tokio::test]
async fn memory_bomb_is_stopped_at_the_memory_cap() {
    let outcome = host()
        .run(&load("testdata-membomb"), request("bomb", json!({})))
        .await;
    assert_eq!(error(&outcome), "plugin exceeded memory limit 32 MiB");

    let mut small = request("bomb", json!({}));
    small.memory_bytes = 4 * 1024 * 1024;
    let outcome = host().run(&load("testdata-membomb"), small).await;
    assert_eq!(error(&outcome), "plugin exceeded memory limit 4 MiB");
}

#[tokio::test]
async fn panic_becomes_an_error_with_the_panic_message() {
    let outcome = host()
        .run(&load("testdata-panic"), request("p", json!({})))
        .await;
    let why = error(&outcome);
    assert!(
        why.starts_with("plugin panicked: deliberate panic: the plugin gave up (at "),
        "{why}"
    );
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.starts_with("stderr: ") && l.contains("panicked at")),
        "{:?}",
        outcome.log
    );
}

// ---------------------------------------------------------------- sandbox

#[tokio::test]
async fn sandbox_has_no_files_only_allowed_env_and_captured_stdio() {
    // The test process has PATH, HOME, CARGO_* ...: none of it may show up.
    assert!(std::env::var_os("PATH").is_some());
    let mut req = request("sandbox", json!({}));
    req.env = vec![("GIT_BRANCH".into(), "main".into())];
    let outcome = host().run(&load("testdata-sandbox"), req).await;
    let out = output(&outcome);
    assert_eq!(
        out.fields["env"],
        json!({ "GIT_BRANCH": "main" }),
        "only allow.env reaches the guest"
    );
    for probe in ["fs_root", "fs_cwd", "passwd"] {
        let result = out.fields[probe].as_str().unwrap();
        assert!(
            result.starts_with("err"),
            "{probe} should fail without preopens, got {result}"
        );
    }
    assert_eq!(
        out.fields["flood"], "ok",
        "writes past the capture cap must not fail the guest"
    );
    assert!(
        outcome
            .log
            .contains(&"stdout: hello from stdout".to_string()),
        "{:?}",
        &outcome.log[..3]
    );
    assert!(
        outcome
            .log
            .contains(&"stderr: hello from stderr".to_string())
    );
    assert_eq!(
        outcome.log.last().unwrap(),
        "(plugin output truncated at 64 KiB)"
    );
    let kept: usize = outcome
        .log
        .iter()
        .filter(|l| l.starts_with("stdout: "))
        .map(|l| l.len() - 8)
        .sum();
    assert!(
        kept <= 64 * 1024 && kept > 60 * 1024,
        "kept {kept} bytes of stdout"
    );
}

// ---------------------------------------------------------------- http-fetch

fn fetch_request(urls: &[String], allow: &[&str]) -> PluginRequest {
    let mut req = request("fetch", json!({ "urls": urls }));
    req.allow_http = allow.iter().map(|s| s.to_string()).collect();
    req
}

async fn fetch_outcomes(req: PluginRequest) -> Vec<String> {
    let outcome = host().run(&load("testdata-denied-fetch"), req).await;
    let out = output(&outcome);
    out.fields["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_to_unlisted_host_is_denied_and_never_sent() {
    let server = fake(|_, _| Reply::json(json!({ "secret": true }))).await;
    // The server is 127.0.0.1; only "localhost" is allowed.
    let outcomes = fetch_outcomes(fetch_request(&[server.url("/secret")], &["localhost"])).await;
    assert_eq!(
        outcomes,
        ["denied: host \"127.0.0.1\" is not in allow.http"]
    );
    assert!(
        server.paths().is_empty(),
        "the server got {:?}",
        server.paths()
    );

    let outcomes = fetch_outcomes(fetch_request(
        &["file:///etc/passwd".into()],
        &["localhost"],
    ))
    .await;
    assert_eq!(
        outcomes,
        ["denied: scheme \"file\" is not allowed (http and https only)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_unlisted_host_is_denied_and_never_sent() {
    // Same server under two names: 127.0.0.1 is allowed, localhost is not.
    let server = fake(|hit, port| match hit.path.as_str() {
        "/redirect" => Reply::redirect(format!("http://localhost:{port}/landing")),
        _ => Reply::json(json!({ "landed": true })),
    })
    .await;
    let outcomes = fetch_outcomes(fetch_request(&[server.url("/redirect")], &["127.0.0.1"])).await;
    assert_eq!(
        outcomes,
        ["denied: redirect to host \"localhost\" is not in allow.http"]
    );
    assert_eq!(
        server.paths(),
        ["/redirect"],
        "the redirect target must not be requested"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_within_the_allowlist_are_followed_up_to_five() {
    let server = fake(|hit, _| match hit.path.as_str() {
        "/hop1" => Reply::redirect("/hop2".into()),
        "/hop2" => Reply::redirect("/done".into()),
        "/forever" => Reply::redirect("/forever".into()),
        _ => Reply::json(json!("arrived")),
    })
    .await;
    let urls = [server.url("/hop1"), server.url("/forever")];
    let outcomes = fetch_outcomes(fetch_request(&urls, &["127.0.0.1"])).await;
    assert_eq!(
        outcomes,
        [
            "ok 200 \"arrived\"",
            "transport: too many redirects (more than 5)"
        ]
    );
    let forever = server.paths().iter().filter(|p| *p == "/forever").count();
    assert_eq!(forever, 6, "the first request plus five redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_is_too_large() {
    let server = fake(|hit, _| {
        let size = if hit.path == "/big" {
            2 * 1024 * 1024
        } else {
            1000
        };
        Reply {
            status: StatusCode::OK,
            location: None,
            body: vec![b'a'; size],
            delay: Duration::ZERO,
        }
    })
    .await;
    let mut req = fetch_request(&[server.url("/big"), server.url("/small")], &["127.0.0.1"]);
    req.body_cap = 1024 * 1024;
    let outcomes = fetch_outcomes(req).await;
    assert_eq!(outcomes[0], "too-large");
    assert!(outcomes[1].starts_with("ok 200 aaa"), "{}", outcomes[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_cannot_hold_a_check_past_its_timeout() {
    let server = fake(|_, _| Reply {
        delay: Duration::from_secs(20),
        ..Reply::json(json!({}))
    })
    .await;
    let mut req = fetch_request(&[server.url("/slow")], &["127.0.0.1"]);
    req.timeout = Duration::from_secs(1);
    let outcome = host().run(&load("testdata-denied-fetch"), req).await;
    assert_eq!(error(&outcome), "plugin exceeded timeout 1s");
    assert!(
        outcome.duration < Duration::from_millis(1600),
        "took {:?}",
        outcome.duration
    );
    assert_eq!(server.paths(), ["/slow"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_get_uses_the_host_token_only_for_allowed_repos() {
    let server = fake(|hit, _| Reply::json(json!({ "path": hit.path, "stars": 7 }))).await;
    let mut req = request(
        "gh",
        json!({ "github": ["repos/villa/telemetry/pulls?state=open", "repos/other/repo", "user"] }),
    );
    req.allow_github = vec!["villa/telemetry".into()];
    req.github = Some(GithubClient::new(
        client(),
        &server.url(""),
        Some(("s3cret-token".into(), TokenSource::Env("GITHUB_TOKEN"))),
        None,
    ));
    let outcome = host().run(&load("testdata-denied-fetch"), req).await;
    let out = output(&outcome);
    let github: Vec<&str> = out.fields["github"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        github,
        [
            r#"ok {"path":"/repos/villa/telemetry/pulls","stars":7}"#,
            "err: github-get path \"repos/other/repo\" is not under a repository in allow.github",
            "err: github-get path \"user\" is not under a repository in allow.github",
        ]
    );
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].query, "state=open");
    assert_eq!(
        hits[0].authorization.as_deref(),
        Some("Bearer s3cret-token")
    );
    assert!(
        !format!("{out:?}{:?}", outcome.log).contains("s3cret"),
        "the token reached the plugin"
    );
}

// ---------------------------------------------------------------- output & loading

#[tokio::test]
async fn malformed_output_is_an_error_or_truncated_never_a_crash() {
    let plugin = load("testdata-bad-output");
    let run = |mode: &str| host().run(&plugin, request("bad", json!({ "mode": mode })));
    assert_eq!(
        error(&run("array").await),
        "plugin returned fields-json that is not a JSON object (got an array)"
    );
    assert!(error(&run("invalid").await).starts_with("plugin returned invalid fields-json: "));
    // 200 KiB of blob plus 11 bytes of JSON framing.
    assert_eq!(
        error(&run("huge-fields").await),
        "plugin returned fields-json of 204811 bytes; the limit is 64 KiB"
    );
    assert_eq!(error(&run("err").await), "config says no");

    let huge = run("huge-summary").await;
    let out = output(&huge);
    assert!(
        out.summary.len() <= 4096 && out.summary.ends_with('…'),
        "summary of {} bytes",
        out.summary.len()
    );

    let why = host().describe(&plugin).await.unwrap_err();
    assert!(why.starts_with("describe() did not return JSON"), "{why}");
}

#[test]
fn load_rejects_non_components_and_incompatible_wit_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core-module.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();

    let err = host().load(&core).unwrap_err().to_string();
    assert!(
        err.contains("core-module.wasm") && err.contains("is not a component (core module?)"),
        "{err}"
    );
    let err = host().load(&garbage).unwrap_err().to_string();
    assert!(
        err.contains("garbage.wasm") && err.contains("is not a WebAssembly file"),
        "{err}"
    );
    let err = host()
        .load(&dir.path().join("missing.wasm"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read plugin ") && err.contains("missing.wasm"),
        "{err}"
    );

    let err = host()
        .load(&wasm("testdata-wrong-wit"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("testdata_wrong_wit.wasm"), "{err}");
    assert!(
        err.contains("built against an incompatible WIT") && err.contains("missing export `run`"),
        "{err}"
    );
}

#[test]
fn load_compiles_once_and_recompiles_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.wasm");
    std::fs::copy(wasm("testdata-noop"), &path).unwrap();
    let first = host().load(&path).unwrap();
    assert!(
        Arc::ptr_eq(&first, &host().load(&path).unwrap()),
        "an unchanged file is not recompiled"
    );
    assert_eq!(first.wit_version(), Some("0.1.0"));
    std::fs::copy(wasm("testdata-panic"), &path).unwrap();
    assert!(
        !Arc::ptr_eq(&first, &host().load(&path).unwrap()),
        "a changed file is recompiled"
    );
}

// ---------------------------------------------------------------- heartbeat

async fn heartbeat(last_ping: Value, schedule: &str, grace: &str, path: &str) -> PluginOutcome {
    let body = json!({ "name": "backup", "check": { "last_ping": last_ping.clone() }, "last_ping": last_ping });
    let server = fake(move |_, _| Reply::json(body.clone())).await;
    let mut req = request(
        "nightly-backup",
        json!({ "url": server.url("/api/v3/checks/abc"), "schedule": schedule, "grace": grace, "path": path }),
    );
    req.allow_http = vec!["127.0.0.1".into()];
    host().run(&load("heartbeat"), req).await
}

fn rfc3339_ago(secs: i64) -> Value {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_is_up_late_or_down_against_the_schedule() {
    // Compile first: in a debug build that takes seconds, which must not
    // pass between taking a timestamp and judging it.
    load("heartbeat");
    // Yearly: a ping just now is up. Every minute with 5 minutes grace: 3
    // minutes ago is late (missed a run, within grace), an hour ago is down.
    let up = heartbeat(rfc3339_ago(0), "0 0 1 1 *", "5m", "last_ping").await;
    let out = output(&up);
    assert_eq!(
        (out.status, out.fields["state"].as_str()),
        (PluginStatus::Pass, Some("up"))
    );
    assert!(
        out.summary.starts_with("last run ") && out.summary.contains(", next expected "),
        "{}",
        out.summary
    );
    assert!(out.fields["next_expected"].is_string() && out.fields["last_run"].is_string());

    let late = heartbeat(rfc3339_ago(180), "* * * * *", "5m", "$.check.last_ping").await;
    let out = output(&late);
    assert_eq!(
        (out.status, out.fields["state"].as_str()),
        (PluginStatus::Warn, Some("late"))
    );
    assert!(
        out.summary.starts_with("late: expected "),
        "{}",
        out.summary
    );

    let unix_hour_ago = json!(chrono::Utc::now().timestamp() - 3600);
    let down = heartbeat(unix_hour_ago, "* * * * *", "5m", "last_ping").await;
    let out = output(&down);
    assert_eq!(
        (out.status, out.fields["state"].as_str()),
        (PluginStatus::Fail, Some("down"))
    );
    let age = out.fields["age_seconds"].as_i64().unwrap();
    assert!((3600..3660).contains(&age), "age {age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_reports_never_run_and_bad_config_readably() {
    let never = heartbeat(Value::Null, "0 3 * * *", "30m", "last_ping").await;
    let out = output(&never);
    assert_eq!(
        (out.status, out.fields["state"].as_str()),
        (PluginStatus::Unknown, Some("new"))
    );

    let bad = heartbeat(rfc3339_ago(0), "not a cron", "30m", "last_ping").await;
    assert!(
        error(&bad).starts_with("bad schedule \"not a cron\""),
        "{}",
        error(&bad)
    );
    let missing = heartbeat(rfc3339_ago(0), "0 3 * * *", "30m", "nope").await;
    assert_eq!(error(&missing), "no field \"nope\" in the response");

    let description = host().describe(&load("heartbeat")).await.unwrap();
    assert_eq!(description["name"], "heartbeat");
    assert!(description["config"]["schedule"].is_string());
}

// ---------------------------------------------------------------- prometheus-slo

async fn slo(value: &str, extra: Value) -> (PluginOutcome, Vec<Hit>) {
    let value = value.to_owned();
    let server = fake(move |_, _| {
        if value == "none" {
            return Reply::json(
                json!({ "status": "success", "data": { "resultType": "vector", "result": [] } }),
            );
        }
        Reply::json(
            json!({ "status": "success", "data": { "resultType": "vector", "result": [
            { "metric": {}, "value": [1_700_000_000.0, value.clone()] }
        ] } }),
        )
    })
    .await;
    let mut config =
        json!({ "url": server.url("/"), "query": "avg_over_time(up{job=\"api\"}[30d]) * 100" });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mut req = request("slo", config);
    req.allow_http = vec!["127.0.0.1".into()];
    let outcome = host().run(&load("prometheus-slo"), req).await;
    let hits = server.hits.lock().unwrap().clone();
    (outcome, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_slo_compares_the_value_with_target_and_thresholds() {
    let (pass, hits) = slo("99.95", json!({ "target": 99.9 })).await;
    let out = output(&pass);
    assert_eq!(out.status, PluginStatus::Pass);
    assert_eq!(
        (out.fields["value"].as_f64(), out.fields["target"].as_f64()),
        (Some(99.95), Some(99.9))
    );
    assert_eq!(out.summary, "99.95 meets target above 99.9");
    assert_eq!(hits[0].path, "/api/v1/query");
    assert_eq!(
        hits[0].query,
        "query=avg_over_time%28up%7Bjob%3D%22api%22%7D%5B30d%5D%29%20%2A%20100"
    );

    let (fail, _) = slo("99.5", json!({ "target": 99.9 })).await;
    assert_eq!(output(&fail).status, PluginStatus::Fail);
    let (band, _) = slo("99.5", json!({ "target": 99.9, "critical": 99.0 })).await;
    assert_eq!(
        output(&band).status,
        PluginStatus::Warn,
        "between critical and target"
    );
    let (early, _) = slo("99.92", json!({ "target": 99.9, "warn": 99.95 })).await;
    assert_eq!(
        output(&early).status,
        PluginStatus::Warn,
        "target met but below warn"
    );

    let (latency_ok, _) = slo(
        "0.2",
        json!({ "target": 0.3, "direction": "below", "unit": "s" }),
    )
    .await;
    let out = output(&latency_ok);
    assert_eq!(
        (out.status, out.summary.as_str()),
        (PluginStatus::Pass, "0.2s meets target below 0.3s")
    );
    let (latency_bad, _) = slo("0.5", json!({ "target": 0.3, "direction": "below" })).await;
    assert_eq!(output(&latency_bad).status, PluginStatus::Fail);

    let (empty, _) = slo("none", json!({ "target": 99.9 })).await;
    let out = output(&empty);
    assert_eq!(
        (out.status, out.summary.as_str()),
        (PluginStatus::Unknown, "query returned no series")
    );
}

// ---------------------------------------------------------------- scaffold

#[test]
fn scaffolded_plugin_builds_loads_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("my-check");
    villa_telemetry::probe::plugin::scaffold::scaffold("my-check", &crate_dir).unwrap();
    assert!(
        villa_telemetry::probe::plugin::scaffold::scaffold("my-check", &crate_dir).is_err(),
        "must not overwrite"
    );
    assert!(
        villa_telemetry::probe::plugin::scaffold::scaffold("My Check", &dir.path().join("x"))
            .is_err()
    );

    // Its own target dir, kept between runs so wit-bindgen compiles once.
    let target = manifest_dir().join("target/plugin-build-scaffold");
    nested_wasm_build(&crate_dir.join("Cargo.toml"), &target);
    let plugin = host()
        .load(&target.join("wasm32-wasip2/release/my_check.wasm"))
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcome = rt.block_on(host().run(&plugin, request("scaffolded", json!({ "hello": 1 }))));
    let out = output(&outcome);
    assert_eq!(
        (out.status, out.summary.as_str()),
        (PluginStatus::Pass, "all good")
    );
    assert_eq!(out.fields["check_id"], "scaffolded");
    assert_eq!(
        outcome.log.first().map(String::as_str),
        Some("info: running scaffolded with {\"hello\":1}")
    );
    assert_eq!(
        rt.block_on(host().describe(&plugin)).unwrap()["name"],
        "my-check"
    );
}

// ---------------------------------------------------------------- bench

fn median_and_p90(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

/// Not a check of behaviour: measures overhead for BENCHMARKS.md (Plugins).
/// Run it with `benches/plugins.sh` (release build, `--ignored --nocapture`).
#[test]
#[ignore = "benchmark; run via benches/plugins.sh"]
fn bench_plugin_overhead() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["testdata-noop", "heartbeat"] {
        let size = std::fs::metadata(wasm(name)).unwrap().len();
        // A new path each time defeats the cache, so every load compiles.
        let samples = (0..10)
            .map(|i| {
                let path = dir.path().join(format!("{name}-{i}.wasm"));
                std::fs::copy(wasm(name), &path).unwrap();
                let start = Instant::now();
                host().load(&path).unwrap();
                start.elapsed()
            })
            .collect();
        let (median, p90) = median_and_p90(samples);
        println!(
            "BENCH cold load+compile {name} ({} KiB): median {median:?}, p90 {p90:?} (n=10)",
            size / 1024
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let noop = load("testdata-noop");
    // One client, as in the daemon: building one per run costs milliseconds.
    let http = client();
    let samples: Vec<Duration> = rt.block_on(async {
        let mut samples = Vec::new();
        for i in 0..2000 {
            let req = PluginRequest::new("bench", json!({ "i": i }), http.clone());
            let start = Instant::now();
            let outcome = host().run(&noop, req).await;
            let elapsed = start.elapsed();
            assert!(outcome.result.is_ok());
            samples.push(elapsed);
        }
        samples
    });
    let (median, p90) = median_and_p90(samples[100..].to_vec());
    println!(
        "BENCH warm run noop (fresh store + instantiate + call + validate): median {median:?}, p90 {p90:?} (n=1900)"
    );

    let slo_plugin = load("prometheus-slo");
    let samples: Vec<Duration> = rt.block_on(async {
        let server = fake(|_, _| {
            Reply::json(json!({ "status": "success", "data": { "resultType": "scalar", "result": [1.0, "99.95"] } }))
        })
        .await;
        let mut samples = Vec::new();
        for _ in 0..500 {
            let config = json!({ "url": server.url(""), "query": "up", "target": 99.9 });
            let mut req = PluginRequest::new("bench", config, http.clone());
            req.allow_http = vec!["127.0.0.1".into()];
            let start = Instant::now();
            let outcome = host().run(&slo_plugin, req).await;
            samples.push(start.elapsed());
            assert_eq!(output(&outcome).status, PluginStatus::Pass);
        }
        samples
    });
    let (median, p90) = median_and_p90(samples[50..].to_vec());
    println!(
        "BENCH warm run prometheus-slo incl. loopback HTTP: median {median:?}, p90 {p90:?} (n=450)"
    );
}
