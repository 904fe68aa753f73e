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
        ..RenderExtras::default()
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

#[test]
fn html_has_the_dashboard_parts() {
    let r = renderer();
    let page = r
        .render(
            Format::Html,
            &fixture("warning_drift_ci_failed"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.trim_end().ends_with("</html>"));
    for id in [
        "env-card-local",
        "env-card-staging",
        "env-card-production",
        "drift-banner",
        "ci-ci",
        "ci-deploy",
        "offline-banner",
        "summary",
        "checks",
    ] {
        assert!(
            page.contains(&format!("data-testid=\"{id}\"")),
            "missing {id}"
        );
    }
    assert!(page.contains("Production is 2 commits behind staging"));
    assert!(page.contains("View diff on GitHub →"));
    assert!(page.contains("View logs →"));
    assert!(page.contains("✗</span>FAILED"));
    assert!(page.contains("In Progress"));
    assert!(page.contains("⚠</span>Warning"));
    // Static page: no script, no refresh button, the JSON hint instead of an endpoint.
    assert!(!page.contains("<script"));
    assert!(!page.contains("data-testid=\"refresh\""));
    assert!(page.contains("villa-telemetry run --format json"));
}

#[test]
fn html_live_has_script_refresh_endpoint_and_trends() {
    let page = renderer()
        .render(
            Format::Html,
            &fixture("warning_drift_ci_failed"),
            &live_extras(),
        )
        .unwrap();
    assert!(page.contains("new EventSource(\"/api/telemetry/events\")"));
    assert!(page.contains("href=\"?refresh&#x3D;1\"") || page.contains("href=\"?refresh=1\""));
    assert!(page.contains("AI Endpoint: <a href=\"http://127.0.0.1:3003/api/telemetry/status\""));
    assert!(page.contains("<polyline points=\""));
    assert!(page.contains("healthy since 14:02"));
}

#[test]
fn html_states_show_words_not_only_colours() {
    let r = renderer();
    let green = r
        .render(
            Format::Html,
            &fixture("all_green"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(green.contains("All systems operational"));
    assert!(!green.contains("data-testid=\"drift-banner\""));
    assert!(green.contains("●</span>Running"));

    let failing = r
        .render(
            Format::Html,
            &fixture("failing_error"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(failing.contains("✗</span>Error"));
    assert!(failing.contains("connection refused (beta.villa.cash:443)"));
    assert!(failing.contains("Is the service running?"));
    assert!(failing.contains("STALLED"));

    let offline = r
        .render(
            Format::Html,
            &fixture("offline_local"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(offline.contains("data-status=\"offline\""));
    assert!(offline.contains("○</span>Offline"));
    assert!(offline.contains("GitHub rate limit exceeded"));
}

#[test]
fn html_loads_nothing_from_elsewhere() {
    let r = renderer();
    for name in FIXTURES {
        for extras in [RenderExtras::default(), live_extras()] {
            let page = r.render(Format::Html, &fixture(name), &extras).unwrap();
            let lower = page.to_lowercase();
            assert!(!lower.contains("<script src"), "{name}");
            assert!(!lower.contains("<img"), "{name}");
            assert!(!lower.contains("@import"), "{name}");
            assert!(!lower.contains("url("), "{name}");
            for tag in lower.split("<link").skip(1) {
                let tag = &tag[..tag.find('>').unwrap()];
                assert!(
                    !tag.contains("http:") && !tag.contains("https:") && !tag.contains("//"),
                    "{name}: <link{tag}>"
                );
            }
        }
    }
}

#[test]
fn html_escapes_report_text() {
    let mut report = fixture("failing_error");
    report.summary = "<script>alert(1)</script> & \"quotes\"".to_owned();
    report.project.name = "<b>Villa</b>".to_owned();
    report.environments["staging"].error = Some("<img src=x onerror=alert(2)>".to_owned());
    let page = renderer()
        .render(Format::Html, &report, &live_extras())
        .unwrap();
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(!page.contains("<b>Villa</b>"));
    assert!(!page.contains("<img src=x"));

    // Text is not HTML: it stays verbatim.
    let text = renderer()
        .render(Format::Text, &report, &RenderExtras::default())
        .unwrap();
    assert!(text.contains("<script>alert(1)</script> & \"quotes\""));
    // Markdown neutralises tags and table pipes.
    let md = renderer()
        .render(Format::Markdown, &report, &RenderExtras::default())
        .unwrap();
    assert!(!md.contains("<script>"));
}

#[test]
fn json_is_canonical() {
    let report = fixture("warning_drift_ci_failed");
    let out = renderer()
        .render(Format::Json, &report, &RenderExtras::default())
        .unwrap();
    assert_eq!(out, render::to_json(&report));
    assert_eq!(
        out,
        format!("{}\n", serde_json::to_string_pretty(&report).unwrap())
    );
    assert!(!out.contains("extras"));
}

#[test]
fn user_templates_override_and_add() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.txt.hbs"),
        "{{project.name}} is {{upper status}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("team.txt.hbs"),
        "{{#each view.envs}}{{name}}={{status_icon status}} {{short_sha sha}}\n{{/each}}",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a template").unwrap();
    let r = Renderer::new(Some(dir.path())).unwrap();
    let report = fixture("warning_drift_ci_failed");
    let extras = RenderExtras::default();

    assert_eq!(
        r.render(Format::Text, &report, &extras).unwrap(),
        "Villa is WARNING\n"
    );
    assert_eq!(
        r.render_named("team.txt", &report, &extras)
            .unwrap()
            .unwrap(),
        "Local=● cbefe7c\nStaging=● cbefe7c\nProduction=⚠ 53004a6\n"
    );
    assert!(r.render_named("nope.txt", &report, &extras).is_none());
    assert!(
        r.render_named("partials/styles", &report, &extras)
            .is_none()
    );
    assert_eq!(
        r.template_names(),
        ["report.html", "report.md", "report.txt", "team.txt"]
    );
    // Built-ins untouched by the override are still there.
    assert!(
        r.render(Format::Markdown, &report, &extras)
            .unwrap()
            .contains("### Environments")
    );
}

#[test]
fn template_syntax_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.txt.hbs");
    std::fs::write(&path, "line one\n{{#if status}}\nno closing tag\n").unwrap();
    let err = Renderer::new(Some(dir.path())).unwrap_err();
    assert!(matches!(err, RenderError::Syntax { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains(":2") || msg.contains(":3") || msg.contains(":4"),
        "{msg}"
    );
}

#[test]
fn template_render_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.txt.hbs");
    std::fs::write(&path, "ok\n{{project.nmae}}\n").unwrap();
    let r = Renderer::new(Some(dir.path())).unwrap();
    let err = r
        .render_named("typo.txt", &fixture("all_green"), &RenderExtras::default())
        .unwrap()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("nmae"), "{msg}");
}

/// A loopback environment can answer in 0 ms: that is a measurement, not a
/// missing one, so every format shows `0 ms` (Handlebars' `#if` treats 0 as
/// false unless told otherwise).
#[test]
fn zero_latency_shows_0_ms_in_every_format() {
    let mut report = fixture("all_green");
    let (id, env) = report.environments.iter_mut().next().unwrap();
    let id = id.clone();
    env.latency_ms = Some(0);
    let r = renderer();
    let html = r.render(Format::Html, &report, &live_extras()).unwrap();
    let card_start = html
        .find(&format!("data-testid=\"env-card-{id}\""))
        .expect("the environment's card");
    let card = &html[card_start..];
    let card = &card[..card.find("</article>").unwrap()];
    assert!(
        card.contains("<dt>Latency</dt><dd>0 ms</dd>"),
        "the card shows 0 ms: {card}"
    );
    for format in [Format::Text, Format::Markdown] {
        let out = r.render(format, &report, &RenderExtras::default()).unwrap();
        assert!(out.contains(" 0 ms"), "{format:?}: {out}");
    }
    env_without_latency_shows_a_dash(&r);
}

/// The other side: no measurement at all still shows "—" on the card.
fn env_without_latency_shows_a_dash(r: &Renderer) {
    let mut report = fixture("all_green");
    let (id, env) = report.environments.iter_mut().next().unwrap();
    let id = id.clone();
    env.latency_ms = None;
    let html = r.render(Format::Html, &report, &live_extras()).unwrap();
    let card = &html[html
        .find(&format!("data-testid=\"env-card-{id}\""))
        .unwrap()..];
    let card = &card[..card.find("</article>").unwrap()];
    assert!(
        card.contains(r#"<dt>Latency</dt><dd class="none">—</dd>"#),
        "{card}"
    );
}

#[test]
fn a_cut_commit_list_says_how_many_more_in_every_format() {
    let mut report = fixture("warning_drift_ci_failed");
    let c = report.comparison.values_mut().next().unwrap();
    c.commits_behind = Some(5);
    c.commits_truncated = true;
    let r = renderer();
    let text = r
        .render(Format::Text, &report, &RenderExtras::default())
        .unwrap();
    assert!(text.contains("… and 3 more (the list is cut)"), "{text}");
    let md = r
        .render(Format::Markdown, &report, &RenderExtras::default())
        .unwrap();
    assert!(md.contains("… and 3 more (the list is cut)"), "{md}");
    let html = r.render(Format::Html, &report, &live_extras()).unwrap();
    assert!(html.contains("… and 3 more"), "the dashboard says it too");
    // A whole list says nothing more.
    let whole = renderer()
        .render(
            Format::Text,
            &fixture("warning_drift_ci_failed"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(!whole.contains("more (the list is cut)"), "{whole}");
}

#[test]
fn dashboard_advice_follows_the_error_kind_not_the_text() {
    use villa_telemetry::report::ErrorKind;
    let mut report = fixture("failing_error");
    let (id, env) = report
        .environments
        .iter_mut()
        .find(|(_, e)| e.error.is_some())
        .unwrap();
    let id = id.clone();
    let card_of = |report: &Report| {
        let html = renderer()
            .render(Format::Html, report, &live_extras())
            .unwrap();
        let card = &html[html
            .find(&format!("data-testid=\"env-card-{id}\""))
            .unwrap()..];
        card[..card.find("</article>").unwrap()].to_owned()
    };
    // The text says "refused"; the kind says timeout: the kind wins.
    env.error_kind = Some(ErrorKind::Timeout);
    let card = card_of(&report);
    assert!(card.contains("did not answer in time"), "{card}");
    assert!(!card.contains("Nothing is listening"), "{card}");
    let env = report.environments.get_mut(&id).unwrap();
    env.error_kind = Some(ErrorKind::CiFailed);
    assert!(card_of(&report).contains("CI failed on the commit it runs"));
    let env = report.environments.get_mut(&id).unwrap();
    env.error_kind = Some(ErrorKind::Refused);
    assert!(card_of(&report).contains("Nothing is listening at"));
}

/// The banner counts environments and checks in words that say which is
/// which, the tab names what fails instead of "Failing" when no
/// environment fails (issue 19, contradiction 4), and the CI tally says
/// what it counts (contradiction 8).
#[test]
fn the_banner_and_title_say_what_fails_in_units() {
    let mut report = fixture("warning_drift_ci_failed");
    report.assessment = villa_telemetry::report::assess(&report);
    let html = renderer()
        .render(Format::Html, &report, &RenderExtras::default())
        .unwrap();
    let title = html
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap();
    assert!(title.contains("CI Pipeline failed on cbefe7c"), "{title}");
    assert!(!title.contains("Failing"), "{title}");
    let envs = report.environments.len();
    assert!(
        html.contains(&format!(" of {envs} healthy")),
        "environments counted as environments"
    );
    let checks = report.checks.len();
    let pass = report
        .checks
        .iter()
        .filter(|c| c.status == villa_telemetry::report::CheckStatus::Pass)
        .count();
    assert!(
        html.contains(&format!("checks: <b>{pass}</b> of {checks} pass")),
        "checks counted as checks"
    );
    // The tally says what it counts and on which commit (issue 19).
    for e in report.environments.values() {
        if let (Some(ci), Some(sha)) = (&e.ci, &e.sha)
            && !ci.counts.is_empty()
        {
            let on = format!("check runs and statuses on {} passed", &sha[..7]);
            assert!(html.contains(&on), "{on}");
        }
    }
    // Healthy says so in the tab.
    let green = renderer()
        .render(
            Format::Html,
            &fixture("all_green"),
            &RenderExtras::default(),
        )
        .unwrap();
    assert!(green.contains("Healthy ·"), "all green title");
}
