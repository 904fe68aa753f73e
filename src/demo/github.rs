//! A GitHub look-alike on loopback, serving real recorded REST responses.
//!
//! Used by the `demo` command (nothing external needed to see the tool
//! work), by the integration tests and by benches. It serves a directory of
//! fixtures (real captures plus GitHub's documented examples; the demo's own
//! are in `src/demo/fixtures`, see its `SOURCES.md`) with their recorded
//! headers (`ETag`, `x-ratelimit-*`), answers `If-None-Match` with 304,
//! counts requests per path, and lets a test override any route: a failed
//! run, a rate limit, a 500, or an answer that comes late or never
//! ([`FakeGithub::delay`], [`FakeGithub::hang`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use villa_telemetry::demo::github::FakeGithub;
//! let fake = FakeGithub::start("src/demo/fixtures").await?;
//! let runs = fake.fixtures().workflow_runs_with("completed", Some("failure"), None);
//! fake.set("repos/o/r/actions/workflows/ci.yml/runs", 200, runs, &[]);
//! // ... point a GithubClient at fake.url() ...
//! assert_eq!(fake.requests("repos/o/r/actions/workflows/ci.yml/runs"), 0);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// Route key that matches every path (for "the whole API is rate limited").
pub const ANY_PATH: &str = "*";

/// Fixture bodies and their recorded headers, by file name relative to the
/// fixtures directory (`official/deployments_list.json`).
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    files: HashMap<String, String>,
}

impl Fixtures {
    /// Every `*.json` under `dir` (one level of subdirectories, e.g. `official/`).
    pub fn from_dir(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref();
        let mut files = HashMap::new();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((d, prefix)) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                if path.is_dir() {
                    stack.push((path, format!("{prefix}{name}/")));
                } else if name.ends_with(".json") {
                    files.insert(format!("{prefix}{name}"), std::fs::read_to_string(&path)?);
                }
            }
        }
        if files.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no GitHub fixtures (*.json) in {}", dir.display()),
            ));
        }
        Ok(Fixtures { files })
    }

    /// Fixtures compiled into a binary, e.g. with `include_str!`.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Fixtures {
            files: files
                .into_iter()
                .map(|(n, b)| (n.to_string(), b.to_string()))
                .collect(),
        }
    }

    /// A fixture body, parsed.
    pub fn body(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.files.get(name)?).ok()
    }

    /// The headers recorded with `name` (from `<stem>.headers.json`), minus
    /// the framing ones the server sets itself.
    pub fn headers(&self, name: &str) -> Vec<(String, String)> {
        let stem = name.strip_suffix(".json").unwrap_or(name);
        let Some(Value::Object(rec)) = self.body(&format!("{stem}.headers.json")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // Two recorded shapes: VCR's {"Name": ["v", ...]} and octokit/fixtures' [["Name", "v"]].
        match rec.get("headers") {
            Some(Value::Object(map)) => {
                for (k, vs) in map {
                    for v in vs.as_array().into_iter().flatten() {
                        if let Some(v) = v.as_str() {
                            out.push((k.clone(), v.to_string()));
                        }
                    }
                }
            }
            Some(Value::Array(pairs)) => {
                for p in pairs {
                    if let (Some(k), Some(v)) = (p[0].as_str(), p[1].as_str()) {
                        out.push((k.to_string(), v.to_string()));
                    }
                }
            }
            _ => {}
        }
        out.retain(|(k, _)| {
            !matches!(
                k.to_ascii_lowercase().as_str(),
                "transfer-encoding" | "content-length" | "connection" | "content-type"
            )
        });
        out
    }

    /// The real workflow-runs list (`actions_workflow_runs_list.json`, a
    /// completed/success run from 2022) with the first run's `status`,
    /// `conclusion` and `run_started_at` changed. No failed or running run was
    /// captured, so those cases are derived from the real shape, not invented.
    pub fn workflow_runs_with(
        &self,
        status: &str,
        conclusion: Option<&str>,
        run_started_at: Option<DateTime<Utc>>,
    ) -> Value {
        let mut list = self
            .body("actions_workflow_runs_list.json")
            .expect("fixture actions_workflow_runs_list.json");
        let run = &mut list["workflow_runs"][0];
        run["status"] = Value::from(status);
        run["conclusion"] = conclusion.map(Value::from).unwrap_or(Value::Null);
        if let Some(t) = run_started_at {
            let t = Value::from(t.to_rfc3339_opts(SecondsFormat::Secs, true));
            run["run_started_at"] = t.clone();
            run["created_at"] = t.clone();
            run["updated_at"] = t;
        }
        list
    }

    /// The real compare body (`compare_ahead.json`) with `status`,
    /// `ahead_by`, `behind_by` changed; `identical` also empties `commits` and
    /// `files`. No `diverged` or `identical` body was captured.
    pub fn compare_with(&self, status: &str, ahead_by: u64, behind_by: u64) -> Value {
        let mut c = self
            .body("compare_ahead.json")
            .expect("fixture compare_ahead.json");
        c["status"] = Value::from(status);
        c["ahead_by"] = Value::from(ahead_by);
        c["behind_by"] = Value::from(behind_by);
        c["total_commits"] = Value::from(ahead_by);
        if ahead_by == 0 {
            c["commits"] = Value::Array(Vec::new());
            c["files"] = Value::Array(Vec::new());
        }
        c
    }
}

/// Which fixture answers a path when no override is set.
fn default_fixture(path: &str) -> Option<&'static str> {
    let seg: Vec<&str> = path.split('/').collect();
    match seg.as_slice() {
        ["rate_limit"] => Some("official/rate_limit.json"),
        ["repos", _, _, "actions", "workflows", _, "runs"] => {
            Some("actions_workflow_runs_list.json")
        }
        ["repos", _, _, "actions", "runs"] => Some("actions_runs_list.json"),
        ["repos", _, _, "deployments"] => Some("official/deployments_list.json"),
        ["repos", _, _, "deployments", _, "statuses"] => {
            Some("official/deployment_statuses_list.json")
        }
        ["repos", _, _, "compare", _] => Some("compare_ahead.json"),
        // Any sha is known unless a test overrides it with a 404.
        ["repos", _, _, "commits", _] => Some("commit_get.2013.json"),
        ["repos", _, _, "commits", _, "status"] => Some("commit_combined_status.json"),
        ["repos", _, _, "commits", _, "check-runs"] => Some("commit_check_runs.json"),
        // The pulls a commit belongs to have the same shape as the pulls list.
        ["repos", _, _, "commits", _, "pulls"] => Some("pulls_list.json"),
        _ => None,
    }
}

/// `repos/OWNER/REPO/actions/workflows/WORKFLOW/dispatches`.
fn is_dispatch(path: &str) -> bool {
    let seg: Vec<&str> = path.split('/').collect();
    matches!(
        seg.as_slice(),
        ["repos", _, _, "actions", "workflows", _, "dispatches"]
    )
}

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    /// HTTP status.
    pub status: u16,
    /// JSON body; None sends an empty body.
    pub body: Option<Value>,
    /// Extra headers. Without an `ETag`, a 200 gets one computed from the body.
    pub headers: Vec<(String, String)>,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Path without the leading slash or query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// `If-None-Match` as sent.
    pub if_none_match: Option<String>,
    /// `Authorization` as sent (this is a test double; it is meant to be inspected).
    pub authorization: Option<String>,
    /// `User-Agent` as sent.
    pub user_agent: Option<String>,
    /// `X-GitHub-Api-Version` as sent.
    pub api_version: Option<String>,
    /// Status answered.
    pub status: u16,
    /// HTTP method.
    pub method: String,
    /// Request body as text (empty for a GET).
    pub body: String,
}

/// A generated list body (see [`FakeGithub::stream`]).
#[derive(Clone)]
struct Streamed {
    head: String,
    item: String,
    count: usize,
    tail: String,
}

impl Streamed {
    /// The body in pieces of about 64 KiB, each made when it is sent.
    fn body(self) -> Body {
        let per_chunk = (65_536 / (self.item.len() + 1)).max(1);
        let pieces =
            futures::stream::unfold((self, 0usize, false), move |(s, sent, done)| async move {
                if done {
                    return None;
                }
                let mut chunk = String::new();
                if sent == 0 {
                    chunk.push_str(&s.head);
                }
                let upto = s.count.min(sent.saturating_add(per_chunk));
                for i in sent..upto {
                    if i > 0 {
                        chunk.push(',');
                    }
                    chunk.push_str(&s.item);
                }
                let finished = upto == s.count;
                if finished {
                    chunk.push_str(&s.tail);
                }
                let piece: Result<axum::body::Bytes, std::convert::Infallible> = Ok(chunk.into());
                Some((piece, (s, upto, finished)))
            });
        Body::from_stream(pieces)
    }
}

struct Override {
    canned: Canned,
    /// None: until cleared; Some(n): for the next n requests.
    uses: Option<usize>,
}

/// Most recent requests kept for [`FakeGithub::log`]: a demo left open all
/// day must not grow with every refresh.
pub const LOG_CAP: usize = 1000;

/// Distinct paths counted one by one; requests to further paths count only
/// in the total.
const COUNTED_PATHS_CAP: usize = 4096;

struct Shared {
    fixtures: Fixtures,
    overrides: Mutex<HashMap<String, Override>>,
    /// Paths answered with a generated list, sent piece by piece.
    streams: Mutex<HashMap<String, Streamed>>,
    /// (pattern, delay): the first pattern matching a path delays its answer.
    delays: Mutex<Vec<(String, Duration)>>,
    record: Mutex<Record>,
}

/// What the fake remembers of the requests it answered: counters, and the
/// last [`LOG_CAP`] requests.
#[derive(Default)]
struct Record {
    total: usize,
    /// Per path: (requests, answered 304).
    by_path: HashMap<String, (usize, usize)>,
    recent: std::collections::VecDeque<RecordedRequest>,
}

impl Record {
    fn push(&mut self, r: RecordedRequest) {
        self.total += 1;
        let counted = self.by_path.len() < COUNTED_PATHS_CAP;
        if let Some(c) = self.by_path.get_mut(&r.path) {
            c.0 += 1;
            c.1 += usize::from(r.status == 304);
        } else if counted {
            self.by_path
                .insert(r.path.clone(), (1, usize::from(r.status == 304)));
        }
        if self.recent.len() == LOG_CAP {
            self.recent.pop_front();
        }
        self.recent.push_back(r);
    }
}

/// A running fake; the server stops when this is dropped.
pub struct FakeGithub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

impl std::fmt::Debug for FakeGithub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGithub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeGithub {
    /// Serve the fixtures in `fixtures_dir` on 127.0.0.1 with a free port.
    pub async fn start(fixtures_dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::with_fixtures(Fixtures::from_dir(fixtures_dir)?).await
    }

    /// Serve fixtures already loaded (e.g. embedded in the binary).
    pub async fn with_fixtures(fixtures: Fixtures) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fixtures,
            overrides: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            record: Mutex::new(Record::default()),
            delays: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeGithub {
            addr,
            shared,
            _shutdown: tx,
        })
    }

    /// Base URL to use as `api_url`, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The loaded fixtures, for deriving scenario bodies.
    pub fn fixtures(&self) -> &Fixtures {
        &self.shared.fixtures
    }

    /// Answer `path` (or [`ANY_PATH`]) with this until cleared. A path with
    /// a query (`repos/o/r/deployments?per_page=2&page=2`) answers only
    /// requests with exactly that query, before any override of the path.
    pub fn set(&self, path: &str, status: u16, body: Value, headers: &[(&str, &str)]) {
        self.put(path, status, body, headers, None);
    }

    /// Answer only the next request to `path` with this, then fall back.
    pub fn set_once(&self, path: &str, status: u16, body: Value, headers: &[(&str, &str)]) {
        self.put(path, status, body, headers, Some(1));
    }

    fn put(
        &self,
        path: &str,
        status: u16,
        body: Value,
        headers: &[(&str, &str)],
        uses: Option<usize>,
    ) {
        let canned = Canned {
            status,
            body: Some(body),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        self.shared
            .overrides
            .lock()
            .expect("overrides lock")
            .insert(override_key(path), Override { canned, uses });
    }

    /// Back to the fixture for `path`.
    pub fn clear(&self, path: &str) {
        self.shared
            .overrides
            .lock()
            .expect("overrides lock")
            .remove(&override_key(path));
        self.shared
            .streams
            .lock()
            .expect("streams lock")
            .remove(&key(path));
    }

    /// Answer `path` (query ignored) with 200 and `head`, then `item`
    /// `count` times separated by commas, then `tail`, generated while it
    /// is sent: a body of hundreds of megabytes that the fake never holds,
    /// e.g. `stream(p, "[", deployment, 10_000, "]")`. Until cleared.
    pub fn stream(&self, path: &str, head: &str, item: &Value, count: usize, tail: &str) {
        let streamed = Streamed {
            head: head.to_owned(),
            item: serde_json::to_string(item).expect("serialize"),
            count,
            tail: tail.to_owned(),
        };
        self.shared
            .streams
            .lock()
            .expect("streams lock")
            .insert(key(path), streamed);
    }

    /// Every path answers the documented primary-limit 403
    /// (`official/error_403_rate_limit_primary.*`) with `reset` as
    /// `x-ratelimit-reset`.
    pub fn rate_limit_exhausted(&self, reset: DateTime<Utc>) {
        let body = self
            .fixtures()
            .body("official/error_403_rate_limit_primary.json")
            .expect("fixture official/error_403_rate_limit_primary.json");
        let reset = reset.timestamp().to_string();
        self.set(
            ANY_PATH,
            403,
            body,
            &[
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-used", "60"),
                ("x-ratelimit-reset", &reset),
                ("x-ratelimit-resource", "core"),
            ],
        );
    }

    /// The next request to `path` gets the documented secondary-limit 403
    /// with `retry-after` (which the docs say "may" be present).
    pub fn secondary_limit_once(&self, path: &str, retry_after_s: u64) {
        let body = self
            .fixtures()
            .body("official/error_403_secondary_rate_limit.json")
            .expect("fixture official/error_403_secondary_rate_limit.json");
        self.set_once(
            path,
            403,
            body,
            &[("retry-after", &retry_after_s.to_string())],
        );
    }

    /// Answer paths matching `pattern` only after `delay`: a path, a prefix
    /// ending in `*` (`repos/o/r/compare/*`), or [`ANY_PATH`]. The request is
    /// logged when it arrives. A later call for the same pattern replaces
    /// the delay; `Duration::ZERO` removes it.
    pub fn delay(&self, pattern: &str, delay: Duration) {
        let pattern = key(pattern);
        let mut delays = self.shared.delays.lock().expect("delays lock");
        delays.retain(|(p, _)| *p != pattern);
        if !delay.is_zero() {
            delays.push((pattern, delay));
        }
    }

    /// Paths matching `pattern` (as for [`FakeGithub::delay`]) are never
    /// answered: the connection stays open until the client gives up.
    pub fn hang(&self, pattern: &str) {
        // A day is "never" for any test or run; the server still shuts down
        // when the fake is dropped.
        self.delay(pattern, Duration::from_secs(86_400));
    }

    /// Requests received for `path` (leading slash and query ignored).
    pub fn requests(&self, path: &str) -> usize {
        self.counted(path).0
    }

    /// Requests received for `path` that were answered 304.
    pub fn not_modified(&self, path: &str) -> usize {
        self.counted(path).1
    }

    fn counted(&self, path: &str) -> (usize, usize) {
        let record = self.shared.record.lock().expect("record lock");
        record.by_path.get(&key(path)).copied().unwrap_or_default()
    }

    /// Requests received in all.
    pub fn total_requests(&self) -> usize {
        self.shared.record.lock().expect("record lock").total
    }

    /// The requests received, in order: all of them, or the last
    /// [`LOG_CAP`] once more have come.
    pub fn log(&self) -> Vec<RecordedRequest> {
        let record = self.shared.record.lock().expect("record lock");
        record.recent.iter().cloned().collect()
    }
}

/// An override's key: the path, with its query when it names one.
fn override_key(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

fn key(path: &str) -> String {
    let p = path.split('?').next().unwrap_or(path);
    p.trim_start_matches('/').to_string()
}

/// `*` matches everything, `prefix*` every path starting with `prefix`,
/// anything else only itself.
fn matches_pattern(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The override set for this path (with its query first), used up once
/// when it was set for a number of uses.
fn take_override(shared: &Shared, path: &str, query: Option<&str>) -> Option<Canned> {
    let mut overrides = shared.overrides.lock().expect("overrides lock");
    let with_query = query.map(|q| format!("{path}?{q}"));
    let hit = if let Some(k) = with_query.filter(|k| overrides.contains_key(k)) {
        Some(k)
    } else if overrides.contains_key(path) {
        Some(path.to_owned())
    } else if overrides.contains_key(ANY_PATH) {
        Some(ANY_PATH.to_string())
    } else {
        None
    };
    hit.map(|k| {
        let o = overrides.get_mut(&k).expect("present");
        let canned = o.canned.clone();
        if let Some(n) = &mut o.uses {
            *n -= 1;
            if *n == 0 {
                overrides.remove(&k);
            }
        }
        canned
    })
}

/// The recorded fixture for `path`, 204 for a workflow dispatch, else 404.
fn default_answer(shared: &Shared, path: &str, dispatch: bool) -> Canned {
    match default_fixture(path) {
        // workflow_dispatch answers 204 No Content, as GitHub does.
        _ if dispatch => Canned {
            status: 204,
            body: None,
            headers: Vec::new(),
        },
        Some(name) => Canned {
            status: 200,
            body: shared.fixtures.body(name),
            headers: shared.fixtures.headers(name),
        },
        None => Canned {
            status: 404,
            body: shared.fixtures.body("error_404_not_found.json"),
            headers: Vec::new(),
        },
    }
}

/// A 200 with a generated body, logged like any other answer.
fn stream_answer(
    shared: &Shared,
    method: axum::http::Method,
    uri: &Uri,
    path: String,
    streamed: Streamed,
) -> Response {
    shared
        .record
        .lock()
        .expect("record lock")
        .push(RecordedRequest {
            path,
            query: uri.query().map(str::to_string),
            if_none_match: None,
            authorization: None,
            user_agent: None,
            api_version: None,
            status: 200,
            method: method.to_string(),
            body: String::new(),
        });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json; charset=utf-8")
        .body(streamed.body())
        .expect("response")
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    request_body: axum::body::Bytes,
) -> Response {
    let path = key(uri.path());
    let streamed = shared
        .streams
        .lock()
        .expect("streams lock")
        .get(&path)
        .cloned();
    if let Some(streamed) = streamed {
        return stream_answer(&shared, method, &uri, path, streamed);
    }
    let canned = take_override(&shared, &path, uri.query());
    let dispatch = method == axum::http::Method::POST && is_dispatch(&path);
    let canned = canned.unwrap_or_else(|| default_answer(&shared, &path, dispatch));

    let body = canned
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).expect("serialize"))
        .unwrap_or_default();
    let mut out_headers: Vec<(String, String)> = canned.headers.clone();
    let has_etag = out_headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("etag"));
    if canned.status == 200 && !has_etag {
        out_headers.push(("ETag".into(), etag_of(&body)));
    }
    let etag = out_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.clone());
    let sent = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let if_none_match = sent("if-none-match");
    let not_modified = canned.status == 200 && etag.is_some() && if_none_match == etag;
    let status = if not_modified { 304 } else { canned.status };

    let delay = {
        let delays = shared.delays.lock().expect("delays lock");
        delays
            .iter()
            .find(|(p, _)| matches_pattern(p, &path))
            .map(|(_, d)| *d)
    };
    shared
        .record
        .lock()
        .expect("record lock")
        .push(RecordedRequest {
            path,
            query: uri.query().map(str::to_string),
            if_none_match,
            authorization: sent("authorization"),
            user_agent: sent("user-agent"),
            api_version: sent("x-github-api-version"),
            status,
            method: method.to_string(),
            body: String::from_utf8_lossy(&request_body).into_owned(),
        });

    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }

    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &out_headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            resp = resp.header(k, v);
        }
    }
    if not_modified || canned.body.is_none() {
        return resp.body(Body::empty()).expect("response");
    }
    resp.header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body))
        .expect("response")
}
