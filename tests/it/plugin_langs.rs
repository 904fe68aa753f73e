//! Plugins in Python (componentize-py) and JavaScript (componentize-js)
//! held to the same sandbox as the Rust ones: timeout, memory cap, denied
//! network, no files, no env but `allow.env`, malformed output; the shipped
//! queue-depth and status-page samples against loopback fakes; and the
//! compiled-component disk cache.
//!
//! The toolchains come from the registries (.ci/run installs them):
//! componentize-py in `target/plugin-venv`, componentize-js in
//! `plugins/js/node_modules`. Missing, a test fails under CI=true and prints
//! a `SKIP:` line otherwise. Components are built into
//! `target/plugin-build-lang` (rebuilt when the source is newer) and
//! compiled once per run through one shared cache, `target/plugin-cache-test`
//! (a Python component takes tens of seconds to compile in a debug build).
#![cfg(feature = "plugins")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use villa_telemetry::probe::plugin::{
    LoadedPlugin, PluginHost, PluginOutcome, PluginOutput, PluginRequest, PluginStatus,
};

use crate::support::plugin_build::manifest_dir;

/// A language a plugin can be written in besides Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Python => "app.py",
            Lang::Js => "app.js",
        }
    }

    /// The componentize tool, where .ci/run installs it (or `$VILLA_COMPONENTIZE_PY` / `_JS`).
    pub fn tool(self) -> PathBuf {
        let (var, default) = match self {
            Lang::Python => (
                "VILLA_COMPONENTIZE_PY",
                "target/plugin-venv/bin/componentize-py",
            ),
            Lang::Js => (
                "VILLA_COMPONENTIZE_JS",
                "plugins/js/node_modules/.bin/componentize-js",
            ),
        };
        std::env::var_os(var).map_or_else(|| manifest_dir().join(default), PathBuf::from)
    }

    /// The command that builds the plugin in `dir` (its `app.py` / `app.js`)
    /// against the WIT in `wit` into `out`: the same one the scaffold's README gives.
    pub fn build_command(self, dir: &Path, wit: &Path, out: &Path) -> Command {
        let mut cmd = Command::new(self.tool());
        match self {
            Lang::Python => {
                cmd.arg("-q").arg("-d").arg(wit);
                cmd.args(["-w", "check-plugin", "componentize", "app", "-o"]);
            }
            Lang::Js => {
                cmd.arg("app.js").arg("--wit").arg(wit);
                cmd.args(["--world-name", "check-plugin", "--disable", "http", "-o"]);
            }
        }
        cmd.arg(out).current_dir(dir);
        cmd
    }
}

/// True when `lang`'s toolchain is installed; otherwise a failure under CI
/// (a skipped test would hide a regression there) and a `SKIP:` line here.
pub fn available(lang: Lang, test: &str) -> bool {
    let tool = lang.tool();
    if tool.is_file() {
        return true;
    }
    let msg = format!(
        "{test}: {} plugins need {} (bash .ci/run installs it)",
        lang.name(),
        tool.display()
    );
    let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(!in_ci, "cannot run under CI: {msg}");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {msg}");
    false
}

fn newest_mtime(paths: &[PathBuf]) -> std::time::SystemTime {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .unwrap_or(std::time::SystemTime::now())
}

/// Builds the plugin in `dir` into `out`, unless `out` is newer than its
/// source and the WIT. One build at a time: each is CPU-heavy.
pub fn build(lang: Lang, dir: &Path, wit: &Path, out: &Path) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sources = [dir.join(lang.source()), wit.join("check.wit")];
    let built = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    if built.is_some_and(|b| b > newest_mtime(&sources)) {
        return;
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let output = lang
        .build_command(dir, wit, out)
        .output()
        .expect("running the componentize tool");
    assert!(
        output.status.success(),
        "building {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A plugin under `plugins/`, built: `python/queue-depth`, `testdata/py-sandbox`...
pub fn shipped(lang: Lang, rel: &str) -> PathBuf {
    let name = rel.rsplit('/').next().unwrap().replace('-', "_");
    let out = manifest_dir()
        .join("target/plugin-build-lang")
        .join(format!("{name}.wasm"));
    build(
        lang,
        &manifest_dir().join("plugins").join(rel),
        &manifest_dir().join("plugins/wit"),
        &out,
    );
    out
}

/// The disk cache the tests share, so each component compiles once per run.
pub fn shared_cache() -> PathBuf {
    manifest_dir().join("target/plugin-cache-test")
}

/// One host for these tests, on the shared cache.
fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::with_cache_dir(Some(shared_cache())).expect("plugin host"))
}

fn probe(lang: Lang) -> Arc<LoadedPlugin> {
    let rel = match lang {
        Lang::Python => "testdata/py-sandbox",
        Lang::Js => "testdata/js-sandbox",
    };
    host()
        .load(&shipped(lang, rel))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The languages whose toolchain is here, each with its sandbox probe.
fn probes(test: &str) -> Vec<(Lang, Arc<LoadedPlugin>)> {
    [Lang::Python, Lang::Js]
        .into_iter()
        .filter(|&l| available(l, test))
        .map(|l| (l, probe(l)))
        .collect()
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn request(mode: &str) -> PluginRequest {
    PluginRequest::new("lang", json!({ "mode": mode }), client())
}

fn output(lang: Lang, outcome: &PluginOutcome) -> &PluginOutput {
    match &outcome.result {
        Ok(out) => out,
        Err(why) => panic!("{lang:?} plugin failed: {why}\nlog: {:#?}", outcome.log),
    }
}

fn error(lang: Lang, outcome: &PluginOutcome) -> &str {
    match &outcome.result {
        Ok(out) => panic!("{lang:?}: expected an error, got {out:?}"),
        Err(why) => why,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- limits

#[test]
fn python_and_js_endless_loops_time_out() {
    let rt = rt();
    for (lang, plugin) in probes("python_and_js_endless_loops_time_out") {
        let mut req = request("loop");
        req.timeout = Duration::from_secs(1);
        let outcome = rt.block_on(host().run(&plugin, req));
        assert_eq!(
            error(lang, &outcome),
            "plugin exceeded timeout 1s",
            "{lang:?}"
        );
        assert!(
            outcome.duration < Duration::from_millis(1600),
            "{lang:?} stopped late: {:?}",
            outcome.duration
        );
        // The same instance-free plugin still answers afterwards.
        let fine = rt.block_on(host().run(&plugin, request("pass")));
        assert_eq!(output(lang, &fine).status, PluginStatus::Pass);
    }
}

#[test]
fn python_and_js_memory_bombs_stop_at_the_cap() {
    let rt = rt();
    for (lang, plugin) in probes("python_and_js_memory_bombs_stop_at_the_cap") {
        let mut req = request("membomb");
        req.memory_bytes = 64 * 1024 * 1024;
        req.timeout = Duration::from_secs(10);
        let outcome = rt.block_on(host().run(&plugin, req));
        let why = error(lang, &outcome);
        match lang {
            Lang::Python => assert_eq!(why, "plugin exceeded memory limit 64 MiB"),
            // SpiderMonkey catches the refused grow and throws.
            Lang::Js => assert_eq!(
                why,
                "plugin exceeded memory limit 64 MiB; it said: out of memory"
            ),
        }
    }
}

#[test]
fn python_and_js_exceptions_become_errors_with_their_message() {
    let rt = rt();
    for (lang, plugin) in probes("python_and_js_exceptions_become_errors_with_their_message") {
        let outcome = rt.block_on(host().run(&plugin, request("panic")));
        let why = error(lang, &outcome);
        match lang {
            // An uncaught exception: componentize-py's runtime panics, and
            // the traceback is in the log.
            Lang::Python => {
                assert!(
                    why.starts_with(
                        "plugin panicked: Python function threw an unexpected exception"
                    ),
                    "{why}"
                );
                assert!(
                    outcome.log.iter().any(|l| l.contains("RuntimeError: deliberate failure: the plugin gave up")),
                    "{:?}",
                    outcome.log
                );
            }
            // componentize-js traps on a thrown non-string ("expected a
            // string"); docs/plugins.md says to throw strings.
            Lang::Js => {
                assert!(why.starts_with("plugin trapped: "), "{why}");
                assert!(
                    outcome
                        .log
                        .iter()
                        .any(|l| l == "stderr: expected a string, received [object]"),
                    "{:?}",
                    outcome.log
                );
            }
        }
        let outcome = rt.block_on(host().run(&plugin, request("err")));
        assert_eq!(error(lang, &outcome), "config says no", "{lang:?}");
    }
}

// ---------------------------------------------------------------- sandbox

#[test]
fn python_and_js_see_no_files_only_allowed_env_and_captured_stdio() {
    let rt = rt();
    assert!(std::env::var_os("PATH").is_some());
    for (lang, plugin) in probes("python_and_js_see_no_files_only_allowed_env") {
        let mut req = request("sandbox");
        req.env = vec![("GIT_BRANCH".into(), "main".into())];
        let outcome = rt.block_on(host().run(&plugin, req));
        let out = output(lang, &outcome);
        assert_eq!(
            out.fields["env"],
            json!({ "GIT_BRANCH": "main" }),
            "{lang:?}: only allow.env reaches the guest"
        );
        match lang {
            Lang::Python => {
                for probe in ["fs_root", "fs_cwd", "passwd"] {
                    let result = out.fields[probe].as_str().unwrap();
                    assert!(
                        result.starts_with("err"),
                        "{probe} should fail without preopens, got {result}"
                    );
                }
            }
            Lang::Js => {
                // No ambient APIs at all: no fs, no process, no fetch.
                assert_eq!(
                    out.fields["globals"],
                    json!({ "process": "undefined", "require": "undefined", "Deno": "undefined", "fetch": "function" })
                );
            }
        }
        assert_eq!(out.fields["flood"], "ok", "{lang:?}");
        for line in ["stdout: hello from stdout", "stderr: hello from stderr"] {
            assert!(
                outcome.log.iter().any(|l| l == line),
                "{lang:?}: {line:?} not in {:?}",
                &outcome.log[..outcome.log.len().min(4)]
            );
        }
        assert_eq!(
            outcome.log.last().unwrap(),
            "(plugin output truncated at 64 KiB)",
            "{lang:?}"
        );
    }
}

/// A loopback server answering every request with `body`; counts requests.
async fn fake(body: Value) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (body, seen) = (body.clone(), seen.clone());
        async move {
            seen.lock().unwrap().push(req.uri().path().to_owned());
            axum::Json(body)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[test]
fn python_and_js_fetches_go_through_the_allowlist() {
    let rt = rt();
    for (lang, plugin) in probes("python_and_js_fetches_go_through_the_allowlist") {
        let outcomes = rt.block_on(async {
            let (base, hits) = fake(json!({ "ok": true })).await;
            let urls = [format!("{base}/allowed"), "file:///etc/passwd".to_owned()];
            let mut req =
                PluginRequest::new("fetch", json!({ "mode": "fetch", "urls": urls }), client());
            req.allow_http = vec!["127.0.0.1".into()];
            let outcome = host().run(&plugin, req).await;
            let denied_url = base.replace("127.0.0.1", "localhost") + "/secret";
            let mut req = PluginRequest::new(
                "fetch",
                json!({ "mode": "fetch", "urls": [denied_url] }),
                client(),
            );
            req.allow_http = vec!["127.0.0.1".into()];
            let denied = host().run(&plugin, req).await;
            (outcome, denied, hits.lock().unwrap().clone())
        });
        let (outcome, denied, hits) = outcomes;
        let list = |o: &PluginOutcome| -> Vec<String> {
            output(lang, o).fields["http"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["outcome"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            list(&outcome),
            [
                "ok 200 {\"ok\":true}",
                "denied: scheme \"file\" is not allowed (http and https only)"
            ],
            "{lang:?}"
        );
        assert_eq!(
            list(&denied),
            ["denied: host \"localhost\" is not in allow.http"],
            "{lang:?}"
        );
        assert_eq!(hits, ["/allowed"], "{lang:?}: a denied request was sent");
    }
}

/// StarlingMonkey's own `fetch` goes to wasi:http, which the host links to
/// traps: it cannot reach anything, allowed host or not.
#[test]
fn js_builtin_fetch_traps_and_sends_nothing() {
    if !available(Lang::Js, "js_builtin_fetch_traps_and_sends_nothing") {
        return;
    }
    let plugin = probe(Lang::Js);
    let rt = rt();
    let (outcome, hits) = rt.block_on(async {
        let (base, hits) = fake(json!({ "ok": true })).await;
        let mut req = PluginRequest::new(
            "fetch",
            json!({ "mode": "builtin-fetch", "url": format!("{base}/sneaky") }),
            client(),
        );
        req.allow_http = vec!["127.0.0.1".into()];
        let outcome = host().run(&plugin, req).await;
        (outcome, hits.lock().unwrap().clone())
    });
    let why = error(Lang::Js, &outcome);
    assert!(
        why.contains("wasi:http is not available to plugins; use http-fetch (allow.http)"),
        "{why}"
    );
    assert!(hits.is_empty(), "fetch reached the server: {hits:?}");
}

// ---------------------------------------------------------------- output

#[test]
fn python_and_js_malformed_output_is_an_error_or_truncated() {
    let rt = rt();
    for (lang, plugin) in probes("python_and_js_malformed_output_is_an_error_or_truncated") {
        let run = |mode: &str| rt.block_on(host().run(&plugin, request(mode)));
        assert_eq!(
            error(lang, &run("array")),
            "plugin returned fields-json that is not a JSON object (got an array)"
        );
        assert!(error(lang, &run("invalid")).starts_with("plugin returned invalid fields-json: "));
        assert_eq!(
            error(lang, &run("huge-fields")),
            "plugin returned fields-json of 204811 bytes; the limit is 64 KiB"
        );
        let huge = run("huge-summary");
        let out = output(lang, &huge);
        assert!(
            out.summary.len() <= 4096 && out.summary.ends_with('…'),
            "{lang:?}: summary of {} bytes",
            out.summary.len()
        );
        let described = rt.block_on(host().describe(&plugin)).unwrap();
        assert_eq!(
            described["language"],
            if lang == Lang::Js {
                "javascript"
            } else {
                "python"
            }
        );
    }
}

// ---------------------------------------------------------------- samples

#[test]
fn queue_depth_reports_depth_against_warn_and_fail() {
    if !available(
        Lang::Python,
        "queue_depth_reports_depth_against_warn_and_fail",
    ) {
        return;
    }
    let plugin = host()
        .load(&shipped(Lang::Python, "python/queue-depth"))
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = rt();
    let run = |body: Value, config: Value| {
        rt.block_on(async {
            let (base, _) = fake(body).await;
            let mut config = config;
            config["url"] = json!(format!("{base}/api/queues"));
            let mut req = PluginRequest::new("queue", config, client());
            req.allow_http = vec!["127.0.0.1".into()];
            host().run(&plugin, req).await
        })
    };
    let one = run(
        json!({ "name": "jobs", "messages": 120 }),
        json!({ "warn": 100, "fail": 500 }),
    );
    let out = output(Lang::Python, &one);
    assert_eq!(out.status, PluginStatus::Warn);
    assert_eq!(out.summary, "queue depth 120 (at or above warn 100)");
    assert_eq!(out.fields["depth"], 120);

    let many = run(
        json!([{ "name": "a", "stats": { "ready": 3 } }, { "name": "b", "stats": { "ready": 900 } }]),
        json!({ "field": "stats.ready", "warn": 100, "fail": 500 }),
    );
    let out = output(Lang::Python, &many);
    assert_eq!(out.status, PluginStatus::Fail);
    assert_eq!(
        out.summary,
        "queue depth 903 (at or above fail 500); deepest b with 900"
    );
    assert_eq!(out.fields["queues"], 2);

    let calm = run(json!({ "messages": 2 }), json!({ "warn": 100 }));
    assert_eq!(output(Lang::Python, &calm).status, PluginStatus::Pass);
    let missing = run(json!({ "other": 1 }), json!({}));
    assert_eq!(
        error(Lang::Python, &missing),
        "no field 'messages' in the response"
    );
}

fn statuspage(components: &[(&str, &str)]) -> Value {
    json!({
        "page": { "name": "Vendor" },
        "status": { "indicator": "minor", "description": "Partially Degraded Service" },
        "components": components.iter().map(|(n, s)| json!({ "name": n, "status": s, "group": false })).chain(
            [json!({ "name": "A group", "status": "major_outage", "group": true })]
        ).collect::<Vec<_>>(),
        "incidents": [{ "name": "Webhook delays" }],
    })
}

#[test]
fn status_page_reports_components_and_their_worst_status() {
    if !available(
        Lang::Js,
        "status_page_reports_components_and_their_worst_status",
    ) {
        return;
    }
    let plugin = host()
        .load(&shipped(Lang::Js, "js/status-page"))
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = rt();
    let run = |body: Value, config: Value| {
        rt.block_on(async {
            let (base, hits) = fake(body).await;
            let mut config = config;
            config["url"] = json!(format!("{base}/"));
            let mut req = PluginRequest::new("vendor", config, client());
            req.allow_http = vec!["127.0.0.1".into()];
            let outcome = host().run(&plugin, req).await;
            assert_eq!(hits.lock().unwrap().as_slice(), ["/api/v2/summary.json"]);
            outcome
        })
    };
    let page = statuspage(&[("API", "operational"), ("Webhooks", "degraded_performance")]);
    let out = run(page.clone(), json!({}));
    let out = output(Lang::Js, &out);
    assert_eq!(out.status, PluginStatus::Warn);
    assert_eq!(
        out.summary,
        "1 of 2 components not operational: Webhooks (degraded performance)"
    );
    assert_eq!(
        out.fields["components"],
        json!({ "API": "operational", "Webhooks": "degraded_performance" })
    );
    assert_eq!(out.fields["incidents"], json!(["Webhook delays"]));

    let only_api = run(page, json!({ "components": ["API"] }));
    let out = output(Lang::Js, &only_api);
    assert_eq!(
        (out.status, out.summary.as_str()),
        (PluginStatus::Pass, "all 1 components operational")
    );
    let down = run(statuspage(&[("API", "major_outage")]), json!({}));
    assert_eq!(output(Lang::Js, &down).status, PluginStatus::Fail);
}

// ---------------------------------------------------------------- bench

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Not a check of behaviour: cold compile, warm start (cache hit) and
/// per-check overhead for Python and JS, for BENCHMARKS.md. Run it with
/// `benches/plugins.sh` (release build, `--ignored --nocapture`).
#[test]
#[ignore = "benchmark; run via benches/plugin_langs.sh"]
fn bench_plugins_in_three_languages() {
    let rt = rt();
    let plugins = [
        ("rust", crate::support::plugin_build::wasm("testdata-noop")),
        ("python", shipped(Lang::Python, "testdata/py-sandbox")),
        ("js", shipped(Lang::Js, "testdata/js-sandbox")),
    ];
    for (lang, wasm) in plugins {
        let size = std::fs::metadata(&wasm).unwrap().len();
        let dir = tempfile::tempdir().unwrap();
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            // A fresh cache and a fresh host: a cold compile.
            let cache = tempfile::tempdir_in(dir.path()).unwrap();
            let fresh = PluginHost::with_cache_dir(Some(cache.path().into())).unwrap();
            let start = Instant::now();
            fresh.load(&wasm).unwrap();
            cold.push(start.elapsed());
            // Another host (as another process would be): a cache hit.
            let again = PluginHost::with_cache_dir(Some(cache.path().into())).unwrap();
            let start = Instant::now();
            let loaded = again.load(&wasm).unwrap();
            warm.push(start.elapsed());
            assert!(loaded.cache().is_hit());
        }
        let plugin = host().load(&wasm).unwrap();
        let http = client();
        let runs: Vec<Duration> = rt.block_on(async {
            let mut samples = Vec::new();
            for _ in 0..300 {
                let req = PluginRequest::new("bench", json!({ "mode": "pass" }), http.clone());
                let start = Instant::now();
                let outcome = host().run(&plugin, req).await;
                samples.push(start.elapsed());
                assert!(outcome.result.is_ok(), "{:?}", outcome.result);
            }
            samples
        });
        println!(
            "BENCH {lang} ({:.1} MiB): cold compile median {:?} (n=3), warm start (cache hit) median {:?} (n=3), per-check median {:?} (n=270)",
            size as f64 / 1_048_576.0,
            median(cold),
            median(warm),
            median(runs[30..].to_vec())
        );
    }
}

// ---------------------------------------------------------------- scaffold

/// `plugin new x --lang L`, the README's build command, then `check` and
/// `run` of a config using it, against a loopback server.
fn scaffold_builds_checks_and_runs(lang: Lang) {
    let test = format!("scaffolded_{}_plugin_builds_checks_and_runs", lang.name());
    if !available(lang, &test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = || {
        let mut cmd = assert_cmd::Command::cargo_bin("villa-telemetry").expect("binary");
        cmd.env("VILLA_PLUGIN_CACHE_DIR", shared_cache());
        cmd
    };
    let out = bin()
        .args(["plugin", "new", "my-check", "--lang", lang.name(), "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = tmp.path().join("my-check");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let command = match lang {
        Lang::Python => "componentize-py -d wit -w check-plugin componentize app -o my_check.wasm",
        Lang::Js => {
            "componentize-js app.js --wit wit --world-name check-plugin --disable http -o my_check.wasm"
        }
    };
    assert!(stdout.contains(command), "{stdout}");
    if lang == Lang::Js {
        let package = std::fs::read_to_string(dir.join("package.json")).unwrap();
        assert!(
            package.contains(command) && package.contains("\"0.23.0\""),
            "{package}"
        );
        assert!(readme.contains("npm run build"), "{readme}");
    } else {
        assert!(readme.contains(command), "{readme}");
    }
    // The same command, with the tool where .ci/run put it, against the
    // scaffold's own copy of the WIT.
    let wasm = dir.join("my_check.wasm");
    build(lang, &dir, &dir.join("wit"), &wasm);

    let rt = rt();
    let _guard = rt.enter();
    let (base, hits) = rt.block_on(fake(serde_json::json!({ "healthy": true })));
    let config = tmp.path().join("villa-telemetry.toml");
    std::fs::write(
        &config,
        format!(
            "[project]\nname = \"Scaffold\"\n\n[[checks]]\nid = \"mine\"\ntimeout = \"10s\"\n[checks.plugin]\nwasm = \"my-check/my_check.wasm\"\nconfig = {{ url = \"{base}/health\" }}\nallow = {{ http = [\"127.0.0.1\"] }}\n"
        ),
    )
    .unwrap();
    let check = bin()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The server runs on `rt`'s workers while the binary runs.
    let run = bin()
        .args(["run", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&run.stderr)));
    let mine = &report["checks"][0];
    assert_eq!(mine["status"], "pass", "{mine}");
    assert_eq!(mine["fields"]["status_code"], 200, "{mine}");
    assert_eq!(mine["fields"]["check_id"], "mine", "{mine}");
    assert_eq!(hits.lock().unwrap().as_slice(), ["/health"]);
    let info = bin().args(["plugin", "info"]).arg(&wasm).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("\"name\": \"my-check\""), "{info}");
    assert!(
        info.contains("cache: hit"),
        "the run left it in the cache: {info}"
    );
}

#[test]
fn scaffolded_python_plugin_builds_checks_and_runs() {
    scaffold_builds_checks_and_runs(Lang::Python);
}

#[test]
fn scaffolded_js_plugin_builds_checks_and_runs() {
    scaffold_builds_checks_and_runs(Lang::Js);
}
