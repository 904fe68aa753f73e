//! Deployment history, the pull requests behind a drift and what a run
//! costs, against the fake GitHub serving the recorded fixtures
//! (`official/deployments_list.json`, `official/deployment_statuses_list.json`,
//! `pulls_list.json`), through config → plan → run → report → render.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::FakeGithub;
use villa_telemetry::demo::world::{FakeService, start_service};
use villa_telemetry::probe::github::{GithubClient, TokenSource};
use villa_telemetry::render::{Format, RenderExtras, Renderer};
use villa_telemetry::report::{Health, LastKnownSource, Report};
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
const REPO: &str = "octo/villa";
const DEPLOYMENTS: &str = "repos/octo/villa/deployments";
/// What staging runs: the newest commit.
const NEW: &str = "cbefe7c4d1a2b3c4d5e6f708192a3b4c5d6e7f80";
/// What production runs.
const OLD: &str = "53004a6e1f2d3c4b5a69788796a5b4c3d2e1f0a9";
/// What production ran before.
const OLDER: &str = "1111111aaaa2222222bbbb3333333cccc4444444";

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

async fn fake() -> FakeGithub {
    FakeGithub::start(FIXTURES)
        .await
        .expect("start fake GitHub")
}

/// GitHub's documented deployment, as deployment `id` of `sha`, created at `at`.
fn deployment(id: u64, sha: &str, at: &str) -> Value {
    let mut d = fixture("official/deployments_list.json")[0].clone();
    d["id"] = json!(id);
    d["sha"] = json!(sha);
    d["ref"] = json!("main");
    d["created_at"] = json!(at);
    d["updated_at"] = json!(at);
    d
}

/// GitHub's documented deployment status list, with one status in `state`.
fn statuses(state: &str, at: &str) -> Value {
    let mut s = fixture("official/deployment_statuses_list.json");
    s[0]["state"] = json!(state);
    s[0]["updated_at"] = json!(at);
    s[0]["log_url"] = json!(format!("https://ci.example.com/deploy/{state}"));
    s
}

/// Production's story: a failed deploy of NEW (id 3), the running OLD
/// (id 2, success), OLDER before it (id 1, inactive).
fn production_history(fake: &FakeGithub) {
    let list = json!([
        deployment(3, NEW, "2026-01-22T14:00:00Z"),
        deployment(2, OLD, "2026-01-21T10:00:00Z"),
        deployment(1, OLDER, "2026-01-20T09:00:00Z"),
    ]);
    fake.set(DEPLOYMENTS, 200, list, &[]);
    for (id, state, at) in [
        (3, "failure", "2026-01-22T14:05:00Z"),
        (2, "success", "2026-01-21T10:04:00Z"),
        (1, "inactive", "2026-01-21T10:04:00Z"),
    ] {
        fake.set(
            &format!("{DEPLOYMENTS}/{id}/statuses"),
            200,
            statuses(state, at),
            &[],
        );
    }
}

async fn health(id: &'static str, sha: &str) -> FakeService {
    start_service(
        id,
        200,
        json!({ "status": "ok", "version": "1.0.0", "commit": sha }),
        Duration::ZERO,
    )
    .await
    .expect("start health endpoint")
}

/// Staging and production (tracking staging), a deployment check for
/// production, `github` settings as given.
fn config(api_url: &str, staging: &str, production: &str, github: &str) -> String {
    format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{api_url}"
disk_cache = false
{github}

[[environments]]
id = "staging"
url = "{staging}"

[[environments]]
id = "production"
name = "Production"
url = "{production}"
tracks = "staging"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health", timeout = "2s" }}
extract = {{ sha = "$.commit" }}

[[checks]]
id = "deployment"
environments = ["production"]
github = {{ deployment = "{{{{env.id}}}}" }}
"#
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn report_of(path: &Path) -> Report {
    let plan = load_plan(path).unwrap_or_else(|e| panic!("config: {e:?}"));
    run_with(&plan, &Services::with_token(&plan, None)).await
}

fn render(report: &Report, format: Format) -> String {
    Renderer::new(None)
        .expect("built-in templates compile")
        .render(format, report, &RenderExtras::default())
        .expect("render")
}

#[tokio::test]
async fn history_is_newest_first_and_marks_what_the_environment_runs() {
    let fake = fake().await;
    production_history(&fake);
    let staging = health("staging", NEW).await;
    let production = health("production", &OLD[..7]).await;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(&fake.url(), &staging.url, &production.url, "history = 3");
    let report = report_of(&write_config(tmp.path(), &text)).await;

    let env = &report.environments["production"];
    let got: Vec<(u64, &str, Option<bool>)> = env
        .deployments
        .iter()
        .map(|d| (d.id, d.state.as_str(), d.current))
        .collect();
    assert_eq!(
        got,
        [
            (3, "failure", Some(false)),
            (2, "success", Some(true)),
            (1, "inactive", Some(false))
        ],
        "{env:#?}"
    );
    let live = &env.deployments[1];
    assert_eq!(live.sha, OLD);
    assert_eq!(live.git_ref, "main");
    assert_eq!(live.creator.as_deref(), Some("octocat"));
    assert_eq!(live.created_at, "2026-01-21T10:00:00Z");
    assert_eq!(live.updated_at, "2026-01-21T10:04:00Z");
    assert_eq!(
        live.environment_url.as_deref(),
        Some("https://test-branch.lab.acme.com")
    );
    assert_eq!(
        live.log_url.as_deref(),
        Some("https://ci.example.com/deploy/success")
    );
    assert!(env.last_known.is_none(), "it answers, so no fallback");
    // Staging has no deployment check, so no history is asked for it.
    assert!(report.environments["staging"].deployments.is_empty());

    let json = serde_json::to_value(&report).unwrap();
    let listed = &json["environments"]["production"]["deployments"];
    assert_eq!(listed[1]["ref"], "main");
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[0]["state"], "failure");

    let text = render(&report, Format::Text);
    assert!(text.contains("DEPLOYMENTS: PRODUCTION"), "{text}");
    let running: Vec<&str> = text.lines().filter(|l| l.contains("running now")).collect();
    assert_eq!(running.len(), 1, "{text}");
    assert!(running[0].starts_with("▶ 53004a6"), "{text}");
    let md = render(&report, Format::Markdown);
    assert!(md.contains("#### Deployments: Production"), "{md}");
    assert!(
        md.contains("| ▶ running | `53004a6` | success | main |"),
        "{md}"
    );
    let html = render(&report, Format::Html);
    assert!(
        html.contains(r#"data-testid="deployments-production""#),
        "{html}"
    );
    assert_eq!(html.matches(r#"aria-current="true""#).count(), 1);
}

#[tokio::test]
async fn history_follows_the_next_page_until_it_has_enough() {
    let fake = fake().await;
    production_history(&fake);
    // A server that pages at 2 although 3 were asked for.
    let first = format!("{DEPLOYMENTS}?environment=production&per_page=3");
    let second = format!("{first}&page=2");
    let link = format!(
        "<{}/{second}>; rel=\"next\", <{}/{second}>; rel=\"last\"",
        fake.url(),
        fake.url()
    );
    fake.set(
        &first,
        200,
        json!([
            deployment(3, NEW, "2026-01-22T14:00:00Z"),
            deployment(2, OLD, "2026-01-21T10:00:00Z")
        ]),
        &[("Link", &link)],
    );
    fake.set(
        &second,
        200,
        json!([
            deployment(1, OLDER, "2026-01-20T09:00:00Z"),
            deployment(0, OLDER, "2026-01-19T09:00:00Z")
        ]),
        &[],
    );
    let gh = GithubClient::new(http(), &fake.url(), None, None);
    let entries = gh
        .deployment_history(REPO, "production", 3)
        .await
        .expect("history");
    let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [3, 2, 1], "newest first, cut at 3");
    let queries: Vec<String> = fake
        .log()
        .iter()
        .filter(|r| r.path == DEPLOYMENTS)
        .filter_map(|r| r.query.clone())
        .collect();
    assert_eq!(
        queries,
        [
            "environment=production&per_page=3",
            "environment=production&per_page=3&page=2"
        ]
    );
    for id in [3, 2, 1] {
        assert_eq!(fake.requests(&format!("{DEPLOYMENTS}/{id}/statuses")), 1);
    }
    assert_eq!(fake.requests(&format!("{DEPLOYMENTS}/0/statuses")), 0);

    // Again: every page and status conditional, the second page found
    // through the cached Link although a 304 does not repeat it.
    let again = gh
        .deployment_history(REPO, "production", 3)
        .await
        .expect("history");
    assert_eq!(again, entries);
    assert_eq!(fake.requests(DEPLOYMENTS), 4);
    assert_eq!(fake.not_modified(DEPLOYMENTS), 2);
    let stats = gh.stats();
    assert_eq!((stats.requests, stats.not_modified), (10, 5));
    assert_eq!(stats.rate_limit_points, 5);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let fake = fake().await;
    production_history(&fake);
    fake.set(
        DEPLOYMENTS,
        200,
        json!([deployment(3, NEW, "2026-01-22T14:00:00Z")]),
        &[(
            "Link",
            "<https://elsewhere.example/repos/octo/villa/deployments?page=2>; rel=\"next\"",
        )],
    );
    let gh = GithubClient::new(
        http(),
        &fake.url(),
        Some(("ghp_history_token".into(), TokenSource::Env("GITHUB_TOKEN"))),
        None,
    );
    let entries = gh
        .deployment_history(REPO, "production", 10)
        .await
        .expect("history");
    assert_eq!(entries.len(), 1);
    assert_eq!(fake.requests(DEPLOYMENTS), 1);
}

#[tokio::test]
async fn an_environment_that_does_not_answer_falls_back_to_its_last_successful_deployment() {
    let fake = fake().await;
    production_history(&fake);
    let staging = health("staging", NEW).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = config(
        &fake.url(),
        &staging.url,
        &format!("http://127.0.0.1:{closed}"),
        "",
    );
    let report = report_of(&write_config(tmp.path(), &text)).await;
    let env = &report.environments["production"];
    assert_eq!(env.status, Health::Failing);
    assert_eq!(env.sha, None);
    let known = env.last_known.as_ref().expect("fallback");
    assert_eq!(
        known.sha, OLD,
        "the newest *successful* one, not the failed NEW"
    );
    assert_eq!(known.source, LastKnownSource::Deployment);
    assert_eq!(known.at.to_rfc3339(), "2026-01-21T10:04:00+00:00");
    assert!(
        env.deployments.iter().all(|d| d.current.is_none()),
        "nothing reports a sha to mark against"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["environments"]["production"]["last_known"],
        json!({ "sha": OLD, "at": "2026-01-21T10:04:00Z", "source": "deployment" })
    );
    let text = render(&report, Format::Text);
    assert!(text.contains("Last known: sha:53004a6"), "{text}");
}

#[tokio::test]
async fn history_zero_asks_for_no_history() {
    let fake = fake().await;
    production_history(&fake);
    let staging = health("staging", NEW).await;
    let production = health("production", OLD).await;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(
        &fake.url(),
        &staging.url,
        &production.url,
        "history = 0\npull_requests = false",
    );
    let report = report_of(&write_config(tmp.path(), &text)).await;
    assert!(report.environments["production"].deployments.is_empty());
    // Only the deployment check's own list request.
    assert_eq!(fake.requests(DEPLOYMENTS), 1);
}

#[tokio::test]
async fn history_above_the_cap_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let text = config(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "history = 101",
    );
    let err = load_plan(&write_config(tmp.path(), &text)).expect_err("rejected");
    let shown = format!("{err:?}");
    assert!(shown.contains("`history` is at most 100"), "{shown}");
}

#[tokio::test]
async fn drift_names_the_pull_requests_production_lacks() {
    let fake = fake().await;
    production_history(&fake);
    let staging = health("staging", NEW).await;
    let production = health("production", OLD).await;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(&fake.url(), &staging.url, &production.url, "history = 0");
    let report = report_of(&write_config(tmp.path(), &text)).await;

    let c = &report.comparison["staging_vs_production"];
    assert_eq!(c.commits_behind, Some(2), "{c:#?}");
    // compare_ahead.json lists one commit on its page; it came from #1347.
    let listed = fixture("compare_ahead.json");
    let sha = listed["commits"][0]["sha"].as_str().unwrap();
    assert_eq!(c.pull_requests.len(), 1, "{c:#?}");
    let pr = &c.pull_requests[0];
    assert_eq!(pr.number, 1347);
    assert_eq!(pr.title, "Amazing new feature");
    assert_eq!(pr.author.as_deref(), Some("octocat"));
    assert_eq!(pr.url, "https://github.com/octocat/Hello-World/pull/1347");
    let path = format!("repos/octo/villa/commits/{sha}/pulls");
    assert_eq!(fake.requests(&path), 1);

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["comparison"]["staging_vs_production"]["pull_requests"][0]["number"],
        1347
    );
    let text = render(&report, Format::Text);
    assert!(
        text.contains("PR #1347 Amazing new feature (octocat)"),
        "{text}"
    );
    let md = render(&report, Format::Markdown);
    assert!(
        md.contains("PR [#1347](https://github.com/octocat/Hello-World/pull/1347)"),
        "{md}"
    );
}

#[tokio::test]
async fn pull_requests_off_asks_nothing_more() {
    let fake = fake().await;
    let staging = health("staging", NEW).await;
    let production = health("production", OLD).await;
    let tmp = tempfile::tempdir().unwrap();
    let text = config(
        &fake.url(),
        &staging.url,
        &production.url,
        "history = 0\npull_requests = false",
    );
    let report = report_of(&write_config(tmp.path(), &text)).await;
    let c = &report.comparison["staging_vs_production"];
    assert_eq!(c.commits_behind, Some(2));
    assert!(c.pull_requests.is_empty());
    assert!(fake.log().iter().all(|r| !r.path.ends_with("/pulls")));
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}
