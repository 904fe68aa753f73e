//! "GitHub does not know …" names only the commit GitHub lacks (issue 19,
//! contradiction 9): after a compare of local HEAD with an environment's
//! commit answers 404, each side is looked up (`GET
//! repos/{o}/{r}/commits/{sha}`), and the answer is remembered so a warm
//! refresh asks nothing again.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::github::FakeGithub;
use villa_telemetry::demo::world::{FakeService, start_service};
use villa_telemetry::report::Report;
use villa_telemetry::runner::Services;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/fixtures");
const REPO: &str = "octo/villa";
/// A commit staging runs that the test's clone does not have.
const STAGING_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A clone with one commit; its full HEAD sha.
fn clone_with_one_commit(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    std::fs::create_dir_all(dir).unwrap();
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    git(&["rev-parse", "HEAD"])
}

struct Setup {
    _tmp: tempfile::TempDir,
    _staging: FakeService,
    fake: FakeGithub,
    head: String,
    config: std::path::PathBuf,
}

/// Staging on [`STAGING_SHA`], a git check on a fresh clone, GitHub
/// answering 404 to the compare of HEAD with staging's commit.
async fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let head = clone_with_one_commit(&repo);
    let fake = FakeGithub::start(FIXTURES).await.unwrap();
    fake.set(
        &format!("repos/{REPO}/compare/{head}...{STAGING_SHA}"),
        404,
        json!({ "message": "Not Found" }),
        &[],
    );
    let staging = start_service(
        "staging",
        200,
        json!({ "status": "ok", "commit": STAGING_SHA }),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let text = format!(
        r#"[project]
name = "Villa"
repo = "{REPO}"

[github]
api_url = "{}"
disk_cache = false

[run]
timeout = "5s"

[[environments]]
id = "staging"
url = "{}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
extract = {{ sha = "$.commit" }}

# GitHub is asked only when a check uses it.
[[checks]]
id = "ci"
github = {{ workflow = "ci.yml", branch = "main" }}

[[checks]]
id = "git"
git = {{ path = "{}" }}
"#,
        fake.url(),
        staging.url,
        repo.display()
    );
    let config = tmp.path().join("villa-telemetry.toml");
    std::fs::write(&config, text).unwrap();
    Setup {
        _tmp: tmp,
        _staging: staging,
        fake,
        head,
        config,
    }
}

fn not_found(fake: &FakeGithub, sha: &str) {
    fake.set(
        &format!("repos/{REPO}/commits/{sha}"),
        404,
        json!({ "message": "Not Found" }),
        &[],
    );
}

fn why_unknown(report: &Report) -> String {
    let head = report.assessment.local_head.as_ref().expect("a git check");
    head.deployed_unknown
        .get("staging")
        .unwrap_or_else(|| panic!("{head:#?}"))
        .clone()
}

#[tokio::test]
async fn an_unpushed_head_is_named_alone_and_the_lookup_is_remembered() {
    let s = setup().await;
    not_found(&s.fake, &s.head);
    let plan = load_plan(&s.config).unwrap();
    let services = Services::with_token(&plan, None);
    let cold = run_with(&plan, &services).await;
    let why = why_unknown(&cold);
    let (h, e) = (&s.head[..7], &STAGING_SHA[..7]);
    assert_eq!(
        why,
        format!("GitHub does not know {h} in {REPO} (HEAD not pushed?)")
    );
    // That the clone lacks staging's commit is said once, apart.
    let local_head = cold.assessment.local_head.as_ref().unwrap();
    assert_eq!(
        local_head.not_in_clone,
        [format!(
            "staging runs {e}, which your clone does not have (git fetch?)"
        )]
    );
    let commits = |sha: &str| s.fake.requests(&format!("repos/{REPO}/commits/{sha}"));
    assert_eq!((commits(&s.head), commits(STAGING_SHA)), (1, 1));
    let cold_gh = cold.github.clone().unwrap();
    assert_eq!(
        cold_gh.rate_limit_points,
        cold_gh.requests - cold_gh.not_modified
    );

    // What `serve` does on every refresh: same plan, same Services. The
    // workflow run is asked again (a free 304); the 404 and the lookups
    // are not asked at all.
    let compare = format!("repos/{REPO}/compare/{}...{STAGING_SHA}", s.head);
    assert_eq!(s.fake.requests(&compare), 1);
    let warm = run_with(&plan, &services).await;
    assert_eq!(why_unknown(&warm), why);
    let gh = warm.github.unwrap();
    assert_eq!(gh.rate_limit_points, 0, "{gh:?}");
    assert_eq!(gh.not_modified, gh.requests, "{gh:?}");
    assert_eq!((commits(&s.head), commits(STAGING_SHA)), (1, 1));
    assert_eq!(s.fake.requests(&compare), 1);
}

#[tokio::test]
async fn an_environment_commit_github_lacks_is_named_alone() {
    let s = setup().await;
    not_found(&s.fake, STAGING_SHA);
    let why = why_unknown(&run(&s).await);
    let (h, e) = (&s.head[..7], &STAGING_SHA[..7]);
    assert!(
        why.ends_with(&format!(
            "GitHub does not know {e} in {REPO} (a commit that was never pushed?)"
        )),
        "{why}"
    );
    assert!(!why.contains(h), "HEAD is known to GitHub: {why}");
}

#[tokio::test]
async fn both_unknown_names_both() {
    let s = setup().await;
    not_found(&s.fake, &s.head);
    not_found(&s.fake, STAGING_SHA);
    let why = why_unknown(&run(&s).await);
    let (h, e) = (&s.head[..7], &STAGING_SHA[..7]);
    assert!(
        why.contains(&format!("GitHub does not know {h} or {e} in {REPO}")),
        "{why}"
    );
}

#[tokio::test]
async fn a_failed_lookup_says_what_is_known() {
    let s = setup().await;
    not_found(&s.fake, &s.head);
    s.fake.set(
        &format!("repos/{REPO}/commits/{STAGING_SHA}"),
        502,
        json!({ "message": "Bad Gateway" }),
        &[],
    );
    let why = why_unknown(&run(&s).await);
    let (h, e) = (&s.head[..7], &STAGING_SHA[..7]);
    assert!(
        why.contains(&format!(
            "GitHub does not know {h} in {REPO}; whether it knows {e} is unknown: GitHub returned 502 Bad Gateway"
        )),
        "{why}"
    );
}

/// The lookup runs under `[run] timeout` like every other lookup.
#[tokio::test]
async fn a_lookup_that_hangs_ends_at_the_run_timeout() {
    let s = setup().await;
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("timeout = \"5s\"", "timeout = \"1s\"");
    std::fs::write(&s.config, text).unwrap();
    not_found(&s.fake, &s.head);
    s.fake.hang(&format!("repos/{REPO}/commits/{STAGING_SHA}"));
    let started = std::time::Instant::now();
    let why = why_unknown(&run(&s).await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        why.contains(&format!(
            "whether it knows {} is unknown: timed out after 1s",
            &STAGING_SHA[..7]
        )),
        "{why}"
    );
}

async fn run(s: &Setup) -> Report {
    let plan = load_plan(&s.config).unwrap();
    run_with(&plan, &Services::with_token(&plan, None)).await
}
