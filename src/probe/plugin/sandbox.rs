//! The sandbox: per-run store state, the memory limiter, captured stdio and the host imports.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::villa::telemetry::{host, types};
use super::net::Net;
use super::output::truncate;

/// Total guest stdout + stderr kept in the log.
pub(super) const STDIO_CAP: usize = 64 * 1024;
/// `log` import calls kept, and the length each is cut to.
pub(super) const MAX_LOG_ENTRIES: usize = 200;
pub(super) const MAX_LOG_ENTRY: usize = 2048;

pub(super) struct Limits {
    pub(super) timeout: Duration,
    pub(super) memory_bytes: u64,
}

/// Per-run store data.
pub(super) struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(super) net: Net,
    pub(super) log: Vec<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory cap that remembers it said no, so the error can name the cause.
pub(super) struct Limiter {
    pub(super) memory_cap: usize,
    pub(super) memory_exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    // A component instantiates a handful of core instances (guest + WASI
    // adapter shims); these bounds leave room for that and no more.
    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        8
    }
}

/// Guest stdout or stderr: keeps output up to a budget shared by both
/// streams and silently drops the rest, so a chatty plugin is not failed
/// by a write error (wasmtime's MemoryOutputPipe errors when full).
#[derive(Clone)]
pub(super) struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    budget: Arc<AtomicUsize>,
    truncated: Arc<AtomicBool>,
}

impl Capture {
    pub(super) fn new(budget: &Arc<AtomicUsize>, truncated: &Arc<AtomicBool>) -> Self {
        Self {
            buf: Arc::default(),
            budget: budget.clone(),
            truncated: truncated.clone(),
        }
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let granted = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(data.len()))
            })
            .map_or(0, |left| left.min(data.len()));
        if granted < data.len() {
            self.truncated.store(true, Ordering::Relaxed);
        }
        self.buf
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(&data[..granted]);
        // Report everything as written: dropping output is the policy, not an error.
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    async fn log(&mut self, level: host::LogLevel, message: String) -> wasmtime::Result<()> {
        if self.log.len() < MAX_LOG_ENTRIES {
            let level = match level {
                host::LogLevel::Debug => "debug",
                host::LogLevel::Info => "info",
                host::LogLevel::Warn => "warn",
                host::LogLevel::Error => "error",
            };
            let message = self.net.redactor.redact(&message).into_owned();
            self.log
                .push(format!("{level}: {}", truncate(message, MAX_LOG_ENTRY)));
        }
        Ok(())
    }

    async fn http_fetch(
        &mut self,
        req: host::HttpRequest,
    ) -> wasmtime::Result<Result<host::HttpResponse, host::HttpError>> {
        Ok(self.net.fetch(req).await)
    }

    async fn github_get(&mut self, path: String) -> wasmtime::Result<Result<String, String>> {
        Ok(self.net.github_get(&path).await)
    }
}
