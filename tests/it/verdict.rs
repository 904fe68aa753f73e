//! The verdict on the demo's `down` world (issue 20): staging answers 500
//! "database connection pool exhausted" while deploy #814 of a commit whose
//! CI failed is in progress, so neither code nor infrastructure can be
//! claimed; production refuses connections and was last deployed 3 days
//! ago: infrastructure, high.

use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::world::{MID_SHA, NEW_SHA, Scenario, World};
use villa_telemetry::report::assess::Cause;
use villa_telemetry::report::timeline::Precision;
use villa_telemetry::report::verdict::Confidence;
use villa_telemetry::runner::Services;

#[tokio::test]
async fn the_down_world_gets_a_verdict_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(Scenario::Down, dir.path()).await.unwrap();
    let plan = load_plan(&world.config_path).unwrap();
    let report = run_with(&plan, &Services::with_token(&plan, None)).await;
    let broken = |env: &str| {
        report
            .assessment
            .broken
            .iter()
            .find(|b| b.environment.as_deref() == Some(env) && b.check == "health")
            .unwrap_or_else(|| panic!("{env}: {:#?}", report.assessment.broken))
    };

    let staging = broken("staging");
    assert_eq!(staging.cause, Cause::Unknown, "{staging:#?}");
    assert!(
        staging.confidence <= Some(Confidence::Medium),
        "{staging:#?}"
    );
    let text: Vec<&str> = staging.evidence.iter().map(|e| e.text.as_str()).collect();
    let has = |part: &str| text.iter().any(|t| t.contains(part));
    assert!(has("\"database connection pool exhausted\""), "{text:#?}");
    assert!(
        has(&format!(
            "deploy #814 of {} to staging is in progress",
            &NEW_SHA[..7]
        )),
        "{text:#?}"
    );
    assert!(
        has(&format!("CI on {} is failure", &NEW_SHA[..7])),
        "{text:#?}"
    );
    assert!(staging.rules.iter().any(|r| r == "deploy_in_progress"));
    let env = &report.environments["staging"];
    let since = env
        .failing_since
        .as_ref()
        .expect("onset from the deployment");
    assert_eq!(
        (since.precision, since.deployment),
        (Precision::Deployment, Some(814))
    );
    let good = env.last_good.as_ref().expect("809 stayed live a day");
    assert_eq!((good.sha.as_str(), good.deployment), (MID_SHA, Some(809)));
    // Listed by the run from the world's clone (tests/it/suspects.rs).
    let suspects = env.suspect_commits.as_ref().unwrap();
    let shas: Vec<&str> = suspects
        .commits
        .iter()
        .flatten()
        .map(|c| c.sha.as_str())
        .collect();
    assert_eq!(shas, [&NEW_SHA[..7]], "{suspects:#?}");
    assert!(env.timeline.len() >= 3 && env.timeline.windows(2).all(|w| w[0].at >= w[1].at));
    let steps: Vec<&str> = report
        .assessment
        .next_steps
        .iter()
        .map(|s| s.action.as_str())
        .collect();
    assert!(steps[0].starts_with("Wait for deploy #814"), "{steps:#?}");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("Check staging's database")),
        "{steps:#?}"
    );

    let production = broken("production");
    assert_eq!(
        (production.cause, production.confidence),
        (Cause::Infrastructure, Some(Confidence::High)),
        "{production:#?}"
    );
    assert_eq!(
        report.environments["production"]
            .failing_since
            .as_ref()
            .map(|s| s.precision),
        Some(Precision::AtMost)
    );
}
