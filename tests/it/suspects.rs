//! The suspect commits of a broken environment (issue 20): the runner lists
//! the commits between its last good deployment and its newest one — from
//! the local clone when it has both, else from GitHub's compare — with each
//! commit's pull request, and the verdict names them. In the demo's `down`
//! world staging last ran MID (deployment 809) and NEW is being deployed
//! (814), so the suspects are exactly [NEW].

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::world::{DEMO_REPO, MID_SHA, NEW_SHA, Scenario, World};
use villa_telemetry::outcome::{CiStatus, SuspectSource};
use villa_telemetry::report::Report;
use villa_telemetry::runner::Services;

use crate::support::GitRepo;

const TIMEOUT_S: u64 = 2;

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The staging verdict's evidence sentences.
fn staging_evidence(report: &Report) -> Vec<String> {
    report
        .assessment
        .broken
        .iter()
        .find(|b| b.environment.as_deref() == Some("staging") && b.check == "health")
        .expect("staging is broken")
        .evidence
        .iter()
        .map(|e| e.text.clone())
        .collect()
}

/// Staging's suspects are [NEW] with its failed CI and pull request #42.
fn assert_suspects_are_new(report: &Report) {
    let env = &report.environments["staging"];
    let s = env.suspect_commits.as_ref().expect("suspect commits");
    assert_eq!(
        (s.from.as_str(), s.to.as_str()),
        (short(MID_SHA), short(NEW_SHA))
    );
    let commits = s.commits.as_ref().unwrap_or_else(|| panic!("{s:#?}"));
    let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [short(NEW_SHA)], "{s:#?}");
    let new = &commits[0];
    assert_eq!(new.message, "Move sessions to Redis");
    assert_eq!(new.ci, Some(CiStatus::Failure), "{new:#?}");
    assert_eq!(new.pull_request.as_ref().map(|p| p.number), Some(42));
    let evidence = staging_evidence(report);
    let named = format!(
        "1 commit between {} and {}: {} \"Move sessions to Redis\" (CI failure, PR #42",
        short(MID_SHA),
        short(NEW_SHA),
        short(NEW_SHA)
    );
    assert!(evidence.iter().any(|t| t.contains(&named)), "{evidence:#?}");
}

/// The world's config pointed at a clone of this test's own, which has
/// none of the world's commits, with `[run] timeout` set.
fn foreign_clone_plan(world: &World, repo: &GitRepo) -> villa_telemetry::plan::Plan {
    let config = std::fs::read_to_string(&world.config_path)
        .unwrap()
        .replace(
            &world.clone_dir.display().to_string(),
            &repo.path().display().to_string(),
        );
    let path = world.config_path.with_file_name("foreign.toml");
    std::fs::write(
        &path,
        format!("{config}\n[run]\ntimeout = \"{TIMEOUT_S}s\"\n"),
    )
    .unwrap();
    load_plan(&path).unwrap()
}

fn compare_path() -> String {
    format!("repos/{DEMO_REPO}/compare/{MID_SHA}...{NEW_SHA}")
}

/// The recorded compare body, listing only NEW (as GitHub would for MID...NEW).
fn compare_of_new(world: &World) -> Value {
    let mut cmp = world.github.fixtures().compare_with("ahead", 1, 0);
    let mut c = cmp["commits"][0].clone();
    c["sha"] = json!(NEW_SHA);
    c["commit"]["message"] = json!("Move sessions to Redis\n\nA body line.");
    c["commit"]["author"] = json!({ "name": "Ben Okafor", "date": "2026-12-01T11:05:00Z" });
    cmp["commits"] = json!([c]);
    cmp["html_url"] = json!(format!(
        "https://github.com/{DEMO_REPO}/compare/{}...{}",
        short(MID_SHA),
        short(NEW_SHA)
    ));
    cmp
}

#[tokio::test]
async fn the_clone_lists_the_suspects_and_github_gives_their_pull_requests() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Down, dir.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let report = run_with(&plan, &Services::with_token(&plan, None)).await;
    assert_suspects_are_new(&report);
    let looked_up = report.environments["staging"].suspects.as_ref().unwrap();
    assert_eq!(looked_up.source, Some(SuspectSource::Git), "{looked_up:#?}");
    assert!(!looked_up.truncated);
    // The clone answered: GitHub was asked for no compare of the suspects
    // (only the drift's, OLD...MID, by what the down sides last ran), only
    // for the pull request of NEW.
    let log = world.github.log();
    assert!(
        !log.iter()
            .any(|r| r.path.contains("/compare/") && r.path.contains(&NEW_SHA[..7])),
        "{log:#?}"
    );
    let pulls = format!("repos/{DEMO_REPO}/commits/{NEW_SHA}/pulls");
    assert_eq!(world.github.requests(&pulls), 1, "{log:#?}");
    // Production has one deployment: nothing to compare.
    assert!(report.environments["production"].suspects.is_none());
}

#[tokio::test]
async fn without_the_commits_in_the_clone_github_compare_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Down, dir.path()).await.unwrap();
    let repo = GitRepo::new();
    repo.commit("local work");
    world
        .github
        .set(&compare_path(), 200, compare_of_new(&world), &[]);
    let plan = foreign_clone_plan(&world, &repo);
    let report = run_with(&plan, &Services::with_token(&plan, None)).await;
    assert_suspects_are_new(&report);
    let looked_up = report.environments["staging"].suspects.as_ref().unwrap();
    assert_eq!(
        looked_up.source,
        Some(SuspectSource::Github),
        "{looked_up:#?}"
    );
    assert_eq!(looked_up.total, Some(1));
    let s = report.environments["staging"]
        .suspect_commits
        .as_ref()
        .unwrap();
    assert_eq!(
        s.diff_url.as_deref(),
        Some(format!("https://github.com/{DEMO_REPO}/compare/72f64e6...0b67ce8").as_str())
    );
    assert_eq!(world.github.requests(&compare_path()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_compare_ends_at_the_timeout_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Down, dir.path()).await.unwrap();
    let repo = GitRepo::new();
    repo.commit("local work");
    world.github.hang(&format!("repos/{DEMO_REPO}/compare/*"));
    let plan = foreign_clone_plan(&world, &repo);
    let started = Instant::now();
    let report = run_with(&plan, &Services::with_token(&plan, None)).await;
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(TIMEOUT_S + 1),
        "run took {took:?} with a {TIMEOUT_S}s timeout"
    );
    assert!(world.github.requests(&compare_path()) >= 1);
    let s = report.environments["staging"]
        .suspect_commits
        .as_ref()
        .unwrap();
    assert!(s.commits.is_none(), "{s:#?}");
    let why = s.unknown.as_deref().unwrap_or_default();
    assert!(
        why.contains(&format!("timed out after {TIMEOUT_S}s"))
            && why.contains(&format!("compare/{MID_SHA}...{NEW_SHA}"))
            && why.contains("not in the local repository"),
        "{why}"
    );
    let evidence = staging_evidence(&report);
    assert!(
        evidence.iter().any(|t| t.starts_with(&format!(
            "the commits between {} and {} are unknown: timed out after {TIMEOUT_S}s",
            short(MID_SHA),
            short(NEW_SHA)
        ))),
        "{evidence:#?}"
    );
}
