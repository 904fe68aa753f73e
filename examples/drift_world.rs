//! The demo's drift world with realistic latency, for benches/drift.sh.
//!
//!   cargo run --release --example drift_world -- [HEALTH_MS] [GITHUB_MS] [DIR] [MAX_SECONDS]
//!
//! Starts the `demo --scenario drift` world (Local, Staging and Production
//! health endpoints, the GitHub look-alike with two workflows, a compare and
//! commit CI for two shas) with every health answer after HEALTH_MS
//! (default 100) and every GitHub answer after GITHUB_MS (default 300).
//! Writes DIR/villa-telemetry.toml (its git check looks at the current
//! directory), prints `CONFIG <path>`, and serves until killed or for
//! MAX_SECONDS (default 900).

use std::time::Duration;

use villa_telemetry::demo::github::ANY_PATH;
use villa_telemetry::demo::world::{Scenario, World};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64, what: &str| -> u64 {
        args.next().map_or(default, |a| {
            a.parse().unwrap_or_else(|_| panic!("{what} is a number"))
        })
    };
    let health_ms = number(100, "HEALTH_MS");
    let github_ms = number(300, "GITHUB_MS");
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join("villa-drift-bench"),
        Into::into,
    );
    let max_seconds: u64 = args
        .next()
        .map_or(900, |a| a.parse().expect("MAX_SECONDS is a number"));
    let world =
        World::start_with_delay(Scenario::Drift, &dir, Duration::from_millis(health_ms)).await?;
    world
        .github
        .delay(ANY_PATH, Duration::from_millis(github_ms));
    println!("CONFIG {}", world.config_path.display());
    tokio::time::sleep(Duration::from_secs(max_seconds)).await;
    drop(world);
    Ok(())
}
