//! The numbers that keep a slow or long-lived client from holding the
//! server: deadlines for request heads and bodies, and caps on connections,
//! connections waiting for one, bodies and SSE streams.

use std::time::Duration;

/// Limits that keep a few clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection whose request headers are not complete this long after
    /// it opened (or after its previous response) is closed.
    pub header_timeout: Duration,
    /// Connections served at once (request slots). An SSE stream gives its
    /// connection's slot back while it streams: it counts under `max_sse`.
    pub max_connections: usize,
    /// Connections accepted past `max_connections` wait for a slot, up to
    /// this many at once; more are answered 503 and closed. 0: no waiting.
    pub queue: usize,
    /// How long a waiting connection waits for a slot before it is answered
    /// 503 and closed.
    pub queue_wait: Duration,
    /// A request body must have arrived whole this long after its head;
    /// otherwise the answer is 408 and the connection is closed.
    pub body_timeout: Duration,
    /// Largest request body, in bytes: 413 past it (at once when
    /// `Content-Length` says so, before reading anything).
    pub max_body: usize,
    /// SSE streams (`/api/telemetry/events`) open at once; more get 503.
    pub max_sse: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
            queue: 512,
            // A slot frees within a header or body deadline of the
            // slowest client holding one, so this is long enough to wait
            // out a full server of slow clients.
            queue_wait: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            // What `/mcp` (rmcp) takes; an action's body is a few bytes.
            max_body: 4 * 1024 * 1024,
            max_sse: 64,
        }
    }
}

/// The part of [`Limits`] the router applies to every request body.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    /// See [`Limits::body_timeout`].
    pub(super) timeout: Duration,
    /// See [`Limits::max_body`].
    pub(super) max: usize,
}

impl From<&Limits> for BodyLimits {
    fn from(l: &Limits) -> Self {
        BodyLimits {
            timeout: l.body_timeout,
            max: l.max_body,
        }
    }
}
