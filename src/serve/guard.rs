//! The DNS-rebinding guard: requests that do not name this server are
//! refused before any handler runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Rejects requests not addressed to us (DNS rebinding, see [`HostGuard`]),
/// then requests a page on another origin made a browser send (see
/// [`HostGuard::check_origin`]). `POST /api/actions/ID` makes its own,
/// stricter Origin check, audited like every refusal of an action.
pub(super) async fn guard(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = state.hosts.check(&req) {
        return refusal.into_response();
    }
    let audited = state.actions.is_some() && req.uri().path().starts_with("/api/actions/");
    if !audited && let Err(refusal) = state.hosts.check_origin(req.headers()) {
        return refusal.into_response();
    }
    next.run(req).await
}

/// A request sent from a page on another origin (or an opaque one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OriginRefusal {
    /// The `Origin` as sent, cut short.
    origin: String,
}

impl IntoResponse for OriginRefusal {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            format!(
                "villa-telemetry answers no cross-origin requests (Origin: {} is not this server); requests without an Origin header (curl, agents) and from its own pages are answered\n",
                self.origin
            ),
        )
            .into_response()
    }
}

/// The names a request may address this server by. A page on another origin
/// can make a browser send requests here through DNS rebinding (a name that
/// first resolves elsewhere, then to 127.0.0.1); such a request still names
/// that other host, so anything but our own names is refused. The name comes
/// from `Host` (HTTP/1) or the URI authority (HTTP/2's `:authority`, or an
/// HTTP/1 absolute-form request line); a request that gives none is refused.
#[derive(Debug, Clone)]
pub(super) struct HostGuard {
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
    pub(super) fn new(listen: &str) -> Self {
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

    /// Accepts a request without `Origin` (curl, agents, a browser's
    /// same-origin GET) or whose one `Origin` is `http://` and one of our
    /// names on our port; refuses every other, `Origin: null` included (a
    /// sandboxed frame, a `data:` page, a redirect from elsewhere).
    pub(super) fn check_origin(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<(), OriginRefusal> {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let Some(origin) = origins.next() else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(origin.as_bytes());
        let ours = origins.next().is_none()
            && text
                .strip_prefix("http://")
                .is_some_and(|authority| self.allows_origin(authority));
        if ours {
            Ok(())
        } else {
            Err(OriginRefusal {
                origin: crate::redact::shorten(&text, 100),
            })
        }
    }

    /// Whether the authority of an `http://` origin is us: a browser leaves
    /// the port out only when it is 80.
    fn allows_origin(&self, authority: &str) -> bool {
        let Ok(a) = authority.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        if a.as_str() != authority || Some(a.port_u16().unwrap_or(80)) != self.port {
            return false;
        }
        self.allows(authority)
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
