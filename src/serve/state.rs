//! The server's shared state: the latest report, the one run in flight, the
//! history behind the trends, and the ticker that keeps reports fresh.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use indexmap::IndexMap;
use tokio::sync::watch;

use super::actions;
use super::guard::HostGuard;
use crate::action::Origin;
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

/// A run every request may join.
pub type SharedRun = Shared<BoxFuture<'static, Arc<Snapshot>>>;

/// Shared state of the server.
pub struct AppState {
    pub(crate) plan: Arc<Plan>,
    services: Services,
    pub(super) renderer: Renderer,
    pub(super) refresh: Duration,
    /// Which Host / `:authority` values are answered (DNS-rebinding guard).
    pub(super) hosts: HostGuard,
    /// Public URL of the JSON endpoint, shown in the footer.
    pub(super) endpoint: String,
    /// Public URL of the MCP endpoint, shown beside it.
    mcp_endpoint: String,
    pub(super) latest: watch::Sender<Option<Arc<Snapshot>>>,
    /// The run in progress, with when it started.
    in_flight: Mutex<Option<(Instant, SharedRun)>>,
    history: Mutex<VecDeque<Arc<Report>>>,
    runs: AtomicU64,
    /// Flips to true when the server shuts down: SSE streams end then, or
    /// an open dashboard would hold graceful shutdown forever.
    closing: watch::Sender<bool>,
    /// `POST /api/actions/ID` and the buttons; None unless `[serve] actions = true`.
    pub(crate) actions: Option<Arc<actions::ActionDesk>>,
    /// The actions as MCP tools, audited as `agent`; None unless `[mcp]
    /// actions = true`.
    pub(crate) agent_actions: Option<Arc<actions::ActionDesk>>,
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
            .then(|| Arc::new(actions::ActionDesk::new(&plan, Origin::Dashboard)));
        let agent_actions = plan
            .actions
            .agent
            .then(|| Arc::new(actions::ActionDesk::new(&plan, Origin::Agent)));
        Arc::new(AppState {
            actions,
            agent_actions,
            refresh: plan.settings.refresh,
            plan: Arc::new(plan),
            services,
            renderer,
            hosts,
            endpoint: format!("http://{endpoint_host}:{port}/api/telemetry/status"),
            mcp_endpoint: format!("http://{endpoint_host}:{port}/mcp"),
            latest,
            in_flight: Mutex::new(None),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            runs: AtomicU64::new(0),
            closing: watch::channel(false).0,
        })
    }

    /// What masks the run's secrets, for text the server writes itself.
    pub(super) fn redactor(&self) -> &crate::redact::Redactor {
        &self.services.redactor
    }

    /// The clients of every run, for a lookup a tool makes on demand (the
    /// `journey` tool), sharing their caches.
    pub(super) fn services(&self) -> &Services {
        &self.services
    }

    /// Number of runs made so far (for tests and `/metrics`).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Starts a run unless one is in flight; returns the shared run.
    pub fn refresh_now(self: &Arc<Self>) -> SharedRun {
        self.join_or_start().1
    }

    /// A forced refresh for an agent (MCP `status {refresh: true}`), at most
    /// one run per `refresh / 10`: within that a report that finished then
    /// is fresh enough, so fifty calls in a row cost one run, not fifty.
    pub async fn refresh_limited(self: &Arc<Self>) -> Arc<Snapshot> {
        let latest = self.latest.borrow().clone();
        match latest {
            Some(s) if s.at.elapsed() < self.refresh / 10 => s,
            _ => self.refresh_now().await,
        }
    }

    /// A report from a run that started after this call: what an action
    /// decides on. Joining a run already in flight is not enough, since
    /// it may have read its upstreams before what the caller knows changed.
    pub(crate) async fn run_started_now(self: &Arc<Self>) -> Arc<Snapshot> {
        let asked = Instant::now();
        loop {
            let (started, run) = self.join_or_start();
            let snapshot = run.await;
            if started >= asked {
                return snapshot;
            }
        }
    }

    /// The run in flight, or a new one; with when it started.
    fn join_or_start(self: &Arc<Self>) -> (Instant, SharedRun) {
        let mut guard = self.in_flight.lock().expect("not poisoned");
        if let Some((started, f)) = guard.as_ref() {
            return (*started, f.clone());
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
        let started = Instant::now();
        *guard = Some((started, fut.clone()));
        (started, fut)
    }

    async fn run_once(&self) -> Arc<Snapshot> {
        let mut report = crate::pipeline::run(&self.plan, &self.services, None).await;
        self.runs.fetch_add(1, Ordering::Relaxed);
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
    pub(super) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// Render extras for the live page showing `snapshot`: trends from the
    /// history, and its age when it is older than `refresh` (a refresh is
    /// running by then).
    pub(super) fn extras_for(&self, snapshot: &Snapshot) -> RenderExtras {
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
                let since = trend_since(&history, last, id, env.status);
                trends.insert(id.clone(), EnvTrend { latency_ms, since });
            }
        }
        RenderExtras {
            live: true,
            endpoint: Some(self.endpoint.clone()),
            mcp_endpoint: Some(self.mcp_endpoint.clone()),
            trends,
            stale_seconds: None,
            metric_trends: crate::render::panels::history_trends(history.iter().map(AsRef::as_ref)),
            actions: None,
        }
    }
}

/// "healthy since 12:00 UTC", "failing for 3 min": how long environment `id`
/// has had `status`, walking back through `history` (None with one report).
fn trend_since(
    history: &VecDeque<Arc<Report>>,
    last: &Report,
    id: &str,
    status: Health,
) -> Option<String> {
    if history.len() < 2 {
        return None;
    }
    // Walk back while the status stayed the same.
    let mut since = last.timestamp;
    for r in history.iter().rev() {
        match r.environments.get(id) {
            Some(e) if e.status == status => since = r.timestamp,
            _ => break,
        }
    }
    let word = match status {
        Health::Healthy => "healthy",
        Health::Warning => "warning",
        Health::Failing => "failing",
        Health::Unknown => "unknown",
    };
    Some(if status == Health::Failing {
        let mins = (last.timestamp - since).num_minutes();
        if mins < 1 {
            "failing for under a minute".to_owned()
        } else {
            format!("failing for {mins} min")
        }
    } else {
        format!("{word} since {}", since.format("%H:%M UTC"))
    })
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
