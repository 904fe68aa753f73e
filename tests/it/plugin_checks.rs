//! Plugins through the whole tool: TOML `plugin` table → plan (compiled at
//! config time) → run → report, and the `plugin` subcommands.
#![cfg(feature = "plugins")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::plugin_build;
use plugin_build::wasm;

/// A loopback server answering every GET with `body`.
fn serve_json(body: Value) -> (String, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr").to_string())
                .expect("send");
            let app = axum::Router::new().fallback(move || {
                let body = body.clone();
                async move { axum::Json(body) }
            });
            // Lives until the test process ends.
            let _ = axum::serve(listener, app).await;
        });
    });
    (rx.recv().expect("address"), handle)
}

fn write_config(dir: &Path, checks: &str) -> PathBuf {
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, format!("[project]\nname = \"Plugins\"\n\n{checks}"))
        .expect("write config");
    path
}

fn run_json(config: &Path) -> (Value, i32) {
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        // Never the user's cache; one shared by the whole test run.
        .env(
            "VILLA_PLUGIN_CACHE_DIR",
            crate::plugin_langs::shared_cache(),
        )
        .args(["run", "--format", "json", "--config"])
        .arg(config)
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().unwrap_or(-1))
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

fn heartbeat_table(id: &str, url: &str, extra: &str) -> String {
    format!(
        r#"[[checks]]
id = "{id}"
name = "Nightly backup"
{extra}
[checks.plugin]
wasm = "{}"
config = {{ url = "{url}", path = "last_ping", schedule = "0 0 1 1 *", grace = "30m" }}
allow = {{ http = ["127.0.0.1"] }}
"#,
        wasm("heartbeat").display()
    )
}

#[test]
fn heartbeat_plugin_check_reports_like_a_builtin_one() {
    let now = chrono::Utc::now().to_rfc3339();
    let (addr, _server) = serve_json(json!({ "last_ping": now }));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{addr}/api/v3/checks/abc");
    let checks = [
        heartbeat_table(
            "backup",
            &url,
            "expect = [\"$.state == 'up'\"]\nextract = { state = \"$.state\" }",
        ),
        heartbeat_table("backup-strict", &url, "expect = [\"$.state == 'down'\"]"),
    ]
    .join("\n");
    let config = write_config(dir.path(), &checks);
    let (report, code) = run_json(&config);

    let ok = check(&report, "backup");
    assert_eq!(ok["status"], "pass", "{ok}");
    assert_eq!(ok["fields"]["state"], "up", "{ok}");
    assert!(
        !ok["summary"].as_str().unwrap_or_default().is_empty(),
        "{ok}"
    );

    // `expect` reads the plugin's fields like any probe's observation.
    let strict = check(&report, "backup-strict");
    assert_eq!(strict["status"], "fail", "{strict}");
    assert!(
        strict["error"]
            .as_str()
            .unwrap_or_default()
            .contains("$.state == 'down'"),
        "{strict}"
    );
    assert_eq!(code, 2);
}

#[test]
fn runaway_plugin_is_an_error_and_the_rest_still_reports() {
    let (addr, _server) = serve_json(json!({ "last_ping": chrono::Utc::now().to_rfc3339() }));
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = format!(
        r#"{}
[[checks]]
id = "spin"
[checks.plugin]
wasm = "{}"
timeout = "500ms"
"#,
        heartbeat_table("backup", &format!("http://{addr}/x"), ""),
        wasm("testdata-loop").display()
    );
    let config = write_config(dir.path(), &checks);
    let (report, _) = run_json(&config);
    // The run's own clock, not the wall: compiling the components (before
    // the run, ~15 s in a debug build on a loaded machine) is not the deadline.
    let run_ms = report["duration_ms"].as_u64().expect("duration_ms");
    assert!(
        run_ms < 5_000,
        "the runaway plugin held the run {run_ms} ms"
    );
    let spin = check(&report, "spin");
    let spin_ms = spin["duration_ms"].as_u64().expect("spin duration_ms");
    assert!((500..2_000).contains(&spin_ms), "{spin}");
    assert_eq!(spin["status"], "error", "{spin}");
    assert_eq!(spin["error"], "plugin exceeded timeout 500ms", "{spin}");
    assert_eq!(check(&report, "backup")["status"], "pass");
}

#[test]
fn a_file_that_is_not_a_component_is_a_config_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").expect("write");
    let config = write_config(
        dir.path(),
        "[[checks]]\nid = \"bogus\"\n[checks.plugin]\nwasm = \"bogus.wasm\"\n",
    );
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        // Never the user's cache; one shared by the whole test run.
        .env(
            "VILLA_PLUGIN_CACHE_DIR",
            crate::plugin_langs::shared_cache(),
        )
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bogus.wasm"), "{stderr}");
    assert!(stderr.contains("villa-telemetry.toml:7:8"), "{stderr}");
    assert!(stderr.to_lowercase().contains("component"), "{stderr}");
}

#[test]
fn plugin_info_prints_describe_and_the_wit_version() {
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        // Never the user's cache; one shared by the whole test run.
        .env(
            "VILLA_PLUGIN_CACHE_DIR",
            crate::plugin_langs::shared_cache(),
        )
        .args(["plugin", "info"])
        .arg(wasm("heartbeat"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("villa:telemetry@0.1.0"), "{stdout}");
    assert!(stdout.contains("heartbeat"), "{stdout}");
}

#[test]
fn plugin_new_scaffolds_a_crate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        // Never the user's cache; one shared by the whole test run.
        .env(
            "VILLA_PLUGIN_CACHE_DIR",
            crate::plugin_langs::shared_cache(),
        )
        .args(["plugin", "new", "disk-space", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let krate = dir.path().join("disk-space");
    assert!(krate.join("Cargo.toml").is_file());
    assert!(krate.join("src/lib.rs").is_file());
    // Refuses to overwrite.
    let again = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        // Never the user's cache; one shared by the whole test run.
        .env(
            "VILLA_PLUGIN_CACHE_DIR",
            crate::plugin_langs::shared_cache(),
        )
        .args(["plugin", "new", "disk-space", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(3));
}
