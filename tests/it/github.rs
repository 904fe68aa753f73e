//! GitHub probe against the fake GitHub serving real recorded responses.
//!
//! Every test starts its own fake on loopback, so they run in parallel and
//! can count exactly which requests reached "GitHub".

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use villa_telemetry::demo::github::{ANY_PATH, FakeGithub};
use villa_telemetry::probe::github::{GithubClient, GithubError, TokenSource};
use villa_telemetry::report::CiStatus;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
const REPO: &str = "octo/villa";
const RUNS: &str = "repos/octo/villa/actions/workflows/ci.yml/runs";
const TOKEN: &str = "ghp_TESTSECRET0123456789abcdefSECRET";

fn http() -> reqwest::Client {
    // The crate builds reqwest without a default TLS provider; pick ring as main will.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

async fn fake() -> FakeGithub {
    FakeGithub::start(FIXTURES)
        .await
        .expect("start fake GitHub")
}

fn anonymous(fake: &FakeGithub) -> GithubClient {
    GithubClient::new(http(), &fake.url(), None, None)
}

fn with_token(fake: &FakeGithub) -> GithubClient {
    GithubClient::new(
        http(),
        &fake.url(),
        Some((TOKEN.to_string(), TokenSource::Env("GITHUB_TOKEN"))),
        None,
    )
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

#[tokio::test]
async fn real_workflow_run_parses_with_path_and_duration() {
    let fake = fake().await;
    let gh = anonymous(&fake);
    let run = gh
        .latest_workflow_run(REPO, "ci.yml", Some("main"), None)
        .await
        .expect("run");
    assert_eq!(run.status, CiStatus::Success);
    assert_eq!(run.raw_status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.name.as_deref(), Some("test"));
    assert_eq!(run.head_sha, "f5b9db8d4c16d5f3a0756a092eab03c690e91d96");
    assert_eq!(run.head_branch.as_deref(), Some("main"));
    assert_eq!(run.path.as_deref(), Some(".github/workflows/workflow.yml"));
    assert_eq!(run.created_at, "2022-09-22T23:06:16Z");
    assert_eq!(run.run_started_at.as_deref(), Some("2022-09-22T23:06:16Z"));
    assert_eq!(run.duration_s, Some(18));
    assert!(run.html_url.ends_with("/actions/runs/3109327341"));
    assert_eq!(run.json["id"], 3109327341u64);

    let log = fake.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, RUNS);
    assert_eq!(log[0].query.as_deref(), Some("per_page=10&branch=main"));
    assert_eq!(
        log[0].user_agent.as_deref(),
        Some(concat!("villa-telemetry/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(log[0].api_version.as_deref(), Some("2022-11-28"));
    assert_eq!(
        log[0].authorization, None,
        "anonymous sends no Authorization"
    );
    assert_eq!(
        gh.auth_description(),
        "anonymous (60 requests/hour; set GITHUB_TOKEN)"
    );
}

#[tokio::test]
async fn official_queued_run_is_queued_then_stalled() {
    let fake = fake().await;
    fake.set(RUNS, 200, fixture("official/actions_runs_list.json"), &[]);
    let gh = anonymous(&fake);
    let run = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(run.status, CiStatus::Queued);
    assert_eq!(run.raw_status, "queued");
    assert_eq!(run.conclusion, None);
    assert_eq!(run.name.as_deref(), Some("Build"));
    assert_eq!(run.head_branch.as_deref(), Some("master"));
    assert_eq!(
        run.path.as_deref(),
        Some(".github/workflows/build.yml@main")
    );
    // Queued since 2020: far beyond any stalled_after.
    let run = gh
        .latest_workflow_run(REPO, "ci.yml", None, Some(Duration::from_secs(900)))
        .await
        .unwrap();
    assert_eq!(run.status, CiStatus::Stalled);
}

#[tokio::test]
async fn failed_run_is_failure_and_null_name_is_none() {
    let fake = fake().await;
    let mut runs = fake
        .fixtures()
        .workflow_runs_with("completed", Some("failure"), None);
    runs["workflow_runs"][0]["name"] = Value::Null;
    runs["workflow_runs"][0]["head_branch"] = Value::Null;
    fake.set(RUNS, 200, runs, &[]);
    let run = anonymous(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(run.status, CiStatus::Failure);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.name, None);
    assert_eq!(run.head_branch, None);
}

#[tokio::test]
async fn completed_conclusions_map_to_report_words() {
    let fake = fake().await;
    let gh = anonymous(&fake);
    for (conclusion, want) in [
        ("success", CiStatus::Success),
        ("failure", CiStatus::Failure),
        ("timed_out", CiStatus::Failure),
        ("startup_failure", CiStatus::Failure),
        ("action_required", CiStatus::Failure),
        ("cancelled", CiStatus::Cancelled),
        ("skipped", CiStatus::Cancelled),
    ] {
        let runs = fake
            .fixtures()
            .workflow_runs_with("completed", Some(conclusion), None);
        fake.set(RUNS, 200, runs, &[]);
        let run = gh
            .latest_workflow_run(REPO, "ci.yml", None, None)
            .await
            .unwrap();
        assert_eq!(run.status, want, "conclusion {conclusion}");
    }
}

#[tokio::test]
async fn in_progress_beyond_stalled_after_is_stalled() {
    let fake = fake().await;
    let started = Utc::now() - chrono::Duration::minutes(20);
    let runs = fake
        .fixtures()
        .workflow_runs_with("in_progress", None, Some(started));
    fake.set(RUNS, 200, runs, &[]);
    let gh = anonymous(&fake);
    let stalled = gh
        .latest_workflow_run(REPO, "ci.yml", None, Some(Duration::from_secs(15 * 60)))
        .await
        .unwrap();
    assert_eq!(stalled.status, CiStatus::Stalled);
    assert_eq!(stalled.raw_status, "in_progress");
    assert!(stalled.duration_s.unwrap() >= 20 * 60);
    let running = gh
        .latest_workflow_run(REPO, "ci.yml", None, Some(Duration::from_secs(30 * 60)))
        .await
        .unwrap();
    assert_eq!(running.status, CiStatus::InProgress);
    let no_limit = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(no_limit.status, CiStatus::InProgress);
}

#[tokio::test]
async fn empty_run_list_says_so() {
    let fake = fake().await;
    fake.set(
        RUNS,
        200,
        json!({"total_count": 0, "workflow_runs": []}),
        &[],
    );
    let err = anonymous(&fake)
        .latest_workflow_run(REPO, "ci.yml", Some("main"), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "workflow ci.yml has no runs on branch main in octo/villa"
    );
}

#[tokio::test]
async fn compare_ahead_fixture_gives_counts_and_commits() {
    let fake = fake().await;
    let c = anonymous(&fake)
        .compare(REPO, "53004a6", "cbefe7c")
        .await
        .unwrap();
    assert_eq!(c.status, "ahead");
    assert_eq!((c.ahead_by, c.behind_by), (2, 0));
    assert!(c.html_url.contains("/compare/b7b37f7"));
    assert_eq!(c.commits.len(), 1);
    assert_eq!(c.commits[0].sha, "a7e1ca2");
    assert_eq!(c.commits[0].message, "Fix the build");
    assert_eq!(c.commits[0].author.as_deref(), Some("Erik Michaels-Ober"));
    assert_eq!(c.json["total_commits"], 2);
    assert_eq!(
        fake.requests("repos/octo/villa/compare/53004a6...cbefe7c"),
        1
    );
}

#[tokio::test]
async fn compare_behind_diverged_identical() {
    let fake = fake().await;
    let path = "repos/octo/villa/compare/aaa...bbb";
    let gh = anonymous(&fake);

    fake.set(path, 200, fixture("compare_behind.json"), &[]);
    let c = gh.compare(REPO, "aaa", "bbb").await.unwrap();
    assert_eq!(c.status, "behind");
    assert_eq!((c.ahead_by, c.behind_by), (0, 2));
    assert!(c.commits.is_empty());

    fake.set(
        path,
        200,
        fake.fixtures().compare_with("diverged", 3, 1),
        &[],
    );
    let c = gh.compare(REPO, "aaa", "bbb").await.unwrap();
    assert_eq!(c.status, "diverged");
    assert_eq!((c.ahead_by, c.behind_by), (3, 1));

    fake.set(
        path,
        200,
        fake.fixtures().compare_with("identical", 0, 0),
        &[],
    );
    let c = gh.compare(REPO, "aaa", "bbb").await.unwrap();
    assert_eq!(c.status, "identical");
    assert_eq!((c.ahead_by, c.behind_by), (0, 0));
    assert!(c.commits.is_empty());
}

#[tokio::test]
async fn commit_ci_combines_statuses_and_check_runs() {
    let fake = fake().await;
    let sha = "2a6c97f6f5dc9166cc2e5d0d95415a386805ca07";
    let ci = anonymous(&fake).commit_ci(REPO, sha).await.unwrap();
    // Fixtures: statuses failure + success, two successful check runs.
    assert_eq!(ci.status, CiStatus::Failure);
    assert_eq!(ci.counts.get("success"), Some(&3));
    assert_eq!(ci.counts.get("failure"), Some(&1));
    assert_eq!(ci.counts.len(), 2);
    assert_eq!(
        ci.url.as_deref(),
        Some(format!("https://github.com/octo/villa/commit/{sha}").as_str())
    );
    assert_eq!(
        fake.requests(&format!("repos/octo/villa/commits/{sha}/status")),
        1
    );
    assert_eq!(
        fake.requests(&format!("repos/octo/villa/commits/{sha}/check-runs")),
        1
    );
}

#[tokio::test]
async fn commit_ci_ignores_empty_pending_combined_status() {
    let fake = fake().await;
    // Real 2014 body: state "pending" with no statuses, what an Actions-only repo returns.
    fake.set(
        "repos/octo/villa/commits/abc/status",
        200,
        fixture("commit_combined_status.2014.json"),
        &[],
    );
    let gh = anonymous(&fake);
    let ci = gh.commit_ci(REPO, "abc").await.unwrap();
    assert_eq!(ci.status, CiStatus::Success);
    assert_eq!(ci.counts.get("success"), Some(&2));

    // One check run still going: derived from the real check-runs body.
    let mut runs = fixture("commit_check_runs.json");
    runs["check_runs"][1]["status"] = json!("in_progress");
    runs["check_runs"][1]["conclusion"] = Value::Null;
    fake.set("repos/octo/villa/commits/abc/check-runs", 200, runs, &[]);
    let ci = gh.commit_ci(REPO, "abc").await.unwrap();
    assert_eq!(ci.status, CiStatus::InProgress);
    assert_eq!(ci.counts.get("in_progress"), Some(&1));

    fake.set(
        "repos/octo/villa/commits/abc/check-runs",
        200,
        json!({"total_count": 0, "check_runs": []}),
        &[],
    );
    let ci = gh.commit_ci(REPO, "abc").await.unwrap();
    assert_eq!(ci.status, CiStatus::Unknown);
    assert!(ci.counts.is_empty());
}

#[tokio::test]
async fn deployment_with_latest_status() {
    let fake = fake().await;
    let d = anonymous(&fake)
        .latest_deployment(REPO, "production")
        .await
        .unwrap();
    assert_eq!(d.sha, "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d");
    assert_eq!(d.r#ref, "topic-branch");
    assert_eq!(d.created_at, "2012-07-20T01:19:13Z");
    assert_eq!(d.creator.as_deref(), Some("octocat"));
    assert_eq!(d.state.as_deref(), Some("success"));
    assert_eq!(
        d.environment_url.as_deref(),
        Some("https://test-branch.lab.acme.com")
    );
    assert_eq!(d.json["latest_status"]["state"], "success");
    let log = fake.log();
    assert_eq!(log[0].path, "repos/octo/villa/deployments");
    assert_eq!(
        log[0].query.as_deref(),
        Some("environment=production&per_page=1")
    );
    assert_eq!(log[1].path, "repos/octo/villa/deployments/1/statuses");
}

#[tokio::test]
async fn second_call_is_conditional_and_304_reuses_body() {
    let fake = fake().await;
    let gh = anonymous(&fake);
    let first = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    let second = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(first, second);
    let log = fake.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].if_none_match, None);
    // The recorded weak ETag goes back byte for byte.
    assert_eq!(
        log[1].if_none_match.as_deref(),
        Some("W/\"95415422e6ebe806213e381b1ff38a682e5617a60688607659603f73d7d07496\"")
    );
    assert_eq!(fake.not_modified(RUNS), 1);
    let stats = gh.stats();
    assert_eq!((stats.requests, stats.not_modified), (2, 1));
    assert_eq!(stats.rate_limit_remaining, Some(4849));
    assert_eq!(stats.rate_limit_reset.unwrap().timestamp(), 1663891143);
}

#[tokio::test]
async fn disk_cache_makes_a_new_process_conditional_and_never_stores_the_token() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let client = |token: Option<&str>| {
        GithubClient::new(
            http(),
            &fake.url(),
            token.map(|t| (t.to_string(), TokenSource::Env("GITHUB_TOKEN"))),
            Some(dir.path().to_path_buf()),
        )
    };
    client(Some(TOKEN)).compare(REPO, "a", "b").await.unwrap();
    // A second client is what the next `villa-telemetry run` would be.
    let again = client(Some(TOKEN));
    let c = again.compare(REPO, "a", "b").await.unwrap();
    assert_eq!(c.ahead_by, 2);
    assert_eq!(again.stats().not_modified, 1);
    // Another identity must not reuse that answer.
    client(None).compare(REPO, "a", "b").await.unwrap();
    let log = fake.log();
    assert!(log[1].if_none_match.is_some());
    assert_eq!(log[2].if_none_match, None);

    let files: Vec<_> = std::fs::read_dir(dir.path().join("github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "one entry per identity: {files:?}");
    for f in files {
        assert!(
            f.extension().is_some_and(|e| e == "json"),
            "no temp files left: {f:?}"
        );
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains(TOKEN));
    }
}

#[tokio::test]
async fn errors_are_never_cached() {
    let fake = fake().await;
    let gh = anonymous(&fake);
    fake.set_once(RUNS, 500, json!({"message": "Server Error"}), &[]);
    let err = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("GitHub returned 500 Internal Server Error for {RUNS}")
    );
    let run = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(run.status, CiStatus::Success);
    assert_eq!(fake.log()[1].if_none_match, None);
}

#[tokio::test]
async fn primary_rate_limit_blocks_further_calls_until_reset() {
    let fake = fake().await;
    let reset = Utc::now() + chrono::Duration::seconds(17 * 60 - 5);
    fake.rate_limit_exhausted(reset);
    let gh = anonymous(&fake);
    let hhmm = format!("{:02}:{:02}", reset.hour(), reset.minute());
    let want =
        format!("GitHub rate limit exhausted, resets at {hhmm} UTC (in 17m); set GITHUB_TOKEN");
    let err = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::RateLimited { .. }));
    assert_eq!(err.to_string(), want);
    assert_eq!(fake.total_requests(), 1);

    // Every later call, of any kind and from any clone, fails without a request.
    let clone = gh.clone();
    let errs = [
        clone.compare(REPO, "a", "b").await.unwrap_err(),
        clone.commit_ci(REPO, "abc").await.unwrap_err(),
        clone
            .latest_deployment(REPO, "production")
            .await
            .unwrap_err(),
        clone.get_json("rate_limit").await.unwrap_err(),
    ];
    for e in errs {
        assert_eq!(e.to_string(), want);
    }
    assert_eq!(
        fake.total_requests(),
        1,
        "no request after the limit was hit"
    );
    assert_eq!(gh.stats().requests, 1);
    assert_eq!(gh.stats().rate_limit_remaining, Some(0));
}

#[tokio::test]
async fn primary_rate_limit_with_token_drops_the_advice() {
    let fake = fake().await;
    let reset = Utc::now() + chrono::Duration::minutes(5);
    fake.rate_limit_exhausted(reset);
    let err = with_token(&fake).get_json("rate_limit").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("GitHub rate limit exhausted, resets at "),
        "{text}"
    );
    assert!(text.ends_with("(in 5m)"), "{text}");
}

#[tokio::test]
async fn secondary_limit_short_retry_after_waits_and_retries_once() {
    let fake = fake().await;
    fake.secondary_limit_once(RUNS, 1);
    let gh = anonymous(&fake);
    let t = Instant::now();
    let run = gh
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(run.status, CiStatus::Success);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "honoured retry-after"
    );
    assert_eq!(fake.requests(RUNS), 2);
}

#[tokio::test]
async fn secondary_limit_long_retry_after_is_an_error_and_blocks() {
    let fake = fake().await;
    let body = fixture("official/error_403_secondary_rate_limit.json");
    fake.set(ANY_PATH, 403, body, &[("retry-after", "120")]);
    let gh = anonymous(&fake);
    let t = Instant::now();
    let err = gh.compare(REPO, "a", "b").await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "did not sit out 120 s"
    );
    assert_eq!(
        err.to_string(),
        "GitHub secondary rate limit; retry after 2m"
    );
    let again = gh.compare(REPO, "a", "b").await.unwrap_err();
    assert!(matches!(again, GithubError::SecondaryRateLimited { .. }));
    assert_eq!(fake.total_requests(), 1);
}

#[tokio::test]
async fn secondary_limit_without_retry_after_waits_a_minute() {
    let fake = fake().await;
    // The documented example has no retry-after; the docs say wait at least a minute.
    let body = fixture("official/error_403_secondary_rate_limit.json");
    fake.set(RUNS, 403, body, &[]);
    let err = anonymous(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub secondary rate limit; retry after 1m"
    );
}

#[tokio::test]
async fn bad_credentials_401() {
    let fake = fake().await;
    fake.set(
        ANY_PATH,
        401,
        fixture("official/error_401_bad_credentials.json"),
        &[],
    );
    let err = with_token(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub token rejected (401 Bad credentials); check GITHUB_TOKEN"
    );
}

#[tokio::test]
async fn not_found_404_names_the_path() {
    let fake = fake().await;
    fake.set(RUNS, 404, fixture("error_404_not_found.json"), &[]);
    let gh = anonymous(&fake);
    let err = gh
        .latest_workflow_run(REPO, "ci.yml", Some("main"), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GitHub answered 404 for {RUNS}: a wrong repo or workflow name, a commit not pushed, or a private repo without a token?"
        )
    );
    // Unknown routes are the fake's own real 404.
    let err = gh.get_json("repos/octo/villa/nope").await.unwrap_err();
    assert!(matches!(err, GithubError::NotFound { .. }));
}

#[tokio::test]
async fn server_error_502() {
    let fake = fake().await;
    fake.set(ANY_PATH, 502, json!({"message": "Bad Gateway"}), &[]);
    let err = anonymous(&fake).compare(REPO, "a", "b").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub returned 502 Bad Gateway for repos/octo/villa/compare/a...b"
    );
}

#[tokio::test]
async fn unexpected_json_shape() {
    let fake = fake().await;
    fake.set(RUNS, 200, json!({"workflow_runs": "nope"}), &[]);
    let err = anonymous(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "unexpected response from GitHub for {RUNS}: invalid type"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let api = format!("http://127.0.0.1:{port}");
    let gh = GithubClient::new(http(), &api, None, None);
    let err = gh.get_json("rate_limit").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach GitHub at {api}: ")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn token_is_sent_but_never_shown() {
    let fake = fake().await;
    let gh = with_token(&fake);
    assert_eq!(gh.auth_description(), "token from GITHUB_TOKEN");
    gh.get_json("rate_limit").await.unwrap();
    assert_eq!(
        fake.log()[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    let mut errors: Vec<GithubError> = Vec::new();
    type Case = (u16, Value, Vec<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        (
            401,
            fixture("official/error_401_bad_credentials.json"),
            vec![],
        ),
        (404, fixture("error_404_not_found.json"), vec![]),
        (
            403,
            fixture("official/error_403_login_attempts_exceeded.json"),
            vec![],
        ),
        (500, json!({"message": "boom"}), vec![]),
        (418, json!({"message": "teapot"}), vec![]),
        (200, json!("not an object"), vec![]),
        (
            403,
            fixture("official/error_403_secondary_rate_limit.json"),
            vec![("retry-after", "300")],
        ),
    ];
    for (status, body, headers) in cases {
        let gh = with_token(&fake);
        fake.set(RUNS, status, body, &headers);
        errors.push(
            gh.latest_workflow_run(REPO, "ci.yml", None, None)
                .await
                .unwrap_err(),
        );
    }
    fake.rate_limit_exhausted(Utc::now() + chrono::Duration::minutes(3));
    errors.push(gh.get_json("rate_limit").await.unwrap_err());
    let refused = GithubClient::new(
        http(),
        "http://127.0.0.1:1",
        Some((TOKEN.into(), TokenSource::GhCli)),
        None,
    );
    errors.push(refused.get_json("rate_limit").await.unwrap_err());
    assert_eq!(refused.auth_description(), "token from gh auth token");

    assert_eq!(errors.len(), 9);
    for e in &errors {
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(TOKEN), "token leaked in {shown}");
            assert!(!shown.contains("TESTSECRET"), "token leaked in {shown}");
        }
    }
    let debug = format!("{gh:?} {refused:?}");
    assert!(!debug.contains("TESTSECRET"), "{debug}");
    assert!(debug.contains("token from GITHUB_TOKEN"));
}

#[tokio::test]
async fn anonymous_source_never_sends_a_token() {
    let fake = fake().await;
    let gh = GithubClient::new(
        http(),
        &fake.url(),
        Some((TOKEN.into(), TokenSource::Anonymous)),
        None,
    );
    gh.get_json("rate_limit").await.unwrap();
    assert_eq!(fake.log()[0].authorization, None);
    assert!(gh.auth_description().starts_with("anonymous"));
}

/// The Villa config shape: 2 workflow checks, production-vs-staging compare,
/// commit CI for 3 environments. Its numbers are in BENCHMARKS.md (GitHub).
#[tokio::test]
async fn villa_shape_second_pass_is_all_conditional() {
    let fake = fake().await;
    let gh = with_token(&fake);
    let shas = ["53004a6", "cbefe7c", "1a2b3c4"];
    let pass = || async {
        let (ci, deploy, cmp, commits) = tokio::join!(
            gh.latest_workflow_run(REPO, "ci.yml", Some("main"), None),
            gh.latest_workflow_run(
                REPO,
                "deploy.yml",
                Some("main"),
                Some(Duration::from_secs(900))
            ),
            gh.compare(REPO, "53004a6", "cbefe7c"),
            futures::future::join_all(shas.iter().map(|s| gh.commit_ci(REPO, s))),
        );
        ci.unwrap();
        deploy.unwrap();
        cmp.unwrap();
        for c in commits {
            c.unwrap();
        }
    };
    let t = Instant::now();
    pass().await;
    let cold_ms = t.elapsed().as_millis();
    let cold = gh.stats();
    let t = Instant::now();
    pass().await;
    let warm_ms = t.elapsed().as_millis();
    let warm = gh.stats();

    let cold_requests = cold.requests;
    let cold_points = cold.requests - cold.not_modified;
    let warm_requests = warm.requests - cold.requests;
    let warm_304 = warm.not_modified - cold.not_modified;
    let warm_points = warm_requests - warm_304;
    eprintln!(
        "villa shape: cold {cold_requests} requests / {cold_points} points ({cold_ms} ms); \
         warm {warm_requests} requests, {warm_304} x 304 / {warm_points} points ({warm_ms} ms)"
    );
    assert_eq!(cold_requests, 2 + 1 + 3 * 2);
    assert_eq!(cold_points, 9);
    assert_eq!(warm_requests, 9);
    assert_eq!(warm_304, 9, "every second-pass request is answered 304");
    assert_eq!(warm_points, 0);
    assert!(fake.log()[9..].iter().all(|r| r.if_none_match.is_some()));
}

#[tokio::test]
async fn concurrent_identical_calls_share_one_request() {
    let fake = fake().await;
    let gh = anonymous(&fake);
    // Staging and production on the same sha: one commit-CI lookup, not two.
    let (a, b) = tokio::join!(gh.commit_ci(REPO, "cbefe7c"), gh.commit_ci(REPO, "cbefe7c"));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(fake.requests("repos/octo/villa/commits/cbefe7c/status"), 1);
    assert_eq!(
        fake.requests("repos/octo/villa/commits/cbefe7c/check-runs"),
        1
    );
    // Once finished, the next call asks again (conditionally).
    gh.commit_ci(REPO, "cbefe7c").await.unwrap();
    assert_eq!(
        fake.not_modified("repos/octo/villa/commits/cbefe7c/status"),
        1
    );
}
