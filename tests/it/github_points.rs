//! What repeated `run`s cost in rate-limit points: an agent calling `run`
//! again and again while nothing changed spends none, with the deployment
//! history and the pull requests behind a drift on. It sets XDG_CACHE_HOME, which is only
//! sound while no other thread runs: it runs alone in a child process.

use std::time::Duration;

use serde_json::json;
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::FakeGithub;
use villa_telemetry::demo::world::start_service;
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");

#[test]
fn repeated_runs_spend_no_points_while_nothing_changed() {
    if !crate::support::isolated(
        "github_points::repeated_runs_spend_no_points_while_nothing_changed",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // SAFETY: alone in its own process (support::isolated) and no runtime
    // started yet, so no other thread reads the environment.
    unsafe { std::env::set_var("XDG_CACHE_HOME", &cache) };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let fake = FakeGithub::start(FIXTURES).await.expect("fake GitHub");
        let health = |id: &'static str, sha: &'static str| {
            start_service(
                id,
                200,
                json!({ "status": "ok", "commit": sha }),
                Duration::ZERO,
            )
        };
        let staging = health("staging", "cbefe7c").await.unwrap();
        let production = health("production", "53004a6").await.unwrap();
        let text = format!(
            r#"[project]
name = "Villa"
repo = "octo/villa"

[github]
api_url = "{}"
history = 5

[[environments]]
id = "staging"
url = "{}"

[[environments]]
id = "production"
url = "{}"
tracks = "staging"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
extract = {{ sha = "$.commit" }}

[[checks]]
id = "ci"
github = {{ workflow = "ci.yml", branch = "main" }}

[[checks]]
id = "deployment"
environments = ["*"]
github = {{ deployment = "{{{{env.id}}}}" }}
"#,
            fake.url(),
            staging.url,
            production.url
        );
        let path = tmp.path().join("villa-telemetry.toml");
        std::fs::write(&path, text).unwrap();
        let plan = load_plan(&path).unwrap();

        let mut spent = Vec::new();
        for _ in 0..3 {
            // New Services each time: nothing shared in memory, as between processes.
            let report = run_with(&plan, &Services::with_token(&plan, None)).await;
            let c = &report.comparison["staging_vs_production"];
            assert_eq!(c.pull_requests.len(), 1, "{c:#?}");
            assert_eq!(report.environments["production"].deployments.len(), 1);
            let gh = report.github.expect("github block");
            spent.push((gh.requests, gh.not_modified, gh.rate_limit_points));
        }
        eprintln!("requests, 304s, points per run: {spent:?}");
        // Points, not requests: on loopback a shared call can finish before
        // its twin is first polled, and the twin asks again (a free 304).
        let (cold, cold_304, cold_points) = spent[0];
        assert_eq!(cold_points, cold - cold_304, "{spent:?}");
        assert!(cold_points > 0, "{spent:?}");
        for &(requests, not_modified, points) in &spent[1..] {
            assert!(
                requests >= cold_points,
                "the same calls, all conditional: {spent:?}"
            );
            assert_eq!(not_modified, requests, "{spent:?}");
            assert_eq!(points, 0, "{spent:?}");
        }
    });
}
