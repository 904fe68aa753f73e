//! What GitHub sends cannot crash the process or make it buffer without
//! bound: rate-limit headers out of any sane range, an answer of hundreds of
//! megabytes, a page far longer than asked for. Against the fake GitHub on
//! loopback, through the library and through the binary.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::{ANY_PATH, FakeGithub};
use villa_telemetry::demo::world::{FakeService, start_service};
use villa_telemetry::probe::github::{GithubClient, GithubError};
use villa_telemetry::report::{CiStatus, Health, Report};
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
const REPO: &str = "octo/villa";
const RUNS: &str = "repos/octo/villa/actions/workflows/ci.yml/runs";
const DEPLOYMENTS: &str = "repos/octo/villa/deployments";
/// What every cap here is measured against: the GitHub default.
const MIB: usize = 1 << 20;

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

async fn fake() -> FakeGithub {
    FakeGithub::start(FIXTURES)
        .await
        .expect("start fake GitHub")
}

fn client(fake: &FakeGithub) -> GithubClient {
    GithubClient::new(http(), &fake.url(), None, None)
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// Header values that once panicked (chrono out of range, an i64 overflow)
/// or that no GitHub sends: each must end as an ordinary check error.
const WILD: [&str; 8] = [
    "100000000000000000",
    "99999999999999999999999999",
    "18446744073709551615",
    "9223372036854775807",
    "-1",
    "-9223372036854775808",
    "soon",
    "1e9",
];

#[tokio::test]
async fn a_wild_retry_after_is_clamped_to_an_hour_with_a_warning() {
    let fake = fake().await;
    let body = fixture("official/error_403_secondary_rate_limit.json");
    for value in WILD {
        let gh = client(&fake);
        fake.set(ANY_PATH, 403, body.clone(), &[("retry-after", value)]);
        let err = gh.get_json("rate_limit").await.unwrap_err();
        let GithubError::SecondaryRateLimited { retry_after_s } = err else {
            panic!("retry-after {value}: {err:?}");
        };
        let numeric = value
            .trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit());
        let want = if value.starts_with('-') || !numeric {
            60 // not a wait at all: GitHub's documented minute
        } else {
            3600
        };
        assert_eq!(retry_after_s, want, "retry-after {value}");
        let warnings = gh.stats().warnings;
        assert!(
            warnings.iter().any(|w| w.contains("retry-after")),
            "retry-after {value}: {warnings:?}"
        );
        // The block holds for what was kept, and costs no further request.
        let before = fake.total_requests();
        gh.get_json("rate_limit").await.unwrap_err();
        assert_eq!(fake.total_requests(), before, "retry-after {value}");
    }
}

#[tokio::test]
async fn a_wild_ratelimit_reset_blocks_at_most_an_hour_with_a_warning() {
    let fake = fake().await;
    let body = fixture("official/error_403_rate_limit_primary.json");
    let past = (Utc::now().timestamp() - 600).to_string();
    for value in WILD.iter().copied().chain([past.as_str(), "0"]) {
        let gh = client(&fake);
        fake.set(
            ANY_PATH,
            403,
            body.clone(),
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", value)],
        );
        let started = Utc::now();
        let err = gh.get_json("rate_limit").await.unwrap_err();
        let GithubError::RateLimited { reset, wait_s, .. } = err else {
            panic!("reset {value}: {err:?}");
        };
        assert!(wait_s <= 3600, "reset {value}: waits {wait_s} s");
        assert!(
            reset > started && reset <= Utc::now() + chrono::Duration::hours(1),
            "reset {value}: {reset}"
        );
        let stats = gh.stats();
        assert!(
            stats
                .warnings
                .iter()
                .any(|w| w.contains("x-ratelimit-reset")),
            "reset {value}: {:?}",
            stats.warnings
        );
        let shown = stats.rate_limit_reset;
        assert!(
            shown.is_none_or(|r| r <= Utc::now() + chrono::Duration::hours(1)),
            "reset {value}: report shows {shown:?}"
        );
    }
}

#[tokio::test]
async fn a_wild_ratelimit_remaining_is_ignored_with_a_warning() {
    let fake = fake().await;
    let gh = client(&fake);
    let body = fixture("official/rate_limit.json");
    fake.set(
        "rate_limit",
        200,
        body,
        &[
            ("x-ratelimit-remaining", "-3"),
            ("x-ratelimit-reset", "1e99"),
        ],
    );
    gh.get_json("rate_limit").await.unwrap();
    let stats = gh.stats();
    assert_eq!(stats.rate_limit_remaining, None);
    assert_eq!(stats.rate_limit_reset, None);
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("x-ratelimit-remaining"))
            && stats
                .warnings
                .iter()
                .any(|w| w.contains("x-ratelimit-reset")),
        "{:?}",
        stats.warnings
    );
}

async fn health(id: &'static str) -> FakeService {
    start_service(
        id,
        200,
        json!({ "status": "ok", "version": "1.0.0", "commit": "53004a6" }),
        Duration::ZERO,
    )
    .await
    .expect("start health endpoint")
}

/// One environment with a health check, a workflow check and a deployment
/// check (with `[github] history = 10`), all against `api_url`.
fn config(api_url: &str, production: &str) -> String {
    format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{api_url}"
disk_cache = false
history = 10

[run]
timeout = "20s"

[[environments]]
id = "production"
url = "{production}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
extract = {{ sha = "$.commit" }}

[[checks]]
id = "ci"
github = {{ workflow = "ci.yml" }}

[[checks]]
id = "deployment"
environments = ["production"]
github = {{ deployment = "{{{{env.id}}}}" }}
"#
    )
}

/// What one `villa-telemetry run --format json` did: its exit code, its
/// report and its peak resident memory (`VmHWM`, read from /proc while it ran).
struct Ran {
    code: Option<i32>,
    report: Value,
    stderr: String,
    peak_kib: u64,
}

fn run_binary(config: &Path) -> Ran {
    let child = std::process::Command::new(crate::support::BIN)
        .args(["run", "--format", "json", "--config"])
        .arg(config)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the binary");
    let status = format!("/proc/{}/status", child.id());
    let watch = std::thread::spawn(move || {
        let mut peak = 0;
        // VmHWM only grows; the last value read before the process exits is
        // its peak to within the last few milliseconds.
        while let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            match hwm {
                Some(kib) => peak = kib,
                None => break, // a zombie has no memory left to report
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    });
    let out = child.wait_with_output().expect("wait for the binary");
    let peak_kib = watch.join().expect("watcher");
    Ran {
        code: out.status.code(),
        report: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_kib,
    }
}

/// The binary against `fake`, off the runtime that serves the fake.
async fn run_against(fake: &FakeGithub, production: &FakeService) -> Ran {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("villa-telemetry.toml");
    std::fs::write(&path, config(&fake.url(), &production.url)).unwrap();
    tokio::task::spawn_blocking(move || {
        let ran = run_binary(&path);
        drop(tmp);
        ran
    })
    .await
    .expect("runner thread")
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_wild_rate_limit_headers() {
    let fake = fake().await;
    let production = health("production").await;
    let secondary = fixture("official/error_403_secondary_rate_limit.json");
    let primary = fixture("official/error_403_rate_limit_primary.json");
    for value in WILD {
        for (body, headers) in [
            (&secondary, vec![("retry-after", value)]),
            (
                &primary,
                vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", value)],
            ),
            (&secondary, vec![("x-ratelimit-remaining", value)]),
        ] {
            fake.set(ANY_PATH, 403, body.clone(), &headers);
            let ran = run_against(&fake, &production).await;
            assert!(
                matches!(ran.code, Some(0 | 2 | 3)),
                "{headers:?}: exit {:?}\n{}",
                ran.code,
                ran.stderr
            );
            assert_eq!(check(&ran.report, "ci")["status"], "error", "{headers:?}");
        }
    }
}

/// A workflow-runs answer of `runs` copies of the recorded run.
fn stream_runs(fake: &FakeGithub, runs: usize) {
    let run = fixture("actions_workflow_runs_list.json")["workflow_runs"][0].clone();
    let head = format!("{{\"total_count\":{runs},\"workflow_runs\":[");
    fake.stream(RUNS, &head, &run, runs, "]}");
}

#[tokio::test]
async fn an_answer_over_the_cap_is_an_error_that_names_the_cap() {
    let fake = fake().await;
    // ~14 KiB a run: 1,000 runs are past 8 MiB.
    stream_runs(&fake, 1_000);
    let err = client(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GitHub answer larger than 8 MiB for {RUNS}; reading stopped there (raise [run] max_body)"
        )
    );
    assert_eq!(err.kind(), villa_telemetry::report::ErrorKind::TooLarge);
    // Under the cap the same shape reads.
    stream_runs(&fake, 100);
    let run = client(&fake)
        .latest_workflow_run(REPO, "ci.yml", None, None)
        .await
        .unwrap();
    assert_eq!(run.head_sha, "f5b9db8d4c16d5f3a0756a092eab03c690e91d96");
}

#[tokio::test]
async fn a_page_longer_than_per_page_is_read_only_as_far_as_needed() {
    let fake = fake().await;
    let deployment = fixture("official/deployments_list.json")[0].clone();
    // 10,000 deployments (~15 MiB) in one page, whatever per_page said.
    fake.stream(DEPLOYMENTS, "[", &deployment, 10_000, "]");
    let gh = client(&fake);
    let history = gh.deployment_history(REPO, "production", 5).await.unwrap();
    assert_eq!(history.entries.len(), 5);
    assert_eq!(history.skipped, None);
    let latest = gh.latest_deployment(REPO, "production").await.unwrap();
    assert_eq!(latest.sha, deployment["sha"]);
    let asked: Vec<String> = fake
        .log()
        .iter()
        .filter(|r| r.path == DEPLOYMENTS)
        .filter_map(|r| r.query.clone())
        .collect();
    assert_eq!(
        asked,
        [
            "environment=production&per_page=5",
            "environment=production&per_page=1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_does_not_buffer_an_oversized_answer() {
    let fake = fake().await;
    let production = health("production").await;
    // 300 MiB of workflow runs; 10,000 deployments in one page.
    stream_runs(&fake, 300 * MIB / 14_300);
    let deployment = fixture("official/deployments_list.json")[0].clone();
    fake.stream(DEPLOYMENTS, "[", &deployment, 10_000, "]");
    let ran = run_against(&fake, &production).await;
    eprintln!(
        "peak RSS with a 300 MiB workflow-runs answer and 10,000 deployments in a page: {} KiB",
        ran.peak_kib
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    let ci = check(&ran.report, "ci");
    assert_eq!(ci["status"], "error");
    assert!(
        ci["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("GitHub answer larger than 8 MiB")),
        "{ci:#}"
    );
    assert_eq!(check(&ran.report, "deployment")["status"], "pass");
    let listed = ran.report["environments"]["production"]["deployments"]
        .as_array()
        .map(Vec::len);
    assert_eq!(listed, Some(10));
    // The binary alone is ~20 MiB resident; the cap is 8 MiB.
    assert!(
        ran.peak_kib > 0 && ran.peak_kib < 80 * 1024,
        "peak RSS {} KiB",
        ran.peak_kib
    );
}

/// GitHub's documented deployment as deployment `id`.
fn deployment(id: u64) -> Value {
    let mut d = fixture("official/deployments_list.json")[0].clone();
    d["id"] = json!(id);
    d["sha"] = json!(format!("{id:0>40}"));
    d
}

/// The config above, run through the library.
async fn report_of(fake: &FakeGithub, production: &FakeService) -> Report {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("villa-telemetry.toml");
    std::fs::write(&path, config(&fake.url(), &production.url)).unwrap();
    let plan = load_plan(&path).unwrap_or_else(|e| panic!("config: {e:?}"));
    run_with(&plan, &Services::with_token(&plan, None)).await
}

#[tokio::test]
async fn one_unreadable_deployment_costs_only_itself() {
    let fake = fake().await;
    let production = health("production").await;
    let mut broken = deployment(2);
    broken.as_object_mut().unwrap().remove("id");
    fake.set(
        DEPLOYMENTS,
        200,
        json!([deployment(4), deployment(3), broken, deployment(1)]),
        &[],
    );
    let report = report_of(&fake, &production).await;
    let env = &report.environments["production"];
    assert_eq!(env.status, Health::Healthy, "{env:#?}");
    let ids: Vec<u64> = env.deployments.iter().map(|d| d.id).collect();
    assert_eq!(ids, [4, 3, 1]);
    assert_eq!(
        env.deployments_error.as_deref(),
        Some("1 of 4 deployments could not be read: entry 3: missing field `id`")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["environments"]["production"]["deployments_error"],
        "1 of 4 deployments could not be read: entry 3: missing field `id`"
    );
    // Without a broken entry the field stays out of the JSON.
    fake.set(DEPLOYMENTS, 200, json!([deployment(4), deployment(3)]), &[]);
    let json = serde_json::to_value(report_of(&fake, &production).await).unwrap();
    let env = json["environments"]["production"].as_object().unwrap();
    assert!(!env.contains_key("deployments_error"), "{env:#?}");
    assert_eq!(env["deployments"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_creator_without_an_id_keeps_its_deployment_and_login() {
    let fake = fake().await;
    let production = health("production").await;
    let mut newest = deployment(5);
    // What octocrab's Author requires and an app or ghost creator may lack.
    let creator = newest["creator"].as_object_mut().unwrap();
    for field in ["id", "node_id", "avatar_url", "url", "html_url"] {
        creator.remove(field);
    }
    fake.set(DEPLOYMENTS, 200, json!([newest, deployment(4)]), &[]);
    let report = report_of(&fake, &production).await;
    let env = &report.environments["production"];
    assert_eq!(env.status, Health::Healthy, "{env:#?}");
    assert_eq!(env.deployments_error, None);
    let creators: Vec<Option<&str>> = env
        .deployments
        .iter()
        .map(|d| d.creator.as_deref())
        .collect();
    assert_eq!(creators, [Some("octocat"), Some("octocat")]);
    let check = report.checks.iter().find(|c| c.id == "deployment").unwrap();
    assert_eq!(
        check.summary,
        "production: success deploy of 0000000 (topic-branch) by octocat"
    );
}

#[tokio::test]
async fn an_unreadable_status_costs_only_its_deployment() {
    let fake = fake().await;
    let mut status = fixture("official/deployment_statuses_list.json");
    status[0]["state"] = json!(42);
    fake.set(&format!("{DEPLOYMENTS}/2/statuses"), 200, status, &[]);
    fake.set(
        DEPLOYMENTS,
        200,
        json!([deployment(3), deployment(2), deployment(1)]),
        &[],
    );
    let history = client(&fake)
        .deployment_history(REPO, "production", 10)
        .await
        .unwrap();
    let ids: Vec<u64> = history.iter().map(|d| d.id).collect();
    assert_eq!(ids, [3, 1]);
    let skipped = history.skipped.unwrap();
    assert!(
        skipped.starts_with("1 of 3 deployments could not be read: entry 2: its newest status: "),
        "{skipped}"
    );
    // A status GitHub refuses is no entry's fault: the history is an error.
    fake.set(&format!("{DEPLOYMENTS}/2/statuses"), 500, json!({}), &[]);
    let err = client(&fake)
        .deployment_history(REPO, "production", 10)
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::Server { .. }), "{err:?}");
}

#[tokio::test]
async fn many_unreadable_deployments_are_named_three_and_counted() {
    let fake = fake().await;
    let list: Vec<Value> = (1..=6)
        .map(|id| {
            let mut d = deployment(id);
            d["sha"] = json!(id);
            d
        })
        .collect();
    fake.set(DEPLOYMENTS, 200, Value::Array(list), &[]);
    let history = client(&fake)
        .deployment_history(REPO, "production", 10)
        .await
        .unwrap();
    assert!(history.entries.is_empty());
    assert_eq!(
        history.skipped.as_deref(),
        Some(
            "6 of 6 deployments could not be read: entry 1: invalid type: integer `1`, expected a string; \
             entry 2: invalid type: integer `2`, expected a string; \
             entry 3: invalid type: integer `3`, expected a string; and 3 more"
        )
    );
}

#[tokio::test]
async fn an_unreadable_check_run_counts_as_unknown() {
    let fake = fake().await;
    let sha = "2a6c97f6f5dc9166cc2e5d0d95415a386805ca07";
    let mut runs = fixture("commit_check_runs.json");
    runs["check_runs"][1]
        .as_object_mut()
        .unwrap()
        .remove("status");
    fake.set(
        &format!("repos/octo/villa/commits/{sha}/check-runs"),
        200,
        runs,
        &[],
    );
    let mut statuses = fixture("commit_combined_status.json");
    statuses["statuses"][0]["state"] = json!(["not", "a", "word"]);
    fake.set(
        &format!("repos/octo/villa/commits/{sha}/status"),
        200,
        statuses,
        &[],
    );
    let ci = client(&fake).commit_ci(REPO, sha).await.unwrap();
    // One success of each kind read; the two unreadable ones are unknown.
    assert_eq!(ci.status, CiStatus::Success);
    assert_eq!(ci.counts.get("success"), Some(&2));
    assert_eq!(ci.counts.get("unknown"), Some(&2));
}
