//! Rendering of report fixtures into text, markdown and HTML.

use std::path::Path;

use villa_telemetry::render::{self, Format, RenderExtras, Renderer};
use villa_telemetry::report::Report;

const FIXTURES: &[&str] = &[
    "all_green",
    "warning_drift_ci_failed",
    "failing_error",
    "offline_local",
];

fn fixture(name: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reports")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn renderer() -> Renderer {
    Renderer::new(None).expect("built-in templates compile")
}

#[test]
fn fixtures_deserialize_and_round_trip() {
    for name in FIXTURES {
        let report = fixture(name);
        let json = render::to_json(&report);
        assert!(json.ends_with("}\n"));
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report, "{name}");
    }
}

#[test]
fn text_snapshots() {
    let r = renderer();
    for name in FIXTURES {
        let out = r
            .render(Format::Text, &fixture(name), &RenderExtras::default())
            .unwrap();
        insta::assert_snapshot!(format!("text_{name}"), out);
    }
}

#[test]
fn markdown_snapshots() {
    let r = renderer();
    for name in FIXTURES {
        let out = r
            .render(Format::Markdown, &fixture(name), &RenderExtras::default())
            .unwrap();
        insta::assert_snapshot!(format!("markdown_{name}"), out);
    }
}
