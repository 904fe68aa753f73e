//! CI "1 of 4 passed" beside a panel of two workflows (issue 19,
//! contradiction 8): an environment's commit CI names what is counted, the
//! commit, and the check runs and statuses that failed (at most 5 names,
//! each cut, plus how many more), the same in JSON, text, Markdown, HTML
//! and the assessment.

use std::time::Duration;

use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::FakeGithub;
use villa_telemetry::demo::world::{FakeService, start_service};
use villa_telemetry::outcome::MAX_FAILING_NAME_CHARS;
use villa_telemetry::render::{Format, RenderExtras, Renderer};
use villa_telemetry::report::{CiStatus, Report};
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/fixtures");
const REPO: &str = "octo/villa";
const SHA: &str = "93e6db6a1b2c3d4e5f60718293a4b5c6d7e8f901";

/// The recorded check runs, one per `(name, conclusion)`.
fn check_runs(fake: &FakeGithub, runs: &[(&str, &str)]) -> Value {
    let mut body = fake.fixtures().body("commit_check_runs.json").unwrap();
    let template = body["check_runs"][0].clone();
    body["check_runs"] = runs
        .iter()
        .map(|(name, conclusion)| {
            let mut run = template.clone();
            run["name"] = json!(name);
            run["conclusion"] = json!(conclusion);
            run
        })
        .collect();
    body["total_count"] = json!(runs.len());
    body
}

/// The recorded combined status with one status per `(context, state)`.
fn statuses(fake: &FakeGithub, list: &[(&str, &str)]) -> Value {
    let mut body = fake.fixtures().body("commit_combined_status.json").unwrap();
    let template = body["statuses"][0].clone();
    body["statuses"] = list
        .iter()
        .map(|(context, state)| {
            let mut s = template.clone();
            s["context"] = json!(context);
            s["state"] = json!(state);
            s
        })
        .collect();
    body["total_count"] = json!(list.len());
    body
}

async fn report_with(
    runs: &[(&str, &str)],
    list: &[(&str, &str)],
) -> (Report, FakeService, FakeGithub) {
    let fake = FakeGithub::start(FIXTURES).await.unwrap();
    let base = format!("repos/{REPO}/commits/{SHA}");
    fake.set(
        &format!("{base}/check-runs"),
        200,
        check_runs(&fake, runs),
        &[],
    );
    fake.set(&format!("{base}/status"), 200, statuses(&fake, list), &[]);
    let staging = start_service(
        "staging",
        200,
        json!({ "status": "ok", "commit": SHA }),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("villa-telemetry.toml");
    std::fs::write(
        &config,
        format!(
            r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{}"
disk_cache = false

[[environments]]
id = "staging"
url = "{}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
extract = {{ sha = "$.commit" }}

[[checks]]
id = "ci"
github = {{ workflow = "ci.yml", branch = "main" }}
"#,
            fake.url(),
            staging.url
        ),
    )
    .unwrap();
    let plan = load_plan(&config).unwrap();
    let report = run_with(&plan, &Services::with_token(&plan, None)).await;
    (report, staging, fake)
}

fn render(report: &Report, format: Format) -> String {
    Renderer::new(None)
        .unwrap()
        .render(format, report, &RenderExtras::default())
        .unwrap()
}

#[tokio::test]
async fn the_tally_names_the_failing_check_runs_and_statuses() {
    let (report, _staging, _fake) = report_with(
        &[
            ("build", "failure"),
            ("test", "failure"),
            ("lint", "success"),
        ],
        &[("ci/deploy-preview", "error")],
    )
    .await;
    let ci = report.environments["staging"]
        .ci
        .as_ref()
        .expect("commit CI");
    assert_eq!(ci.status, CiStatus::Failure);
    // Statuses first, then check runs, as they are counted.
    assert_eq!(ci.failing, ["ci/deploy-preview", "build", "test"]);
    let tally =
        "1 of 4 check runs and statuses on 93e6db6 passed; failed: ci/deploy-preview, build, test";
    for format in [Format::Text, Format::Markdown, Format::Html] {
        let out = render(&report, format);
        assert!(out.contains(tally), "{format:?}:\n{out}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["environments"]["staging"]["ci"]["failing"],
        json!(["ci/deploy-preview", "build", "test"])
    );
    let broken = report
        .assessment
        .broken
        .iter()
        .find(|b| b.check == "ci" && b.environment.as_deref() == Some("staging"))
        .unwrap_or_else(|| panic!("{:#?}", report.assessment.broken));
    assert_eq!(broken.why, tally);
}

#[tokio::test]
async fn many_failures_keep_five_names_cut_and_count_the_rest() {
    let long = "x".repeat(500);
    let mut runs: Vec<(&str, &str)> = vec![(long.as_str(), "failure")];
    let names: Vec<String> = (1..=7).map(|i| format!("matrix {i}")).collect();
    runs.extend(names.iter().map(|n| (n.as_str(), "failure")));
    runs.push(("docs", "success"));
    let (report, _staging, _fake) = report_with(&runs, &[]).await;
    let ci = report.environments["staging"].ci.as_ref().unwrap();
    assert_eq!(ci.counts["failure"], 8);
    assert_eq!(ci.failing.len(), 5, "{:?}", ci.failing);
    assert_eq!(ci.failing[0].chars().count(), MAX_FAILING_NAME_CHARS);
    assert!(ci.failing[0].ends_with('…'), "{}", ci.failing[0]);
    assert_eq!(
        &ci.failing[1..],
        ["matrix 1", "matrix 2", "matrix 3", "matrix 4"]
    );
    let text = render(&report, Format::Text);
    assert!(
        text.contains("1 of 9 check runs and statuses on 93e6db6 passed; failed: x")
            && text.contains(", matrix 4 (+3 more)"),
        "{text}"
    );
    assert!(
        !text.contains(&long),
        "a name is cut before it reaches the report"
    );
}

/// Nothing failed: the tally says so and names nothing; text shows no CI
/// line for a passing commit.
#[tokio::test]
async fn a_passing_commit_names_nothing() {
    let (report, _staging, _fake) =
        report_with(&[("build", "success"), ("test", "success")], &[]).await;
    let ci = report.environments["staging"].ci.as_ref().unwrap();
    assert_eq!(ci.status, CiStatus::Success);
    assert!(ci.failing.is_empty());
    assert_eq!(
        ci.tally("93e6db6").as_deref(),
        Some("2 of 2 check runs and statuses on 93e6db6 passed")
    );
    let json = serde_json::to_value(ci).unwrap();
    assert!(json.get("failing").is_none(), "{json}");
    assert!(!render(&report, Format::Text).contains("└─ CI "));
}
