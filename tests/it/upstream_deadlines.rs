//! A hung GitHub costs at most the timeout (issue 8): a GitHub look-alike
//! whose workflow-run endpoints answer but whose `compare` and
//! `commits/{sha}/…` endpoints never do. `run` finishes within timeout + 1 s
//! and says what it could not learn and why; `serve` never makes a viewer
//! wait on it and never leaves a refresh running.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use support::{GitRepo, Project};
use tower::ServiceExt;
use villa_telemetry::cli::load_plan;
use villa_telemetry::demo::world::{DEMO_REPO, Scenario, World};
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState};

const TIMEOUT_S: u64 = 2;

/// The two tests measure wall time: one at a time, so neither's world and
/// runs slow the other's clock.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The drift world (staging and production on different commits, CI failed,
/// deploy running) with compare and commit endpoints that never answer, and
/// its config with `[run] timeout` (and `[serve] refresh`) set.
async fn hung_world(tmp: &std::path::Path, repo: &GitRepo, refresh: &str) -> (World, String) {
    let world = World::start(Scenario::Drift, &tmp.join("world"))
        .await
        .expect("start the world");
    world.github.hang(&format!("repos/{DEMO_REPO}/compare/*"));
    world.github.hang(&format!("repos/{DEMO_REPO}/commits/*"));
    // This test's own repository, whose commits the world's GitHub does not
    // know, so "is local HEAD deployed" has to ask GitHub (and time out).
    let clone = world.clone_dir.display().to_string();
    let config = std::fs::read_to_string(&world.config_path)
        .unwrap()
        .replace(&clone, &repo.path().display().to_string())
        .replace("refresh = \"10s\"", &format!("refresh = \"{refresh}\""));
    let config = format!("{config}\n[run]\ntimeout = \"{TIMEOUT_S}s\"\n");
    (world, config)
}

fn timed_out(text: &Value, endpoint: &str) {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("no error text: {text}"));
    assert!(
        text.contains(&format!("timed out after {TIMEOUT_S}s")) && text.contains(endpoint),
        "should name the timeout and {endpoint}: {text}"
    );
}

/// Everything the hung endpoints could not tell is marked, the rest reported.
fn assert_partial_report(r: &Value) {
    // Workflow checks and environments are unaffected.
    assert_eq!(r["ci"]["ci"]["status"], "failure", "{r:#}");
    assert_eq!(r["ci"]["deploy"]["status"], "in_progress", "{r:#}");
    for env in ["local", "staging", "production"] {
        assert!(r["environments"][env]["sha"].is_string(), "{env}: {r:#}");
    }
    let c = &r["comparison"]["staging_vs_production"];
    assert_eq!(c["in_sync"], false, "{c:#}");
    timed_out(&c["error"], &format!("repos/{DEMO_REPO}/compare/"));
    for env in ["staging", "production"] {
        let ci = &r["environments"][env]["ci"];
        assert_eq!(ci["status"], "unknown", "{env}: {ci:#}");
        timed_out(&ci["error"], &format!("repos/{DEMO_REPO}/commits/"));
    }
    // Local HEAD is not in the simulated repository, so GitHub was asked.
    timed_out(
        &r["git"]["deployed_errors"]["production"],
        &format!("repos/{DEMO_REPO}/compare/"),
    );
    assert_eq!(r["status"], "failing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_hung_github_finishes_within_the_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::new();
    repo.commit("local work");
    let (world, config) = hung_world(tmp.path(), &repo, "10s").await;
    let project = Project::new(&config);
    let out = tokio::task::spawn_blocking(move || project.run(&[]))
        .await
        .unwrap();
    let limit = Duration::from_secs(TIMEOUT_S + 1);
    let report = out.json();
    assert!(
        out.elapsed <= limit,
        "run took {:?} (report: {} ms) with a {TIMEOUT_S}s timeout; stderr: {}",
        out.elapsed,
        report["duration_ms"],
        out.stderr
    );
    assert_eq!(out.code, 2, "exit code of a failing report: {}", out.stderr);
    assert_partial_report(&report);
    // The hung endpoints were really asked (and never answered).
    let log = world.github.log();
    assert!(log.iter().any(|r| r.path.contains("/compare/")), "{log:#?}");
    assert!(log.iter().any(|r| r.path.contains("/commits/")), "{log:#?}");
}

async fn get(state: &Arc<AppState>, uri: &str) -> (StatusCode, String) {
    let resp = serve::app(Arc::clone(state))
        .oneshot(
            Request::get(uri)
                .header("host", "127.0.0.1:3003")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_hung_github_never_holds_a_viewer_or_a_refresh() {
    let _one = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::new();
    repo.commit("local work");
    let (_world, config) = hung_world(tmp.path(), &repo, "1s").await;
    let path = tmp.path().join("villa-telemetry.toml");
    std::fs::write(&path, config).unwrap();
    let plan = load_plan(&path).expect("valid config");
    let services = Services::with_token(&plan, None);
    let renderer = Renderer::new(None).expect("templates");
    let state = AppState::new(plan, services, renderer, "127.0.0.1:3003");
    let limit = Duration::from_secs(TIMEOUT_S + 1);

    // The first viewer waits for the first run, which the timeout bounds.
    let started = Instant::now();
    let (status, body) = get(&state, "/api/telemetry/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() <= limit,
        "first answer took {:?}",
        started.elapsed()
    );
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_partial_report(&first);
    assert_eq!(state.runs(), 1);

    // Once the report is stale, a viewer gets it at once while a refresh
    // runs behind it, against the same hung GitHub.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let (status, stale) = get(&state, "/api/telemetry/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a viewer waited {:?} on a refresh",
        started.elapsed()
    );
    assert_eq!(stale, body, "the stale report, not a new one");

    // And that refresh ends within the timeout too: the next run is counted.
    let started = Instant::now();
    while state.runs() < 2 {
        assert!(
            started.elapsed() <= limit,
            "a refresh against a hung GitHub still runs after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, fresh) = get(&state, "/api/telemetry/status").await;
    let fresh: Value = serde_json::from_str(&fresh).unwrap();
    assert_partial_report(&fresh);
}
