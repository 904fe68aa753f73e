//! Rendering of report fixtures into text, markdown and HTML.

use std::path::Path;

use villa_telemetry::render::{self, EnvTrend, Format, RenderError, RenderExtras, Renderer};
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

fn live_extras() -> RenderExtras {
    let mut trends = indexmap::IndexMap::new();
    trends.insert(
        "local".to_owned(),
        EnvTrend {
            latency_ms: vec![52, 48, 45, 61, 47, 44, 45, 50, 46, 45],
            since: Some("healthy since 14:02".to_owned()),
        },
    );
    trends.insert(
        "staging".to_owned(),
        EnvTrend {
            latency_ms: vec![130, 118, 125, 160, 142, 121, 119, 117, 124, 120],
            since: Some("healthy since 13:48".to_owned()),
        },
    );
    trends.insert(
        "production".to_owned(),
        EnvTrend {
            latency_ms: vec![90, 92, 101, 97, 88, 93, 140, 99, 94, 95],
            since: Some("warning for 12 min".to_owned()),
        },
    );
    RenderExtras {
        live: true,
        endpoint: Some("http://127.0.0.1:3003/api/telemetry/status".to_owned()),
        trends,
        stale_seconds: None,
    }
}

/// Writes every fixture as a static and a live page to `target/tmp/render-previews/`
/// so the browser harness and people can look at them.
#[test]
fn html_previews_render() {
    let r = renderer();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("render-previews");
    std::fs::create_dir_all(&dir).unwrap();
    for name in FIXTURES {
        let report = fixture(name);
        let page = r
            .render(Format::Html, &report, &RenderExtras::default())
            .unwrap();
        std::fs::write(dir.join(format!("{name}.html")), &page).unwrap();
        let live = r.render(Format::Html, &report, &live_extras()).unwrap();
        std::fs::write(dir.join(format!("{name}.live.html")), &live).unwrap();
    }
}
