//! `villa-telemetry gate --env production` (issue 21) end to end against
//! the demo world: the drift world is not safe to promote (CI failed on
//! staging's commit, a deploy to production is running), the healthy one
//! has nothing to promote, and `--wait` passes once the fake GitHub turns
//! green and the deploy completes.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use chrono::Utc;
use serde_json::{Value, json};
use villa_telemetry::demo::world::{DEMO_REPO, NEW_SHA, Scenario, World};

use crate::support::{self, Outcome};

fn gate_cmd(config: &Path, extra: &[&str]) -> Command {
    env_cmd(config, "production", extra)
}

fn env_cmd(config: &Path, env: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("villa-telemetry").expect("binary built");
    support::clean_env(&mut cmd);
    cmd.arg("gate")
        .args(["--env", env, "--config"])
        .arg(config)
        .args(extra);
    cmd
}

/// Runs the binary off the runtime's threads, so the world keeps answering.
async fn gate(config: &Path, extra: &[&str]) -> Outcome {
    let cmd = gate_cmd(config, extra);
    tokio::task::spawn_blocking(move || support::execute(cmd))
        .await
        .unwrap()
}

fn codes(gate: &Value) -> Vec<&str> {
    gate["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_not_safe_to_promote_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();

    let out = gate(&world.config_path, &["--format", "json"]).await;
    assert_eq!(out.code, 1, "stdout {}\nstderr {}", out.stdout, out.stderr);
    let g = out.json();
    assert_eq!(g["pass"], false);
    let codes = codes(&g);
    assert!(codes.contains(&"ci_not_passed"), "{g:#}");
    assert!(codes.contains(&"deploy_running"), "{g:#}");
    assert_eq!(g["promoting"]["from"], "staging");
    assert_eq!(g["promoting"]["from_sha"], &NEW_SHA[..7]);

    // Text: the verdict, then each reason on its own line.
    let out = gate(&world.config_path, &[]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("not safe to promote staging to production"),
        "{}",
        out.stdout
    );
    let reasons: Vec<&&str> = lines.iter().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(reasons.len(), codes.len(), "{}", out.stdout);
    assert!(
        reasons
            .iter()
            .any(|l| l.contains(&format!("CI on staging's commit {} failed", &NEW_SHA[..7]))),
        "{}",
        out.stdout
    );
    assert!(
        reasons
            .iter()
            .any(|l| l.starts_with("- a deploy to production is running")),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_in_sync_has_nothing_to_promote() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Healthy, dir.path()).await.unwrap();
    let out = gate(&world.config_path, &[]).await;
    assert_eq!(out.code, 0, "stdout {}\nstderr {}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("nothing to promote: production already runs staging's commit"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_untracking_env_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Healthy, dir.path()).await.unwrap();
    // Staging tracks nothing.
    let cmd = env_cmd(&world.config_path, "staging", &[]);
    let out = tokio::task::spawn_blocking(move || support::execute(cmd))
        .await
        .unwrap();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("`staging` has no `tracks`"),
        "{}",
        out.stderr
    );
    let cmd = env_cmd(&world.config_path, "qa", &[]);
    let out = tokio::task::spawn_blocking(move || support::execute(cmd))
        .await
        .unwrap();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("no such environment"), "{}", out.stderr);
}

/// A completed successful run of `file`, in the world's shape.
fn green_run(world: &World, name: &str, file: &str, id: u64) -> Value {
    let now = Utc::now();
    let mut list = world.github.fixtures().workflow_runs_with(
        "completed",
        Some("success"),
        Some(now - chrono::Duration::minutes(4)),
    );
    let run = &mut list["workflow_runs"][0];
    run["updated_at"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    run["name"] = json!(name);
    run["path"] = json!(format!(".github/workflows/{file}"));
    run["head_sha"] = json!(NEW_SHA);
    run["head_branch"] = json!("main");
    run["html_url"] = json!(format!("https://github.com/{DEMO_REPO}/actions/runs/{id}"));
    list
}

/// CI re-run green on staging's commit, and the deploy to production done.
fn turn_green(world: &World) {
    let gh = &world.github;
    let fx = gh.fixtures().clone();
    let base = format!("repos/{DEMO_REPO}");
    gh.set(
        &format!("{base}/actions/workflows/ci.yml/runs"),
        200,
        green_run(world, "CI Pipeline", "ci.yml", 12347),
        &[],
    );
    gh.set(
        &format!("{base}/actions/workflows/deploy.yml/runs"),
        200,
        green_run(world, "Deploy", "deploy.yml", 12346),
        &[],
    );
    let mut statuses = fx.body("commit_combined_status.json").unwrap();
    statuses["state"] = json!("success");
    for s in statuses["statuses"].as_array_mut().unwrap() {
        s["state"] = json!("success");
    }
    let mut checks = fx.body("commit_check_runs.json").unwrap();
    for c in checks["check_runs"].as_array_mut().unwrap() {
        c["status"] = json!("completed");
        c["conclusion"] = json!("success");
    }
    for id in [NEW_SHA, &NEW_SHA[..7]] {
        gh.set(
            &format!("{base}/commits/{id}/status"),
            200,
            statuses.clone(),
            &[],
        );
        gh.set(
            &format!("{base}/commits/{id}/check-runs"),
            200,
            checks.clone(),
            &[],
        );
    }
    let mut done = fx.body("official/deployment_statuses_list.json").unwrap();
    done[0]["state"] = json!("success");
    done[0]["environment"] = json!("production");
    gh.set(&format!("{base}/deployments/813/statuses"), 200, done, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_passes_when_the_world_turns_green() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    // Poll every second, not the world's 10 s.
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    assert!(text.contains("refresh = \"10s\""));
    std::fs::write(
        &world.config_path,
        text.replace("refresh = \"10s\"", "refresh = \"1s\""),
    )
    .unwrap();

    let mut cmd = gate_cmd(&world.config_path, &["--wait", "60s", "--format", "json"]);
    cmd.timeout(Duration::from_secs(90));
    let started = Instant::now();
    let running = tokio::task::spawn_blocking(move || support::execute(cmd));
    // Turn green only once the first attempt has read every answer it will
    // see change, so that attempt must fail and the gate must poll again.
    let base = format!("repos/{DEMO_REPO}");
    let seen = [
        format!("{base}/actions/workflows/ci.yml/runs"),
        format!("{base}/actions/workflows/deploy.yml/runs"),
        format!("{base}/deployments/813/statuses"),
    ];
    while seen.iter().any(|p| world.github.requests(p) == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gate never asked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let commit_ci = |w: &World| {
        w.github
            .requests(&format!("{base}/commits/{NEW_SHA}/status"))
            + w.github
                .requests(&format!("{base}/commits/{}/status", &NEW_SHA[..7]))
    };
    while commit_ci(&world) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no commit CI asked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    turn_green(&world);

    let out = running.await.unwrap();
    assert_eq!(out.code, 0, "stdout {}\nstderr {}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("checking again in 1s"),
        "the first attempt must have failed: {}",
        out.stderr
    );
    assert!(out.elapsed < Duration::from_secs(60), "{:?}", out.elapsed);
    let g = out.json();
    assert_eq!(g["pass"], true, "{g:#}");
    assert_eq!(g["nothing_to_promote"], false);
    assert_eq!(g["commits"].as_array().unwrap().len(), 2, "{g:#}");
    assert!(
        g["verdict"]
            .as_str()
            .unwrap()
            .starts_with("safe to promote 2 commits from staging"),
        "{g:#}"
    );
}

/// `when = ["gate"]` on a promote action: refused with the gate's reasons
/// while the gate fails (drift: CI failed, a deploy is running), prepared
/// once the world turns green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_with_when_gate_waits_for_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Drift, dir.path()).await.unwrap();
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    assert!(!text.contains("[act]") && !text.contains("[[actions]]"));
    std::fs::write(
        &world.config_path,
        format!(
            "{text}\n[act]\naudit = \"audit.jsonl\"\n\n[[actions]]\nid = \"promote\"\nenvironments = [\"production\"]\nwhen = [\"gate\"]\nhttp = {{ url = \"http://127.0.0.1:9/promote/{{{{env.id}}}}\" }}\n"
        ),
    )
    .unwrap();
    let act = |config: &Path| {
        let mut cmd = Command::cargo_bin("villa-telemetry").expect("binary built");
        support::clean_env(&mut cmd);
        cmd.args([
            "act",
            "promote",
            "--env",
            "production",
            "--dry-run",
            "--config",
        ])
        .arg(config);
        tokio::task::spawn_blocking(move || support::execute(cmd))
    };

    let out = act(&world.config_path).await.unwrap();
    assert_eq!(out.code, 3, "stdout {}\nstderr {}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("not enabled now: the promotion gate into `production` does not pass"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("CI on staging's commit {} failed", &NEW_SHA[..7])),
        "{}",
        out.stderr
    );

    turn_green(&world);
    let out = act(&world.config_path).await.unwrap();
    assert_eq!(out.code, 0, "stdout {}\nstderr {}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("POST http://127.0.0.1:9/promote/production"),
        "{}",
        out.stdout
    );
}

/// `gate` is about promoting into one environment that tracks another.
#[test]
fn when_gate_needs_a_per_environment_action_on_a_tracking_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    let envs = "[[environments]]\nid = \"staging\"\nurl = \"http://127.0.0.1:9/\"\n[[environments]]\nid = \"production\"\nurl = \"http://127.0.0.1:9/\"\ntracks = \"staging\"\n";
    for (action, want) in [
        (
            "when = [\"gate\"]\nhttp = { url = \"http://127.0.0.1:9/x\" }",
            "`gate` needs a per-environment action",
        ),
        (
            "environments = [\"staging\"]\nwhen = [\"gate\"]\nhttp = { url = \"http://127.0.0.1:9/x\" }",
            "`gate` on environment `staging`, which tracks no environment",
        ),
    ] {
        std::fs::write(&path, format!("{envs}[[actions]]\nid = \"p\"\n{action}\n")).unwrap();
        let mut cmd = Command::cargo_bin("villa-telemetry").expect("binary built");
        support::clean_env(&mut cmd);
        cmd.args(["check", "--config"]).arg(&path);
        let out = support::execute(cmd);
        assert_eq!(out.code, 3, "{action}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{action}: {}", out.stderr);
        assert!(
            out.stderr.contains("villa-telemetry.toml:"),
            "names the file: {}",
            out.stderr
        );
    }
}
