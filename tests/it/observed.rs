//! What `serve` observes between refreshes (issue 20), end to end through a
//! running server's state and its JSON API: a loopback upstream answers,
//! then fails, then answers again. The onset is the refresh that first saw
//! the failure (`precision: observed`), it stays put while the failure
//! lasts, the last good commit is the one seen healthy, and the recovery is
//! an event of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState};

const SHA: &str = "abc1234def5678abc1234def5678abc1234def56";

/// An upstream whose `/health` answers `status` with staging's sha.
async fn upstream(status: Arc<AtomicU16>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let status = Arc::clone(&status);
            async move {
                let code = StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                (code, axum::Json(serde_json::json!({ "sha": SHA })))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn status_json(state: &Arc<AppState>) -> Value {
    let r = serve::app(Arc::clone(state))
        .oneshot(
            Request::get("/api/telemetry/status.json")
                .header("host", "127.0.0.1:3003")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn observed(env: &Value) -> Vec<(&str, &str)> {
    env["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "observed")
        .map(|e| (e["kind"].as_str().unwrap(), e["at"].as_str().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dates_a_failure_by_the_refresh_that_saw_it_and_keeps_that_onset() {
    let status = Arc::new(AtomicU16::new(200));
    let base = upstream(Arc::clone(&status)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(
        &path,
        format!(
            "[project]\nname = \"Observed\"\n\n[serve]\nrefresh = \"1h\"\n\n[[environments]]\nid = \"staging\"\nurl = \"{base}\"\n\n[[checks]]\nid = \"health\"\nenvironments = [\"*\"]\nhttp = {{ url = \"{{{{env.url}}}}/health\" }}\nextract = {{ sha = \"$.sha\" }}\n"
        ),
    )
    .unwrap();
    let plan = villa_telemetry::cli::load_plan(&path).expect("valid config");
    let services = Services::with_token(&plan, None);
    let state = AppState::new(
        plan,
        services,
        Renderer::new(None).unwrap(),
        "127.0.0.1:3003",
    );

    let healthy = state.current().await;
    let up = &healthy.report.environments["staging"];
    assert_eq!(up.status.as_str(), "healthy");
    assert!(up.failing_since.is_none());
    let seen_healthy_at = healthy.report.timestamp;

    status.store(500, Ordering::SeqCst);
    let failing = state.refresh_now().await;
    let onset = failing.report.timestamp;
    let json = status_json(&state).await;
    let env = &json["environments"]["staging"];
    assert_eq!(env["status"], "failing", "{env:#}");
    let onset_text = env["failing_since"]["at"].as_str().unwrap().to_owned();
    assert_eq!(env["failing_since"]["precision"], "observed", "{env:#}");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&onset_text).unwrap(),
        onset,
        "the onset is the refresh that first saw it fail"
    );
    assert_eq!(observed(env), [("became_failing", onset_text.as_str())]);
    assert_eq!(env["last_good"]["sha"], SHA, "{env:#}");
    assert_eq!(env["last_good"]["source"], "observed");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(env["last_good"]["at"].as_str().unwrap()).unwrap(),
        seen_healthy_at,
        "last good: the refresh that saw it healthy"
    );

    // Still failing one refresh later: the onset does not move.
    let later = state.refresh_now().await;
    assert!(later.report.timestamp > onset);
    let json = status_json(&state).await;
    let env = &json["environments"]["staging"];
    assert_eq!(env["failing_since"]["at"], onset_text.as_str(), "{env:#}");
    assert_eq!(observed(env), [("became_failing", onset_text.as_str())]);

    // It answers again: a recovery event, newest first, and no onset.
    status.store(200, Ordering::SeqCst);
    let recovered = state.refresh_now().await;
    let json = status_json(&state).await;
    let env = &json["environments"]["staging"];
    assert_eq!(env["status"], "healthy");
    assert!(
        env.get("failing_since").is_none_or(Value::is_null),
        "{env:#}"
    );
    let events = observed(env);
    assert_eq!(events.len(), 2, "{env:#}");
    assert_eq!(events[0].0, "became_healthy");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(events[0].1).unwrap(),
        recovered.report.timestamp
    );
    assert_eq!(events[1], ("became_failing", onset_text.as_str()));
}
