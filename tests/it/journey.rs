//! A commit's journey (issue 21) against the demo world, whose GitHub
//! deployment and run times are relative to the test's clock: a commit
//! contained in staging but not yet in production (live since, the deploy
//! bringing it, the expected arrival), from the clone and from GitHub's
//! compare; a deploy at 3× its usual duration (`slow`) and an orphaned
//! `in_progress` deployment (`superseded`); `where` and `run --journey`
//! from the binary, and the `journey` MCP tool.

use std::path::Path;
use std::sync::Arc;

use assert_cmd::Command;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use villa_telemetry::cli::load_plan;
use villa_telemetry::demo::world::{DEMO_REPO, MID_SHA, NEW_SHA, OLD_SHA, Scenario, World};
use villa_telemetry::outcome::JourneyAsk;
use villa_telemetry::pipeline;
use villa_telemetry::render::{Format, Renderer};
use villa_telemetry::report::journey::{Journey, StopState};
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{AppState, mcp::Telemetry};

use crate::support::{self, Outcome};

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// GitHub's cost of one step: requests sent, rate-limit points spent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost {
    requests: u64,
    points: u64,
}

/// The journey of `ask` in `world` with `services` (a run, then the
/// journey's lookups), and what the run and the lookups each cost.
async fn journey_of(world: &World, services: &Services, ask: JourneyAsk) -> (Journey, Cost, Cost) {
    let plan = load_plan(&world.config_path).unwrap();
    let mut report = pipeline::run(&plan, services, None).await;
    let cost = |r: &villa_telemetry::report::Report| {
        let g = r.github.as_ref().unwrap();
        Cost {
            requests: g.requests,
            points: g.rate_limit_points,
        }
    };
    let run = cost(&report);
    let j = pipeline::journey(&plan, services, &mut report, ask).await;
    let after = cost(&report);
    let lookups = Cost {
        requests: after.requests - run.requests,
        points: after.points - run.points,
    };
    (j, run, lookups)
}

/// MID is an ancestor of NEW, which staging runs (deploy #812) and #809
/// brought; production runs OLD, and #813 (NEW, 3 min old) is on its way,
/// expected at its creation plus production's usual 4 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_staging_but_not_production_is_arriving() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, None);
    let (j, run_cold, cold) =
        journey_of(&world, &services, JourneyAsk::Sha(MID_SHA[..7].into())).await;
    assert_eq!(
        j.sha.as_deref(),
        Some(MID_SHA),
        "the short sha resolved by git"
    );
    assert_eq!(j.pushed, Some(true));
    let staging = &j.environments["staging"];
    assert_eq!(staging.state, StopState::Live, "{j:#?}");
    assert_eq!(
        staging.deployment,
        Some(809),
        "#812 and #809 have it, #801 not"
    );
    let since = staging.since.unwrap();
    let ago = Utc::now() - since;
    assert!(
        ago > Duration::hours(24) && ago < Duration::hours(25),
        "{since}"
    );
    let prod = &j.environments["production"];
    assert_eq!(prod.state, StopState::Arriving, "{j:#?}");
    let d = prod.deploy.as_ref().unwrap();
    assert_eq!((d.deployment, d.usual_s), (813, Some(240)));
    assert_eq!(d.expected_at, Some(d.created_at + Duration::seconds(240)));
    assert!(d.slow.is_none());
    let clock = d.expected_at.unwrap().format("%H:%M").to_string();
    assert_eq!(
        prod.text,
        format!("not yet, expected ~{clock} (deploy #813)")
    );
    assert!(
        j.summary.contains(&format!(
            "staging: live since {}",
            since.format("%Y-%m-%d %H:%M")
        )),
        "{}",
        j.summary
    );

    // Asked again with the same clients: every answer is a 304 or remembered.
    let (again, run_warm, warm) =
        journey_of(&world, &services, JourneyAsk::Sha(MID_SHA.into())).await;
    assert_eq!(again.environments, j.environments);
    eprintln!(
        "where (clone has both): run {run_cold:?} + journey {cold:?} cold; run {run_warm:?} + journey {warm:?} warm"
    );
    assert!(cold.points >= 1, "pushed and CI are GitHub's: {cold:?}");
    assert_eq!(warm.points, 0, "nothing new costs nothing: {warm:?}");
    assert_eq!(
        again.ci.as_ref().map(|c| c.status),
        j.ci.as_ref().map(|c| c.status)
    );
}

/// Without the clone, GitHub's compare says which commits contain it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_clone_githubs_compare_answers() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    // The world scripts older...newer compares only; production's commit
    // (reported short, deployed full) is behind MID.
    let behind = world.github.fixtures().compare_with("behind", 0, 1);
    for old in [OLD_SHA, &OLD_SHA[..7]] {
        world.github.set(
            &format!("repos/{DEMO_REPO}/compare/{MID_SHA}...{old}"),
            200,
            behind.clone(),
            &[],
        );
    }
    std::fs::remove_dir_all(&world.clone_dir).unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, None);
    let (j, _, cold) = journey_of(&world, &services, JourneyAsk::Sha(MID_SHA.into())).await;
    let (staging, prod) = (&j.environments["staging"], &j.environments["production"]);
    assert_eq!(
        (staging.state, staging.deployment),
        (StopState::Live, Some(809)),
        "{j:#?}"
    );
    assert_eq!(
        serde_json::to_value(staging.source).unwrap(),
        json!("github")
    );
    assert_eq!(prod.state, StopState::Arriving, "{j:#?}");
    let compares = |w: &World| {
        w.github
            .log()
            .iter()
            .filter(|r| r.path.contains("/compare/"))
            .count()
    };
    assert!(compares(&world) >= 2, "{:?}", world.github.log());
    let (_, _, warm) = journey_of(&world, &services, JourneyAsk::Sha(MID_SHA.into())).await;
    eprintln!("journey lookups without the clone: {cold:?} cold, {warm:?} warm");
    assert_eq!(warm.points, 0, "compares answered 304: {warm:?}");
}

/// GitHub's deployment list and statuses of `env`, newest first:
/// (id, sha, state, created this long ago, took this long to its status).
fn script_history(world: &World, env: &str, history: &[(u64, &str, &str, i64, i64)]) {
    let fx = world.github.fixtures();
    let listed = fx.body("official/deployments_list.json").unwrap();
    let statuses = fx.body("official/deployment_statuses_list.json").unwrap();
    let now = Utc::now();
    let base = format!("repos/{DEMO_REPO}");
    let mut list = Vec::new();
    for &(id, sha, state, created_s_ago, took_s) in history {
        let created = now - Duration::seconds(created_s_ago);
        let status_at = rfc(created + Duration::seconds(took_s));
        let mut d = listed[0].clone();
        d["id"] = json!(id);
        d["sha"] = json!(sha);
        d["ref"] = json!("main");
        d["environment"] = json!(env);
        d["created_at"] = json!(rfc(created));
        d["updated_at"] = json!(status_at);
        list.push(d);
        let mut s = statuses.clone();
        s[0]["state"] = json!(state);
        s[0]["created_at"] = json!(status_at);
        s[0]["updated_at"] = json!(status_at);
        s[0]["log_url"] = json!(format!("https://github.com/{DEMO_REPO}/actions/runs/{id}"));
        world
            .github
            .set(&format!("{base}/deployments/{id}/statuses"), 200, s, &[]);
    }
    // The deployment check asks for one, the history for the world's five.
    for per_page in [1, 5] {
        world.github.set(
            &format!("{base}/deployments?environment={env}&per_page={per_page}"),
            200,
            json!(list[..per_page.min(list.len())]),
            &[],
        );
    }
}

/// The Deploy workflow running for 9m 30s, after five runs of 3m 10s.
fn script_slow_deploy_run(world: &World) {
    let now = Utc::now();
    let mut list = world.github.fixtures().workflow_runs_with(
        "in_progress",
        None,
        Some(now - Duration::seconds(570)),
    );
    let first = list["workflow_runs"][0].clone();
    let mut runs = vec![first.clone()];
    for i in 1..=5 {
        let started = now - Duration::hours(i);
        let mut r = first.clone();
        r["status"] = json!("completed");
        r["conclusion"] = json!("success");
        r["run_started_at"] = json!(rfc(started));
        r["created_at"] = json!(rfc(started));
        r["updated_at"] = json!(rfc(started + Duration::seconds(190)));
        runs.push(r);
    }
    for r in &mut runs {
        r["name"] = json!("Deploy");
        r["head_sha"] = json!(NEW_SHA);
        r["head_branch"] = json!("main");
    }
    list["workflow_runs"] = Value::Array(runs);
    list["total_count"] = json!(6);
    world.github.set(
        &format!("repos/{DEMO_REPO}/actions/workflows/deploy.yml/runs"),
        200,
        list,
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_at_three_times_its_usual_duration_is_slow_and_an_orphan_is_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    const H: i64 = 3600;
    script_history(
        &world,
        "production",
        &[
            (906, NEW_SHA, "in_progress", 570, 10),
            (905, OLD_SHA, "success", 3 * H, 190),
            // Never finished on GitHub, and #905 went live after it.
            (904, MID_SHA, "in_progress", 4 * H, 20),
            (903, OLD_SHA, "success", 5 * H, 180),
            (902, OLD_SHA, "success", 6 * H, 200),
        ],
    );
    script_slow_deploy_run(&world);
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, None);
    let mut report = pipeline::run(&plan, &services, None).await;

    let json = serde_json::to_value(&report).unwrap();
    let deployments = json["environments"]["production"]["deployments"]
        .as_array()
        .unwrap();
    let superseded: Vec<u64> = deployments
        .iter()
        .filter(|d| d["superseded"] == true)
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    assert_eq!(superseded, [904], "{deployments:#?}");
    let timeline = json["environments"]["production"]["timeline"]
        .as_array()
        .unwrap();
    let orphan = timeline.iter().find(|e| e["deployment"] == 904).unwrap();
    assert_eq!(orphan["state"], "superseded");

    // `superseded` and `slow` are in the report's schema.
    let schema: Value =
        serde_json::from_str(&villa_telemetry::report::schema::report_schema_json()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&json), "the report follows its schema");
    for def in ["Slow", "DeploymentEntry"] {
        let props = &schema["$defs"][def]["properties"];
        assert!(props.is_object(), "{def}: {:#}", schema["$defs"][def]);
    }
    assert!(schema["$defs"]["CiRun"]["properties"]["slow"].is_object());
    assert!(schema["$defs"]["DeploymentEntry"]["properties"]["superseded"].is_object());

    // The workflow run: slower than its recent runs, before stalled_after.
    let run = &json["ci"]["deploy"];
    assert_eq!(run["slow"]["usual_s"], 190, "{run:#}");
    assert_eq!(run["slow"]["runs"], 5);
    assert!(run["slow"]["running_s"].as_u64().unwrap() >= 570);
    let summary = support::check(&json, "deploy", None)["summary"]
        .as_str()
        .unwrap();
    assert!(
        summary.contains("(usually takes 3m 10s, running 9m"),
        "{summary}"
    );

    // The assessment says it where it says the deploy is running.
    let said = serde_json::to_string(&json["assessment"]).unwrap();
    assert!(
        said.contains("slower than usual: usually takes 3m 10s, running 9m"),
        "{:#}",
        json["assessment"]
    );

    // Every format shows both where the run and the deployment are listed.
    let r = Renderer::new(None).unwrap();
    let extras = villa_telemetry::render::RenderExtras::default();
    let html = r.render(Format::Html, &report, &extras).unwrap();
    let slow_line = html
        .split("data-testid=\"ci-slow-deploy\"")
        .nth(1)
        .expect("the dashboard's CI row says the run is slow");
    assert!(
        slow_line.contains("slower than usual: usually takes 3m 10s, running 9m"),
        "{slow_line:.300}"
    );
    let card = html
        .split("data-testid=\"deployments-production\"")
        .nth(1)
        .unwrap();
    let card = &card[..card.find("</ol>").unwrap()];
    assert_eq!(card.matches(">superseded</span>").count(), 1, "{card}");
    assert!(
        card.contains("data-testid=\"superseded-production-2\""),
        "{card}"
    );
    let text = r.render(Format::Text, &report, &extras).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("Deploy:")
            && l.contains("slower than usual: usually takes 3m 10s, running 9m")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("superseded") && l.contains("GitHub still says in_progress")),
        "{text}"
    );
    let md = r.render(Format::Markdown, &report, &extras).unwrap();
    assert!(
        md.contains("slower than usual: usually takes 3m 10s"),
        "{md}"
    );
    assert!(md.contains("superseded (GitHub: in_progress)"), "{md}");

    // The journey: #906 brings NEW to production, 3x late.
    let j = pipeline::journey(
        &plan,
        &services,
        &mut report,
        JourneyAsk::Sha(NEW_SHA.into()),
    )
    .await;
    let prod = &j.environments["production"];
    let d = prod.deploy.as_ref().expect("#906 is under way");
    assert_eq!(d.deployment, 906);
    let slow = d.slow.expect("3x its usual duration");
    assert_eq!((slow.usual_s, slow.p95_s), (190, 200));
    assert!(
        prod.text
            .starts_with("not yet, deploy #906 usually takes 3m 10s, running 9m"),
        "{}",
        prod.text
    );
    // MID came only with #904, which never finished: nothing brings it
    // but #906 (NEW contains MID).
    let mid = pipeline::journey(
        &plan,
        &services,
        &mut report,
        JourneyAsk::Sha(MID_SHA.into()),
    )
    .await;
    assert_eq!(
        mid.environments["production"]
            .deploy
            .as_ref()
            .map(|d| d.deployment),
        Some(906)
    );
}

fn bin(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("villa-telemetry").expect("binary built");
    support::clean_env(&mut cmd);
    cmd.args(args).arg("--config").arg(config);
    cmd
}

async fn exec(cmd: Command) -> Outcome {
    tokio::task::spawn_blocking(move || support::execute(cmd))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_prints_a_line_per_environment() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    let config = world.config_path.clone();

    let out = exec(bin(&config, &["where", &MID_SHA[..8]])).await;
    assert_eq!(out.code, 0, "stdout {}\nstderr {}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "{} ({}): pushed, CI ",
            &MID_SHA[..7],
            &MID_SHA[..8]
        )),
        "{}",
        out.stdout
    );
    assert!(lines[1].starts_with("local: "), "{}", out.stdout);
    assert!(
        lines[2].starts_with("staging: live since ") && lines[2].ends_with("(deploy #809)"),
        "{}",
        out.stdout
    );
    assert!(
        lines[3].starts_with("production: not yet, expected ~")
            && lines[3].ends_with("(deploy #813)"),
        "{}",
        out.stdout
    );

    // A pull request by its number: its head commit, as GitHub says.
    let mut pr = world.github.fixtures().body("pulls_list.json").unwrap()[0].clone();
    pr["number"] = json!(43);
    pr["head"]["sha"] = json!(MID_SHA);
    world
        .github
        .set(&format!("repos/{DEMO_REPO}/pulls/43"), 200, pr, &[]);
    let out = exec(bin(&config, &["where", "#43", "--format", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    assert_eq!(
        (j["asked"].as_str(), j["sha"].as_str()),
        (Some("#43"), Some(MID_SHA))
    );
    assert_eq!(j["environments"]["production"]["state"], "arriving");
    assert_eq!(j["environments"]["production"]["deploy"]["deployment"], 813);

    // An unknown pull request: no commit to follow (exit 2); a bad argument (exit 3).
    let out = exec(bin(&config, &["where", "#99"])).await;
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("#99: #99: "), "{}", out.stdout);
    let out = exec(bin(&config, &["where", "not-a-sha"])).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("7 to 40 hex digits"), "{}", out.stderr);

    // HEAD (the default) is one commit past NEW on its branch: nowhere yet.
    let out = exec(bin(&config, &["where"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\nstaging: not yet\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\nproduction: not yet\n"),
        "{}",
        out.stdout
    );

    // The markdown report carries the journey as a table for a PR comment.
    let out = exec(bin(
        &config,
        &["run", "--format", "markdown", "--journey", &MID_SHA[..7]],
    ))
    .await;
    assert_eq!(out.code, 2, "the drift world is failing: {}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "### Where is `{}` ({})",
            &MID_SHA[..7],
            &MID_SHA[..7]
        )),
        "{}",
        out.stdout
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("| production | not yet, expected ~"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(row.contains("#813"), "{row}");
    // Text: the same lines under their own heading.
    let out = exec(bin(&config, &["run", "--journey", &MID_SHA[..7]])).await;
    assert!(
        out.stdout
            .contains(&format!("WHERE IS {} ({})", &MID_SHA[..7], &MID_SHA[..7])),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\nstaging: live since "),
        "{}",
        out.stdout
    );
    // JSON: the report's top-level `journey`, valid against its schema.
    let out = exec(bin(&config, &["run", "--format", "json", "--journey"])).await;
    let report = out.json();
    assert_eq!(report["journey"]["asked"], "HEAD");
    let schema: Value =
        serde_json::from_str(&villa_telemetry::report::schema::report_schema_json()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&report), "{:#}", report["journey"]);
    let plain = exec(bin(&config, &["run", "--format", "json"]))
        .await
        .json();
    assert!(plain.get("journey").is_none(), "only when asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_tool_answers_over_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, None);
    let state = AppState::new(
        plan,
        services,
        Renderer::new(None).unwrap(),
        "127.0.0.1:3003",
    );
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn({
        let t = Telemetry::new(Arc::clone(&state));
        async move { t.serve(server_io).await.unwrap().waiting().await }
    });
    let client = ().serve(client_io).await.unwrap();
    let call = |sha: Option<&str>| {
        let mut a = serde_json::Map::new();
        if let Some(s) = sha {
            a.insert("sha".into(), json!(s));
        }
        CallToolRequestParams::new("journey").with_arguments(a)
    };
    let r = client.call_tool(call(Some(MID_SHA))).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let j = r.structured_content.unwrap();
    assert_eq!(j["environments"]["staging"]["state"], "live", "{j:#}");
    assert_eq!(j["environments"]["production"]["state"], "arriving");
    let bytes = serde_json::to_string(&j).unwrap().len();
    eprintln!("journey tool answer: {bytes} bytes");
    assert!(bytes < 3072, "a small answer: {bytes} bytes");
    let r = client.call_tool(call(None)).await.unwrap();
    assert_eq!(r.structured_content.unwrap()["asked"], "HEAD");
    let r = client.call_tool(call(Some("nope"))).await.unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    drop(client);
    server.abort();
}
