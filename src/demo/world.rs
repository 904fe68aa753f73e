//! A small simulated world on loopback for `demo`, the browser test and the
//! benchmarks: Local, Staging and Production health endpoints and a GitHub
//! look-alike, wired to the shipped checks.
//!
//! Everything the world serves is labelled as a demo; the GitHub side serves
//! real recorded GitHub responses (see `fixtures/SOURCES.md`), changed only
//! where a scenario needs it (a failed run, a running deploy).

use crate::outcome::short_sha as short;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::clone::{COMMITS, Clone, WorldCommit};
pub use super::clone::{HEAD_BRANCH, HEAD_SHA, MID_SHA, NEW_SHA, OLD_SHA};
use super::github::{FakeGithub, Fixtures};

/// The repository the demo pretends to watch.
pub const DEMO_REPO: &str = "rockfridrich/villa";
/// Deployments listed per environment (`[github] history`).
const HISTORY: usize = 5;
/// The id of the Deploy workflow's latest run.
const DEPLOY_RUN: u64 = 12346;

/// Which state the world is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Everything in sync, CI green.
    Healthy,
    /// The default picture: production 2 commits behind staging, CI failed,
    /// deploy running.
    Drift,
    /// Staging down (500), production unreachable.
    Down,
}

/// One fake service.
#[derive(Debug)]
pub struct FakeService {
    /// Environment id.
    pub id: &'static str,
    /// Base URL on loopback.
    pub url: String,
    /// Health requests answered.
    pub requests: Arc<AtomicUsize>,
    _shutdown: Option<oneshot::Sender<()>>,
}

/// The running world; servers stop when it is dropped.
#[derive(Debug)]
pub struct World {
    /// Local, Staging, Production.
    pub services: Vec<FakeService>,
    /// The GitHub look-alike.
    pub github: FakeGithub,
    /// The config written for this world.
    pub config_path: PathBuf,
    /// The world's own clone, which the `git` check looks at.
    pub clone_dir: PathBuf,
}

#[derive(Clone)]
struct Health {
    body: Value,
    status: u16,
    delay: Duration,
    requests: Arc<AtomicUsize>,
}

async fn health(State(h): State<Health>) -> (axum::http::StatusCode, axum::Json<Value>) {
    h.requests.fetch_add(1, Ordering::Relaxed);
    if !h.delay.is_zero() {
        tokio::time::sleep(h.delay).await;
    }
    (
        axum::http::StatusCode::from_u16(h.status).unwrap_or(axum::http::StatusCode::OK),
        axum::Json(h.body),
    )
}

/// Starts a health endpoint answering `GET /api/health` with `body` after
/// `delay`.
pub async fn start_service(
    id: &'static str,
    status: u16,
    body: Value,
    delay: Duration,
) -> io::Result<FakeService> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let requests = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/api/health", get(health))
        .with_state(Health {
            body,
            status,
            delay,
            requests: Arc::clone(&requests),
        });
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(FakeService {
        id,
        url: format!("http://{addr}"),
        requests,
        _shutdown: Some(tx),
    })
}

/// Recorded GitHub responses compiled into the binary, so `demo` works
/// anywhere.
pub fn embedded_fixtures() -> Fixtures {
    macro_rules! fixture {
        ($name:literal) => {
            ($name, include_str!(concat!("fixtures/", $name)))
        };
    }
    Fixtures::from_files([
        fixture!("actions_workflow_runs_list.json"),
        fixture!("actions_workflow_runs_list.headers.json"),
        fixture!("actions_runs_list.json"),
        fixture!("actions_runs_list.headers.json"),
        fixture!("compare_ahead.json"),
        fixture!("compare_ahead.headers.json"),
        fixture!("commit_combined_status.json"),
        fixture!("commit_combined_status.headers.json"),
        fixture!("commit_check_runs.json"),
        fixture!("commit_get.2013.json"),
        fixture!("official/rate_limit.json"),
        fixture!("official/deployments_list.json"),
        fixture!("official/deployment_statuses_list.json"),
        fixture!("pulls_list.json"),
    ])
}

impl World {
    /// Starts the world, making its clone and writing its config in `dir`.
    pub async fn start(scenario: Scenario, dir: &Path) -> io::Result<World> {
        Self::start_with_delay(scenario, dir, Duration::ZERO).await
    }

    /// As [`World::start`], with every health answer delayed (benchmarks).
    pub async fn start_with_delay(
        scenario: Scenario,
        dir: &Path,
        delay: Duration,
    ) -> io::Result<World> {
        std::fs::create_dir_all(dir)?;
        let clone = Clone::create(dir).await?;
        let [local, staging, production] = start_services(scenario, delay).await?;
        let github = FakeGithub::with_fixtures(embedded_fixtures()).await?;
        script_workflow_runs(&github, scenario);
        script_commit_ci(&github, scenario);
        script_compares(&github);
        script_deployments(
            &github,
            scenario,
            [("staging", &staging.url), ("production", &production.url)],
        );
        let config_path = dir.join("villa-telemetry.toml");
        std::fs::write(
            &config_path,
            config_text(
                &github.url(),
                [&local.url, &staging.url, &production.url],
                &clone.dir,
            ),
        )?;
        Ok(World {
            services: vec![local, staging, production],
            github,
            config_path,
            clone_dir: clone.dir,
        })
    }
}

/// The three health endpoints of `scenario`: local, staging, production.
async fn start_services(scenario: Scenario, delay: Duration) -> io::Result<[FakeService; 3]> {
    let prod_sha = if scenario == Scenario::Drift {
        OLD_SHA
    } else {
        NEW_SHA
    };
    let health_body = |version: &str, sha: &str, uptime: &str| json!({ "status": "ok", "version": version, "commit": short(sha), "uptime": uptime, "demo": true });
    let local = start_service("local", 200, health_body("0.4.2", NEW_SHA, "2m"), delay).await?;
    let staging = match scenario {
        Scenario::Down => {
            start_service(
                "staging",
                500,
                json!({ "status": "error", "error": "database connection pool exhausted", "demo": true }),
                delay,
            )
            .await?
        }
        _ => start_service("staging", 200, health_body("0.4.2", NEW_SHA, "15m"), delay).await?,
    };
    let production = match scenario {
        // A port nothing listens on: connection refused.
        Scenario::Down => {
            let mut s = start_service("production", 200, json!({}), delay).await?;
            s._shutdown.take();
            tokio::time::sleep(Duration::from_millis(20)).await;
            s
        }
        _ => {
            let version = if scenario == Scenario::Drift {
                "0.4.1"
            } else {
                "0.4.2"
            };
            start_service(
                "production",
                200,
                health_body(version, prod_sha, "2h"),
                delay,
            )
            .await?
        }
    };
    Ok([local, staging, production])
}

/// The latest CI and deploy runs of `scenario`.
fn script_workflow_runs(github: &FakeGithub, scenario: Scenario) {
    let fx = github.fixtures().clone();
    let now = Utc::now();
    let runs = |status: &str,
                conclusion: Option<&str>,
                started_min_ago: i64,
                name: &str,
                file: &str,
                id: u64| {
        let mut list = fx.workflow_runs_with(
            status,
            conclusion,
            Some(now - chrono::Duration::minutes(started_min_ago)),
        );
        let run = &mut list["workflow_runs"][0];
        if status == "completed" {
            // A finished run took a few minutes, as real ones do.
            let finished =
                now - chrono::Duration::minutes(started_min_ago) + chrono::Duration::seconds(194);
            run["updated_at"] = json!(finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        run["name"] = json!(name);
        run["path"] = json!(format!(".github/workflows/{file}"));
        run["head_sha"] = json!(NEW_SHA);
        run["head_branch"] = json!("main");
        run["html_url"] = json!(format!("https://github.com/{DEMO_REPO}/actions/runs/{id}"));
        list
    };
    let base = format!("repos/{DEMO_REPO}");
    match scenario {
        Scenario::Healthy => {
            github.set(
                &format!("{base}/actions/workflows/ci.yml/runs"),
                200,
                runs(
                    "completed",
                    Some("success"),
                    9,
                    "CI Pipeline",
                    "ci.yml",
                    12345,
                ),
                &[],
            );
            github.set(
                &format!("{base}/actions/workflows/deploy.yml/runs"),
                200,
                runs(
                    "completed",
                    Some("success"),
                    6,
                    "Deploy",
                    "deploy.yml",
                    DEPLOY_RUN,
                ),
                &[],
            );
        }
        Scenario::Drift | Scenario::Down => {
            github.set(
                &format!("{base}/actions/workflows/ci.yml/runs"),
                200,
                runs(
                    "completed",
                    Some("failure"),
                    5,
                    "CI Pipeline",
                    "ci.yml",
                    12345,
                ),
                &[],
            );
            github.set(
                &format!("{base}/actions/workflows/deploy.yml/runs"),
                200,
                runs("in_progress", None, 3, "Deploy", "deploy.yml", DEPLOY_RUN),
                &[],
            );
        }
    }
}

/// The CI of each environment's commit in `scenario`.
fn script_commit_ci(github: &FakeGithub, scenario: Scenario) {
    let fx = github.fixtures().clone();
    let base = format!("repos/{DEMO_REPO}");
    // CI of each environment's commit. Without these the recorded
    // combined status (state "failure") answered for every sha, so even
    // the healthy world showed "CI ✗ Failed" on every card.
    // The world's own names: two statuses and two check runs; a failed
    // commit fails its typecheck status and its test run.
    let commit_ci = |failed: bool| {
        let mut statuses = fx
            .body("commit_combined_status.json")
            .expect("fixture commit_combined_status.json");
        statuses["state"] = json!(if failed { "failure" } else { "success" });
        name_each(
            &mut statuses["statuses"],
            ("context", "state"),
            [("ci/lint", false), ("ci/typecheck", failed)],
        );
        let mut checks = fx
            .body("commit_check_runs.json")
            .expect("fixture commit_check_runs.json");
        name_each(
            &mut checks["check_runs"],
            ("name", "conclusion"),
            [("test", failed), ("build", false)],
        );
        (statuses, checks)
    };
    // The failed CI run is on the new commit (but in the healthy world);
    // production's old commit passed, and so did HEAD's fix on its branch.
    let shas = [
        (NEW_SHA, scenario != Scenario::Healthy),
        (OLD_SHA, false),
        (MID_SHA, false),
        (HEAD_SHA, false),
    ];
    for (sha, failed) in shas {
        let (statuses, checks) = commit_ci(failed);
        for id in [sha, short(sha)] {
            github.set(
                &format!("{base}/commits/{id}/status"),
                200,
                statuses.clone(),
                &[],
            );
            github.set(
                &format!("{base}/commits/{id}/check-runs"),
                200,
                checks.clone(),
                &[],
            );
        }
    }
}

/// Names the entries of `list` in order and sets each one's outcome:
/// `keys` are (the name's key, the outcome's key), `names` (name, failed).
fn name_each<const N: usize>(list: &mut Value, keys: (&str, &str), names: [(&str, bool); N]) {
    let entries = list.as_array_mut().into_iter().flatten();
    for (entry, (name, failed)) in entries.zip(names) {
        entry[keys.0] = json!(name);
        entry[keys.1] = json!(if failed { "failure" } else { "success" });
    }
}

/// GitHub's compare of every older...newer pair of the world's commits
/// (each by its short and its full sha), its commits the world's own: the
/// drift of production behind staging, and of what down environments last ran.
fn script_compares(github: &FakeGithub) {
    let fx = github.fixtures().clone();
    let base = format!("repos/{DEMO_REPO}");
    let shape = fx.compare_with("ahead", 1, 0)["commits"][0].clone();
    let commit = |c: &WorldCommit| {
        let mut v = shape.clone();
        v["sha"] = json!(c.sha);
        v["html_url"] = json!(format!("https://github.com/{DEMO_REPO}/commit/{}", c.sha));
        v["url"] = json!(format!("https://api.github.com/{base}/commits/{}", c.sha));
        v["commit"]["message"] = json!(c.message);
        for who in ["author", "committer"] {
            v["commit"][who] = json!({ "name": c.author, "email": c.email, "date": c.date });
        }
        v["author"] = Value::Null;
        v["committer"] = Value::Null;
        v
    };
    for (i, older) in COMMITS.iter().enumerate() {
        for (j, newer) in COMMITS.iter().enumerate().skip(i + 1) {
            let between = &COMMITS[i + 1..=j];
            let mut compare = fx.compare_with("ahead", between.len() as u64, 0);
            compare["commits"] = between.iter().map(commit).collect();
            compare["html_url"] = json!(format!(
                "https://github.com/{DEMO_REPO}/compare/{}...{}",
                short(older.sha),
                short(newer.sha)
            ));
            for a in [older.sha, short(older.sha)] {
                for b in [newer.sha, short(newer.sha)] {
                    github.set(
                        &format!("{base}/compare/{a}...{b}"),
                        200,
                        compare.clone(),
                        &[],
                    );
                }
            }
        }
    }
    script_pulls(github);
    script_commits(github);
}

/// Each of the world's commits as `commits/{sha}` answers it, from the
/// recorded commit shape with the world's sha, message and dates: the
/// start of DORA's lead times (issue 21). Any other sha keeps the
/// recorded answer.
fn script_commits(github: &FakeGithub) {
    let fx = github.fixtures().clone();
    let shape = fx
        .body("commit_get.2013.json")
        .expect("fixture commit_get.2013.json");
    let base = format!("repos/{DEMO_REPO}");
    for c in COMMITS {
        let mut v = shape.clone();
        v["sha"] = json!(c.sha);
        v["html_url"] = json!(format!("https://github.com/{DEMO_REPO}/commit/{}", c.sha));
        v["url"] = json!(format!("https://api.github.com/{base}/commits/{}", c.sha));
        v["commit"]["message"] = json!(c.message);
        for who in ["author", "committer"] {
            v["commit"][who] = json!({ "name": c.author, "email": c.email, "date": c.date });
        }
        for sha in [c.sha, short(c.sha)] {
            github.set(&format!("{base}/commits/{sha}"), 200, v.clone(), &[]);
        }
    }
}

/// The pull request each of the world's newer commits came in, from the
/// recorded pull shape: merged for main's, open for HEAD's.
fn script_pulls(github: &FakeGithub) {
    let fx = github.fixtures().clone();
    let shape = fx.body("pulls_list.json").expect("fixture pulls_list.json")[0].clone();
    let base = format!("repos/{DEMO_REPO}");
    for (number, c) in (41u64..).zip(COMMITS.iter().skip(2)) {
        let merged = c.sha != HEAD_SHA;
        let mut pr = shape.clone();
        pr["number"] = json!(number);
        pr["title"] = json!(c.message);
        pr["body"] = json!("(demo)");
        pr["state"] = json!(if merged { "closed" } else { "open" });
        pr["locked"] = json!(false);
        pr["active_lock_reason"] = Value::Null;
        pr["html_url"] = json!(format!("https://github.com/{DEMO_REPO}/pull/{number}"));
        pr["url"] = json!(format!("https://api.github.com/{base}/pulls/{number}"));
        pr["user"]["login"] = json!(c.author.to_lowercase().replace(' ', "-"));
        for at in ["created_at", "updated_at"] {
            pr[at] = json!(c.date);
        }
        for at in ["closed_at", "merged_at"] {
            pr[at] = if merged { json!(c.date) } else { Value::Null };
        }
        pr["merge_commit_sha"] = if merged { json!(c.sha) } else { Value::Null };
        github.set(
            &format!("{base}/commits/{}/pulls", c.sha),
            200,
            json!([pr]),
            &[],
        );
    }
}

/// One deployment of the world's history: its id, commit, newest status
/// and how long ago it was created and that status set.
struct Deploy {
    id: u64,
    sha: &'static str,
    state: &'static str,
    created_min_ago: i64,
    status_min_ago: i64,
}

/// Each environment's deployments in `scenario`, newest first: what runs
/// there came from one, a running deploy is one under way, and a down
/// environment's last successful one is what it last ran.
fn deployment_histories(scenario: Scenario) -> [(&'static str, Vec<Deploy>); 2] {
    let d = |id, sha, state, created_min_ago, status_min_ago| Deploy {
        id,
        sha,
        state,
        created_min_ago,
        status_min_ago,
    };
    const DAY: i64 = 24 * 60;
    let staging_before = [
        d(809, MID_SHA, "inactive", DAY + 30, DAY + 26),
        d(801, OLD_SHA, "inactive", 3 * DAY + 40, 3 * DAY + 36),
    ];
    let production_before = d(802, OLD_SHA, "success", 3 * DAY + 10, 3 * DAY + 6);
    match scenario {
        Scenario::Healthy => [
            (
                "staging",
                vec![d(812, NEW_SHA, "success", 44, 40)]
                    .into_iter()
                    .chain(staging_before)
                    .collect(),
            ),
            (
                "production",
                vec![
                    d(813, NEW_SHA, "success", 10, 6),
                    d(802, OLD_SHA, "inactive", 3 * DAY + 10, 3 * DAY + 6),
                ],
            ),
        ],
        // Staging runs NEW; the deploy of NEW to production is under way.
        Scenario::Drift => [
            (
                "staging",
                vec![d(812, NEW_SHA, "success", 44, 40)]
                    .into_iter()
                    .chain(staging_before)
                    .collect(),
            ),
            (
                "production",
                vec![d(813, NEW_SHA, "in_progress", 3, 3), production_before],
            ),
        ],
        // Staging last ran MID; NEW is being deployed to it while it fails.
        Scenario::Down => [
            (
                "staging",
                vec![
                    d(814, NEW_SHA, "in_progress", 3, 3),
                    d(809, MID_SHA, "success", DAY + 30, DAY + 26),
                    d(801, OLD_SHA, "inactive", 3 * DAY + 40, 3 * DAY + 36),
                ],
            ),
            ("production", vec![production_before]),
        ],
    }
}

/// GitHub's deployment list and statuses for each environment of
/// `scenario`, from the recorded shapes, times relative to now.
fn script_deployments(github: &FakeGithub, scenario: Scenario, urls: [(&str, &String); 2]) {
    let fx = github.fixtures().clone();
    let now = Utc::now();
    let at = |min_ago: i64| {
        (now - chrono::Duration::minutes(min_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let base = format!("repos/{DEMO_REPO}");
    let listed = fx
        .body("official/deployments_list.json")
        .expect("fixture official/deployments_list.json");
    let statuses = fx
        .body("official/deployment_statuses_list.json")
        .expect("fixture official/deployment_statuses_list.json");
    for (env, history) in deployment_histories(scenario) {
        let url = urls
            .iter()
            .find(|(id, _)| *id == env)
            .map(|(_, u)| u.as_str());
        let list: Vec<Value> = history
            .iter()
            .map(|h| {
                let mut d = listed[0].clone();
                d["id"] = json!(h.id);
                d["url"] = json!(format!(
                    "https://api.github.com/{base}/deployments/{}",
                    h.id
                ));
                d["statuses_url"] = json!(format!(
                    "https://api.github.com/{base}/deployments/{}/statuses",
                    h.id
                ));
                d["sha"] = json!(h.sha);
                d["ref"] = json!("main");
                d["environment"] = json!(env);
                d["original_environment"] = json!(env);
                d["description"] = json!(format!("Deploy {} to {env} (demo)", short(h.sha)));
                d["creator"]["login"] = json!("github-actions[bot]");
                d["created_at"] = json!(at(h.created_min_ago));
                d["updated_at"] = json!(at(h.status_min_ago));
                d
            })
            .collect();
        for per_page in [1, HISTORY] {
            let page: Vec<Value> = list.iter().take(per_page).cloned().collect();
            github.set(
                &format!("{base}/deployments?environment={env}&per_page={per_page}"),
                200,
                Value::Array(page),
                &[],
            );
        }
        for h in &history {
            let mut s = statuses.clone();
            if let Some(first) = s.get_mut(0) {
                first["state"] = json!(h.state);
                first["environment"] = json!(env);
                first["created_at"] = json!(at(h.status_min_ago));
                first["updated_at"] = json!(at(h.status_min_ago));
                // The deploy under way is the running Deploy workflow run.
                let run = if h.state == "in_progress" {
                    DEPLOY_RUN
                } else {
                    12_000 + h.id
                };
                first["log_url"] =
                    json!(format!("https://github.com/{DEMO_REPO}/actions/runs/{run}"));
                first["environment_url"] = json!(url);
                first["target_url"] = first["log_url"].clone();
                first["description"] = json!(format!("{} (demo)", h.state));
            }
            github.set(
                &format!("{base}/deployments/{}/statuses", h.id),
                200,
                s,
                &[],
            );
        }
    }
}

/// The shipped checks pointed at the world.
fn config_text(github_url: &str, urls: [&String; 3], repo_dir: &Path) -> String {
    let repo_dir = repo_dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#"# Written by `villa-telemetry demo`: the shipped checks against a simulated world.
[project]
name = "Villa"
tagline = "Infrastructure status for humans and AI (demo world)"
repo = "{DEMO_REPO}"

[github]
api_url = "{github_url}"
disk_cache = false
history = {HISTORY}

[serve]
refresh = "10s"

[[environments]]
id = "local"
name = "Local"
url = "{}"
optional = true

[[environments]]
id = "staging"
name = "Staging"
url = "{}"

[[environments]]
id = "production"
name = "Production"
url = "{}"
tracks = "staging"

[[links]]
name = "DigitalOcean"
url = "https://cloud.digitalocean.com/apps"

{health}
{ci}
[[checks]]
id = "deployment"
name = "Deployment"
environments = ["staging", "production"]
github = {{ deployment = "{{{{env.id}}}}" }}

[[checks]]
id = "git"
name = "Your clone"
git = {{ path = "{repo_dir}" }}
"#,
        urls[0],
        urls[1],
        urls[2],
        health = include_str!("../../checks/health.toml"),
        ci = include_str!("../../checks/ci.toml"),
    )
}
