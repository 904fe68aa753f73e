//! The JSON Schema describes every report the project produces: the four
//! report fixtures and the demo world's reports (healthy, drift, down), and
//! `villa-telemetry schema` prints the same schema.

use std::path::Path;

use serde_json::Value;
use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::world::{Scenario, World};
use villa_telemetry::render::to_json;
use villa_telemetry::report::schema::report_schema;
use villa_telemetry::runner::Services;

use crate::support::BIN;

fn assert_valid(schema: &Value, report: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn every_report_fixture_validates() {
    let schema = report_schema();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_valid(&schema, &report, &path.display().to_string());
            seen += 1;
        }
    }
    assert!(seen >= 4, "found {seen} fixtures in {}", dir.display());
}

#[tokio::test]
async fn demo_reports_validate() {
    let schema = report_schema();
    for scenario in [Scenario::Healthy, Scenario::Drift, Scenario::Down] {
        let dir = tempfile::tempdir().unwrap();
        let world = World::start(scenario, dir.path()).await.unwrap();
        let plan = load_plan(&world.config_path).unwrap();
        let services = Services::with_token(&plan, None);
        let report = run_with(&plan, &services).await;
        let json: Value = serde_json::from_str(&to_json(&report)).unwrap();
        assert_eq!(
            json["$schema"], schema["$id"],
            "{scenario:?} names its schema"
        );
        assert_valid(&schema, &json, &format!("{scenario:?}"));
    }
}

/// A value the schema must refuse, so the validation above can fail.
#[test]
fn a_wrong_status_word_is_refused() {
    let schema = report_schema();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/all_green.json");
    let mut report: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    report["status"] = "fine".into();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&report));
}

#[test]
fn schema_command_prints_the_schema() {
    let out = std::process::Command::new(BIN)
        .arg("schema")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, report_schema());
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}
