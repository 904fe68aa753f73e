//! The dashboard in a real browser: `villa-telemetry demo` on loopback, driven
//! by `tests/browser/dashboard.mjs` (playwright-core + Debian's chromium).
//! Screenshots of each state go to `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`) and `tests/browser/node_modules`
//! (`cd tests/browser && npm install`). Without them the tests are skipped
//! loudly, unless `CI` is set, where they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::BIN;

/// One chromium at a time: two cores, and the offline test is timing-bound.
static BROWSER: Mutex<()> = Mutex::new(());

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/screenshots`, next to the binary under test (follows CARGO_TARGET_DIR).
fn screenshot_dir() -> PathBuf {
    let bin = Path::new(BIN);
    let target = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("target"));
    target.join("screenshots")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// False (after a `SKIP:` line on stderr) when the browser harness cannot run
/// here; panics instead under CI, where a skipped browser test hides regressions.
fn harness_available(test: &str) -> bool {
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
        missing.push("node (apt-get install -y nodejs npm)".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: browser test needs {}", missing.join("; "));
    let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(!in_ci, "cannot run under CI: {msg}");
    // Straight to stderr: the harness captures `eprintln!` of a passing
    // test, which would hide that this one did not run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {msg}");
    false
}

/// A running `villa-telemetry demo`; killed on drop.
struct Demo {
    child: Child,
    url: String,
}

impl Demo {
    fn start(scenario: &str) -> Demo {
        let mut child = Command::new(BIN)
            .args(["demo", "--listen", "127.0.0.1:0", "--scenario", scenario])
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start villa-telemetry demo");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[demo] {line}");
                // "villa-telemetry: dashboard on http://ADDR/  (AI endpoint: …)"
                if let Some(rest) = line.split("dashboard on ").nth(1) {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("demo prints `dashboard on http://ADDR/` on stderr");
        Demo { child, url }
    }

    /// SIGTERM, as a user's Ctrl-C would; the server must exit by itself.
    fn terminate(&mut self) -> Duration {
        let sent = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM failed");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "demo exited with {status}");
                return sent.elapsed();
            }
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "demo still running 5 s after SIGTERM with a dashboard open"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the harness for `state` against `demo`; `on_ready` runs when the
/// harness prints READY (the offline state). Returns its stdout.
fn drive(demo: &mut Demo, state: &str, on_ready: impl FnOnce(&mut Demo)) -> String {
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let mut node = Command::new("node")
        .arg("tests/browser/dashboard.mjs")
        .current_dir(repo())
        .env("BASE_URL", &demo.url)
        .env("STATE", state)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", chromium())
        .env("OFFLINE_TIMEOUT", "10000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let stdout = node.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "READY" {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut on_ready = Some(on_ready);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if rx.try_recv().is_ok()
            && let Some(f) = on_ready.take()
        {
            f(demo);
        }
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser harness ran for over 90 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut node.stderr.take().unwrap(), &mut stderr).unwrap();
    eprintln!("--- dashboard.mjs STATE={state}\n{stdout}{stderr}");
    assert!(
        status.success(),
        "browser assertions failed for {state}:\n{stdout}{stderr}"
    );
    assert!(shots.join(format!("{state}.png")).exists());
    stdout
}

#[test]
fn browser_warning_state_shows_cards_drift_and_ci_failure() {
    if !harness_available("browser_warning_state_shows_cards_drift_and_ci_failure") {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start("drift");
    let out = drive(&mut demo, "warning", |_| {});
    for want in [
        "ok   environment cards are rendered",
        "ok   drift banner is visible",
        "ok   a failed CI run is visible",
        "ok   failed CI run is labelled FAILED",
        "ok   the DORA panel shows staging's 3 deployments, 0% failed",
        "ok   no requests to other origins",
    ] {
        assert!(out.contains(want), "missing `{want}`");
    }
}

#[test]
fn browser_green_state_says_all_systems_operational() {
    if !harness_available("browser_green_state_says_all_systems_operational") {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start("healthy");
    let out = drive(&mut demo, "green", |_| {});
    assert!(out.contains(r#"ok   summary says "All systems operational""#));
    assert!(out.contains("ok   no drift banner"));
}

#[test]
fn browser_failing_state_shows_the_error() {
    if !harness_available("browser_failing_state_shows_the_error") {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start("down");
    let out = drive(&mut demo, "failing", |_| {});
    assert!(out.contains("ok   a failing environment card is visible"));
    assert!(out.contains("ok   the staging card shows its verdict"));
    assert!(out.contains("ok   the verdict reads [cause, confidence]"));
    assert!(out.contains("ok   the newest event is deploy #814 in progress"));
}

#[test]
fn browser_offline_state_keeps_the_last_report() {
    if !harness_available("browser_offline_state_keeps_the_last_report") {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start("drift");
    let mut stopped_in = None;
    let out = drive(&mut demo, "offline", |d| stopped_in = Some(d.terminate()));
    let stopped_in = stopped_in.expect("the harness printed READY");
    eprintln!("demo stopped {stopped_in:?} after SIGTERM with the page open");
    assert!(out.contains("ok   offline banner appears when the server is gone"));
    assert!(out.contains("ok   the last report is still shown"));
}
