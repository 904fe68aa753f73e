//! The socket: binding (loopback unless the user opts in), the accept loop
//! with its connection cap, per-connection header deadlines, and graceful
//! shutdown on Ctrl-C / SIGTERM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::server::graceful::Watcher;

use super::limits::{BodyLimits, Limits};
use super::router::routes;
use super::slots::{Hold, Slots};
use super::state::spawn_ticker;
use super::{AppState, headers};

/// Why `serve` cannot listen or go on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `listen` does not resolve to an address.
    #[error("cannot listen on {addr}: {source}")]
    Resolve {
        /// What was asked for, e.g. "127.0.0.1:3003".
        addr: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// An address beyond loopback under [`Access::Local`].
    #[error(
        "refusing to listen on {addr}: {ip} is not a loopback address, so anyone on the network could read the dashboard and the API (there is no authentication); listen on 127.0.0.1:PORT, or pass --allow-remote (or set `[serve] allow_remote = true`) to expose it on purpose"
    )]
    NotLoopback {
        /// What was asked for.
        addr: String,
        /// The first address that is not loopback.
        ip: std::net::IpAddr,
    },
    /// Another process holds the port.
    #[error(
        "cannot listen on {addr}: the port is in use (another villa-telemetry serve?); pass --listen 127.0.0.1:PORT"
    )]
    PortInUse {
        /// What was asked for.
        addr: String,
        /// The OS error (`AddrInUse`).
        source: std::io::Error,
    },
    /// Any other error binding the socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// What was asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] std::io::Error),
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
pub async fn bind(listen: &str, access: Access) -> Result<tokio::net::TcpListener, ServeError> {
    let addr = || listen.to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|source| ServeError::Resolve {
            addr: addr(),
            source,
        })?
        .collect();
    if access == Access::Local
        && let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        return Err(ServeError::NotLoopback {
            addr: addr(),
            ip: open.ip(),
        });
    }
    tokio::net::TcpListener::bind(&addrs[..])
        .await
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                ServeError::PortInUse {
                    addr: addr(),
                    source,
                }
            } else {
                ServeError::Bind {
                    addr: addr(),
                    source,
                }
            }
        })
}

/// Serves on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
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
    let server = Arc::new(Server::new(&state, &limits));
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
        let _ = stream.set_nodelay(true);
        server.admit(stream, graceful.watcher());
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

type Builder = hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>;

/// What every connection is served with.
struct Server {
    router: Router,
    builder: Builder,
    header_timeout: Duration,
    slots: Arc<Slots>,
    state: Arc<AppState>,
}

impl Server {
    fn new(state: &Arc<AppState>, limits: &Limits) -> Self {
        use hyper_util::rt::{TokioExecutor, TokioTimer};
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        builder.http2().timer(TokioTimer::new());
        Server {
            router: routes(Arc::clone(state), BodyLimits::from(limits)),
            builder,
            header_timeout: limits.header_timeout,
            slots: Arc::new(Slots::new(limits)),
            state: Arc::clone(state),
        }
    }

    /// Serves `stream` in a slot of its own: one free now, or one it waits
    /// for in the waiting room; answered 503 when the room is full or the
    /// wait runs out.
    fn admit(self: &Arc<Self>, stream: tokio::net::TcpStream, watcher: Watcher) {
        if let Some(slot) = self.slots.try_request() {
            tokio::spawn(Arc::clone(self).serve_connection(stream, watcher, slot));
            return;
        }
        let Some(place) = self.slots.wait_place() else {
            refuse_busy(&stream);
            return;
        };
        let server = Arc::clone(self);
        tokio::spawn(async move {
            let slot = tokio::select! {
                slot = server.slots.wait_request() => slot,
                // Shutdown: nobody will be served any more.
                () = server.state.closed() => None,
            };
            drop(place);
            match slot {
                Some(slot) => server.serve_connection(stream, watcher, slot).await,
                None => refuse_busy(&stream),
            }
        });
    }

    /// Serves one connection (HTTP/1 or HTTP/2 with prior knowledge).
    /// hyper's HTTP/1 header timeout covers each request head; this covers
    /// the time before the protocol is known and HTTP/2's first request: a
    /// connection that has not sent complete request headers within
    /// `header_timeout` is closed. So is one left holding no slot (its SSE
    /// streams gave the slot back and ended).
    async fn serve_connection(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        watcher: Watcher,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) {
        use hyper::service::Service as _;
        let hold = Hold::new(Arc::clone(&self.slots), slot);
        let requested = Arc::new(AtomicBool::new(false));
        // Each request carries the connection's hold, and is served only
        // while the connection holds a slot.
        let service = {
            let router = hyper_util::service::TowerToHyperService::new(self.router.clone());
            let (hold, requested) = (Arc::clone(&hold), Arc::clone(&requested));
            hyper::service::service_fn(
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    requested.store(true, Ordering::Relaxed);
                    req.extensions_mut().insert(Arc::clone(&hold));
                    let hold = Arc::clone(&hold);
                    let call = router.call(req);
                    async move {
                        if hold.ensure_request().await {
                            call.await
                        } else {
                            Ok(busy_response())
                        }
                    }
                },
            )
        };
        let io = hyper_util::rt::TokioIo::new(stream);
        let mut conn = std::pin::pin!(watcher.watch(self.builder.serve_connection(io, service)));
        tokio::select! {
            _ = &mut conn => return,
            () = tokio::time::sleep(self.header_timeout) => {}
        }
        if requested.load(Ordering::Relaxed) {
            tokio::select! {
                _ = conn => {}
                () = hold.idle() => {}
            }
        }
        // Otherwise dropping the connection closes the socket.
    }
}

/// The 503 for a request that found no slot in time.
fn busy_response() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut r = (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        BUSY_BODY.to_owned(),
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    headers::add(r.headers_mut());
    r
}

const BUSY_BODY: &str = "villa-telemetry: too many open connections; try again.\n";

/// Answers a connection over the cap with 503 and closes it.
fn refuse_busy(stream: &tokio::net::TcpStream) {
    // What the client already sent is read and dropped: closing a socket
    // with unread input resets it, and the client could lose the answer.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\n{}content-length: {}\r\n\r\n{BUSY_BODY}",
        headers::RAW,
        BUSY_BODY.len()
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
