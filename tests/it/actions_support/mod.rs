//! Shared by the actions tests: a loopback upstream that records every
//! request it receives and serves the health endpoints the checks read, and
//! a config that declares actions against it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub mod rollback;

/// What the upstream received (health checks excluded): the same record as
/// every fake upstream's.
pub use crate::support::Seen as Received;

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    shas: Mutex<(String, String)>,
}

/// A running upstream; stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The secret the configs read from `${TEST_DEPLOY_TOKEN}`.
pub const SECRET: &str = "s3cret-deploy-token-4711";

impl Upstream {
    /// Staging runs `aaa1111`, production `bbb2222`: production is behind.
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        *shared.shas.lock().unwrap() = ("aaa1111".into(), "bbb2222".into());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Upstream {
            addr,
            shared,
            _stop: tx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Production catches up with staging: the `when` of promote turns false.
    pub fn in_sync(&self) {
        let mut s = self.shared.shas.lock().unwrap();
        s.1 = s.0.clone();
    }

    /// What staging and production report from now on.
    pub fn set_shas(&self, staging: &str, production: &str) {
        *self.shared.shas.lock().unwrap() = (staging.into(), production.into());
    }

    /// Every non-health request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let (staging, production) = shared.shas.lock().unwrap().clone();
    match path.as_str() {
        "/staging/health" => {
            return axum::Json(serde_json::json!({ "sha": staging })).into_response();
        }
        "/production/health" => {
            return axum::Json(serde_json::json!({ "sha": production })).into_response();
        }
        // A status endpoint that leaks the deploy token, encoded.
        "/leak" => {
            return axum::Json(serde_json::json!({
                "b64": B64.encode(SECRET),
                "hex": hex::encode_upper(SECRET),
                "branch": "feature/x y",
            }))
            .into_response();
        }
        _ => {}
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    shared
        .received
        .lock()
        .unwrap()
        .push(Received::of(&method, &uri, &headers, &body));
    match path.as_str() {
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK.into_response()
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            axum::Json(serde_json::json!({ "ok": true })).into_response()
        }
        "/echo/feature%2Fx%20y" => {
            let token = auth.strip_prefix("Bearer ").unwrap_or("");
            format!(
                "token seen: {} {} {}",
                B64.encode(token),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
                hex::encode(token)
            )
            .into_response()
        }
        "/fail" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("deploy failed; you sent {auth}"),
        )
            .into_response(),
        _ => axum::Json(serde_json::json!({ "ok": true, "seen": auth })).into_response(),
    }
}

/// A config with two environments checked against `upstream`, the actions
/// below, `[github] api_url = github` and the audit log in `dir`.
pub fn config(dir: &Path, upstream: &str, github: &str, serve_actions: bool) -> PathBuf {
    let text = format!(
        r#"[project]
name = "Actions Test"

[github]
api_url = "{github}"

[serve]
actions = {serve_actions}
refresh = "1h"

[act]
audit = "state/audit.jsonl"
timeout = "5s"

[[environments]]
id = "staging"
url = "{upstream}/staging"

[[environments]]
id = "production"
url = "{upstream}/production"
tracks = "staging"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/health" }}
extract = {{ sha = "$.sha" }}

[[actions]]
id = "promote"
name = "Promote staging"
environments = ["production"]
button = "comparison"
when = ["$.comparison.staging_vs_production.in_sync == false"]
http = {{ url = "{upstream}/deploy/{{{{environments.staging.sha}}}}", headers = {{ Authorization = "Bearer ${{TEST_DEPLOY_TOKEN}}" }}, body = '{{"sha": "{{{{environments.staging.sha}}}}", "env": "{{{{env.id}}}}"}}' }}

[[actions]]
id = "fail"
http = {{ url = "{upstream}/fail", headers = {{ Authorization = "Bearer ${{TEST_DEPLOY_TOKEN}}" }} }}

[[actions]]
id = "hang"
timeout = "1s"
http = {{ url = "{upstream}/hang" }}

[[actions]]
id = "slow"
http = {{ url = "{upstream}/slow" }}

[[actions]]
id = "needs-var"
http = {{ url = "{upstream}/x", headers = {{ X-Key = "${{VILLA_TEST_UNSET_VARIABLE}}" }} }}

[[actions]]
id = "needs-version"
http = {{ url = "{upstream}/v/{{{{environments.staging.version}}}}" }}

[[actions]]
id = "redeploy"
environments = ["staging", "production"]
github = {{ dispatch = "deploy.yml", ref = "main", repo = "o/r", inputs = {{ sha = "{{{{env.sha}}}}", environment = "{{{{env.id}}}}" }} }}
"#
    );
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Adds a check that reads the leaking status endpoint and an action `echo`
/// whose URL and body carry what it read (a branch with `/` and a space, the
/// token in base64 and hex) and whose upstream echoes the token it received,
/// encoded.
pub fn add_echo(config: &Path, upstream: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!(
        r#"
[[checks]]
id = "leak"
http = {{ url = "{upstream}/leak" }}
extract = {{ b64 = "$.b64", hex = "$.hex", branch = "$.branch" }}

[[actions]]
id = "echo"
http = {{ url = "{upstream}/echo/{{{{checks.leak.branch}}}}", headers = {{ Authorization = "Bearer ${{TEST_DEPLOY_TOKEN}}" }}, body = '{{"b": "{{{{checks.leak.b64}}}}", "h": "{{{{checks.leak.hex}}}}"}}' }}
"#
    ));
    std::fs::write(config, text).unwrap();
}

/// Fails when `text` holds [`SECRET`] literally, in base64 (standard or
/// URL-safe, padded or not) or in hex (either case).
pub fn assert_no_secret_form(what: &str, text: &str) {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex = hex::encode(SECRET);
    let forms = [
        SECRET.to_owned(),
        B64.encode(SECRET),
        STANDARD_NO_PAD.encode(SECRET),
        URL_SAFE.encode(SECRET),
        URL_SAFE_NO_PAD.encode(SECRET),
        hex.to_ascii_uppercase(),
        hex,
    ];
    for form in forms {
        assert!(
            !text.contains(&form),
            "{what} holds the secret as {form}:\n{text}"
        );
    }
}

/// The audit log's lines as JSON.
pub fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(dir.join("state/audit.jsonl")) {
        Ok(t) => t
            .lines()
            .map(|l| serde_json::from_str(l).expect("each audit line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ------------------------------------------------------------------- cli --

/// Runs the binary on `dir`'s config off the async runtime (the upstreams
/// live on it), with the deploy token set and no GitHub token.
pub async fn villa(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    run(
        std::process::Command::new(crate::support::BIN),
        dir,
        args,
        env,
    )
    .await
}

/// [`villa`] under the shell's `umask` (the test process's own is left alone:
/// other tests run beside it).
pub async fn villa_umask(dir: &Path, umask: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(crate::support::BIN);
    run(cmd, dir, args, &[]).await
}

async fn run(
    mut cmd: std::process::Command,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    cmd.args(args)
        .arg("--config")
        .arg(dir.join("villa-telemetry.toml"))
        .current_dir(dir)
        .env("TEST_DEPLOY_TOKEN", SECRET)
        .env("XDG_STATE_HOME", dir.join("xdg"))
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .unwrap()
}

/// stdout then stderr, as one text.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ----------------------------------------------------------------- serve --

/// Sets `TEST_DEPLOY_TOKEN` to [`SECRET`] once per test process.
pub fn set_secret() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, before any server in this process reads it.
    ONCE.call_once(|| unsafe { std::env::set_var("TEST_DEPLOY_TOKEN", SECRET) });
}

/// `serve` of one config on a free loopback port; stops when dropped.
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`, for the `Host` and `Origin` headers.
    pub host: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves the config at `path` (with [`set_secret`] done first).
pub async fn serve_config(path: &Path) -> Served {
    set_secret();
    let plan = villa_telemetry::cli::load_plan(path).expect("valid config");
    let services = villa_telemetry::runner::Services::with_token(&plan, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let renderer = villa_telemetry::render::Renderer::new(None).unwrap();
    let state = villa_telemetry::serve::AppState::new(plan, services, renderer, &addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = villa_telemetry::serve::app(Arc::clone(&state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Served {
        base: format!("http://{addr}"),
        host: addr,
        _stop: tx,
    }
}

/// A client with a 20 s deadline.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The CSRF token a dashboard page embeds.
pub fn token_of(page: &str) -> String {
    page.split("data-token=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page embeds the token")
        .to_owned()
}
