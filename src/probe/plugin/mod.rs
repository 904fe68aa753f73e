//! WASM check plugins: the sandboxed host that loads and runs them.
//!
//! A plugin is a WebAssembly component built against `plugins/wit/check.wit`
//! (`villa:telemetry@0.1.0`, world `check-plugin`). The host compiles each
//! component once per process and gives every run a fresh `Store`, so no state
//! leaks between checks. Whatever the guest does, a run ends in a
//! [`PluginOutcome`]: timeouts, memory exhaustion, traps, panics and malformed
//! output all become `Err(reason)`; the host never panics on guest behaviour.
//!
//! The sandbox grants nothing by default: no files, no sockets, no env vars
//! beyond the allowed ones, and network access only through the `http-fetch`
//! and `github-get` imports, each checked against the check's allowlist.
//!
//! `api` holds what callers hand in and get back, `engine` compiles and runs
//! components, `cache` keeps compiled components on disk (verified before
//! use), `sandbox` is the per-run store (limits, captured stdio, the
//! host imports), `net` serves `http-fetch` and `github-get`, `output` turns
//! what a run left into a verdict or one sentence, and `scaffold` writes a
//! new plugin crate.

mod api;
mod cache;
mod engine;
mod net;
mod output;
mod sandbox;
pub mod scaffold;
mod scaffold_langs;
mod start;

pub use api::{
    CacheCounts, CacheStatus, DEFAULT_BODY_CAP, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT, PluginError,
    PluginOutcome, PluginOutput, PluginRequest, PluginStatus, Pruned, Usage, WIT_PACKAGE,
};
pub use engine::{LoadedPlugin, PluginHost};
/// Disk cache entries no run has loaded for this many days are removed.
pub const CACHE_UNUSED_DAYS: u64 = cache::UNUSED_FOR.as_secs() / 86_400;
/// Past this many GiB, the disk cache's least recently used entries go.
pub const CACHE_MAX_GIB: u64 = cache::MAX_TOTAL >> 30;
pub use scaffold::{Lang, ScaffoldError, scaffold, scaffold_lang};
pub(crate) use start::start;
pub use start::{CACHE_DIR_ENV, plugin_cache_dir, plugin_host};

/// Host-side bindings generated from the WIT the plugins are built against.
/// Kept in one place so a wasmtime upgrade touches one macro call.
mod bindings {
    wasmtime::component::bindgen!({
        path: "plugins/wit",
        world: "check-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
