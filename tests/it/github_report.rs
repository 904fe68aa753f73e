//! End to end with GitHub: config → plan → run → Report.
//!
//! Each test writes a config pointing `[github] api_url` at its own fake
//! GitHub (real recorded bodies, see `demo::github`) and health endpoints on
//! loopback, runs it through the library as `run`/`serve` do, and asserts on
//! report fields. The last tests run the binary to check the token never
//! reaches any output.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::{ANY_PATH, FakeGithub};
use villa_telemetry::demo::world::{FakeService, NEW_SHA, OLD_SHA, Scenario, World, start_service};
use villa_telemetry::probe::github::TokenSource;
use villa_telemetry::report::{CheckResult, CheckStatus, CiStatus, Health, Report};
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
const REPO: &str = "octo/villa";
const CI_RUNS: &str = "repos/octo/villa/actions/workflows/ci.yml/runs";
const DEPLOY_RUNS: &str = "repos/octo/villa/actions/workflows/deploy.yml/runs";

// ---------------------------------------------------------------- helpers

async fn fake() -> FakeGithub {
    FakeGithub::start(FIXTURES)
        .await
        .expect("start fake GitHub")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// Runs git with a throwaway identity and no user/system config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository at `dir` with `n` commits on main; full shas, oldest first.
fn repo_with_commits(dir: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    (0..n)
        .map(|i| {
            std::fs::write(dir.join("file.txt"), format!("{i}\n")).unwrap();
            git(dir, &["add", "file.txt"]);
            git(dir, &["commit", "-q", "-m", &format!("commit {i}")]);
            git(dir, &["rev-parse", "HEAD"])
        })
        .collect()
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// `GET /api/health` answering what a Villa service answers.
async fn health(id: &'static str, version: &str, sha: &str) -> FakeService {
    start_service(
        id,
        200,
        json!({ "status": "ok", "version": version, "commit": sha, "uptime": "1h" }),
        Duration::ZERO,
    )
    .await
    .expect("start health endpoint")
}

/// Staging and production (tracking staging) with a health check that
/// extracts version and sha, GitHub at `api_url`, plus `extra` checks.
fn config(api_url: &str, staging: &str, production: &str, extra: &str) -> String {
    format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{api_url}"
disk_cache = false

[run]
timeout = "5s"

[[environments]]
id = "staging"
name = "Staging"
url = "{staging}"

[[environments]]
id = "production"
name = "Production"
url = "{production}"
tracks = "staging"

[[checks]]
id = "health"
name = "Health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
expect = ["status == 200", "$.status == 'ok'"]
extract = {{ version = "$.version", sha = "$.commit", uptime = "$.uptime" }}

{extra}
"#
    )
}

const CI_CHECKS: &str = r#"
[[checks]]
id = "ci"
name = "CI Pipeline"
github = { workflow = "ci.yml", branch = "main" }

[[checks]]
id = "deploy"
name = "Deploy"
github = { workflow = "deploy.yml", branch = "main", stalled_after = "15m" }
"#;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn token(t: &str) -> Option<(String, TokenSource)> {
    Some((t.to_string(), TokenSource::Env("GITHUB_TOKEN")))
}

/// One run of the config at `path`, as `villa-telemetry run` does it.
async fn report_of(path: &Path, tok: Option<(String, TokenSource)>) -> Report {
    let plan = load_plan(path).unwrap_or_else(|e| panic!("config: {e:?}"));
    let services = Services::with_token(&plan, tok);
    run_with(&plan, &services).await
}

fn check<'a>(report: &'a Report, id: &str, env: Option<&str>) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.id == id && c.environment.as_deref() == env)
        .unwrap_or_else(|| panic!("no check {id} ({env:?}) in {:#?}", report.checks))
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ------------------------------------------------------------------ tests

/// The demo's default (drift) world: CI failed, deploy running,
/// production 2 commits behind staging.
#[tokio::test]
async fn drift_world_reports_ci_drift_commit_ci_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    repo_with_commits(&repo, 1);
    let world = World::start(Scenario::Drift, &tmp.path().join("world"))
        .await
        .unwrap();
    let report = report_of(&world.config_path, None).await;

    let ci = &report.ci["ci"];
    assert_eq!(ci.status, CiStatus::Failure, "{ci:?}");
    assert_eq!(ci.workflow, "CI Pipeline");
    assert_eq!(ci.sha.as_deref(), Some(&NEW_SHA[..7]));
    assert_eq!(
        ci.url.as_deref(),
        Some("https://github.com/rockfridrich/villa/actions/runs/12345")
    );
    assert!(ci.created_at.is_some(), "{ci:?}");
    assert_eq!(ci.error, None);
    assert_eq!(report.ci["deploy"].status, CiStatus::InProgress);
    assert_eq!(check(&report, "ci", None).status, CheckStatus::Fail);
    assert_eq!(check(&report, "deploy", None).status, CheckStatus::Warn);

    let cmp = &report.comparison["staging_vs_production"];
    assert_eq!(cmp.in_sync, Some(false), "{cmp:?}");
    assert_eq!(cmp.commits_behind, Some(2));
    assert_eq!(cmp.commits_ahead, Some(0));
    assert_eq!(cmp.status.as_deref(), Some("ahead"));
    assert_eq!(cmp.source.as_deref(), Some("github"));
    let diff_url = format!(
        "https://github.com/rockfridrich/villa/compare/{}...{}",
        &OLD_SHA[..7],
        &NEW_SHA[..7]
    );
    assert_eq!(cmp.diff_url.as_deref(), Some(diff_url.as_str()));
    assert!(!cmp.commits.is_empty());
    assert_eq!(cmp.error, None);

    let production = &report.environments["production"];
    assert_eq!(production.status, Health::Warning);
    assert_eq!(production.sha.as_deref(), Some(&OLD_SHA[..7]));
    assert!(
        report
            .assessment
            .headline
            .contains("production is 2 commits behind staging"),
        "{}",
        report.assessment.headline
    );
    for id in ["local", "staging", "production"] {
        let ci = report.environments[id]
            .ci
            .as_ref()
            .unwrap_or_else(|| panic!("{id} has no commit CI"));
        assert_ne!(ci.status, CiStatus::Unknown, "{id}: {ci:?}");
        assert!(ci.url.as_deref().unwrap().contains("/commit/"), "{ci:?}");
    }

    let gh = report.github.as_ref().expect("github info");
    assert!(gh.auth.starts_with("anonymous"), "{}", gh.auth);
    assert!(gh.requests > 0);

    // Quick links: the GitHub defaults and the compare link of the drift.
    let base = "https://github.com/rockfridrich/villa";
    assert_eq!(report.actions["Actions"], format!("{base}/actions"));
    assert_eq!(report.actions["Pull requests"], format!("{base}/pulls"));
    assert_eq!(report.actions["Issues"], format!("{base}/issues"));
    assert!(
        report.actions.values().any(|u| *u == diff_url),
        "{:?}",
        report.actions
    );
    assert_eq!(
        report.actions["DigitalOcean"],
        "https://cloud.digitalocean.com/apps"
    );
}

#[tokio::test]
async fn deploy_running_past_stalled_after_is_stalled_and_fails() {
    let fake = fake().await;
    let now = Utc::now();
    let fx = fake.fixtures().clone();
    fake.set(
        DEPLOY_RUNS,
        200,
        fx.workflow_runs_with(
            "in_progress",
            None,
            Some(now - chrono::Duration::minutes(20)),
        ),
        &[],
    );
    fake.set(
        CI_RUNS,
        200,
        fx.workflow_runs_with(
            "in_progress",
            None,
            Some(now - chrono::Duration::minutes(5)),
        ),
        &[],
    );
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{}"
disk_cache = false

[[checks]]
id = "ci"
name = "CI Pipeline"
github = {{ workflow = "ci.yml", branch = "main", stalled_after = "15m" }}

[[checks]]
id = "deploy"
name = "Deploy"
github = {{ workflow = "deploy.yml", branch = "main", stalled_after = "15m" }}
"#,
        fake.url()
    );
    let report = report_of(&write_config(tmp.path(), &text), None).await;

    assert_eq!(report.ci["deploy"].status, CiStatus::Stalled);
    let deploy = check(&report, "deploy", None);
    assert_eq!(deploy.status, CheckStatus::Fail, "{deploy:?}");
    assert!(
        deploy.error.as_deref().unwrap().contains("STALLED"),
        "{deploy:?}"
    );
    // 5 minutes in is still just running.
    assert_eq!(report.ci["ci"].status, CiStatus::InProgress);
    assert_eq!(check(&report, "ci", None).status, CheckStatus::Warn);
    assert_eq!(report.status, Health::Failing);
    assert!(report.summary.contains("stalled"), "{}", report.summary);
}

#[tokio::test]
async fn same_sha_is_in_sync_without_asking_github() {
    let fake = fake().await;
    let staging = health("staging", "0.4.2", "cbefe7c").await;
    let production = health("production", "0.4.2", "cbefe7c4d1a2").await;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(&fake.url(), &staging.url, &production.url, CI_CHECKS);
    let report = report_of(&write_config(tmp.path(), &text), None).await;

    let cmp = &report.comparison["staging_vs_production"];
    assert_eq!(cmp.in_sync, Some(true), "{cmp:?}");
    assert_eq!(cmp.status.as_deref(), Some("identical"));
    assert_eq!(cmp.commits_behind, Some(0));
    assert_eq!(cmp.error, None);
    let production = &report.environments["production"];
    assert_eq!(production.status, Health::Healthy);
    assert_eq!(production.warning, None);
    assert!(
        !report.actions.keys().any(|k| k.starts_with("Compare")),
        "no compare link without drift: {:?}",
        report.actions
    );
    assert!(
        fake.log().iter().all(|r| !r.path.contains("/compare/")),
        "identical shas need no compare call"
    );
}

#[tokio::test]
async fn diverged_and_ahead_are_worded_from_the_tracking_side() {
    // (GitHub status for base=production...head=staging, ahead_by, behind_by, warning)
    let cases = [
        (
            "diverged",
            3,
            1,
            "diverged from staging (3 behind, 1 ahead)",
        ),
        ("behind", 0, 2, "2 commits ahead of staging"),
        ("ahead", 1, 0, "1 commit behind staging"),
    ];
    for (status, ahead_by, behind_by, warning) in cases {
        let fake = fake().await;
        fake.set(
            "repos/octo/villa/compare/1111111...2222222",
            200,
            fake.fixtures().compare_with(status, ahead_by, behind_by),
            &[],
        );
        let staging = health("staging", "0.5.0", "2222222").await;
        let production = health("production", "0.4.0", "1111111").await;
        let tmp = tempfile::tempdir().unwrap();
        let text = config(&fake.url(), &staging.url, &production.url, CI_CHECKS);
        let report = report_of(&write_config(tmp.path(), &text), None).await;

        let cmp = &report.comparison["staging_vs_production"];
        assert_eq!(cmp.in_sync, Some(false), "{status}: {cmp:?}");
        assert_eq!(cmp.status.as_deref(), Some(status));
        assert_eq!(cmp.commits_behind, Some(ahead_by));
        assert_eq!(cmp.commits_ahead, Some(behind_by));
        assert_eq!(cmp.source.as_deref(), Some("github"));
        let production = &report.environments["production"];
        assert_eq!(production.status, Health::Warning, "{status}");
        assert_eq!(production.warning.as_deref(), Some(warning));
        assert!(
            report.summary.contains(&format!("production {warning}")),
            "{}",
            report.summary
        );
        assert_eq!(
            fake.requests("repos/octo/villa/compare/1111111...2222222"),
            1
        );
    }
}

/// Nothing external is required: GitHub refusing connections leaves the
/// environments, their facts and git-counted drift intact.
#[tokio::test]
async fn github_down_keeps_environments_and_counts_drift_with_git() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let shas = repo_with_commits(&repo, 4);
    let staging = health("staging", "0.5.0", short(&shas[3])).await;
    let production = health("production", "0.4.0", short(&shas[1])).await;
    let port = closed_port();
    let api = format!("http://127.0.0.1:{port}");
    let extra = format!(
        "{CI_CHECKS}\n[[checks]]\nid = \"git\"\ngit = {{ path = \"{}\" }}\n",
        repo.display()
    );
    let text = config(&api, &staging.url, &production.url, &extra);
    let report = report_of(&write_config(tmp.path(), &text), None).await;

    for id in ["ci", "deploy"] {
        let ci = &report.ci[id];
        assert_eq!(ci.status, CiStatus::Unknown, "{ci:?}");
        let err = ci.error.as_deref().expect("reason");
        assert!(err.contains("cannot reach GitHub"), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert_eq!(check(&report, id, None).status, CheckStatus::Error);
    }

    let staging_r = &report.environments["staging"];
    assert_eq!(staging_r.status, Health::Healthy, "{staging_r:?}");
    assert_eq!(staging_r.version.as_deref(), Some("0.5.0"));
    assert_eq!(staging_r.sha.as_deref(), Some(short(&shas[3])));
    // Its commit CI could not be learned, and says why.
    let staging_ci = staging_r.ci.as_ref().expect("commit CI entry");
    assert_eq!(staging_ci.status, CiStatus::Unknown);
    let err = staging_ci.error.as_deref().unwrap_or_default();
    assert!(err.contains("cannot reach GitHub"), "{err}");
    let production_r = &report.environments["production"];
    assert_eq!(production_r.status, Health::Warning, "{production_r:?}");
    assert_eq!(production_r.version.as_deref(), Some("0.4.0"));
    assert_eq!(
        production_r.warning.as_deref(),
        Some("2 commits behind staging")
    );

    let cmp = &report.comparison["staging_vs_production"];
    assert_eq!(cmp.source.as_deref(), Some("git"), "{cmp:?}");
    assert_eq!(cmp.in_sync, Some(false));
    assert_eq!(cmp.commits_behind, Some(2));
    assert_eq!(cmp.commits_ahead, Some(0));
    assert_eq!(cmp.status.as_deref(), Some("ahead"));
    assert_eq!(cmp.error, None);

    let git = report.git.as_ref().expect("git info");
    assert_eq!(git.sha_full, shas[3]);
    assert_eq!(git.deployed.get("staging"), Some(&true));
    assert_eq!(git.deployed.get("production"), Some(&false));

    // Failing overall only because the two CI checks could not find out.
    assert_eq!(report.status, Health::Failing);
    assert!(
        report
            .environments
            .values()
            .all(|e| e.status != Health::Failing)
    );
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(failing, ["ci", "deploy"]);
}

#[tokio::test]
async fn exhausted_rate_limit_errors_every_github_check_after_one_request() {
    let fake = fake().await;
    let reset = Utc::now() + chrono::Duration::minutes(17);
    fake.rate_limit_exhausted(reset);
    let staging = health("staging", "0.5.0", "2222222").await;
    let production = health("production", "0.4.0", "1111111").await;
    let extra = format!(
        "{CI_CHECKS}\n{}",
        r#"[[checks]]
id = "drift"
github = { compare = "{{environments.production.sha}}...{{environments.staging.sha}}" }
"#
    );
    // One check at a time so "the first 403" is well defined; concurrent
    // checks may already have a request in flight when it arrives.
    let text = config(&fake.url(), &staging.url, &production.url, &extra)
        .replace("[run]\n", "[run]\nconcurrency = 1\n");
    let tmp = tempfile::tempdir().unwrap();
    let plan = load_plan(&write_config(tmp.path(), &text)).unwrap();
    let services = Services::with_token(&plan, None);
    let report = run_with(&plan, &services).await;

    let expected = format!(
        "GitHub rate limit exhausted, resets at {:02}:{:02} UTC",
        reset.hour(),
        reset.minute()
    );
    for id in ["ci", "deploy", "drift"] {
        let c = check(&report, id, None);
        assert_eq!(c.status, CheckStatus::Error, "{c:?}");
        let err = c.error.as_deref().unwrap();
        assert!(err.starts_with(&expected), "{id}: {err}");
        assert!(err.ends_with("; set GITHUB_TOKEN"), "anonymous: {err}");
    }
    assert_eq!(report.ci["ci"].status, CiStatus::Unknown);
    assert!(
        report.ci["ci"]
            .error
            .as_deref()
            .unwrap()
            .starts_with(&expected)
    );
    let cmp = &report.comparison["staging_vs_production"];
    assert!(
        cmp.error.as_deref().unwrap_or("").contains(&expected),
        "{cmp:?}"
    );
    // Environments still report.
    assert_eq!(report.environments["staging"].status, Health::Healthy);
    assert_eq!(fake.total_requests(), 1, "{:#?}", fake.log());
    assert_eq!(report.github.as_ref().unwrap().requests, 1);

    // The next run (serve's refresh) sends nothing until the reset.
    let again = run_with(&plan, &services).await;
    assert_eq!(fake.total_requests(), 1);
    assert_eq!(again.github.as_ref().unwrap().requests, 0);
    assert!(
        check(&again, "ci", None)
            .error
            .as_deref()
            .unwrap()
            .starts_with(&expected)
    );
}

/// One workflow check against a fake answering `status` with `body` on
/// `path`; returns the report.
async fn ci_only_with(
    path: &str,
    status: u16,
    body: Value,
    tok: Option<(String, TokenSource)>,
) -> Report {
    let fake = fake().await;
    fake.set(path, status, body, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{}"
disk_cache = false

[[checks]]
id = "ci"
name = "CI Pipeline"
github = {{ workflow = "ci.yml", branch = "main" }}
"#,
        fake.url()
    );
    report_of(&write_config(tmp.path(), &text), tok).await
}

#[tokio::test]
async fn http_errors_become_check_errors_with_the_reason() {
    type Case = (
        &'static str,
        u16,
        Value,
        Option<(String, TokenSource)>,
        &'static str,
    );
    let cases: [Case; 3] = [
        (
            ANY_PATH,
            401,
            fixture("official/error_401_bad_credentials.json"),
            token("ghp_rejected"),
            "GitHub token rejected",
        ),
        (
            CI_RUNS,
            404,
            fixture("error_404_not_found.json"),
            None,
            "GitHub answered 404 for repos/octo/villa/actions/workflows/ci.yml/runs",
        ),
        (
            CI_RUNS,
            500,
            json!({ "message": "Server Error" }),
            None,
            "GitHub returned 500",
        ),
    ];
    for (path, status, body, tok, words) in cases {
        let authed = tok.is_some();
        let report = ci_only_with(path, status, body, tok).await;
        let c = check(&report, "ci", None);
        assert_eq!(c.status, CheckStatus::Error, "{status}: {c:?}");
        let err = c.error.as_deref().unwrap();
        assert!(err.contains(words), "{status}: {err}");
        assert_eq!(report.ci["ci"].status, CiStatus::Unknown);
        assert_eq!(report.ci["ci"].error.as_deref(), Some(err));
        assert_eq!(report.status, Health::Failing);
        let auth = &report.github.as_ref().unwrap().auth;
        assert_eq!(
            auth.starts_with("token from GITHUB_TOKEN"),
            authed,
            "{auth}"
        );
    }
}

/// The demo's `down` world cold and warm (issue 20): the suspect commits of
/// staging (MID...NEW, listed by the world's clone) cost one pull-request
/// lookup cold and a free 304 warm; nothing changed, so warm is 0 points.
/// The drift by last-known commits costs a compare and a pull request.
#[tokio::test]
async fn the_down_world_costs_a_point_for_its_suspects_and_none_warm() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Down, tmp.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, token("ghp_fake_for_the_fake"));
    let cold = run_with(&plan, &services).await.github.unwrap();
    let warm = run_with(&plan, &services).await.github.unwrap();
    eprintln!(
        "down world: cold {} requests, {} x 304, {} points; warm {} requests, {} x 304, {} points",
        cold.requests,
        cold.not_modified,
        cold.rate_limit_points,
        warm.requests,
        warm.not_modified,
        warm.rate_limit_points
    );
    // 2 workflow runs (ci, deploy) + commit CI of the one sha known (local;
    // staging and production do not answer) x 2 (status, check-runs) +
    // staging's deployments (the latest, the history of 5, a status for
    // each of the 3 listed; the latest's is shared) + production's (latest,
    // history, 1 status) + the pull request of staging's one suspect
    // commit (NEW) + the drift of the two down environments by what they
    // last ran (production OLD against staging MID: 1 compare and the pull
    // request of the 1 commit it lists). The clone has every commit (local
    // HEAD and the suspects), so those cost nothing.
    // DORA's lead times (issue 21): the committer date of each commit that
    // went live in the window, MID and OLD (both environments' OLD is one).
    let points = 2 + 2 + (2 + 3) + (2 + 1) + 1 + (1 + 1) + 2;
    assert_eq!(cold.requests - cold.not_modified, points);
    assert_eq!(cold.rate_limit_points, points);
    assert_eq!(warm.rate_limit_points, 0);
    assert!(warm.requests >= points, "the same calls, all conditional");
    assert_eq!(warm.not_modified, warm.requests);
}

/// What `serve` does on every refresh: same plan, same Services. Nothing
/// changed, so the second pass spends no rate limit.
#[tokio::test]
async fn second_pass_in_one_process_is_all_304() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    repo_with_commits(&repo, 1);
    let world = World::start(Scenario::Drift, &tmp.path().join("world"))
        .await
        .unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let services = Services::with_token(&plan, token("ghp_fake_for_the_fake"));
    let cold = run_with(&plan, &services).await;
    let after_cold = world.github.total_requests();
    let warm = run_with(&plan, &services).await;
    let log = world.github.log();
    let warm_log = &log[after_cold..];

    let cold_gh = cold.github.clone().unwrap();
    let warm_gh = warm.github.clone().unwrap();
    let non_304: Vec<_> = warm_log
        .iter()
        .filter(|r| r.status != 304)
        .map(|r| (&r.path, r.status))
        .collect();
    eprintln!(
        "villa shape end to end: cold {} requests / {} points; warm {} requests, {} x 304 / {} points; warm non-304: {non_304:?}",
        cold_gh.requests,
        cold_gh.requests - cold_gh.not_modified,
        warm_gh.requests,
        warm_gh.not_modified,
        warm_gh.requests - warm_gh.not_modified,
    );
    // Villa shape: 2 runs + 1 drift compare + the pull requests of the 2
    // commits it lists + commit CI of 2 distinct shas (local and staging
    // share one) x 2 + each environment's deployments (the latest, then the
    // history of 5, and one status per listed deployment: staging 3,
    // production 2; the latest's status is shared). Local HEAD is answered
    // by the world's own clone, and so are the suspect commits (staging
    // MID...NEW, production OLD...NEW, issue 20): their pull requests are
    // the drift's own two, so they add no term (at most a free 304). Points, not requests: on loopback a shared
    // call can finish before its twin is first polled, and the twin then
    // asks again conditionally (a free 304).
    // DORA's lead times (issue 21): the committer date of each commit that
    // went live in the window, once over both environments: NEW, MID, OLD.
    assert_eq!(
        cold_gh.requests - cold_gh.not_modified,
        2 + 1 + 2 + 2 * 2 + (2 + 3) + (2 + 2) + 3
    );
    assert_eq!(
        cold_gh.rate_limit_points,
        cold_gh.requests - cold_gh.not_modified
    );
    assert_eq!(warm_gh.rate_limit_points, 0);
    assert_eq!(cold_gh.requests as usize, after_cold);
    // The 404s have no ETag; they are remembered, not asked again, and so
    // are the lookups they led to.
    let warm_paths: std::collections::BTreeSet<&str> =
        warm_log.iter().map(|r| r.path.as_str()).collect();
    // The deployment lists differ by query only: one path, and 5 statuses;
    // then DORA's 3 commits.
    assert_eq!(
        warm_paths.len(),
        2 + 1 + 2 + 2 * 2 + 1 + 5 + 3,
        "{warm_paths:#?}"
    );
    assert_eq!(warm_gh.requests as usize, warm_log.len());
    let conditional = warm_log
        .iter()
        .filter(|r| r.if_none_match.is_some())
        .count();
    assert_eq!(warm_gh.requests as usize, conditional, "{warm_log:#?}");
    assert_eq!(warm_gh.not_modified, warm_gh.requests, "{warm_log:#?}");
    // Same answers, same report (but for timings: a running deploy's
    // duration_s grows between passes).
    for (id, c) in &cold.ci {
        let w = &warm.ci[id];
        assert_eq!((c.status, &c.sha, &c.url), (w.status, &w.sha, &w.url));
    }
    assert_eq!(cold.git, warm.git);
    // Same answers; only how long the lookups took may differ.
    let answers = |r: &Report| {
        let mut c = r.comparison.clone();
        c.values_mut().for_each(|c| c.duration_ms = None);
        c
    };
    assert_eq!(answers(&cold), answers(&warm));
    assert_eq!(cold.summary, warm.summary);
}

/// A compare check reading environment facts renders with them and runs
/// after the checks that extract them.
#[tokio::test]
async fn compare_check_renders_facts_and_runs_after_health() {
    let fake = fake().await;
    let path = "repos/octo/villa/compare/53004a6...cbefe7c";
    fake.set(path, 200, fake.fixtures().compare_with("ahead", 2, 0), &[]);
    let staging = health("staging", "0.4.2", "cbefe7c").await;
    let production = health("production", "0.4.1", "53004a6").await;
    let extra = r#"
[[checks]]
id = "drift"
name = "Drift"
github = { compare = "{{environments.production.sha}}...{{environments.staging.sha}}" }
expect = ["$.ahead_by < 5"]
"#;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(&fake.url(), &staging.url, &production.url, extra);
    let report = report_of(&write_config(tmp.path(), &text), None).await;

    let drift = check(&report, "drift", None);
    assert_eq!(drift.status, CheckStatus::Pass, "{drift:?}");
    assert_eq!(drift.fields["status"], "ahead");
    assert_eq!(drift.fields["ahead_by"], 2);
    assert_eq!(drift.summary, "cbefe7c is 2 commits ahead of 53004a6");
    for env in ["staging", "production"] {
        let h = check(&report, "health", Some(env));
        assert!(
            h.checked_at <= drift.checked_at,
            "{env} health finished after the compare that reads it"
        );
    }
    // The compare check and the report's drift ask once, then conditionally.
    let log = fake.log();
    let compares: Vec<_> = log.iter().filter(|r| r.path == path).collect();
    assert!(!compares.is_empty());
    assert_eq!(compares[0].if_none_match, None);
    assert!(compares[1..].iter().all(|r| r.status == 304));
    assert_eq!(
        report.comparison["staging_vs_production"].commits_behind,
        Some(2)
    );
}

#[tokio::test]
async fn deployment_check_fills_deployed_at() {
    let fake = fake().await;
    let staging = health("staging", "0.4.2", "cbefe7c").await;
    let production = health("production", "0.4.2", "cbefe7c").await;
    let extra = r#"
[[checks]]
id = "deployment"
name = "Deployment"
environments = ["*"]
github = { deployment = "{{env.id}}" }
extract = { deployed_at = "$.created_at" }
"#;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(&fake.url(), &staging.url, &production.url, extra);
    let report = report_of(&write_config(tmp.path(), &text), None).await;

    let listed = fixture("official/deployments_list.json");
    let created_at = listed[0]["created_at"].as_str().unwrap();
    for env in ["staging", "production"] {
        let e = &report.environments[env];
        assert_eq!(e.deployed_at.as_deref(), Some(created_at), "{env}: {e:?}");
        // The deployment's own sha is a field, not the environment's sha.
        assert_eq!(e.sha.as_deref(), Some("cbefe7c"));
        assert!(e.checks.contains(&"deployment".to_string()));
        let d = check(&report, "deployment", Some(env));
        assert_ne!(d.status, CheckStatus::Error, "{d:?}");
        assert!(d.fields.contains_key("state"), "{d:?}");
    }
    let queries: Vec<String> = fake
        .log()
        .iter()
        .filter(|r| r.path == "repos/octo/villa/deployments")
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        queries.iter().any(|q| q.contains("environment=production")),
        "{queries:?}"
    );
    assert!(
        queries.iter().any(|q| q.contains("environment=staging")),
        "{queries:?}"
    );
}

// ------------------------------------------------- the binary and the token

const SECRET: &str = "ghp_secretvalue123";

/// A GitHub that puts whatever `Authorization` it gets into its answers:
/// a run's name, error messages. The worst case for leaking the token.
async fn echo_github() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let runs = fixture("actions_workflow_runs_list.json");
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let runs = runs.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_string();
            let path = uri.path();
            if path.ends_with("/ci.yml/runs") {
                let mut runs = runs;
                runs["workflow_runs"][0]["name"] = json!(format!("run for {auth}"));
                runs["workflow_runs"][0]["head_branch"] = json!(auth.clone());
                (StatusCode::OK, axum::Json(runs))
            } else if path.ends_with("/deploy.yml/runs") {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({ "message": format!("bad request from {auth}") })),
                )
            } else {
                (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({ "message": format!("Resource not accessible by {auth}") })),
                )
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (url, tx)
}

/// `villa-telemetry run --format FORMAT` with the secret in GITHUB_TOKEN;
/// stdout and stderr together.
async fn run_binary(config: &Path, format: &str, cache: &Path) -> (String, Option<i32>) {
    let out = tokio::process::Command::new(crate::support::BIN)
        .args(["run", "--config"])
        .arg(config)
        .args(["--format", format])
        .env("GITHUB_TOKEN", SECRET)
        .env_remove("GH_TOKEN")
        .env("XDG_CACHE_HOME", cache)
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run the binary");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_appears_in_any_output_of_the_binary() {
    let rejecting = fake().await;
    rejecting.set(
        ANY_PATH,
        401,
        fixture("official/error_401_bad_credentials.json"),
        &[],
    );
    let (echo_url, _stop) = echo_github().await;
    let staging = health("staging", "0.5.0", "2222222").await;
    let production = health("production", "0.4.0", "1111111").await;
    let extra = format!(
        "{CI_CHECKS}\n{}",
        r#"[[checks]]
id = "drift"
github = { compare = "{{environments.production.sha}}...{{environments.staging.sha}}" }
"#
    );
    let tmp = tempfile::tempdir().unwrap();
    for (name, api) in [("rejecting", rejecting.url()), ("echoing", echo_url)] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_config(&dir, &config(&api, &staging.url, &production.url, &extra));
        for format in ["json", "text", "markdown", "html"] {
            let (out, code) = run_binary(&path, format, &tmp.path().join("cache")).await;
            assert_eq!(code, Some(2), "{name} {format}: {out}");
            assert!(
                !out.contains(SECRET) && !out.contains("secretvalue"),
                "{name} --format {format} leaks the token:\n{out}"
            );
            if format == "json" {
                let report: Report = serde_json::from_str(out.trim()).expect("json report");
                let auth = &report.github.as_ref().unwrap().auth;
                assert_eq!(auth, "token from GITHUB_TOKEN");
                if name == "rejecting" {
                    let err = check(&report, "ci", None).error.clone().unwrap();
                    assert!(err.contains("GitHub token rejected"), "{err}");
                } else {
                    // The echo reached the report, redacted.
                    assert!(out.contains("Bearer ••••"), "{out}");
                }
            }
        }
    }
    // The fake did receive it: the test would catch a leak.
    assert!(
        rejecting
            .log()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {SECRET}")))
    );
}
