//! `serve`: the live dashboard and the agent API on 127.0.0.1:3003.
//!
//! One refresh at a time: every request shares the in-flight run; a report
//! older than `refresh` is served at once while the next one is fetched, so
//! no viewer waits on a slow upstream once a first report exists.

pub mod actions;
mod api;
pub mod mcp;
mod metric_export;

pub use api::{ENDPOINTS, StatusQuery};

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
use axum::routing::{any, get};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Stream, StreamExt};
use indexmap::IndexMap;
use serde::Deserialize;
use tokio::sync::watch;

use crate::plan::Plan;
use crate::render::{EnvTrend, Format, RenderExtras, Renderer, to_json};
use crate::report::{Health, Report};
use crate::runner::Services;

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
    pub(crate) plan: Arc<Plan>,
    services: Services,
    renderer: Renderer,
    refresh: Duration,
    /// Which Host / `:authority` values are answered (DNS-rebinding guard).
    hosts: HostGuard,
    /// Public URL of the JSON endpoint, shown in the footer.
    endpoint: String,
    latest: watch::Sender<Option<Arc<Snapshot>>>,
    in_flight: Mutex<Option<Shared<BoxFuture<'static, Arc<Snapshot>>>>>,
    history: Mutex<VecDeque<Arc<Report>>>,
    runs: std::sync::atomic::AtomicU64,
    /// Flips to true when the server shuts down: SSE streams end then, or
    /// an open dashboard would hold graceful shutdown forever.
    closing: watch::Sender<bool>,
    /// `POST /api/actions/ID` and the buttons; None unless `[serve] actions = true`.
    pub(crate) actions: Option<Arc<actions::ActionDesk>>,
}

impl AppState {
    /// State for `plan`, answering as `listen` (e.g. "127.0.0.1:3003").
    pub fn new(plan: Plan, services: Services, renderer: Renderer, listen: &str) -> Arc<Self> {
        let port = listen.rsplit(':').next().unwrap_or("3003");
        let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
        let hosts = HostGuard::new(listen);
        let endpoint_host = if host == "0.0.0.0" || host == "[::]" {
            "127.0.0.1"
        } else {
            host
        };
        let (latest, _) = watch::channel(None);
        let actions = plan
            .actions
            .dashboard
            .then(|| Arc::new(actions::ActionDesk::new(&plan)));
        Arc::new(AppState {
            actions,
            refresh: plan.settings.refresh,
            plan: Arc::new(plan),
            services,
            renderer,
            hosts,
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
        let mut report = crate::pipeline::run(&self.plan, &self.services, None).await;
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let previous = self.history.lock().expect("not poisoned").back().cloned();
        if let Some(previous) = previous {
            crate::report::carry_last_known(&mut report, &previous);
        }
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
            actions: self
                .actions
                .as_ref()
                .map(|d| d.view(&self.plan, &snapshot.report)),
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
            metric_trends: crate::render::panels::history_trends(history.iter().map(AsRef::as_ref)),
            actions: None,
        }
    }
}

/// The router; tests call it without a socket.
pub fn app(state: Arc<AppState>) -> Router {
    let router = if state.actions.is_some() {
        Router::new().route(
            "/api/actions/{id}",
            axum::routing::post(actions::post_action),
        )
    } else {
        Router::new()
    };
    router
        .route("/", get(dashboard))
        .route("/api/telemetry/status", get(api::status))
        .route("/api/telemetry/status.json", get(api::status_json))
        .route("/api/telemetry/status.txt", get(api::status_text))
        .route("/api/telemetry/schema.json", get(api::schema_json))
        .route("/api/telemetry/events", get(events))
        .nest_service("/mcp", mcp::http_service(&state))
        .route("/api", any(api::not_found))
        .route("/api/{*rest}", any(api::not_found))
        .route("/report/{name}", get(named_report))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard_host,
        ))
        .with_state(state)
}

/// Rejects requests not addressed to us (DNS rebinding): see [`HostGuard`].
async fn guard_host(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match state.hosts.check(&req) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The names a request may address this server by. A page on another origin
/// can make a browser send requests here through DNS rebinding (a name that
/// first resolves elsewhere, then to 127.0.0.1); such a request still names
/// that other host, so anything but our own names is refused. The name comes
/// from `Host` (HTTP/1) or the URI authority (HTTP/2's `:authority`, or an
/// HTTP/1 absolute-form request line); a request that gives none is refused.
#[derive(Debug, Clone)]
struct HostGuard {
    /// Our port; a name given with another port is not us.
    port: Option<u16>,
    /// Lower-case host names and IP literals answered to (IPv6 in brackets).
    names: Vec<String>,
    /// Listening beyond loopback (the user opted in): every IP literal is
    /// answered too, since a name that is an address cannot be rebound.
    any_ip: bool,
}

/// Why a request was refused by [`HostGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostRefusal {
    /// Neither a `Host` header nor a URI authority.
    Missing,
    /// More than one `Host` header.
    Repeated,
    /// A name that is not ours.
    Foreign,
}

impl IntoResponse for HostRefusal {
    fn into_response(self) -> Response {
        let (status, why) = match self {
            HostRefusal::Missing => (
                StatusCode::BAD_REQUEST,
                "the request names no host (send a Host header)",
            ),
            HostRefusal::Repeated => (StatusCode::BAD_REQUEST, "more than one Host header"),
            HostRefusal::Foreign => (StatusCode::MISDIRECTED_REQUEST, "not one of its names"),
        };
        (
            status,
            format!(
                "villa-telemetry answers only to localhost / 127.0.0.1 / [::1] (Host header rejected: {why})\n"
            ),
        )
            .into_response()
    }
}

impl HostGuard {
    /// The guard for a server listening on `listen` (e.g. "127.0.0.1:3003").
    fn new(listen: &str) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .map(str::to_owned)
            .to_vec();
        let (port, any_ip) = match listen.parse::<std::net::SocketAddr>() {
            Ok(addr) => {
                let ip = addr.ip();
                if !ip.is_unspecified() {
                    names.push(match ip {
                        std::net::IpAddr::V4(v4) => v4.to_string(),
                        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    });
                }
                (Some(addr.port()), !ip.is_loopback())
            }
            // A name, e.g. "localhost:3003": allow that name on that port.
            Err(_) => {
                let (host, port) = listen.rsplit_once(':').unwrap_or((listen, ""));
                names.push(host.to_ascii_lowercase());
                (port.parse().ok(), false)
            }
        };
        names.dedup();
        HostGuard {
            port,
            names,
            any_ip,
        }
    }

    /// Accepts `req` when every name it gives (`Host`, URI authority) is ours.
    fn check<B>(&self, req: &axum::http::Request<B>) -> Result<(), HostRefusal> {
        let mut hosts = req.headers().get_all(header::HOST).iter();
        let host = hosts.next();
        if hosts.next().is_some() {
            return Err(HostRefusal::Repeated);
        }
        let host = match host {
            Some(h) => Some(h.to_str().map_err(|_| HostRefusal::Foreign)?),
            None => None,
        };
        let authority = req.uri().authority().map(|a| a.as_str());
        if host.is_none() && authority.is_none() {
            return Err(HostRefusal::Missing);
        }
        if [host, authority]
            .into_iter()
            .flatten()
            .all(|a| self.allows(a))
        {
            Ok(())
        } else {
            Err(HostRefusal::Foreign)
        }
    }

    /// Whether `authority` ("host", "host:port") names this server.
    fn allows(&self, authority: &str) -> bool {
        let Ok(a) = authority.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        // User info has no place in a Host; "host:" hides an empty port.
        if a.as_str().contains('@') || a.as_str().ends_with(':') {
            return false;
        }
        if a.port_u16().is_some_and(|p| Some(p) != self.port) {
            return false;
        }
        let host = a.host().to_ascii_lowercase();
        self.names.contains(&host) || (self.any_ip && is_ip_literal(&host))
    }
}

/// "192.0.2.1" or "[2001:db8::1]".
fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
}

#[derive(Debug, Deserialize)]
struct RefreshQuery {
    refresh: Option<String>,
}

impl RefreshQuery {
    /// `refresh` takes `1` / `true` everywhere, as on the API.
    fn wanted(&self) -> Result<bool, String> {
        self.refresh
            .as_deref()
            .map_or(Ok(false), api::parse_refresh)
    }
}

async fn snapshot_for(state: &Arc<AppState>, q: &RefreshQuery) -> Result<Arc<Snapshot>, Response> {
    Ok(if q.wanted().map_err(api::bad_request)? {
        state.refresh_now().await
    } else {
        state.current().await
    })
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
    let s = match snapshot_for(&state, &q).await {
        Ok(s) => s,
        Err(r) => return r,
    };
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
    let s = match snapshot_for(&state, &q).await {
        Ok(s) => s,
        Err(r) => return r,
    };
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
    out.push_str(
        "# HELP villa_commits_behind Commits one environment is behind the one it tracks.\n",
    );
    out.push_str("# TYPE villa_commits_behind gauge\n");
    for (key, c) in &report.comparison {
        if let Some(b) = c.commits_behind {
            let _ = writeln!(
                out,
                "villa_commits_behind{{comparison=\"{}\"}} {b}",
                esc(key)
            );
        }
    }
    out.push_str(&metric_export::metric_lines(report));
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

/// Who may connect: the server has no authentication, so it stays on
/// loopback unless the user says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Loopback addresses only (127.0.0.0/8, ::1); anything else is refused.
    Local,
    /// Any address (`--allow-remote` or `[serve] allow_remote = true`).
    Remote,
}

/// Binds `listen`. A port in use is a clear message, not a panic; an address
/// that is not loopback is refused under [`Access::Local`].
pub async fn bind(listen: &str, access: Access) -> Result<tokio::net::TcpListener, String> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?
        .collect();
    if access == Access::Local
        && let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        return Err(format!(
            "refusing to listen on {listen}: {} is not a loopback address, so anyone on the network could read the dashboard and the API (there is no authentication); listen on 127.0.0.1:PORT, or pass --allow-remote (or set `[serve] allow_remote = true`) to expose it on purpose",
            open.ip()
        ));
    }
    tokio::net::TcpListener::bind(&addrs[..]).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "cannot listen on {listen}: the port is in use (another villa-telemetry serve?); pass --listen 127.0.0.1:PORT"
            )
        } else {
            format!("cannot listen on {listen}: {e}")
        }
    })
}

/// Limits that keep a few clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection whose request headers are not complete this long after
    /// it opened (or after its previous response) is closed.
    pub header_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// Serves on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !addr.ip().is_loopback() {
        eprintln!("{}", exposure_warning(addr));
    }
    eprintln!(
        "villa-telemetry: dashboard on http://{addr}/  (AI endpoint: {})",
        state.endpoint
    );
    let ticker = spawn_ticker(Arc::clone(&state));
    serve_with(
        listener,
        Arc::clone(&state),
        Limits::default(),
        shutdown_signal(),
    )
    .await;
    ticker.abort();
    Ok(())
}

/// The loud notice printed when listening beyond loopback.
fn exposure_warning(addr: std::net::SocketAddr) -> String {
    format!(
        "villa-telemetry: WARNING: listening on {addr}, which other machines can reach (remote access allowed).\n\
         villa-telemetry: there is no authentication: anyone who can connect can read the dashboard, \
         /api/telemetry/* (status, text, events), /report/* and /metrics — environment names and URLs, \
         versions, commits, CI runs and check messages — and can start check runs with ?refresh=1.\n\
         villa-telemetry: requests are answered when they name this server by an IP address or localhost."
    )
}

/// Accepts connections on `listener` until `shutdown` resolves, each under
/// `limits`; then ends SSE streams and waits up to [`SHUTDOWN_GRACE`] for
/// requests in progress. The caller runs the ticker, if any.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let router = app(Arc::clone(&state));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: the next accept may
                // work once connections close.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse_busy(&stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            Arc::clone(&builder),
            limits.header_timeout,
            graceful.watcher(),
            slot,
        ));
    }
    drop(listener);
    state.begin_shutdown();
    // A viewer still waiting on a slow first run must not keep the process
    // alive for the whole check timeout after Ctrl-C.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "villa-telemetry: requests still open after {}s; exiting anyway",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Serves one connection (HTTP/1 or HTTP/2 with prior knowledge). hyper's
/// HTTP/1 header timeout covers each request head; this covers the time
/// before the protocol is known and HTTP/2's first request: a connection
/// that has not sent complete request headers within `header_timeout` is
/// closed.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    builder: Arc<hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>>,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    use hyper::service::Service as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    let requested = Arc::new(AtomicBool::new(false));
    let service = {
        let requested = Arc::clone(&requested);
        let router = hyper_util::service::TowerToHyperService::new(router);
        hyper::service::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            requested.store(true, Ordering::Relaxed);
            router.call(req)
        })
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let mut conn = std::pin::pin!(watcher.watch(builder.serve_connection(io, service)));
    tokio::select! {
        _ = &mut conn => return,
        () = tokio::time::sleep(header_timeout) => {}
    }
    if requested.load(Ordering::Relaxed) {
        let _ = conn.await;
    }
    // Otherwise dropping the connection closes the socket.
}

/// Answers a connection over the cap with 503 and closes it.
fn refuse_busy(stream: &tokio::net::TcpStream) {
    const BODY: &str = "villa-telemetry: too many open connections; try again.\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // A fresh socket's send buffer is empty: this never blocks.
    let _ = stream.try_write(answer.as_bytes());
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
