//! A small simulated world on loopback for `demo`, the browser test and the
//! benchmarks: Local, Staging and Production health endpoints and a GitHub
//! look-alike, wired to the shipped checks.
//!
//! Everything the world serves is labelled as a demo; the GitHub side serves
//! real recorded GitHub responses (see `fixtures/SOURCES.md`), changed only
//! where a scenario needs it (a failed run, a running deploy).

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

use super::github::{FakeGithub, Fixtures};

/// The repository the demo pretends to watch.
pub const DEMO_REPO: &str = "rockfridrich/villa";
/// What staging (and local) run in the demo.
pub const NEW_SHA: &str = "cbefe7c4d1a2b3c4d5e6f708192a3b4c5d6e7f80";
/// What production runs in the drift scenario.
pub const OLD_SHA: &str = "53004a6e1f2d3c4b5a69788796a5b4c3d2e1f0a9";

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

fn short(sha: &str) -> &str {
    &sha[..7]
}

impl World {
    /// Starts the world and writes its config into `dir`; the git check
    /// looks at `repo_dir`.
    pub async fn start(scenario: Scenario, dir: &Path, repo_dir: &Path) -> io::Result<World> {
        Self::start_with_delay(scenario, dir, repo_dir, Duration::ZERO).await
    }

    /// As [`World::start`], with every health answer delayed (benchmarks).
    pub async fn start_with_delay(
        scenario: Scenario,
        dir: &Path,
        repo_dir: &Path,
        delay: Duration,
    ) -> io::Result<World> {
        let [local, staging, production] = start_services(scenario, delay).await?;
        let github = FakeGithub::with_fixtures(embedded_fixtures()).await?;
        script_workflow_runs(&github, scenario);
        script_commit_ci(&github, scenario);
        script_compares(&github, repo_dir).await;
        let config_path = dir.join("villa-telemetry.toml");
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            &config_path,
            config_text(
                &github.url(),
                [&local.url, &staging.url, &production.url],
                repo_dir,
            ),
        )?;
        Ok(World {
            services: vec![local, staging, production],
            github,
            config_path,
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
                    12346,
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
                runs("in_progress", None, 3, "Deploy", "deploy.yml", 12346),
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
    let commit_ci = |failed: bool| {
        let mut statuses = fx
            .body("commit_combined_status.json")
            .expect("fixture commit_combined_status.json");
        let state = if failed { "failure" } else { "success" };
        statuses["state"] = json!(state);
        for s in statuses["statuses"].as_array_mut().into_iter().flatten() {
            s["state"] = json!(state);
        }
        let mut checks = fx
            .body("commit_check_runs.json")
            .expect("fixture commit_check_runs.json");
        if failed {
            checks["check_runs"][0]["conclusion"] = json!("failure");
        }
        (statuses, checks)
    };
    let shas: &[(&str, bool)] = match scenario {
        Scenario::Healthy => &[(NEW_SHA, false), (OLD_SHA, false)],
        // The failed CI run is on the new commit; production still runs
        // the old one, which passed.
        Scenario::Drift | Scenario::Down => &[(NEW_SHA, true), (OLD_SHA, false)],
    };
    for &(sha, failed) in shas {
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

/// Production's drift behind staging, and this checkout's HEAD unknown.
async fn script_compares(github: &FakeGithub, repo_dir: &Path) {
    let fx = github.fixtures().clone();
    let base = format!("repos/{DEMO_REPO}");
    let mut compare = fx.compare_with("ahead", 2, 0);
    compare["html_url"] = json!(format!(
        "https://github.com/{DEMO_REPO}/compare/{}...{}",
        short(OLD_SHA),
        short(NEW_SHA)
    ));
    github.set(
        &format!("{base}/compare/{}...{}", short(OLD_SHA), short(NEW_SHA)),
        200,
        compare,
        &[],
    );

    // This checkout's commits are not in the simulated repository.
    if let Ok(head) = crate::probe::git::git(repo_dir, &["rev-parse", "HEAD"]).await {
        for sha in [NEW_SHA, OLD_SHA] {
            github.set(
                &format!("{base}/compare/{}...{}", head.trim(), short(sha)),
                404,
                json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits" }),
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
id = "git"
name = "Local repository"
git = {{ path = "{repo_dir}" }}
"#,
        urls[0],
        urls[1],
        urls[2],
        health = include_str!("../../checks/health.toml"),
        ci = include_str!("../../checks/ci.toml"),
    )
}
