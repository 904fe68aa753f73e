//! Slow loopback upstreams for the `serve` benchmark (benches/serve.sh).
//!
//!   cargo run --release --example serve_upstreams -- [CHECKS] [DELAY_MS] [DIR]
//!
//! Serves `GET /c/N` (N < CHECKS) answering `{"status":"ok",...}` after
//! DELAY_MS (default 1000), and `GET /count` with the number of check
//! requests answered so far. Writes DIR/villa-telemetry.toml with CHECKS http
//! checks against it, prints `CONFIG <path>` and `UPSTREAM <url>`, and runs
//! until killed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

#[derive(Clone)]
struct Upstream {
    delay: Duration,
    requests: Arc<AtomicU64>,
}

async fn check(State(u): State<Upstream>, Path(n): Path<u32>) -> axum::Json<serde_json::Value> {
    u.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(u.delay).await;
    axum::Json(
        serde_json::json!({ "status": "ok", "version": "1.0.0", "commit": "abc1234", "n": n }),
    )
}

async fn count(State(u): State<Upstream>) -> String {
    format!("{}\n", u.requests.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let checks: u32 = args
        .next()
        .map_or(100, |a| a.parse().expect("CHECKS is a number"));
    let delay_ms: u64 = args
        .next()
        .map_or(1000, |a| a.parse().expect("DELAY_MS is a number"));
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join("villa-serve-bench"),
        Into::into,
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = Upstream {
        delay: Duration::from_millis(delay_ms),
        requests: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/c/{n}", get(check))
        .route("/count", get(count))
        .with_state(state);

    let mut config = format!(
        "[project]\nname = \"Bench\"\n\n[serve]\nrefresh = \"30s\"\n\n\
         [[environments]]\nid = \"production\"\nname = \"Production\"\nurl = \"{url}\"\n\n"
    );
    for n in 0..checks {
        config.push_str(&format!(
            "[[checks]]\nid = \"c{n:03}\"\nenvironments = [\"production\"]\n\
             http = {{ url = \"{{{{env.url}}}}/c/{n}\" }}\nexpect = [\"status == 200\", \"$.status == 'ok'\"]\n\
             extract = {{ version = \"$.version\", sha = \"$.commit\" }}\n\n"
        ));
    }
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, config)?;
    println!("CONFIG {}", path.display());
    println!("UPSTREAM {url}");
    axum::serve(listener, app).await
}
