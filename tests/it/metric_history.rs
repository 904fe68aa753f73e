//! `serve`'s in-memory history draws a metric card's sparkline when the
//! probe brings no trend of its own (a JSON stats endpoint),
//! and metric panels follow the config's order, not the check ids'.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use villa_telemetry::cli::load_plan;
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState};

/// A stats endpoint whose `value` grows by 100 ms on every request.
async fn stats() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/stats",
        axum::routing::get(move || {
            let hits = Arc::clone(&hits);
            async move {
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                axum::Json(serde_json::json!({ "value": 100 * n, "sessions": 7 }))
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/stats")
}

/// Serves `config` on a free loopback port; returns its base URL.
async fn serve_config(config: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, config).unwrap();
    let plan = load_plan(&path).expect("valid config");
    let services = Services::with_token(&plan, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = AppState::new(plan, services, Renderer::new(None).unwrap(), &addr);
    let app = serve::app(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), dir)
}

async fn get(url: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.text().await.unwrap()
}

/// The `<svg class="spark" …>` of the card `key`, if it has one.
fn spark_of<'a>(html: &'a str, key: &str) -> Option<&'a str> {
    let card = html
        .split(&format!("data-testid=\"metric-{key}\""))
        .nth(1)?;
    let card = &card[..card.find("</article>").unwrap_or(card.len())];
    let svg = card.split("<svg class=\"spark\"").nth(1)?;
    Some(&svg[..svg.find("</svg>")?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refreshes_draw_a_two_point_sparkline_from_serve_history() {
    let stats = stats().await;
    let (base, _dir) = serve_config(&format!(
        r#"[serve]
refresh = "1h"

[[checks]]
id = "latency"
name = "p95 latency"
panel = "Performance"
http = {{ url = "{stats}" }}
metric = {{ value = "$.value", unit = "ms", warn = "> 800" }}
"#
    ))
    .await;

    let first = get(&format!("{base}/?refresh=1")).await;
    assert!(first.contains("data-testid=\"metric-latency\""), "{first}");
    assert_eq!(spark_of(&first, "latency"), None, "one report: no line yet");

    let second = get(&format!("{base}/?refresh=1")).await;
    let spark = spark_of(&second, "latency").expect("a sparkline after two refreshes");
    assert!(
        spark.contains("aria-label=\"Last 2 values: 100 ms to 200 ms\""),
        "{spark}"
    );
    // Two points: the first (lower) value bottom left, the second top right.
    assert!(
        spark.contains("<polyline points=\"0.0,33.0 160.0,3.0\"/>"),
        "{spark}"
    );

    // The JSON report holds this run's value; the history is serve's own.
    let json: serde_json::Value =
        serde_json::from_str(&get(&format!("{base}/api/telemetry/status")).await).unwrap();
    let latency = &json["checks"][0];
    assert_eq!(latency["metric"]["value"], 200.0, "{latency}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_and_their_cards_follow_the_config_order_not_the_ids() {
    let stats = stats().await;
    // Declared: zeta (Traffic), alpha (Cost), beta (Traffic), gamma (Traffic).
    // By id that would be Cost first, and beta before zeta.
    let (base, _dir) = serve_config(&format!(
        r#"[[checks]]
id = "zeta"
panel = "Traffic"
http = {{ url = "{stats}" }}
metric = {{ value = "$.value", unit = "req/s" }}

[[checks]]
id = "alpha"
panel = "Cost"
http = {{ url = "{stats}" }}
metric = {{ value = "$.value", unit = "$" }}

[[checks]]
id = "beta"
panel = "Traffic"
http = {{ url = "{stats}" }}
metric = {{ value = "$.sessions" }}

[[checks]]
id = "gamma"
panel = "Traffic"
http = {{ url = "{stats}" }}
metric = {{ value = "$.sessions" }}
"#
    ))
    .await;
    let html = get(&format!("{base}/")).await;
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} not on the page"))
    };
    assert!(
        at("data-testid=\"panel-traffic\"") < at("data-testid=\"panel-cost\""),
        "panels in config order"
    );
    assert!(at("data-testid=\"metric-zeta\"") < at("data-testid=\"metric-beta\""));
    assert!(at("data-testid=\"metric-beta\"") < at("data-testid=\"metric-gamma\""));
    assert!(at("data-testid=\"metric-gamma\"") < at("data-testid=\"panel-cost\""));

    let text = get(&format!("{base}/api/telemetry/status.txt")).await;
    let zeta = text.find("zeta").expect("zeta in text");
    let beta = text.find("beta").expect("beta in text");
    let alpha = text.find("alpha").expect("alpha in text");
    assert!(zeta < beta && beta < alpha, "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&get(&format!("{base}/api/telemetry/status")).await).unwrap();
    assert_eq!(
        json["panels"],
        serde_json::json!({ "Traffic": ["zeta", "beta", "gamma"], "Cost": ["alpha"] })
    );
    let ids: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["alpha", "beta", "gamma", "zeta"],
        "checks stay sorted by id"
    );
}
