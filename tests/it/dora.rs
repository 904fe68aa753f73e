//! DORA's four keys end to end (issue 21, item 3): the fake GitHub serves
//! production's deployment history and its commits with times relative to
//! the test's clock; config → plan → run → report → JSON, `/metrics`
//! (checked by promtool), markdown and the dashboard panel (in Chromium).
//! What DORA costs GitHub is counted: one `commits/{sha}` per commit that
//! went live in the window, cold, and only free 304s warm.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::FakeGithub;
use villa_telemetry::demo::world::{FakeService, start_service};
use villa_telemetry::probe::github::TokenSource;
use villa_telemetry::render::{Format, RenderExtras, Renderer};
use villa_telemetry::report::Report;
use villa_telemetry::report::dora::{Dora, ExclusionReason};
use villa_telemetry::runner::Services;

use crate::support::{self, Project};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
const BASE: &str = "repos/octo/villa";
const H: i64 = 3600;
const M: i64 = 60;
const DAY: i64 = 86_400;

/// A full sha for commit `name` (a..i): the letter's hex digit, 40 times.
fn sha(name: char) -> String {
    let digit = match name {
        'g' => '1',
        'h' => '2',
        'i' => '3',
        c => c,
    };
    digit.to_string().repeat(40)
}

/// One deployment: id, commit, newest state, created and status times
/// as (days ago, seconds after that).
type Deploy = (u64, char, &'static str, (i64, i64), (i64, i64));

/// The unit test's ten deployments (src/report/dora.rs), one failure (3)
/// and one rollback (7 redeploys e, replacing f), plus an eleventh that
/// GitHub dates two hours from now (left out as `future`).
const HISTORY: [Deploy; 11] = [
    (1, 'a', "inactive", (20, 10 * H), (18, 9 * H)),
    (2, 'b', "inactive", (18, 9 * H), (15, 15 * H)),
    (3, 'c', "failure", (15, 14 * H), (15, 14 * H + 10 * M)),
    (4, 'd', "inactive", (15, 15 * H), (12, 10 * H)),
    (5, 'e', "inactive", (12, 10 * H), (10, 10 * H)),
    (6, 'f', "inactive", (10, 10 * H), (10, 11 * H + 30 * M)),
    (7, 'e', "inactive", (10, 11 * H + 30 * M), (5, 9 * H)),
    (8, 'g', "inactive", (5, 9 * H), (2, 9 * H)),
    (9, 'h', "inactive", (2, 9 * H), (1, 9 * H + 5 * M)),
    (10, 'i', "success", (1, 9 * H), (1, 9 * H + 5 * M)),
    (11, 'i', "success", (0, 2 * H), (0, 2 * H)),
];

/// Each commit's committer date, (days ago, seconds after that).
const COMMITS: [(char, (i64, i64)); 9] = [
    ('a', (20, 8 * H)),
    ('b', (18, 8 * H + 30 * M)),
    ('c', (15, 12 * H)),
    ('d', (15, 14 * H + 30 * M)),
    ('e', (13, 10 * H)),
    ('f', (10, 6 * H)),
    ('g', (6, 9 * H)),
    ('h', (2, 8 * H)),
    ('i', (1, 8 * H + 5 * M)),
];

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// The fake GitHub with production's history and commits, times relative
/// to `now` as the test's clock reads it.
async fn github() -> FakeGithub {
    let fake = FakeGithub::start(FIXTURES).await.expect("fake GitHub");
    let now = Utc::now();
    let at = |(days, secs): (i64, i64)| {
        (now - chrono::Duration::seconds(days * DAY - secs))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let shape = fixture("official/deployments_list.json")[0].clone();
    let list: Vec<Value> = HISTORY
        .iter()
        .rev()
        .map(|&(id, c, _, created, status)| {
            let mut d = shape.clone();
            d["id"] = json!(id);
            d["sha"] = json!(sha(c));
            d["ref"] = json!("main");
            d["environment"] = json!("production");
            d["created_at"] = json!(at(created));
            d["updated_at"] = json!(at(status));
            d
        })
        .collect();
    fake.set(&format!("{BASE}/deployments"), 200, json!(list), &[]);
    for &(id, _, state, _, status) in &HISTORY {
        let mut s = fixture("official/deployment_statuses_list.json");
        s[0]["state"] = json!(state);
        s[0]["created_at"] = json!(at(status));
        s[0]["updated_at"] = json!(at(status));
        fake.set(&format!("{BASE}/deployments/{id}/statuses"), 200, s, &[]);
    }
    let commit = fixture("commit_get.2013.json");
    for (c, date) in COMMITS {
        let mut v = commit.clone();
        v["sha"] = json!(sha(c));
        v["commit"]["committer"]["date"] = json!(at(date));
        // An author date a year older: the lead time is the committer's.
        v["commit"]["author"]["date"] = json!(at((date.0 + 365, date.1)));
        fake.set(&format!("{BASE}/commits/{}", sha(c)), 200, v, &[]);
    }
    fake
}

async fn production() -> FakeService {
    start_service(
        "production",
        200,
        json!({ "status": "ok", "commit": sha('i') }),
        Duration::ZERO,
    )
    .await
    .expect("health endpoint")
}

fn config(api_url: &str, url: &str, github: &str) -> String {
    format!(
        r#"[project]
name = "Villa"
repo = "octo/villa"

[github]
api_url = "{api_url}"
disk_cache = false
{github}

[[environments]]
id = "production"
name = "Production"
url = "{url}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
extract = {{ sha = "$.commit" }}

[[checks]]
id = "deployment"
environments = ["*"]
github = {{ deployment = "{{{{env.id}}}}" }}
"#
    )
}

/// Runs the plan of `github` settings against the fake twice with the same
/// Services (as `serve` refreshes): both reports.
async fn run_twice(fake: &FakeGithub, github: &str) -> (Report, Report) {
    let prod = production().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, config(&fake.url(), &prod.url, github)).unwrap();
    let plan = load_plan(&path).unwrap();
    let token = Some(("ghp_fake".to_owned(), TokenSource::Env("GITHUB_TOKEN")));
    let services = Services::with_token(&plan, token);
    let cold = run_with(&plan, &services).await;
    let warm = run_with(&plan, &services).await;
    (cold, warm)
}

fn dora(report: &Report) -> &Dora {
    report.environments["production"]
        .dora
        .as_ref()
        .expect("production has DORA's keys")
}

#[tokio::test]
async fn the_fake_github_s_history_gives_the_hand_computed_table_and_costs_nothing_warm() {
    let fake = github().await;
    let (cold, warm) = run_twice(&fake, "history = 20\ndora_window = \"30d\"").await;
    let d = dora(&cold);
    // The table of src/report/dora.rs's unit test, worked there line by line.
    assert_eq!(d.window, "30d");
    assert!(d.complete, "11 of at most 20: GitHub has no more");
    assert_eq!(d.days, 30.0);
    assert_eq!(d.deployments, 10);
    assert_eq!(d.deployment_frequency.count, 9);
    assert_eq!(d.deployment_frequency.per_day, Some(0.3));
    assert_eq!(d.deployment_frequency.per_week, Some(2.1));
    assert_eq!(d.lead_time.samples, 8);
    assert_eq!(d.lead_time.median_s, Some(5400));
    assert_eq!(d.lead_time.p90_s, Some(86_400));
    assert_eq!(d.change_failure_rate.failed, 1);
    assert_eq!(d.change_failure_rate.rolled_back, 1);
    assert_eq!(d.change_failure_rate.rate, Some(0.2));
    assert_eq!(d.time_to_restore.restores, 2);
    assert_eq!(d.time_to_restore.median_s, Some(4200));
    // Deployment 11 is dated two hours from now: left out, and said.
    let excluded: Vec<(u64, ExclusionReason)> = d
        .excluded
        .iter()
        .map(|x| (x.deployment, x.reason))
        .collect();
    assert_eq!(excluded, [(11, ExclusionReason::Future)]);
    // Warm, nothing new: the same numbers (times relative to GitHub's, not now).
    let w = dora(&warm);
    assert_eq!(
        (
            w.lead_time.clone(),
            w.time_to_restore.clone(),
            w.change_failure_rate.clone()
        ),
        (
            d.lead_time.clone(),
            d.time_to_restore.clone(),
            d.change_failure_rate.clone()
        )
    );

    // What it costs: one commits/{sha} per commit that went live in the
    // window (a, b, d, e, f, g, h, i; not c, which failed), cold; warm
    // each is a conditional request GitHub answers 304, 0 points.
    for c in ['a', 'b', 'd', 'e', 'f', 'g', 'h', 'i'] {
        assert_eq!(
            fake.requests(&format!("{BASE}/commits/{}", sha(c))),
            2,
            "{c}"
        );
    }
    assert_eq!(fake.requests(&format!("{BASE}/commits/{}", sha('c'))), 0);
    let (c, w) = (cold.github.unwrap(), warm.github.unwrap());
    eprintln!(
        "dora fake history: cold {} requests / {} points; warm {} requests, {} x 304 / {} points",
        c.requests, c.rate_limit_points, w.requests, w.not_modified, w.rate_limit_points
    );
    // The deployment check's latest (1) + the history list (1) + a status
    // each (11; the latest's is shared) + commit CI of what runs (status
    // and check-runs, 2) + the suspects (issue 20, no git check here: the
    // compare h...i and the pull request of the commit it lists, 2) +
    // DORA's 8 commits.
    let log: Vec<(String, u16)> = fake
        .log()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        c.requests - c.not_modified,
        1 + 1 + 11 + 2 + 2 + 8,
        "{log:#?}"
    );
    assert_eq!(c.rate_limit_points, c.requests - c.not_modified);
    assert_eq!(w.rate_limit_points, 0);
    assert_eq!(w.not_modified, w.requests);
}

#[tokio::test]
async fn a_history_shorter_than_the_window_says_how_far_back_it_goes() {
    let fake = github().await;
    // The newest 5: 11 (future), 10, 9, 8, 7; the oldest created 10 days ago.
    let (report, _) = run_twice(&fake, "history = 5").await;
    let d = dora(&report);
    assert_eq!(d.window, "30d", "the default window");
    assert!(!d.complete);
    let since = d.history_since.expect("how far back");
    let back = report.timestamp - since;
    // Deployment 7: 10 days less 11h30m ago = 9.52 days.
    assert!(
        (back.num_seconds() - (10 * DAY - 11 * H - 30 * M)).abs() < 60,
        "{back:?}"
    );
    assert_eq!(d.days, 9.521);
    // 7, 8, 9, 10 went live: 4 / 9.521 days.
    assert_eq!(d.deployment_frequency.count, 4);
    assert_eq!(d.deployment_frequency.per_day, Some(0.42));
    // Lead times: 7 redeploys e (live at 5, before the history fetched:
    // it is e's first here, 3d 1h30m), 8 g 24h, 9 h 1h, 10 i 1h.
    assert_eq!(d.lead_time.samples, 4);
    let md = Renderer::new(None)
        .unwrap()
        .render(Format::Markdown, &report, &RenderExtras::default())
        .unwrap();
    assert!(
        md.contains("not the whole 30d; counts are from then, rates per day of its 9.521 days"),
        "{md}"
    );
}

#[tokio::test]
async fn metrics_markdown_and_json_carry_the_numbers() {
    let fake = github().await;
    let (report, _) = run_twice(&fake, "history = 20").await;
    let text = villa_telemetry::serve::prometheus_text(&report, 1);
    for line in [
        "villa_dora_deployment_frequency_per_day{environment=\"production\"} 0.3",
        "villa_dora_deployments{environment=\"production\"} 9",
        "villa_dora_lead_time_median_seconds{environment=\"production\"} 5400",
        "villa_dora_lead_time_p90_seconds{environment=\"production\"} 86400",
        "villa_dora_change_failure_ratio{environment=\"production\"} 0.2",
        "villa_dora_time_to_restore_median_seconds{environment=\"production\"} 4200",
        "villa_dora_history_complete{environment=\"production\"} 1",
        "villa_dora_excluded_deployments{environment=\"production\"} 1",
        "# TYPE villa_dora_change_failure_ratio gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    promtool_accepts(&text);

    let md = Renderer::new(None)
        .unwrap()
        .render(Format::Markdown, &report, &RenderExtras::default())
        .unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| Production | last 30d"))
        .unwrap_or_else(|| panic!("a DORA row for production:\n{md}"));
    assert_eq!(
        row,
        "| Production | last 30d | 9 · 0.3/day · 2.1/week | 1h 30m · 1d (8 commits) | 20% (1 failed, 1 rolled back of 10) | 1h 10m (2 restores) |"
    );
    assert!(
        md.contains("_Production: 1 deployment(s) or samples left out"),
        "{md}"
    );

    let txt = Renderer::new(None)
        .unwrap()
        .render(Format::Text, &report, &RenderExtras::default())
        .unwrap();
    let line = txt
        .lines()
        .skip_while(|l| *l != "DORA")
        .find(|l| l.starts_with("Production:"))
        .unwrap_or_else(|| panic!("a DORA line for production:\n{txt}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>().join(" "),
        "Production: 9 deployments in 30d (0.3/day) · lead time 1h 30m · change failure 20% · restore 1h 10m"
    );

    let json: Value = serde_json::from_str(&villa_telemetry::render::to_json(&report)).unwrap();
    let dora = &json["environments"]["production"]["dora"];
    assert_eq!(dora["change_failure_rate"]["rate"], 0.2, "{dora:#}");
    assert_eq!(dora["excluded"][0]["reason"], "future");
    assert_eq!(dora["lead_time"]["source"], "github_commit");
}

/// `promtool check metrics` parses the text and has no finding on DORA's
/// families (it may give naming advice on others).
fn promtool_accepts(text: &str) {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!("SKIP: promtool not found: DORA's /metrics not validated");
        return;
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !said.contains("error while linting") && out.status.code() != Some(3),
        "promtool rejects /metrics:\n{said}"
    );
    assert!(!said.contains("villa_dora"), "promtool on DORA:\n{said}");
}

#[test]
fn a_window_out_of_range_names_its_file_line_and_column() {
    for (value, said) in [
        (
            "\"10m\"",
            "`dora_window` must be between 1h and 1year, got 10m",
        ),
        ("\"2y\"", "`dora_window` must be between 1h and 1year"),
        ("\"soon\"", "dora_window"),
    ] {
        let p = Project::new(&format!(
            "[project]\nname = \"T\"\n\n[github]\ndora_window = {value}\n"
        ));
        let out = p.check();
        assert_eq!(out.code, 3, "{value}: {}", out.stderr);
        assert!(out.stderr.contains(said), "{value}: {}", out.stderr);
        assert!(
            out.stderr.contains("villa-telemetry.toml:5:"),
            "{value}: {}",
            out.stderr
        );
    }
}

/// The dashboard's DORA panel in headless Chromium shows production's
/// numbers (tests/browser/dora.mjs).
#[tokio::test]
async fn the_dashboard_panel_renders_its_numbers_in_chromium() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| "/usr/bin/chromium".into(), std::path::PathBuf::from);
    let harness = repo.join("tests/browser/node_modules/playwright-core");
    if !chromium.exists() || !harness.exists() {
        let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
        assert!(
            !in_ci,
            "the DORA panel needs chromium and tests/browser/node_modules"
        );
        eprintln!(
            "SKIP: DORA panel: needs {} and {}",
            chromium.display(),
            harness.display()
        );
        return;
    }
    let fake = github().await;
    let (report, _) = run_twice(&fake, "history = 20").await;
    let html = Renderer::new(None)
        .unwrap()
        .render(Format::Html, &report, &RenderExtras::default())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("dora.html");
    std::fs::write(&page, html).unwrap();
    let shots = Path::new(support::BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("target"))
        .join("screenshots");
    let out = Command::new("node")
        .arg("tests/browser/dora.mjs")
        .current_dir(repo)
        .env("PAGE", &page)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- dora.mjs\n{said}");
    assert!(out.status.success(), "{said}");
    for want in [
        "ok   the DORA panel is visible",
        "ok   production: 9 deployments, 0.3/day",
        "ok   production: lead time 1h 30m, p90 1d",
        "ok   production: change failure rate 20%",
        "ok   production: time to restore 1h 10m",
    ] {
        assert!(said.contains(want), "missing `{want}`:\n{said}");
    }
}
