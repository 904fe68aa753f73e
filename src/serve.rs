//! `serve`: the live dashboard and the agent API on 127.0.0.1:3003.
//!
//! One refresh at a time: every request shares the in-flight run; a report
//! older than `refresh` is served at once while the next one is fetched, so
//! no viewer waits on a slow upstream once a first report exists.
//!
//! By job: `state` holds the reports and the one run in flight; `guard`
//! refuses requests that do not name this server or come from another
//! origin; `headers` adds the anti-framing and no-sniff headers to every
//! answer; `router` maps paths to handlers (`api`, [`mcp`], [`actions`] and
//! the pages); `body` reads request bodies under a deadline;
//! `metric_export` writes `/metrics`; `listener` owns the socket, and
//! `slots` counts who holds it, under the numbers in [`Limits`].

pub mod actions;
mod api;
mod badge;
mod body;
mod guard;
mod headers;
mod limits;
mod listener;
pub mod mcp;
mod mcp_actions;
mod metric_export;
mod router;
mod slots;
mod state;

pub use api::{ENDPOINTS, StatusQuery};
pub use limits::Limits;
pub use listener::{Access, ServeError, bind, serve, serve_with};
pub use metric_export::prometheus_text;
pub use router::app;
pub use state::{AppState, HISTORY, SharedRun, Snapshot, spawn_ticker};
