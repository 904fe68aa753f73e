//! `serve`: the live dashboard and the agent API on 127.0.0.1:3003.
//!
//! One refresh at a time: every request shares the in-flight run; a report
//! older than `refresh` is served at once while the next one is fetched, so
//! no viewer waits on a slow upstream once a first report exists.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Stream, StreamExt};
use indexmap::IndexMap;
use serde::Deserialize;
use tokio::sync::watch;

use crate::plan::Plan;
use crate::render::{EnvTrend, Format, RenderExtras, Renderer, to_json};
use crate::report::{Health, Report};
use crate::runner::{self, Services};

/// How many reports `serve` remembers for trends.
pub const HISTORY: usize = 100;

/// One finished run with its pre-rendered JSON (served as is, so the hot
/// path is a clone of bytes).
#[derive(Debug)]
pub struct Snapshot {
    /// The report.
    pub report: Arc<Report>,
    /// Canonical JSON of `report`.
    pub json: Bytes,
    /// Plain text of `report`.
    pub text: Bytes,
    /// When the run finished (monotonic).
    pub at: Instant,
}

/// Shared state of the server.
pub struct AppState {
    plan: Arc<Plan>,
    services: Services,
    renderer: Renderer,
    refresh: Duration,
    /// Host header values accepted (DNS-rebinding guard).
    allowed_hosts: Vec<String>,
    /// Public URL of the JSON endpoint, shown in the footer.
    endpoint: String,
    latest: watch::Sender<Option<Arc<Snapshot>>>,
    in_flight: Mutex<Option<Shared<BoxFuture<'static, Arc<Snapshot>>>>>,
    history: Mutex<VecDeque<Arc<Report>>>,
    runs: std::sync::atomic::AtomicU64,
    /// Flips to true when the server shuts down: SSE streams end then, or
    /// an open dashboard would hold graceful shutdown forever.
    closing: watch::Sender<bool>,
}

impl AppState {
    /// State for `plan`, answering as `listen` (e.g. "127.0.0.1:3003").
    pub fn new(plan: Plan, services: Services, renderer: Renderer, listen: &str) -> Arc<Self> {
        let port = listen.rsplit(':').next().unwrap_or("3003");
        let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
        let mut allowed_hosts = vec![
            listen.to_owned(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            host.to_owned(),
        ];
        allowed_hosts.dedup();
        let endpoint_host = if host == "0.0.0.0" || host == "[::]" {
            "127.0.0.1"
        } else {
            host
        };
        let (latest, _) = watch::channel(None);
        Arc::new(AppState {
            refresh: plan.settings.refresh,
            plan: Arc::new(plan),
            services,
            renderer,
            allowed_hosts,
            endpoint: format!("http://{endpoint_host}:{port}/api/telemetry/status"),
            latest,
            in_flight: Mutex::new(None),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            runs: std::sync::atomic::AtomicU64::new(0),
            closing: watch::channel(false).0,
        })
    }

    /// Number of runs made so far (for tests and `/metrics`).
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a run unless one is in flight; returns the shared run.
    pub fn refresh_now(self: &Arc<Self>) -> Shared<BoxFuture<'static, Arc<Snapshot>>> {
        let mut guard = self.in_flight.lock().expect("not poisoned");
        if let Some(f) = guard.as_ref() {
            return f.clone();
        }
        let state = Arc::clone(self);
        let fut = async move {
            // A task of its own: a viewer that disconnects must not cancel
            // the run everyone else is waiting for.
            let run_state = Arc::clone(&state);
            let snapshot = tokio::spawn(async move { run_state.run_once().await }).await;
            // Cleared before looking at the outcome: were a run ever to
            // panic, the next request must start a new one rather than
            // re-join the dead one forever.
            *state.in_flight.lock().expect("not poisoned") = None;
            snapshot.expect("a run never panics")
        }
        .boxed()
        .shared();
        *guard = Some(fut.clone());
        fut
    }

    async fn run_once(&self) -> Arc<Snapshot> {
        let started = Instant::now();
        let results = runner::run(&self.plan, &self.services, None).await;
        let report = crate::report::build(
            &self.plan,
            results,
            &self.services,
            started.elapsed().as_millis() as u64,
        )
        .await;
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let report = Arc::new(report);
        let text = self
            .renderer
            .render(Format::Text, &report, &RenderExtras::default())
            .unwrap_or_else(|e| format!("cannot render text: {e}\n"));
        let snapshot = Arc::new(Snapshot {
            json: Bytes::from(to_json(&report)),
            text: Bytes::from(text),
            report: Arc::clone(&report),
            at: Instant::now(),
        });
        {
            let mut h = self.history.lock().expect("not poisoned");
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(report);
        }
        self.latest.send_replace(Some(Arc::clone(&snapshot)));
        snapshot
    }

    /// The latest report, fetching the first one if none exists; a stale one
    /// is returned at once while a refresh starts in the background.
    pub async fn current(self: &Arc<Self>) -> Arc<Snapshot> {
        let latest = self.latest.borrow().clone();
        match latest {
            Some(s) => {
                if s.at.elapsed() >= self.refresh {
                    let state = Arc::clone(self);
                    tokio::spawn(async move { state.refresh_now().await });
                }
                s
            }
            None => self.refresh_now().await,
        }
    }

    /// Ends every SSE stream; called when shutdown starts.
    pub fn begin_shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once shutdown has started.
    fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// Render extras for the live page showing `snapshot`: trends from the
    /// history, and its age when it is older than `refresh` (a refresh is
    /// running by then).
    fn extras_for(&self, snapshot: &Snapshot) -> RenderExtras {
        let age = snapshot.at.elapsed();
        RenderExtras {
            stale_seconds: (age >= self.refresh).then(|| age.as_secs().max(1)),
            ..self.extras()
        }
    }

    /// Render extras for the live page: trends from the history.
    fn extras(&self) -> RenderExtras {
        let history = self.history.lock().expect("not poisoned");
        let mut trends: IndexMap<String, EnvTrend> = IndexMap::new();
        if let Some(last) = history.back() {
            for (id, env) in &last.environments {
                let latency_ms = history
                    .iter()
                    .filter_map(|r| r.environments.get(id).and_then(|e| e.latency_ms))
                    .collect();
                // Walk back while the status stayed the same.
                let mut since = last.timestamp;
                for r in history.iter().rev() {
                    match r.environments.get(id) {
                        Some(e) if e.status == env.status => since = r.timestamp,
                        _ => break,
                    }
                }
                let word = match env.status {
                    Health::Healthy => "healthy",
                    Health::Warning => "warning",
                    Health::Failing => "failing",
                    Health::Unknown => "unknown",
                };
                let since = if history.len() < 2 {
                    None
                } else if env.status == Health::Failing {
                    let mins = (last.timestamp - since).num_minutes();
                    Some(if mins < 1 {
                        "failing for under a minute".to_owned()
                    } else {
                        format!("failing for {mins} min")
                    })
                } else {
                    Some(format!("{word} since {}", since.format("%H:%M UTC")))
                };
                trends.insert(id.clone(), EnvTrend { latency_ms, since });
            }
        }
        RenderExtras {
            live: true,
            endpoint: Some(self.endpoint.clone()),
            trends,
            stale_seconds: None,
        }
    }
}

/// The router; tests call it without a socket.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/api/telemetry/status", get(status_json))
        .route("/api/telemetry/status.json", get(status_json))
        .route("/api/telemetry/status.txt", get(status_text))
        .route("/api/telemetry/events", get(events))
        .route("/report/{name}", get(named_report))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard_host,
        ))
        .with_state(state)
}

/// Rejects requests whose Host is not ours (DNS rebinding).
async fn guard_host(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(host) = req.headers().get(header::HOST) {
        let ok = host
            .to_str()
            .map(|h| {
                state
                    .allowed_hosts
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(h))
            })
            .unwrap_or(false);
        if !ok {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "villa-telemetry answers only to localhost / 127.0.0.1 (Host header rejected)\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

#[derive(Debug, Deserialize)]
struct RefreshQuery {
    refresh: Option<String>,
}

impl RefreshQuery {
    fn wanted(&self) -> bool {
        matches!(self.refresh.as_deref(), Some("1" | "true" | ""))
    }
}

async fn snapshot_for(state: &Arc<AppState>, q: &RefreshQuery) -> Arc<Snapshot> {
    if q.wanted() {
        state.refresh_now().await
    } else {
        state.current().await
    }
}

async fn status_json(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RefreshQuery>,
) -> Response {
    let s = snapshot_for(&state, &q).await;
    bytes_response(s.json.clone(), "application/json")
}

async fn status_text(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RefreshQuery>,
) -> Response {
    let s = snapshot_for(&state, &q).await;
    bytes_response(s.text.clone(), "text/plain; charset=utf-8")
}

fn bytes_response(body: Bytes, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn dashboard(State(state): State<Arc<AppState>>, Query(q): Query<RefreshQuery>) -> Response {
    let s = snapshot_for(&state, &q).await;
    let extras = state.extras_for(&s);
    match state.renderer.render(Format::Html, &s.report, &extras) {
        Ok(html) => bytes_response(html.into(), "text/html; charset=utf-8"),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the dashboard: {e}\n"),
        )
            .into_response(),
    }
}

async fn named_report(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<RefreshQuery>,
) -> Response {
    let s = snapshot_for(&state, &q).await;
    let extras = state.extras_for(&s);
    match state.renderer.render_named(&name, &s.report, &extras) {
        None => (
            StatusCode::NOT_FOUND,
            format!(
                "no template named `{name}`; available: {}\n",
                state.renderer.template_names().join(", ")
            ),
        )
            .into_response(),
        Some(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template `{name}` failed: {e}\n"),
        )
            .into_response(),
        Some(Ok(body)) => {
            let ct = if name.ends_with(".html") {
                "text/html; charset=utf-8"
            } else if name.ends_with(".json") {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            bytes_response(body.into(), ct)
        }
    }
}

async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.latest.subscribe();
    let stream = tokio_stream::wrappers::WatchStream::from_changes(rx)
        .filter_map(|s| async move {
            s.map(|s| {
                Ok(Event::default()
                    .event("report")
                    .data(String::from_utf8_lossy(&s.json)))
            })
        })
        // Graceful shutdown waits for every response to finish; an SSE
        // stream never would.
        .take_until(state.closed());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let s = state.current().await;
    let body = prometheus_text(&s.report, state.runs());
    bytes_response(body.into(), "text/plain; version=0.0.4; charset=utf-8")
}

/// The report in Prometheus text exposition format.
pub fn prometheus_text(report: &Report, runs: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str("# HELP villa_check_status 1 for the check's current status, 0 for the others.\n");
    out.push_str("# TYPE villa_check_status gauge\n");
    for c in &report.checks {
        let env = c.environment.as_deref().unwrap_or("");
        for st in ["pass", "warn", "fail", "error", "skipped"] {
            let v = u8::from(c.status.as_str() == st);
            let _ = writeln!(
                out,
                "villa_check_status{{check=\"{}\",environment=\"{}\",status=\"{st}\"}} {v}",
                esc(&c.id),
                esc(env)
            );
        }
    }
    out.push_str("# HELP villa_check_duration_seconds How long the check's probe took.\n");
    out.push_str("# TYPE villa_check_duration_seconds gauge\n");
    for c in &report.checks {
        let env = c.environment.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "villa_check_duration_seconds{{check=\"{}\",environment=\"{}\"}} {}",
            esc(&c.id),
            esc(env),
            c.duration_ms as f64 / 1000.0
        );
    }
    out.push_str("# HELP villa_environment_info What each environment runs (value is always 1).\n");
    out.push_str("# TYPE villa_environment_info gauge\n");
    for (id, e) in &report.environments {
        let _ = writeln!(
            out,
            "villa_environment_info{{environment=\"{}\",version=\"{}\",sha=\"{}\",status=\"{}\"}} 1",
            esc(id),
            esc(e.version.as_deref().unwrap_or("")),
            esc(e.sha.as_deref().unwrap_or("")),
            e.status.as_str()
        );
    }
    out.push_str("# HELP villa_environment_healthy 1 when the environment is healthy.\n");
    out.push_str("# TYPE villa_environment_healthy gauge\n");
    for (id, e) in &report.environments {
        let _ = writeln!(
            out,
            "villa_environment_healthy{{environment=\"{}\"}} {}",
            esc(id),
            u8::from(e.status == Health::Healthy)
        );
    }
    for (key, c) in &report.comparison {
        if let Some(b) = c.commits_behind {
            let _ = writeln!(
                out,
                "villa_commits_behind{{comparison=\"{}\"}} {b}",
                esc(key)
            );
        }
    }
    out.push_str("# HELP villa_report_timestamp_seconds When the report was made.\n");
    out.push_str("# TYPE villa_report_timestamp_seconds gauge\n");
    let _ = writeln!(
        out,
        "villa_report_timestamp_seconds {}",
        report.timestamp.timestamp()
    );
    out.push_str("# HELP villa_runs_total Check runs made by this server.\n");
    out.push_str("# TYPE villa_runs_total counter\n");
    let _ = writeln!(out, "villa_runs_total {runs}");
    out
}

/// Keeps reports fresh for viewers: one run per `refresh` period.
pub fn spawn_ticker(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let fresh = state
                .latest
                .borrow()
                .as_ref()
                .is_some_and(|s| s.at.elapsed() < state.refresh / 2);
            if !fresh {
                state.refresh_now().await;
            }
        }
    })
}

/// Binds `listen`; a port in use is a clear message, not a panic.
pub async fn bind(listen: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "cannot listen on {listen}: the port is in use (another villa-telemetry serve?); pass --listen 127.0.0.1:PORT"
            )
        } else {
            format!("cannot listen on {listen}: {e}")
        }
    })
}

/// Serves on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "villa-telemetry: dashboard on http://{addr}/  (AI endpoint: {})",
        state.endpoint
    );
    let ticker = spawn_ticker(Arc::clone(&state));
    let signalled = Arc::clone(&state);
    let server = axum::serve(listener, app(Arc::clone(&state)))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            signalled.begin_shutdown();
        })
        .into_future();
    // A viewer still waiting on a slow first run must not keep the process
    // alive for the whole check timeout after Ctrl-C.
    let grace = async {
        state.closed().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        r = server => r.map_err(|e| e.to_string()),
        () = grace => {
            eprintln!("villa-telemetry: requests still open after {}s; exiting anyway", SHUTDOWN_GRACE.as_secs());
            Ok(())
        }
    };
    ticker.abort();
    result
}

/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("villa-telemetry: shutting down");
}
