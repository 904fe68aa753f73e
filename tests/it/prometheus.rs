//! The `prometheus` probe, metric thresholds, tables and panels against a real
//! Prometheus: Debian's `prometheus` binary, started here on a free loopback
//! port with a generated config and a temporary storage directory, scraping a
//! fake exporter (axum on loopback) every second.
//!
//! Without `/usr/bin/prometheus` (or `$PROMETHEUS`) the Prometheus test is
//! skipped loudly, unless `CI` is set, where it fails. The metric panels'
//! screenshot additionally needs the browser harness (see tests/it/browser.rs).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use villa_telemetry::metric::Level;
use villa_telemetry::render::{Format, RenderExtras, Renderer};
use villa_telemetry::report::{CheckResult, CheckStatus, Report};

use crate::support::BIN;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `target` directory of this build (follows CARGO_TARGET_DIR).
fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

/// Loud skip, or a failure under CI.
fn unavailable(what: &str) {
    let msg = format!("SKIP: {what}");
    if std::env::var_os("CI").is_some() {
        panic!("{msg} (CI is set, so this is a failure)");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! {msg}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

fn prometheus_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("PROMETHEUS")
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    if bin.exists() {
        Some(bin)
    } else {
        unavailable(&format!(
            "{} not found (apt-get install -y prometheus, or set PROMETHEUS)",
            bin.display()
        ));
        None
    }
}

/// The exporter's text: counters grow with every scrape so `rate()` and
/// `increase()` have data after two scrapes; gauges hold one value per case.
fn exposition(n: u64) -> String {
    let n = n as f64;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("# TYPE http_requests_total counter".into());
    line(format!("http_requests_total{{code=\"200\"}} {}", 200.0 * n));
    line(format!("http_requests_total{{code=\"500\"}} {}", n));
    line("# TYPE http_request_duration_seconds histogram".into());
    for (le, share) in [
        ("0.1", 50.0),
        ("0.25", 80.0),
        ("0.5", 96.0),
        ("1", 99.0),
        ("+Inf", 100.0),
    ] {
        line(format!(
            "http_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
            share * n
        ));
    }
    line(format!("http_request_duration_seconds_sum {}", 20.0 * n));
    line(format!("http_request_duration_seconds_count {}", 100.0 * n));
    line("# TYPE app_active_sessions gauge".into());
    line("app_active_sessions 3".into());
    line("# TYPE link_processing_total counter".into());
    line(format!(
        "link_processing_total{{result=\"ok\"}} {}",
        998.0 * n
    ));
    line(format!(
        "link_processing_total{{result=\"failed\"}} {}",
        2.0 * n
    ));
    line("# TYPE ai_cost_dollars_total counter".into());
    line("# TYPE fake_cost_dollars gauge".into());
    line("# TYPE app_errors_total counter".into());
    for (i, model) in [
        "claude-haiku-3",
        "claude-opus-4",
        "claude-sonnet-4",
        "gpt-3.5-turbo",
        "gpt-4",
        "tts-1",
        "whisper-1",
    ]
    .iter()
    .enumerate()
    {
        let weight = [0.4, 9.0, 3.5, 0.2, 6.0, 0.1, 0.8][i];
        // Cents per scrape: a minute of scrapes stays under the $50 warning.
        line(format!(
            "ai_cost_dollars_total{{model=\"{model}\"}} {}",
            weight * n / 100.0
        ));
        line(format!("fake_cost_dollars{{model=\"{model}\"}} {weight}"));
    }
    for (error, weight) in [
        ("timeout", 7.0),
        ("http_404", 4.0),
        ("extract_failed", 3.0),
        ("dns", 1.0),
        ("tls", 2.0),
        ("rate_limited", 5.0),
    ] {
        line(format!(
            "app_errors_total{{error=\"{error}\"}} {}",
            weight * n
        ));
    }
    line("# TYPE fake_latency_ms gauge".into());
    for (case, v) in [("ok", 412.0), ("warn", 900.0), ("critical", 1620.0)] {
        line(format!("fake_latency_ms{{case=\"{case}\"}} {v}"));
    }
    line("# TYPE fake_success_percent gauge".into());
    for (case, v) in [("ok", 99.9), ("warn", 99.2), ("critical", 97.0)] {
        line(format!("fake_success_percent{{case=\"{case}\"}} {v}"));
    }
    out
}

async fn start_exporter() -> SocketAddr {
    let scrapes = Arc::new(AtomicU64::new(0));
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            async move { exposition(n) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind exporter");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("exporter runs");
    });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running Prometheus; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(bin: &Path, target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let mut child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start prometheus");
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[prometheus] {line}");
            }
        });
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Waits until two scrapes landed, so `rate()` has data.
    async fn wait_for_data(&mut self) {
        let client = villa_telemetry::probe::http::client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("child state") {
                panic!("prometheus exited early with {status}");
            }
            let answer = client
                .get(format!(
                    "{}/api/v1/query?query=sum(rate(http_requests_total%5B1m%5D))",
                    self.url
                ))
                .send()
                .await;
            if let Ok(r) = answer
                && let Ok(text) = r.text().await
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus at {} had no scraped data after 60 s",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Writes `checks` as a config and runs it once, in-process.
async fn run(checks: &str) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, format!("[project]\nname = \"Metrics\"\n\n{checks}")).expect("write");
    let plan = villa_telemetry::cli::load_plan(&path).expect("valid config");
    villa_telemetry::cli::run_once(&plan).await
}

fn check<'a>(report: &'a Report, id: &str) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", report.checks))
}

fn metric_check(id: &str, url: &str, query: &str, metric: &str) -> String {
    format!(
        "[[checks]]\nid = \"{id}\"\nprometheus = {{ url = \"{url}\", query = '{query}' }}\nmetric = {metric}\n\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_prometheus() {
    let Some(bin) = prometheus_bin() else {
        return;
    };
    let exporter = start_exporter().await;
    let mut prom = Prometheus::start(&bin, exporter);
    prom.wait_for_data().await;
    let url = prom.url.clone();

    scalar_vector_and_empty(&url).await;
    bad_promql_is_prometheus_own_message(&url).await;
    thresholds_in_both_directions(&url).await;
    top_n_table(&url).await;
    let report = example_runs_with_trends(&url).await;
    panels_render_as_text_markdown_and_json(&report);
    metrics_endpoint_exports_the_values(&report);
    screenshot_of_metric_panels(&report);
}

async fn scalar_vector_and_empty(url: &str) {
    let mut checks = metric_check(
        "scalar",
        url,
        "scalar(sum(app_active_sessions))",
        "{ value = \"$.value\" }",
    );
    checks += &metric_check(
        "vector",
        url,
        "sum(app_active_sessions)",
        "{ value = \"$.value\", unit = \"sessions\" }",
    );
    checks += &metric_check(
        "empty",
        url,
        "fake_latency_ms{case=\"nope\"}",
        "{ value = \"$.value\" }",
    );
    checks += &format!(
        "[[checks]]\nid = \"several\"\nprometheus = {{ url = \"{url}\", query = 'fake_latency_ms' }}\n\
         expect = [\"len($.series) == 3\", \"$.series[0].labels.job == 'app'\"]\n\n\
         [[checks]]\nid = \"empty-plain\"\nprometheus = {{ url = \"{url}\", query = 'fake_latency_ms{{case=\"nope\"}}' }}\n\
         expect = [\"len($.series) == 0\"]\n"
    );
    let report = run(&checks).await;

    let scalar = check(&report, "scalar");
    assert_eq!(scalar.status, CheckStatus::Pass, "{scalar:#?}");
    let m = scalar.metric.as_ref().expect("metric");
    assert_eq!((m.value, m.level), (Some(3.0), Level::Ok));
    assert!(scalar.summary.starts_with('3'), "{}", scalar.summary);

    let vector = check(&report, "vector");
    assert_eq!(vector.status, CheckStatus::Pass, "{vector:#?}");
    assert_eq!(vector.summary, "3 sessions");

    let empty = check(&report, "empty");
    assert_eq!(empty.status, CheckStatus::Error, "{empty:#?}");
    assert!(
        empty
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no data")),
        "{empty:#?}"
    );
    assert_eq!(empty.metric.as_ref().map(|m| m.level), Some(Level::Unknown));

    for id in ["several", "empty-plain"] {
        let c = check(&report, id);
        assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
    }
}

async fn bad_promql_is_prometheus_own_message(url: &str) {
    let report = run(&metric_check(
        "bad",
        url,
        "sum(rate(http_requests_total[5m]",
        "{ value = \"$.value\" }",
    ))
    .await;
    let bad = check(&report, "bad");
    assert_eq!(bad.status, CheckStatus::Error);
    let error = bad.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("Prometheus: ")
            && error.contains("parse error")
            && error.contains("bad_data"),
        "want Prometheus's own parse error, got `{error}`"
    );
}

async fn thresholds_in_both_directions(url: &str) {
    let mut checks = String::new();
    for case in ["ok", "warn", "critical"] {
        checks += &metric_check(
            &format!("latency-{case}"),
            url,
            &format!("fake_latency_ms{{case=\"{case}\"}}"),
            "{ value = \"$.value\", unit = \"ms\", warn = \"> 800\", critical = \"> 1500\" }",
        );
        checks += &metric_check(
            &format!("success-{case}"),
            url,
            &format!("fake_success_percent{{case=\"{case}\"}}"),
            "{ value = \"$.value\", unit = \"%\", warn = \"< 99.5\", critical = \"< 99\" }",
        );
    }
    let report = run(&checks).await;
    for (case, status, level) in [
        ("ok", CheckStatus::Pass, Level::Ok),
        ("warn", CheckStatus::Warn, Level::Warning),
        ("critical", CheckStatus::Fail, Level::Critical),
    ] {
        for metric in ["latency", "success"] {
            let c = check(&report, &format!("{metric}-{case}"));
            assert_eq!(c.status, status, "{c:#?}");
            assert_eq!(c.metric.as_ref().map(|m| m.level), Some(level), "{c:#?}");
        }
    }
    let critical = check(&report, "latency-critical");
    assert_eq!(critical.summary, "1,620 ms");
    assert_eq!(
        critical.error.as_deref(),
        Some("1,620 ms is past the critical threshold (> 1500)")
    );
    let json = serde_json::to_value(critical).expect("json");
    assert_eq!(
        json["metric"],
        serde_json::json!({ "value": 1620.0, "unit": "ms", "level": "critical",
            "thresholds": { "warn": "> 800", "critical": "> 1500" } })
    );
    let below = check(&report, "success-warn");
    assert!(
        below
            .error
            .as_deref()
            .is_some_and(|e| e.contains("99.2 %") && e.contains("< 99.5")),
        "{below:#?}"
    );
}

async fn top_n_table(url: &str) {
    let report = run(&format!(
        "[[checks]]\nid = \"cost-by-model\"\npanel = \"Cost\"\n\
         prometheus = {{ url = \"{url}\", query = 'sum by (model) (fake_cost_dollars)' }}\n\
         table = {{ rows = \"$.series\", columns = {{ model = \"$.labels.model\", cost = \"$.value\" }}, sort = \"-cost\", limit = 5 }}\n"
    ))
    .await;
    let c = check(&report, "cost-by-model");
    assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
    let t = c.table.as_ref().expect("table");
    assert_eq!(t.columns, ["model", "cost"]);
    assert_eq!(t.total, 7);
    let models: Vec<&str> = t.rows.iter().filter_map(|r| r[0].as_str()).collect();
    assert_eq!(
        models,
        [
            "claude-opus-4",
            "gpt-4",
            "claude-sonnet-4",
            "whisper-1",
            "claude-haiku-3"
        ]
    );
    assert_eq!(c.panel.as_deref(), Some("Cost"));
}

/// checks/examples/app-metrics.toml, pointed at this Prometheus: every card
/// has a value, the range queries give sparklines.
async fn example_runs_with_trends(url: &str) -> Report {
    let example =
        std::fs::read_to_string(repo().join("checks/examples/app-metrics.toml")).expect("example");
    assert!(example.contains("http://127.0.0.1:9090"));
    // Let a few more scrapes land for the sparklines.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // This Prometheus is seconds old: a 1 h range at 60 points would hold
    // one point, a 1 m range has one a second.
    let example = example
        .replace("http://127.0.0.1:9090", url)
        .replace("range = \"1h\"", "range = \"1m\"");
    let report = run(&example).await;
    assert_eq!(report.checks.len(), 8);
    for c in &report.checks {
        assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
        if let Some(m) = &c.metric {
            assert!(m.value.is_some(), "{c:#?}");
        }
    }
    let p95 = check(&report, "latency-p95")
        .metric
        .as_ref()
        .expect("metric");
    // 95 % of requests are at or under the 0.5 s bucket: p95 is 250..500 ms.
    assert!(
        p95.value.is_some_and(|v| (250.0..=500.0).contains(&v)),
        "{p95:?}"
    );
    assert!(p95.trend.len() >= 2, "a range query gives a trend: {p95:?}");
    let errors = check(&report, "top-errors").table.as_ref().expect("table");
    assert_eq!(errors.rows.len(), 5);
    assert_eq!(errors.rows[0][0], "timeout");
    report
}

fn panels_render_as_text_markdown_and_json(report: &Report) {
    let renderer = Renderer::new(None).expect("templates");
    let extras = RenderExtras::default();
    let text = renderer
        .render(Format::Text, report, &extras)
        .expect("text");
    for heading in [
        "TRAFFIC\n-------",
        "PERFORMANCE\n-----------",
        "COST\n----",
        "ERRORS\n------",
    ] {
        assert!(text.contains(heading), "missing {heading:?} in\n{text}");
    }
    // Values of one panel start in the same column.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Requests ") || l.starts_with("Error rate "))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let column = |l: &str| l.find(|c: char| c.is_ascii_digit()).expect("a value");
    assert_eq!(column(rows[0]), column(rows[1]), "{rows:#?}");
    assert!(text.contains("(warn > 800 · critical > 1500)"), "{text}");
    assert!(text.contains("claude-opus-4"), "{text}");
    // Metrics come after the environment and CI sections, before the checks.
    assert!(text.find("TRAFFIC").unwrap() < text.find("CHECKS").unwrap());

    let md = renderer
        .render(Format::Markdown, report, &extras)
        .expect("markdown");
    assert!(md.contains("### Performance"), "{md}");
    assert!(md.contains("| model | cost |\n|---|---:|"), "{md}");

    let json: Value =
        serde_json::from_str(&villa_telemetry::render::to_json(report)).expect("json");
    let first = &json["checks"][0];
    assert!(
        first["metric"].is_object() || first["table"].is_object(),
        "{first}"
    );
    assert!(first["panel"].is_string(), "{first}");
}

/// `/metrics` carries every metric check's value with HELP and TYPE, in a
/// format `promtool check metrics` accepts.
fn metrics_endpoint_exports_the_values(report: &Report) {
    let text = villa_telemetry::serve::prometheus_text(report, 1);
    assert!(text.contains("# TYPE villa_metric_value gauge"), "{text}");
    assert!(text.contains("# HELP villa_metric_value "), "{text}");
    let metric_checks = report.checks.iter().filter(|c| c.metric.is_some()).count();
    let values: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("villa_metric_value{"))
        .collect();
    assert_eq!(values.len(), metric_checks, "{text}");
    assert!(
        values.iter().any(|l| l.starts_with(
            "villa_metric_value{check=\"latency-p95\",environment=\"\",unit=\"ms\"} "
        )),
        "{text}"
    );
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        unavailable("promtool not found: /metrics text not validated");
        return;
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool runs");
    // promtool exits 1 for lint findings (e.g. naming advice) and 3 for
    // errors; the format itself must parse.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !said.contains("error while linting") && out.status.code() != Some(3),
        "promtool rejects /metrics:\n{said}\n{text}"
    );
}

/// The metric panels in the dark theme, in headless Chromium.
fn screenshot_of_metric_panels(report: &Report) {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let harness = repo().join("tests/browser/node_modules/playwright-core");
    if !chromium.exists() || !harness.exists() {
        unavailable(&format!(
            "metric panel screenshot needs {} and {} (cd tests/browser && npm install)",
            chromium.display(),
            harness.display()
        ));
        return;
    }
    let renderer = Renderer::new(None).expect("templates");
    let html = renderer
        .render(Format::Html, report, &RenderExtras::default())
        .expect("html");
    let pages = target_dir().join("tmp/metric-panels");
    std::fs::create_dir_all(&pages).expect("dir");
    let page = pages.join("metrics.html");
    std::fs::write(&page, html).expect("write page");
    let shots = target_dir().join("screenshots");
    let out = Command::new("node")
        .arg("tests/browser/metrics.mjs")
        .current_dir(repo())
        .env("PAGE", &page)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "--- metrics.mjs\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser assertions failed:\n{stdout}");
    assert!(shots.join("metrics-dark.png").exists());
}

#[tokio::test]
async fn prometheus_down_is_the_checks_error() {
    let port = free_port();
    let report = run(&metric_check(
        "down",
        &format!("http://127.0.0.1:{port}"),
        "up",
        "{ value = \"$.value\", unit = \"ms\", warn = \"> 800\" }",
    ))
    .await;
    let down = check(&report, "down");
    assert_eq!(down.status, CheckStatus::Error);
    assert_eq!(
        down.error.as_deref(),
        Some(
            format!(
                "connection refused by http://127.0.0.1:{port}/api/v1/query (is the service running?)"
            )
            .as_str()
        )
    );
    // The card still shows its unit and thresholds, with no value.
    let m = down.metric.as_ref().expect("metric");
    assert_eq!(
        (m.value, m.level, m.unit.as_deref()),
        (None, Level::Unknown, Some("ms"))
    );
}

#[test]
fn config_errors_point_at_the_metric_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(
        &path,
        r#"[[checks]]
id = "down"
prometheus = { url = "not a url", query = "up", range = "5s" }

[[checks]]
id = "p95"
prometheus = { url = "http://127.0.0.1:9090", query = "up" }
metric = { value = "value", warn = "> fast" }
table = { rows = "$.series", columns = { cost = "$.value" }, sort = "-costs", limit = 0 }
"#,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "`not a url` is not an absolute URL",
        "`range` must be between 1m and 90d",
        "JSONPath `value` must start with `$`",
        "invalid `warn` threshold",
        "`sort` names unknown column `costs`",
        "did you mean `cost`?",
        "`limit` must be between 1 and 100",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in\n{stderr}");
    }
}

// ------------------------------------------------ a fake, huge Prometheus --

/// The GitHub token of the oversized-answer runs: a secret the redactor
/// knows, which the fake puts where a cut would split it.
const TOKEN: &str = "ghp_villaPromSecret0123456789";

/// A loopback "Prometheus" whose answer depends on the query: a 900 kB error
/// message with the token across the 1,000-character mark, 15,000 warnings,
/// or a range of 200,000 points. Anything else is one sample, 5.
async fn start_huge_prometheus() -> String {
    async fn answer(uri: axum::http::Uri) -> axum::response::Response {
        use axum::response::IntoResponse;
        let query: String = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let ranged = uri.path().ends_with("/query_range");
        let one = serde_json::json!({ "resultType": "vector",
            "result": [{ "metric": { "job": "app" }, "value": [1.0, "5"] }] });
        let body = match query.as_str() {
            "huge_error" => {
                let mut message = "x".repeat(980);
                message.push_str(TOKEN);
                message.push_str(&"y".repeat(900_000));
                let body = serde_json::json!({ "status": "error", "errorType": "execution", "error": message });
                return (
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(body),
                )
                    .into_response();
            }
            "many_warnings" => {
                let warnings: Vec<String> = (0..15_000)
                    .map(|i| format!("PromQL info: metric might not be a counter, number {i}"))
                    .collect();
                serde_json::json!({ "status": "success", "data": one, "warnings": warnings })
            }
            "many_points" if ranged => {
                let values: Vec<Value> = (0..200_000)
                    .map(|i| serde_json::json!([i, format!("{}", i % 97)]))
                    .collect();
                serde_json::json!({ "status": "success", "data": { "resultType": "matrix",
                    "result": [{ "metric": { "job": "app" }, "values": values }] } })
            }
            _ => serde_json::json!({ "status": "success", "data": one }),
        };
        axum::Json(body).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(answer)).await;
    });
    format!("http://{addr}")
}

/// Runs `checks` (with a body cap big enough for the huge answers) with the
/// GitHub token [`TOKEN`] known to the redactor; the report and its JSON size.
async fn run_huge(checks: &str) -> (Report, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("villa-telemetry.toml");
    let text = format!("[project]\nname = \"Huge\"\n\n[run]\nmax_body = \"16MiB\"\n\n{checks}");
    std::fs::write(&path, text).expect("write");
    let plan = villa_telemetry::cli::load_plan(&path).expect("valid config");
    let services = villa_telemetry::runner::Services::with_token(
        &plan,
        Some((
            TOKEN.into(),
            villa_telemetry::probe::github::TokenSource::Env("GITHUB_TOKEN"),
        )),
    );
    let report = villa_telemetry::cli::run_with(&plan, &services).await;
    let size = serde_json::to_string(&report).expect("serializes").len();
    (report, size)
}

/// Issue 17: a 900 kB Prometheus error message was copied whole into the
/// report; now it is masked, then cut to 1,000 characters saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_prometheus_error_is_masked_then_cut() {
    let url = start_huge_prometheus().await;
    let (report, size) = run_huge(&metric_check(
        "err",
        &url,
        "huge_error",
        "{ value = \"$.value\" }",
    ))
    .await;
    eprintln!("report JSON with a 900 kB Prometheus error: {size} bytes");
    let c = check(&report, "err");
    assert_eq!(c.status, CheckStatus::Error);
    let error = c.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("Prometheus: xxx"), "{error}");
    assert!(
        error.contains("x••••y"),
        "masked before it was cut: {error}"
    );
    assert!(!error.contains("ghp_"), "no piece of the token: {error}");
    assert!(
        error.ends_with(" (cut, 900992 bytes) (execution)"),
        "says what was cut: …{}",
        &error[error.len().saturating_sub(80)..]
    );
    assert!(
        error.chars().count() < 1100,
        "{} chars",
        error.chars().count()
    );
    assert!(size < 8 * 1024, "report is {size} bytes");
}

/// 15,000 warnings were 15,000 log lines; now the first 20, then a count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_thousand_warnings_are_twenty_and_a_count() {
    let url = start_huge_prometheus().await;
    let (report, size) = run_huge(&metric_check(
        "warned",
        &url,
        "many_warnings",
        "{ value = \"$.value\" }",
    ))
    .await;
    eprintln!("report JSON with 15,000 Prometheus warnings: {size} bytes");
    let c = check(&report, "warned");
    assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
    assert_eq!(c.log.len(), 21, "{:#?}", c.log);
    assert_eq!(
        c.log[0],
        "Prometheus warning: PromQL info: metric might not be a counter, number 0"
    );
    assert_eq!(
        c.log[20],
        "Prometheus: and 14,980 more warnings (not shown)"
    );
    assert!(size < 8 * 1024, "report is {size} bytes");
}

/// 200,000 range points became a 200,000-number trend; now at most 120,
/// evenly spread, the newest kept, and the log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_range_points_are_thinned_out() {
    let url = start_huge_prometheus().await;
    let checks = format!(
        "[[checks]]\nid = \"trend\"\nprometheus = {{ url = \"{url}\", query = 'many_points', range = \"1h\" }}\n\
         metric = {{ value = \"$.value\" }}\nexpect = [\"len($.range[0].values) <= 120\"]\n"
    );
    let (report, size) = run_huge(&checks).await;
    eprintln!("report JSON with 200,000 range points: {size} bytes");
    let c = check(&report, "trend");
    assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
    let trend = &c.metric.as_ref().expect("metric").trend;
    assert_eq!(trend.len(), 120);
    assert_eq!(trend[0], 0.0, "the oldest point");
    assert_eq!(
        *trend.last().unwrap(),
        f64::from(199_999 % 97),
        "the newest point"
    );
    assert_eq!(
        c.log,
        [
            "Prometheus range: kept 120 of 200,000 points (evenly spread, the oldest and newest among them)"
        ]
    );
    assert!(size < 8 * 1024, "report is {size} bytes");
}
