//! Shared helpers for the integration tests: a programmable loopback HTTP
//! server, a temp-dir config writer that runs the binary, and a git repository
//! builder. Everything stays on 127.0.0.1.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

#[cfg(feature = "plugins")]
pub mod plugin_build;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_villa-telemetry");

// ---------------------------------------------------------------- server --

/// A request the loopback server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method, e.g. "GET".
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Path and query as sent.
    pub uri: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    /// What arrived: the one constructor of every fake upstream here.
    pub fn of(
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Seen {
        Seen {
            method: method.to_string(),
            path: uri.path().to_owned(),
            uri: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |p| p.to_string()),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            at: Instant::now(),
        }
    }

    /// First header value by (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a route answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Extra headers (content-type included).
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(&body).expect("serializable"),
            headers: vec![("content-type".into(), "application/json".into())],
            delay: Duration::ZERO,
        }
    }

    /// A plain-text (or HTML) answer.
    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            headers: vec![("content-type".into(), content_type.into())],
            delay: Duration::ZERO,
        }
    }

    /// A redirect to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 302,
            body: Vec::new(),
            headers: vec![("location".into(), location.into())],
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Handler>>,
    seen: Mutex<Vec<Seen>>,
}

/// An axum server on 127.0.0.1:0 with routes set by the test. Unknown paths
/// answer 404. Lives as long as the value.
pub struct Server {
    /// Bound address.
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Starts a server with no routes.
    pub fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let state = Arc::new(State::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let s = state.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let s = s.clone();
            async move { handle(&s, req).await }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// Answers `path` (query ignored) with a fixed reply.
    pub fn route(&self, path: &str, reply: Reply) -> &Self {
        self.route_fn(path, move |_| reply.clone())
    }

    /// Answers `path` with whatever `f` returns for the request.
    pub fn route_fn(
        &self,
        path: &str,
        f: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> &Self {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), Arc::new(f));
        self
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Number of requests so far.
    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(state: &State, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Bodies here are small; a cap keeps a runaway client from mattering.
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen::of(&parts.method, &parts.uri, &parts.headers, &body);
    state.seen.lock().unwrap().push(seen.clone());
    let handler = state.routes.lock().unwrap().get(&seen.path).cloned();
    let reply = match handler {
        Some(h) => h(&seen),
        None => Reply::text(404, "text/plain", "no such route"),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    for (k, v) in reply.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(&v).expect("header value"),
        );
    }
    resp
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------- config --

/// A temp directory holding a config, and the means to run the binary on it.
pub struct Project {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// stdout as text.
    pub stdout: String,
    /// stderr as text.
    pub stderr: String,
    /// Wall time of the process.
    pub elapsed: Duration,
}

impl Outcome {
    /// stdout parsed as the JSON report.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}

impl Project {
    /// A project whose main file is `villa-telemetry.toml` with `main`.
    pub fn new(main: &str) -> Project {
        let p = Project {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        p.write("villa-telemetry.toml", main);
        p
    }

    /// Writes `rel` (creating directories) and returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary with a clean, deterministic environment, run in the
    /// project directory (no proxies, no colour, no progress bar).
    pub fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("villa-telemetry").expect("binary built");
        cmd.current_dir(self.path());
        clean_env(&mut cmd);
        cmd
    }

    /// `run --format json` with extra arguments.
    pub fn run(&self, extra: &[&str]) -> Outcome {
        let mut cmd = self.command();
        cmd.args(["run", "--format", "json"]).args(extra);
        execute(cmd)
    }

    /// `check`.
    pub fn check(&self) -> Outcome {
        let mut cmd = self.command();
        cmd.arg("check");
        execute(cmd)
    }
}

/// Removes what could make a run depend on the machine it runs on.
pub fn clean_env(cmd: &mut Command) {
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "GITHUB_TOKEN",
        "GH_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("CI", "1");
    cmd.timeout(Duration::from_secs(30));
}

/// Runs and captures.
pub fn execute(mut cmd: Command) -> Outcome {
    let started = Instant::now();
    let out = cmd.output().expect("binary runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// The check result with `id` (and `environment`, when given).
pub fn check<'a>(report: &'a Value, id: &str, env: Option<&str>) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .find(|c| c["id"] == id && env.is_none_or(|e| c["environment"] == e))
        .unwrap_or_else(|| panic!("no check {id} {env:?} in {report:#}"))
}

/// A check's `error` text ("" when null).
pub fn error_of(report: &Value, id: &str, env: Option<&str>) -> String {
    check(report, id, env)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ------------------------------------------------------------------- git --

/// A git repository in a temp dir, built with the `git` CLI.
pub struct GitRepo {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    /// `git init -b main` in a fresh directory.
    pub fn new() -> GitRepo {
        let repo = GitRepo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repo and returns trimmed stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = StdCommand::new("git")
            .arg("-C")
            .arg(self.path())
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Adds a file and commits it; returns the full sha.
    pub fn commit(&self, message: &str) -> String {
        let name = format!("f{}.txt", self.git(&["rev-list", "--all", "--count"]));
        std::fs::write(self.path().join(&name), message).expect("write");
        self.git(&["add", &name]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

// ------------------------------------------------------------- isolated --

/// Set in the child process that [`isolated`] starts.
const ISOLATED: &str = "VILLA_IT_ISOLATED";

/// Runs the calling test alone in a child process of this test binary, for a
/// test that changes the process environment (sound only while no other
/// thread runs). `test` is the test's path below the crate root
/// (`module::name`). Returns true in the
/// child, which then runs the test's body; in the parent it waits for the
/// child, fails with its output if the child failed, and returns false.
pub fn isolated(test: &str) -> bool {
    if std::env::var_os(ISOLATED).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = StdCommand::new(exe);
    cmd.args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ISOLATED, test);
    let out = cmd.output().expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "isolated {test} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
