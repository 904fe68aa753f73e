//! The routes and the page handlers: the dashboard, user templates, SSE,
//! `/metrics`, `/healthz`; the API and MCP handlers live beside it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use futures::StreamExt;
use serde::Deserialize;

use super::body::read_body;
use super::guard::guard;
use super::headers::{add_links, security_headers};
use super::limits::{BodyLimits, Limits};
use super::slots::Hold;
use super::{AppState, Snapshot, actions, api, badge, mcp, metric_export};
use crate::render::Format;

/// The router under the default [`Limits`]; tests call it without a socket.
pub fn app(state: Arc<AppState>) -> Router {
    routes(state, BodyLimits::from(&Limits::default()))
}

/// The router, reading request bodies under `body`. Layers run outside in:
/// the security headers (on every answer, refusals included), the Host and
/// Origin guard (nothing of a refused request is read), the body deadline,
/// then the route.
pub(super) fn routes(state: Arc<AppState>, body: BodyLimits) -> Router {
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
        .route("/api/badge/commit/{file}", get(badge::commit))
        .route("/api/badge/{file}", get(badge::environment))
        .nest_service("/mcp", mcp::http_service(&state))
        .route("/api", any(api::not_found))
        .route("/api/{*rest}", any(api::not_found))
        .route("/report/{name}", get(named_report))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        // Any other path: the same JSON 404 as under /api, listing what exists.
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(body, read_body))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
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

/// `GET /`: the page, or for an agent whose `Accept` names JSON or text
/// above HTML, the report exactly as `/api/telemetry/status` answers it
/// (same query, bytes and headers). Either way `Vary: Accept` and the
/// [`add_links`] that point at the other answers.
async fn dashboard(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    Query(q): Query<RefreshQuery>,
    headers: HeaderMap,
) -> Response {
    let mut r = match api::page_wants_report(&headers) {
        Some(repr) => api::answer(&state, raw.as_deref(), &headers, repr).await,
        None => page(&state, &q).await,
    };
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    add_links(h);
    r
}

/// The HTML dashboard; its query takes `refresh=1` only.
async fn page(state: &Arc<AppState>, q: &RefreshQuery) -> Response {
    let s = match snapshot_for(state, q).await {
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

/// `GET /api/telemetry/events`: one `report` event per new report. On a
/// socket each stream takes one of the stream slots (503 when none is free)
/// and gives its connection's request slot back while it streams.
async fn events(
    State(state): State<Arc<AppState>>,
    hold: Option<Extension<Arc<Hold>>>,
) -> Response {
    let lease = match hold {
        Some(Extension(hold)) => match hold.stream_lease() {
            Some(lease) => Some(lease),
            None => return streams_busy(),
        },
        // In-process callers (tests) have no connection to hold.
        None => None,
    };
    let rx = state.latest.subscribe();
    let stream = tokio_stream::wrappers::WatchStream::from_changes(rx)
        .filter_map(|s| async move {
            s.map(|s| {
                Ok::<_, Infallible>(
                    Event::default()
                        .event("report")
                        .data(String::from_utf8_lossy(&s.json)),
                )
            })
        })
        // Graceful shutdown waits for every response to finish; an SSE
        // stream never would.
        .take_until(state.closed())
        // The stream slot is held as long as the stream lives.
        .map(move |event| {
            let _held = &lease;
            event
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The 503 for an SSE client past the stream cap; the connection is closed
/// (an HTTP/1 client would otherwise keep it open holding a request slot).
fn streams_busy() -> Response {
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        "villa-telemetry: too many open event streams; try again later (the JSON API answers meanwhile).\n",
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let s = state.current().await;
    let body = metric_export::prometheus_text(&s.report, state.runs());
    bytes_response(body.into(), "text/plain; version=0.0.4; charset=utf-8")
}
