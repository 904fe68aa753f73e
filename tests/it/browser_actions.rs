//! The promote button, and a rollback button in the deployment history, in
//! a real browser: `villa-telemetry serve` with
//! `[serve] actions = true` against a loopback upstream, driven by
//! `tests/browser/actions.mjs` (playwright-core + the system chromium):
//! click, type the word, see the result in place, and only then does the
//! upstream receive the request.
//!
//! Without chromium or `tests/browser/node_modules` the test prints a SKIP
//! line, unless `CI` is set, where it fails.

use crate::actions_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actions_support::{SECRET, Upstream, audit_lines, config, rollback};
use villa_telemetry::demo::github::FakeGithub;

use crate::support::BIN;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn harness_available() -> bool {
    let mut missing = Vec::new();
    if !chromium().exists() {
        missing.push(format!(
            "{} (apt-get install -y chromium)",
            chromium().display()
        ));
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        missing.push("tests/browser/node_modules (cd tests/browser && npm install)".to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("browser actions test needs: {}", missing.join("; "));
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    false
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `villa-telemetry serve` on `config` and the address it prints.
async fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env("TEST_DEPLOY_TOKEN", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stderr = child.stderr.take().unwrap();
    let server = Child(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[serve] {line}");
            if let Some(rest) = line.split("dashboard on ").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("serve prints its address");
    (server, url)
}

/// Runs `tests/browser/SCRIPT` against `url`; fails the test when an
/// assertion in it failed.
async fn run_script(script: &str, url: &str) {
    let shots = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("screenshots");
    let mut node = Command::new("node");
    node.arg(format!("tests/browser/{script}"))
        .current_dir(repo())
        .env("BASE_URL", url)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", chromium());
    let out = tokio::task::spawn_blocking(move || node.output().expect("run node"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- {script}\n{text}");
    assert!(out.status.success(), "browser assertions failed:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_promote_and_typing_the_word_runs_it_and_shows_the_result() {
    if !harness_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let path = config(dir.path(), &upstream.url(), "http://127.0.0.1:9", true);
    let (server, url) = serve(&path).await;
    run_script("actions.mjs", &url).await;
    drop(server);

    let got = upstream.received();
    assert_eq!(
        got.len(),
        1,
        "only the confirmed click reached the upstream: {got:?}"
    );
    assert_eq!(got[0].path, "/deploy/aaa1111");
    let lines = audit_lines(dir.path());
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "sending", "succeeded"], "{lines:#?}");
    assert!(
        !std::fs::read_to_string(dir.path().join("state/audit.jsonl"))
            .unwrap()
            .contains(SECRET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_rollback_beside_a_deployment_sends_its_sha() {
    if !harness_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::start(rollback::FIXTURES)
        .await
        .expect("fake GitHub");
    rollback::history(&github);
    let path = rollback::config(dir.path(), &upstream.url(), &github.url(), true);
    let (server, url) = serve(&path).await;
    run_script("rollback.mjs", &url).await;
    drop(server);

    let got = upstream.received();
    assert_eq!(got.len(), 1, "only the confirmed click was sent: {got:?}");
    assert_eq!(got[0].path, format!("/rollback/{}", rollback::BEFORE));
    let lines = audit_lines(dir.path());
    assert_eq!(lines.last().unwrap()["outcome"], "succeeded", "{lines:#?}");
    assert_eq!(lines.last().unwrap()["deployment"]["id"], 2, "{lines:#?}");
}
