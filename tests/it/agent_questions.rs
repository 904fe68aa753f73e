//! The 12 questions a developer asks after a push (issue 19), answered in
//! every demo scenario from one `GET /api/telemetry/status` and again from
//! the MCP tools (rmcp's client in process); the two answers must agree,
//! and every question must have one (no `null` where the world knows).
//!
//! 1–3. the commit each of local, staging and production runs; 4. in sync?;
//! 5. commits behind, and which; 6. the diff link; 7. CI of the latest
//! commit; 8. the deploy's status, since when, and where it goes; 9. which
//! environment is broken and why; 10. branch and uncommitted changes;
//! 11. is my HEAD deployed to staging, to production; 12. what next.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use villa_telemetry::cli::load_plan;
use villa_telemetry::demo::world::{HEAD_BRANCH, HEAD_SHA, MID_SHA, NEW_SHA, OLD_SHA};
use villa_telemetry::demo::world::{Scenario, World};
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState, mcp::Telemetry};

/// One scenario's world, served in process.
async fn served(scenario: Scenario) -> (tempfile::TempDir, World, Arc<AppState>) {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(scenario, &dir.path().join("world"))
        .await
        .unwrap();
    let mut plan = load_plan(&world.config_path).unwrap();
    // One run answers both sides, so they are about the same facts.
    plan.settings.refresh = Duration::from_secs(3600);
    let services = Services::with_token(&plan, None);
    let state = AppState::new(
        plan,
        services,
        Renderer::new(None).unwrap(),
        "127.0.0.1:3003",
    );
    (dir, world, state)
}

async fn status(state: &Arc<AppState>) -> Value {
    let resp = serve::app(Arc::clone(state))
        .oneshot(
            Request::get("/api/telemetry/status")
                .header("host", "127.0.0.1:3003")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// What each environment runs in `scenario` (now or, when down, last):
/// local, staging, production.
fn runs(scenario: Scenario) -> [&'static str; 3] {
    match scenario {
        Scenario::Healthy => [NEW_SHA, NEW_SHA, NEW_SHA],
        Scenario::Drift => [NEW_SHA, NEW_SHA, OLD_SHA],
        Scenario::Down => [NEW_SHA, MID_SHA, OLD_SHA],
    }
}

/// The sha an environment's object answers: what it reports, else what it
/// last ran.
fn sha_of(env: &Value) -> Option<&str> {
    env["sha"]
        .as_str()
        .or_else(|| env["last_known"]["sha"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_questions_have_one_answer_in_every_scenario_from_status_and_from_mcp() {
    for scenario in [Scenario::Healthy, Scenario::Drift, Scenario::Down] {
        let (_dir, _world, state) = served(scenario).await;
        let r = status(&state).await;

        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn({
            let t = Telemetry::new(Arc::clone(&state));
            async move { t.serve(server_io).await.unwrap().waiting().await }
        });
        let client = ().serve(client_io).await.unwrap();
        let call = |name: &'static str, a: Value| {
            let client = &client;
            async move {
                let r = client
                    .call_tool(
                        CallToolRequestParams::new(name)
                            .with_arguments(a.as_object().cloned().unwrap()),
                    )
                    .await
                    .unwrap();
                assert_ne!(r.is_error, Some(true), "{name}: {r:?}");
                r.structured_content.expect("structured content")
            }
        };
        let s = format!("{scenario:?}");

        // 1–3: what runs where, one field each, the same in one MCP call.
        let environments = call("environments", json!({})).await;
        for (id, want) in ["local", "staging", "production"]
            .into_iter()
            .zip(runs(scenario))
        {
            let got = sha_of(&r["environments"][id]);
            assert!(
                got.is_some_and(|g| want.starts_with(short(g))),
                "{s} Q1-3 {id}: {got:?} != {}",
                short(want)
            );
            assert_eq!(
                sha_of(&environments["environments"][id]),
                got,
                "{s} {id}: MCP environments and status disagree"
            );
        }

        // 4–6: in sync, how far and which commits, the diff link.
        let c = &r["comparison"]["staging_vs_production"];
        let compare = call("compare", json!({"environment": "production"})).await;
        let [_, staging, production] = runs(scenario);
        let in_sync = c["in_sync"]
            .as_bool()
            .unwrap_or_else(|| panic!("{s} Q4: {c:#}"));
        assert_eq!(in_sync, staging == production, "{s} Q4");
        assert_eq!(compare["in_sync"], c["in_sync"], "{s} Q4 MCP");
        if !in_sync {
            let behind = c["commits_behind"].as_u64().expect("Q5 count");
            let listed = c["commits"].as_array().expect("Q5 list");
            assert_eq!(listed.len() as u64, behind, "{s} Q5: a count and its list");
            assert_eq!(compare["commits_behind"], behind, "{s} Q5 MCP");
            assert_eq!(
                compare["commits"].as_array().map(Vec::len),
                Some(listed.len())
            );
            let url = c["diff_url"].as_str().expect("Q6");
            assert!(
                url.contains(&format!("{}...{}", short(production), short(staging))),
                "{s} Q6 {url}"
            );
            assert_eq!(compare["diff_url"], c["diff_url"], "{s} Q6 MCP");
        }

        // 7: CI of the latest commit, one field.
        let latest = &r["assessment"]["latest_commit"];
        assert_eq!(latest["sha"], short(NEW_SHA), "{s} Q7: {latest:#}");
        let want = if scenario == Scenario::Healthy {
            "success"
        } else {
            "failure"
        };
        assert_eq!(latest["status"], want, "{s} Q7");
        let next = call("next_steps", json!({})).await;
        assert_eq!(next["latest_commit"], *latest, "{s} Q7 MCP");

        // 8: the deploy, since when, and where it goes.
        let deploy = &r["ci"]["deploy"];
        assert!(deploy["created_at"].is_string(), "{s} Q8: {deploy:#}");
        match scenario {
            Scenario::Healthy => assert_eq!(deploy["status"], "success", "{s} Q8"),
            Scenario::Drift | Scenario::Down => {
                assert_eq!(deploy["status"], "in_progress", "{s} Q8");
                let to = if scenario == Scenario::Drift {
                    "production"
                } else {
                    "staging"
                };
                assert_eq!(deploy["environment"], to, "{s} Q8 target");
                assert_eq!(
                    environments["environments"][to]["deploy"]["sha"]
                        .as_str()
                        .map(short),
                    Some(short(NEW_SHA)),
                    "{s} Q8 MCP"
                );
            }
        }

        // 9: what is broken and why (with the verdict's cause).
        let broken = r["assessment"]["broken"].as_array().unwrap();
        assert_eq!(next["broken"], r["assessment"]["broken"], "{s} Q9 MCP");
        let envs: Vec<&str> = broken
            .iter()
            .filter_map(|b| b["environment"].as_str())
            .collect();
        match scenario {
            Scenario::Healthy => assert!(broken.is_empty(), "{s} Q9 {broken:#?}"),
            Scenario::Drift => assert!(envs.is_empty() && !broken.is_empty(), "{s} Q9 CI only"),
            Scenario::Down => assert_eq!(envs, ["staging", "production"], "{s} Q9"),
        }
        for b in broken {
            assert!(
                b["why"].is_string() && b["cause"].is_string(),
                "{s} Q9 {b:#}"
            );
        }

        // 10: branch and uncommitted changes.
        let head = &r["assessment"]["local_head"];
        assert_eq!(head["branch"], HEAD_BRANCH, "{s} Q10");
        assert_eq!(head["uncommitted_changes"], 0, "{s} Q10");
        assert_eq!(head["sha"], short(HEAD_SHA), "{s} Q10");

        // 11: is my HEAD deployed — true or false, never null, here.
        let deployed = call("deployed", json!({})).await;
        for id in ["staging", "production"] {
            assert_eq!(head["deployed"][id], false, "{s} Q11 {id}: {head:#}");
            assert_eq!(
                deployed["environments"][id], head["deployed"][id],
                "{s} Q11 MCP {id}: {deployed:#}"
            );
        }

        // 12: what next, the same first step both ways.
        let steps = r["assessment"]["next_steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{s} Q12");
        assert_eq!(
            next["next_steps"], r["assessment"]["next_steps"],
            "{s} Q12 MCP"
        );

        client.cancel().await.unwrap();
        let _ = server.await;
    }
}
