//! Report building as a plain function: a plan and a run's results in, a
//! report out. No servers, no git, no GitHub: every case states the results
//! a run could have produced and the report that must come of them.

use chrono::{TimeZone, Utc};
use indexmap::IndexMap;
use serde_json::{Value, json};
use villa_telemetry::cli::load_plan;
use villa_telemetry::outcome::{
    CheckResult, CheckStatus, CiStatus, CommitBrief, CommitCi, Comparison, Deployed, ErrorKind,
    GithubInfo, RunResults,
};
use villa_telemetry::plan::Plan;
use villa_telemetry::report::{self, Health, Report};

/// Staging and production (tracking staging), an optional local, two
/// workflows and a git check. The URLs are never contacted.
const CONFIG: &str = r#"
[project]
name = "Table"
repo = "octo/villa"

[[environments]]
id = "local"
name = "Local"
url = "http://127.0.0.1:9"
optional = true

[[environments]]
id = "staging"
name = "Staging"
url = "http://127.0.0.1:9"

[[environments]]
id = "production"
name = "Production"
url = "http://127.0.0.1:9"
tracks = "staging"

[[checks]]
id = "health"
name = "Health"
environments = ["*"]
http = { url = "{{env.url}}/api/health" }
expect = ["status == 200"]
extract = { version = "$.version", sha = "$.commit" }

[[checks]]
id = "ci"
name = "CI Pipeline"
github = { workflow = "ci.yml" }

[[checks]]
id = "git"
name = "Local repository"
git = { path = "." }
"#;

fn plan() -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, CONFIG).unwrap();
    load_plan(&path).unwrap_or_else(|e| panic!("config: {e:?}"))
}

fn result(id: &str, env: Option<&str>, status: CheckStatus, fields: Value) -> CheckResult {
    let Value::Object(fields) = fields else {
        panic!("fields are an object")
    };
    CheckResult {
        id: id.into(),
        environment: env.map(Into::into),
        name: id.into(),
        status,
        summary: format!("{id} {}", status.as_str()),
        duration_ms: 95,
        checked_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        fields,
        error: (status != CheckStatus::Pass).then(|| format!("{id} went wrong")),
        error_kind: (status != CheckStatus::Pass).then_some(ErrorKind::Refused),
        failed_conditions: Vec::new(),
        log: Vec::new(),
        metric: None,
        table: None,
        panel: None,
    }
}

/// Results in the plan's job order: ci, git, then health × local, staging,
/// production (ids sort, environments in config order).
fn checks(
    local: CheckStatus,
    staging: (CheckStatus, &str),
    production: (CheckStatus, &str),
) -> Vec<CheckResult> {
    let health = |env: &str, (status, sha): (CheckStatus, &str)| {
        let fields = if status == CheckStatus::Pass {
            json!({ "version": "1.0.0", "sha": sha })
        } else {
            json!({})
        };
        result("health", Some(env), status, fields)
    };
    vec![
        result(
            "ci",
            None,
            CheckStatus::Fail,
            json!({ "status": "failure", "workflow": "CI Pipeline", "sha": "cbefe7c4d1a2b3c" }),
        ),
        result(
            "git",
            None,
            CheckStatus::Pass,
            json!({ "branch": "main", "sha": "1111111", "sha_full": "1111111aaaa", "message": "wip", "uncommitted_changes": 0 }),
        ),
        health("local", (local, "cbefe7c")),
        health("staging", staging),
        health("production", production),
    ]
}

fn run(checks: Vec<CheckResult>) -> RunResults {
    RunResults {
        checks,
        drift: IndexMap::new(),
        commit_ci: IndexMap::new(),
        deployed: IndexMap::new(),
        deployments: IndexMap::new(),
        suspects: IndexMap::new(),
        github: None,
        finished_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap(),
        duration_ms: 321,
    }
}

fn build(run: RunResults) -> (Report, Value) {
    let plan = plan();
    let order: Vec<String> = plan
        .jobs
        .iter()
        .map(|j| {
            format!(
                "{}{}",
                plan.check_of(j).id,
                plan.env_id(j).map(|e| format!("@{e}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "ci",
            "git",
            "health@local",
            "health@staging",
            "health@production"
        ],
        "the results below are in this job order"
    );
    let report = report::build(&plan, run);
    let json = serde_json::to_value(&report).unwrap();
    (report, json)
}

fn behind_by_two() -> Comparison {
    let mut c = Comparison::new(
        "staging",
        "production",
        Some("cbefe7c".into()),
        Some("53004a6".into()),
    );
    c.in_sync = Some(false);
    c.status = Some("ahead".into());
    c.commits.push(CommitBrief::new(
        "cbefe7c".into(),
        "Fix login".into(),
        Some("Ada".into()),
        Some("2026-01-22T14:20:00Z".into()),
    ));
    c.set_counts(2, 0);
    c.source = Some("github".into());
    c.duration_ms = Some(300);
    c
}

const PASS: CheckStatus = CheckStatus::Pass;
const ERROR: CheckStatus = CheckStatus::Error;

#[test]
fn table_from_results_to_report() {
    struct Case {
        name: &'static str,
        run: RunResults,
        status: Health,
        summary: &'static str,
        production: Health,
        comparison: Value,
    }
    let mut drifted = run(checks(PASS, (PASS, "cbefe7c"), (PASS, "53004a6")));
    drifted.drift.insert("production".into(), behind_by_two());
    let cases = [
        Case {
            name: "same commit: no lookup needed, in sync",
            run: run(checks(PASS, (PASS, "cbefe7c"), (PASS, "cbefe7c4d1a2"))),
            status: Health::Failing, // the CI check failed
            summary: "3 healthy, ci failed",
            production: Health::Healthy,
            comparison: json!({ "in_sync": true, "status": "identical", "commits_behind": 0, "commits_ahead": 0 }),
        },
        Case {
            name: "drift the run measured: warning, counts and a cut list agree",
            run: drifted,
            status: Health::Failing,
            summary: "2 healthy, 1 warning, ci failed (production 2 commits behind staging)",
            production: Health::Warning,
            comparison: json!({ "in_sync": false, "commits_behind": 2, "commits_ahead": 0, "commits_truncated": true, "source": "github", "duration_ms": 300 }),
        },
        Case {
            name: "tracked environment down: no sha to compare",
            run: run(checks(PASS, (ERROR, ""), (PASS, "53004a6"))),
            status: Health::Failing,
            summary: "2 healthy, 1 failing, ci failed (staging down: health: health went wrong)",
            production: Health::Healthy,
            comparison: json!({ "error": "cannot compare: staging is down, so its sha is unknown" }),
        },
        Case {
            name: "optional local offline: not counted against the status",
            run: run(checks(ERROR, (PASS, "cbefe7c"), (PASS, "cbefe7c"))),
            status: Health::Failing,
            summary: "2 healthy, 1 offline, ci failed",
            production: Health::Healthy,
            comparison: json!({ "in_sync": true }),
        },
    ];
    for case in cases {
        let (report, json) = build(case.run);
        let name = case.name;
        assert_eq!(report.status, case.status, "{name}: {json:#}");
        assert_eq!(report.summary, case.summary, "{name}");
        assert_eq!(
            report.environments["production"].status, case.production,
            "{name}"
        );
        let c = &json["comparison"]["staging_vs_production"];
        for (k, v) in case.comparison.as_object().unwrap() {
            assert_eq!(&c[k], v, "{name}: comparison.{k} in {c:#}");
        }
        // Whatever the case: the list never claims more than the count.
        let listed = c["commits"].as_array().map_or(0, Vec::len) as u64;
        if let Some(behind) = c["commits_behind"].as_u64() {
            assert!(
                listed == behind || c["commits_truncated"] == true,
                "{name}: {behind} behind, {listed} listed, not marked cut"
            );
        }
        assert_eq!(report.ci["ci"].status, CiStatus::Failure, "{name}");
        assert_eq!(report.duration_ms, 321, "{name}");
        assert_eq!(
            report.timestamp,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap()
        );
    }
}

#[test]
fn upstream_answers_and_their_errors_reach_the_report() {
    let mut r = run(checks(PASS, (PASS, "cbefe7c"), (PASS, "53004a6")));
    let mut timed_out = Comparison::new(
        "staging",
        "production",
        Some("cbefe7c".into()),
        Some("53004a6".into()),
    );
    timed_out.in_sync = Some(false);
    timed_out.error = Some(
        "timed out after 2s waiting for GitHub (GET repos/octo/villa/compare/53004a6...cbefe7c)"
            .into(),
    );
    r.drift.insert("production".into(), timed_out);
    let mut counts = IndexMap::new();
    counts.insert("success".to_owned(), 1);
    counts.insert("failure".to_owned(), 3);
    r.commit_ci.insert(
        "staging".into(),
        CommitCi {
            status: CiStatus::Failure,
            url: Some("https://github.com/octo/villa/commit/cbefe7c".into()),
            counts,
            failing: vec!["build".into(), "test".into()],
            error: None,
            duration_ms: Some(300),
        },
    );
    r.commit_ci.insert(
        "production".into(),
        CommitCi {
            status: CiStatus::Unknown,
            url: None,
            counts: IndexMap::new(),
            failing: Vec::new(),
            error: Some("timed out after 2s waiting for GitHub (GET repos/octo/villa/commits/53004a6/status and …/check-runs)".into()),
            duration_ms: Some(2000),
        },
    );
    r.deployed.insert(
        "staging".into(),
        Deployed {
            contained: Ok(true),
            missing_in_clone: true,
            duration_ms: 3,
        },
    );
    r.deployed.insert(
        "production".into(),
        Deployed { contained: Err("timed out after 2s waiting for GitHub (GET repos/octo/villa/compare/1111111aaaa...53004a6)".into()), missing_in_clone: false, duration_ms: 2000 },
    );
    r.github = Some(GithubInfo {
        auth: "anonymous".into(),
        requests: 7,
        not_modified: 2,
        rate_limit_points: 5,
        rate_limit_remaining: Some(50),
        rate_limit_reset: None,
        warnings: Vec::new(),
    });
    let (report, json) = build(r);

    let c = &report.comparison["staging_vs_production"];
    assert!(
        c.error
            .as_deref()
            .unwrap()
            .contains("compare/53004a6...cbefe7c"),
        "{c:?}"
    );
    assert_eq!(c.commits_behind, None);
    // Unmeasured drift still shows: the shas differ.
    assert_eq!(report.environments["production"].status, Health::Warning);
    assert_eq!(
        report.environments["production"].warning.as_deref(),
        Some("runs 53004a6, staging runs cbefe7c")
    );
    let prod_ci = report.environments["production"].ci.as_ref().unwrap();
    assert_eq!(prod_ci.status, CiStatus::Unknown);
    assert!(
        prod_ci
            .error
            .as_deref()
            .unwrap()
            .contains("commits/53004a6/status")
    );
    assert_eq!(
        json["environments"]["staging"]["ci"]["counts"],
        json!({ "success": 1, "failure": 3 })
    );
    assert!(
        report.environments["local"].ci.is_none(),
        "no lookup, no entry"
    );
    let git = report.git.as_ref().unwrap();
    assert_eq!(git.deployed.get("staging"), Some(&true));
    assert!(git.deployed_errors["production"].contains("timed out after 2s"));
    // git said the clone lacks staging's commit (GitHub answered): noted once.
    assert_eq!(git.not_in_clone, ["staging"]);
    assert_eq!(
        report.github.as_ref().map(|g| (g.requests, g.not_modified)),
        Some((7, 2))
    );
}

#[test]
fn building_twice_gives_the_same_report() {
    let mut r = run(checks(PASS, (PASS, "cbefe7c"), (PASS, "53004a6")));
    r.drift.insert("production".into(), behind_by_two());
    let (a, _) = build(r.clone());
    let (b, _) = build(r);
    assert_eq!(a, b, "a plain function of its inputs");
}

#[test]
fn a_report_without_github_or_git_has_neither() {
    let mut c = checks(PASS, (PASS, "cbefe7c"), (PASS, "cbefe7c"));
    c[1] = result("git", None, ERROR, json!({}));
    let (report, json) = build(run(c));
    assert!(report.git.is_none());
    assert!(json.get("github").is_none());
}

/// A running deploy names the environment a GitHub deployment of the same
/// commit targets, and how long it has before `stalled_after`; the
/// assessment says both, and a deploy in progress is not broken.
#[test]
fn a_running_deploy_names_its_target_and_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(
        &path,
        r#"
[project]
name = "Deploys"
repo = "octo/villa"

[[environments]]
id = "staging"
url = "http://127.0.0.1:9"

[[checks]]
id = "deploy"
name = "Deploy"
github = { workflow = "deploy.yml", stalled_after = "15m" }

[[checks]]
id = "rollout"
environments = ["*"]
github = { deployment = "{{env.id}}" }
"#,
    )
    .unwrap();
    let plan = load_plan(&path).unwrap_or_else(|e| panic!("config: {e:?}"));
    let mut deploy = result(
        "deploy",
        None,
        CheckStatus::Warn,
        json!({ "status": "in_progress", "workflow": "Deploy", "sha": "cbefe7c", "duration_s": 240 }),
    );
    deploy.error = None;
    deploy.error_kind = None;
    let mut rollout = result(
        "rollout",
        Some("staging"),
        CheckStatus::Warn,
        json!({ "state": "in_progress", "sha": "cbefe7c" }),
    );
    rollout.error = None;
    rollout.error_kind = None;
    let report = report::build(&plan, run(vec![deploy, rollout]));
    let ci = &report.ci["deploy"];
    assert_eq!(ci.status, CiStatus::InProgress);
    assert_eq!(ci.environment.as_deref(), Some("staging"));
    assert_eq!(ci.stalled_after_s, Some(900));
    assert_eq!(ci.stalled_in_s, Some(660));
    let a = &report.assessment;
    assert!(a.broken.is_empty(), "{:#?}", a.broken);
    assert!(
        a.headline
            .contains("Deploy to staging is running on cbefe7c for 4m; stalled in 11m"),
        "{}",
        a.headline
    );
}
