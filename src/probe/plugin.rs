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

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub mod scaffold;
pub use scaffold::{ScaffoldError, scaffold};

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

use bindings::villa::telemetry::{host, types};

/// The WIT package plugins must be built against.
pub const WIT_PACKAGE: &str = "villa:telemetry@0.1.0";
/// Default per-run wall-clock budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default cap on a plugin's linear memory.
pub const DEFAULT_MEMORY_BYTES: u64 = 32 * 1024 * 1024;
/// Default cap on an `http-fetch` / `github-get` response body.
pub const DEFAULT_BODY_CAP: usize = 1024 * 1024;
/// How often the epoch advances while a plugin runs; also how often a busy
/// guest yields its tokio worker. Short on purpose: tokio polls its timer and
/// I/O driver only every ~61 scheduler ticks of a busy worker, so with 10 ms
/// slices a spinning plugin delayed every timer in the process by ~0.6 s
/// (measured); 1 ms keeps that near 60 ms. The ticker sleeps when idle.
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Extra time the outer tokio timeout allows beyond the epoch deadline, so a
/// guest spinning in wasm is stopped by the epoch (cheaply, with a clear
/// trap) and the outer timeout only catches time blocked in host calls.
const OUTER_TIMEOUT_SLACK: Duration = Duration::from_millis(250);
/// Redirect hops `http-fetch` follows, re-checking the allowlist each time.
const MAX_REDIRECTS: usize = 5;
/// Total guest stdout + stderr kept in the log.
const STDIO_CAP: usize = 64 * 1024;
/// `log` import calls kept, and the length each is cut to.
const MAX_LOG_ENTRIES: usize = 200;
const MAX_LOG_ENTRY: usize = 2048;
/// Longest summary kept; longer ones are truncated, not rejected.
const MAX_SUMMARY: usize = 4 * 1024;
/// Largest `fields-json` accepted.
const MAX_FIELDS_JSON: usize = 64 * 1024;

/// Why a plugin file could not be loaded. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The WASM engine could not be set up.
    #[error("cannot start the WASM plugin engine: {0}")]
    Engine(String),
    /// The file could not be read.
    #[error("cannot read plugin {}: {source}", path.display())]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error("plugin {} is not a WebAssembly file (no \\0asm header)", path.display())]
    NotWasm {
        /// The plugin file.
        path: PathBuf,
    },
    /// The file is a core module, not a component.
    #[error(
        "plugin {} is not a component (core module?); build it with `cargo build --release --target wasm32-wasip2`",
        path.display()
    )]
    NotComponent {
        /// The plugin file.
        path: PathBuf,
    },
    /// wasmtime rejected the component.
    #[error("cannot compile plugin {}: {reason}", path.display())]
    Compile {
        /// The plugin file.
        path: PathBuf,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component does not match the `check-plugin` world.
    #[error("plugin {} was built against an incompatible WIT (want {WIT_PACKAGE}, world check-plugin): {reason}", path.display())]
    Incompatible {
        /// The plugin file.
        path: PathBuf,
        /// What is missing or mismatched.
        reason: String,
    },
}

/// A compiled, type-checked plugin; running it only instantiates.
pub struct LoadedPlugin {
    path: PathBuf,
    content_hash: u64,
    wit_version: Option<String>,
    pre: bindings::CheckPluginPre<HostState>,
}

impl LoadedPlugin {
    /// The canonical path the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `villa:telemetry` WIT version the plugin imports (`None` if it imports none of it).
    pub fn wit_version(&self) -> Option<&str> {
        self.wit_version.as_deref()
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("wit_version", &self.wit_version)
            .finish_non_exhaustive()
    }
}

/// Everything one run of a check may use; built by the caller from the check's TOML.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    /// The check's id, passed to the plugin.
    pub check_id: String,
    /// The check's `plugin.config` table as JSON.
    pub config: serde_json::Value,
    /// Only the `allow.env` keys, already resolved by the caller.
    pub env: Vec<(String, String)>,
    /// Wall-clock budget for the whole run, host calls included.
    pub timeout: Duration,
    /// Cap on the plugin's linear memory.
    pub memory_bytes: u64,
    /// Host names `http-fetch` may reach: exact, or `*.example.com` for subdomains.
    pub allow_http: Vec<String>,
    /// `owner/repo` (or `owner/*`) the plugin may read through `github-get`.
    pub allow_github: Vec<String>,
    /// Client for `http-fetch` and `github-get`. It must not follow redirects
    /// itself (`redirect::Policy::none()`): the host follows them so it can
    /// re-check the allowlist on every hop.
    pub http: reqwest::Client,
    /// GitHub API access for `github-get`; `None` makes every call fail.
    pub github: Option<GithubAccess>,
    /// Largest response body a plugin may receive.
    pub body_cap: usize,
}

impl PluginRequest {
    /// A request with the documented defaults and an empty allowlist.
    pub fn new(
        check_id: impl Into<String>,
        config: serde_json::Value,
        http: reqwest::Client,
    ) -> Self {
        Self {
            check_id: check_id.into(),
            config,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            allow_http: Vec::new(),
            allow_github: Vec::new(),
            http,
            github: None,
            body_cap: DEFAULT_BODY_CAP,
        }
    }
}

/// How the host reaches GitHub for `github-get`. The token stays on the host.
#[derive(Clone)]
pub struct GithubAccess {
    /// API base, e.g. `https://api.github.com`.
    pub api_url: String,
    /// Sent as a bearer token; never visible to the plugin.
    pub token: Option<String>,
}

impl std::fmt::Debug for GithubAccess {
    // Hand-written so the token never ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubAccess")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct PluginOutcome {
    /// The plugin's verdict, or why there is none (a reason for a person).
    pub result: Result<PluginOutput, String>,
    /// `log` calls, then captured stdout/stderr lines.
    pub log: Vec<String>,
    /// Wall-clock time measured by the host.
    pub duration: Duration,
}

/// A plugin's validated verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginOutput {
    /// The check status.
    pub status: PluginStatus,
    /// One line for people; at most 4 KiB.
    pub summary: String,
    /// Extra structured facts (a JSON object).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A plugin's check status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginStatus {
    /// The check passed.
    Pass,
    /// Passed, but something needs attention.
    Warn,
    /// The check failed.
    Fail,
    /// The plugin could not tell.
    Unknown,
}

impl From<types::Status> for PluginStatus {
    fn from(s: types::Status) -> Self {
        match s {
            types::Status::Pass => Self::Pass,
            types::Status::Warn => Self::Warn,
            types::Status::Fail => Self::Fail,
            types::Status::Unknown => Self::Unknown,
        }
    }
}

/// Loads and runs plugins. Create one per process and share it.
pub struct PluginHost {
    engine: Engine,
    ticker: Arc<Ticker>,
    linker: Linker<HostState>,
    cache: Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>>,
}

impl PluginHost {
    /// Sets up the engine and starts the epoch ticker thread.
    pub fn new() -> Result<Self, PluginError> {
        let engine_err = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config).map_err(engine_err)?;

        // A dedicated OS thread, not a tokio task: guests spinning on every
        // worker thread would starve a task, no tick would fire and nothing
        // would ever time out (the prototype hung exactly like that). The
        // weak handle lets the thread end when the engine is dropped.
        let weak = engine.weak();
        let active = Arc::new(AtomicUsize::new(0));
        let running = active.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    if running.load(Ordering::Acquire) == 0 {
                        // Nothing to interrupt: don't wake 1000 times a second.
                        drop(engine);
                        std::thread::park_timeout(Duration::from_secs(1));
                        continue;
                    }
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))?;
        let ticker = Arc::new(Ticker {
            active,
            thread: thread.thread().clone(),
        });

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_err)?;
        bindings::CheckPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(engine_err)?;
        Ok(Self {
            engine,
            ticker,
            linker,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Reads, compiles and type-checks a plugin (CPU-heavy and blocking: call
    /// it from `spawn_blocking`). Compiled plugins are cached by canonical
    /// path and content, so loading an unchanged file again is cheap.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let path = std::fs::canonicalize(path).map_err(|source| PluginError::Read {
            path: path.to_owned(),
            source,
        })?;
        let bytes = std::fs::read(&path).map_err(|source| PluginError::Read {
            path: path.clone(),
            source,
        })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let content_hash = hasher.finish();
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            && hit.content_hash == content_hash
        {
            return Ok(hit.clone());
        }

        // Cheap header checks first: they give far clearer errors than the compiler.
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(PluginError::NotWasm { path });
        }
        if bytes[4..8] == [1, 0, 0, 0] {
            return Err(PluginError::NotComponent { path });
        }
        let component = Component::new(&self.engine, &bytes).map_err(|e| PluginError::Compile {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?;
        let incompatible = |reason: String| PluginError::Incompatible {
            path: path.clone(),
            reason,
        };

        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        for wanted in ["run", "describe"] {
            if !exports.iter().any(|e| e == wanted) {
                return Err(incompatible(format!(
                    "missing export `{wanted}` (it exports: {})",
                    list_or_none(&exports)
                )));
            }
        }
        let wit_version = ty.imports(&self.engine).find_map(|(name, _)| {
            Some(
                name.strip_prefix("villa:telemetry/")?
                    .split_once('@')?
                    .1
                    .to_owned(),
            )
        });
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| incompatible(format!("{e:#}")))?;
        let pre = bindings::CheckPluginPre::new(pre).map_err(|e| incompatible(format!("{e:#}")))?;

        let loaded = Arc::new(LoadedPlugin {
            path: path.clone(),
            content_hash,
            wit_version,
            pre,
        });
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path, loaded.clone());
        Ok(loaded)
    }

    /// Runs the plugin once in a fresh sandbox. Never panics.
    pub async fn run(&self, plugin: &LoadedPlugin, req: PluginRequest) -> PluginOutcome {
        let input = types::CheckInput {
            check_id: req.check_id.clone(),
            config_json: req.config.to_string(),
            env: req.env.clone(),
            timeout_ms: u32::try_from(req.timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let limits = Limits {
            timeout: req.timeout,
            memory_bytes: req.memory_bytes,
        };
        let env = req.env.clone();
        let net = Net {
            allow_http: req.allow_http,
            allow_github: req.allow_github,
            http: Some(req.http),
            github: req.github,
            body_cap: req.body_cap,
            deadline: Instant::now() + req.timeout,
        };
        let (result, log, duration) = self
            .invoke(plugin, limits, env, net, Call::Run(input))
            .await;
        let result = result.and_then(|r| match r {
            Returned::Run(Ok(out)) => validate_output(out),
            Returned::Run(Err(msg)) => Err(truncate(msg, MAX_SUMMARY)),
            Returned::Describe(_) => Err("internal error: describe() answered a run".into()),
        });
        PluginOutcome {
            result,
            log,
            duration,
        }
    }

    /// Calls the plugin's `describe()` (default limits, no network) and parses its JSON.
    pub async fn describe(&self, plugin: &LoadedPlugin) -> Result<serde_json::Value, String> {
        let limits = Limits {
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        };
        let net = Net {
            allow_http: Vec::new(),
            allow_github: Vec::new(),
            http: None,
            github: None,
            body_cap: 0,
            deadline: Instant::now() + DEFAULT_TIMEOUT,
        };
        let (result, _log, _) = self
            .invoke(plugin, limits, Vec::new(), net, Call::Describe)
            .await;
        match result? {
            Returned::Describe(text) => serde_json::from_str(&text).map_err(|e| {
                format!(
                    "describe() did not return JSON ({e}): {}",
                    truncate(text, 200)
                )
            }),
            Returned::Run(_) => Err("internal error: run() answered describe".into()),
        }
    }

    /// One call into a fresh instance, with every guarantee applied.
    async fn invoke(
        &self,
        plugin: &LoadedPlugin,
        limits: Limits,
        env: Vec<(String, String)>,
        net: Net,
        call: Call,
    ) -> (Result<Returned, String>, Vec<String>, Duration) {
        let _ticking = ActiveRun::start(&self.ticker);
        let start = Instant::now();
        let budget = Arc::new(AtomicUsize::new(STDIO_CAP));
        let truncated = Arc::new(AtomicBool::new(false));
        let stdout = Capture::new(&budget, &truncated);
        let stderr = Capture::new(&budget, &truncated);
        // Deny-all WASI: no preopens, no args, no inherited stdio or env;
        // only the env vars the check allows.
        let wasi = WasiCtxBuilder::new()
            .envs(&env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_cap: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                memory_exceeded: false,
            },
            net,
            log: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Check the clock every tick: yield the tokio worker while there is
        // budget left (so spinning guests don't hog it), interrupt after.
        let deadline = start + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });

        let fut = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            match &call {
                Call::Run(input) => instance
                    .call_run(&mut store, input)
                    .await
                    .map(Returned::Run),
                Call::Describe => instance
                    .call_describe(&mut store)
                    .await
                    .map(Returned::Describe),
            }
        };
        // Epochs cannot interrupt a guest blocked in an async host call; this can.
        let outcome = tokio::time::timeout(limits.timeout + OUTER_TIMEOUT_SLACK, fut).await;
        let duration = start.elapsed();
        let stderr_text = stderr.text();
        let result = match outcome {
            Err(_elapsed) => Err(timeout_reason(limits.timeout)),
            Ok(Ok(returned)) => Ok(returned),
            Ok(Err(err)) => Err(failure_reason(
                &err,
                store.data().limiter.memory_exceeded,
                &limits,
                &stderr_text,
            )),
        };
        let mut log = std::mem::take(&mut store.data_mut().log);
        for (stream, text) in [("stdout", stdout.text()), ("stderr", stderr_text)] {
            log.extend(text.lines().map(|line| format!("{stream}: {line}")));
        }
        if truncated.load(Ordering::Relaxed) {
            log.push(format!(
                "(plugin output truncated at {})",
                format_bytes(STDIO_CAP as u64)
            ));
        }
        (result, log, duration)
    }
}

/// The epoch thread and how many runs currently need it.
struct Ticker {
    active: Arc<AtomicUsize>,
    thread: std::thread::Thread,
}

/// Keeps the epoch ticking while it lives (drop-based, so a cancelled run
/// future still lets the ticker go idle).
struct ActiveRun<'a>(&'a Ticker);

impl<'a> ActiveRun<'a> {
    fn start(ticker: &'a Ticker) -> Self {
        ticker.active.fetch_add(1, Ordering::AcqRel);
        ticker.thread.unpark();
        Self(ticker)
    }
}

impl Drop for ActiveRun<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

fn timeout_reason(timeout: Duration) -> String {
    format!(
        "plugin exceeded timeout {}",
        humantime::format_duration(timeout)
    )
}

/// Turns a failed call into one sentence, most specific cause first.
fn failure_reason(
    err: &wasmtime::Error,
    memory_exceeded: bool,
    limits: &Limits,
    stderr: &str,
) -> String {
    if matches!(
        err.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        return timeout_reason(limits.timeout);
    }
    // The guest's allocator usually turns a refused grow into an abort, so
    // the trap itself says "unreachable"; the limiter knows the real cause.
    if memory_exceeded {
        return format!(
            "plugin exceeded memory limit {}",
            format_bytes(limits.memory_bytes)
        );
    }
    if let Some(panic) = panic_message(stderr) {
        return format!("plugin panicked: {panic}");
    }
    let why = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("plugin trapped: {trap}"),
        None => format!("plugin failed: {err:#}"),
    };
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(3)
        .collect();
    if tail.is_empty() {
        why
    } else {
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{why}; stderr: {}", truncate(tail.join(" | "), 1024))
    }
}

/// Rust std prints `thread '…' panicked at FILE:LINE:COL:` then the message
/// on the following lines (until the `note:` about backtraces).
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let header = lines.find(|l| l.contains(" panicked at "))?;
    let location = header
        .split(" panicked at ")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let message = truncate(message.join(" ").trim().to_owned(), 1024);
    Some(if location.is_empty() {
        message
    } else {
        format!("{message} (at {location})")
    })
}

/// Checks and caps what the guest returned.
fn validate_output(out: types::CheckOutput) -> Result<PluginOutput, String> {
    let fields = match out.fields_json {
        None => serde_json::Map::new(),
        Some(text) if text.len() > MAX_FIELDS_JSON => {
            return Err(format!(
                "plugin returned fields-json of {}; the limit is {}",
                format_bytes(text.len() as u64),
                format_bytes(MAX_FIELDS_JSON as u64)
            ));
        }
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => {
                return Err(format!(
                    "plugin returned fields-json that is not a JSON object (got {})",
                    json_kind(&other)
                ));
            }
            Err(e) => return Err(format!("plugin returned invalid fields-json: {e}")),
        },
    };
    Ok(PluginOutput {
        status: out.status.into(),
        summary: truncate(out.summary, MAX_SUMMARY),
        fields,
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// "32 MiB", "512 KiB", or plain bytes; matches how people write the TOML.
fn format_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match n {
        0 => "0 bytes".into(),
        n if n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

struct Limits {
    timeout: Duration,
    memory_bytes: u64,
}

enum Call {
    Run(types::CheckInput),
    Describe,
}

enum Returned {
    Run(Result<types::CheckOutput, String>),
    Describe(String),
}

/// Per-run store data.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    net: Net,
    log: Vec<String>,
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
struct Limiter {
    memory_cap: usize,
    memory_exceeded: bool,
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
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    budget: Arc<AtomicUsize>,
    truncated: Arc<AtomicBool>,
}

impl Capture {
    fn new(budget: &Arc<AtomicUsize>, truncated: &Arc<AtomicBool>) -> Self {
        Self {
            buf: Arc::default(),
            budget: budget.clone(),
            truncated: truncated.clone(),
        }
    }

    fn text(&self) -> String {
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

/// What the network imports may do during one run.
struct Net {
    allow_http: Vec<String>,
    allow_github: Vec<String>,
    http: Option<reqwest::Client>,
    github: Option<GithubAccess>,
    body_cap: usize,
    deadline: Instant,
}

impl Net {
    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    async fn fetch(&self, req: host::HttpRequest) -> Result<host::HttpResponse, host::HttpError> {
        use host::HttpError;
        let Some(client) = &self.http else {
            return Err(HttpError::Denied("no network access here".into()));
        };
        let mut method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpError::Transport(format!("invalid method {:?}", req.method)))?;
        let mut url = reqwest::Url::parse(&req.url)
            .map_err(|e| HttpError::Transport(format!("invalid URL {:?}: {e}", req.url)))?;
        let mut body = req.body;
        let mut headers = req.headers;
        for hop in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HttpError::Denied(format!(
                    "scheme {:?} is not allowed (http and https only)",
                    url.scheme()
                )));
            }
            let host = url
                .host_str()
                .unwrap_or("")
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            if !host_allowed(&host, &self.allow_http) {
                let what = if hop == 0 { "host" } else { "redirect to host" };
                return Err(HttpError::Denied(format!(
                    "{what} {host:?} is not in allow.http"
                )));
            }
            let remaining = self.remaining().ok_or(HttpError::Timeout)?;
            let mut builder = client
                .request(method.clone(), url.clone())
                .timeout(remaining);
            for (name, value) in &headers {
                // The URL decides where the request goes, not a Host header.
                if !name.eq_ignore_ascii_case("host") {
                    builder = builder.header(name.as_str(), value.as_str());
                }
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let resp = builder.send().await.map_err(reqwest_error)?;
            if resp.url() != &url {
                // The caller's client followed a redirect itself, past our allowlist check.
                return Err(HttpError::Denied(
                    "the host's HTTP client follows redirects itself; configure it with redirect::Policy::none()".into(),
                ));
            }
            let status = resp.status();
            if status.is_redirection()
                && let Some(location) = resp.headers().get(reqwest::header::LOCATION)
            {
                let location = location
                    .to_str()
                    .map_err(|_| HttpError::Transport("redirect Location is not text".into()))?;
                let next = url.join(location).map_err(|e| {
                    HttpError::Transport(format!("bad redirect Location {location:?}: {e}"))
                })?;
                if next.host_str() != url.host_str() {
                    // Credentials meant for one host must not follow a redirect to another.
                    headers.retain(|(name, _)| {
                        !["authorization", "cookie", "x-api-key"]
                            .iter()
                            .any(|h| name.eq_ignore_ascii_case(h))
                    });
                }
                // 303 always, and 301/302 for non-GET in practice, become a body-less GET.
                if status == reqwest::StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302)
                        && method != reqwest::Method::GET
                        && method != reqwest::Method::HEAD)
                {
                    method = reqwest::Method::GET;
                    body = None;
                }
                url = next;
                continue;
            }
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .take(100)
                .collect();
            let body =
                read_capped(resp, self.body_cap, self.remaining().unwrap_or_default()).await?;
            return Ok(host::HttpResponse {
                status: status.as_u16(),
                headers,
                body,
            });
        }
        Err(HttpError::Transport(format!(
            "too many redirects (more than {MAX_REDIRECTS})"
        )))
    }

    async fn github_get(&self, path: &str) -> Result<String, String> {
        let (Some(client), Some(github)) = (&self.http, &self.github) else {
            return Err(
                "github-get is not available: the host has no GitHub access configured".into(),
            );
        };
        let path = path.trim_start_matches('/');
        let route = path.split(['?', '#']).next().unwrap_or("");
        if route
            .split('/')
            .any(|seg| seg == ".." || seg == "." || seg.is_empty())
        {
            return Err(format!("github-get path {path:?} is not a plain API path"));
        }
        if !self
            .allow_github
            .iter()
            .any(|allowed| repo_allowed(route, allowed))
        {
            return Err(format!(
                "github-get path {path:?} is not under a repository in allow.github"
            ));
        }
        let url = format!("{}/{}", github.api_url.trim_end_matches('/'), path);
        let remaining = self.remaining().ok_or("github-get timed out")?;
        let mut builder = client
            .get(&url)
            .timeout(remaining)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "villa-telemetry")
            .header("x-github-api-version", "2022-11-28");
        if let Some(token) = &github.token {
            builder = builder.bearer_auth(token);
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| format!("github-get {path}: {}", describe_reqwest(&e)))?;
        let status = resp.status();
        let body = read_capped(resp, self.body_cap, self.remaining().unwrap_or_default())
            .await
            .map_err(|e| match e {
                host::HttpError::TooLarge => format!(
                    "github-get {path}: response larger than {}",
                    format_bytes(self.body_cap as u64)
                ),
                host::HttpError::Timeout => format!("github-get {path}: timed out"),
                host::HttpError::Denied(why) | host::HttpError::Transport(why) => {
                    format!("github-get {path}: {why}")
                }
            })?;
        let body = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!(
                "github-get {path}: GitHub answered HTTP {}: {}",
                status.as_u16(),
                truncate(body, 300)
            ))
        }
    }
}

/// Exact host, or `*.example.com` for any subdomain (not the apex itself).
fn host_allowed(host: &str, allow: &[String]) -> bool {
    !host.is_empty()
        && allow.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            match entry.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
                }
                None => host == entry,
            }
        })
}

/// `repos/OWNER/REPO[/...]` against `owner/repo` or `owner/*` (case-insensitive, like GitHub).
fn repo_allowed(route: &str, allowed: &str) -> bool {
    let mut parts = route.split('/');
    let (Some("repos"), Some(owner), Some(repo)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some((allowed_owner, allowed_repo)) = allowed.trim().split_once('/') else {
        return false;
    };
    owner.eq_ignore_ascii_case(allowed_owner)
        && (allowed_repo == "*" || repo.eq_ignore_ascii_case(allowed_repo))
}

/// Reads a body, giving up past `cap` bytes or when the time is spent.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    time: Duration,
) -> Result<Vec<u8>, host::HttpError> {
    if resp.content_length().is_some_and(|len| len > cap as u64) {
        return Err(host::HttpError::TooLarge);
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(reqwest_error)? {
            if body.len() + chunk.len() > cap {
                return Err(host::HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(time, read)
        .await
        .unwrap_or(Err(host::HttpError::Timeout))
}

fn reqwest_error(e: reqwest::Error) -> host::HttpError {
    if e.is_timeout() {
        host::HttpError::Timeout
    } else {
        host::HttpError::Transport(describe_reqwest(&e))
    }
}

/// reqwest's Display hides the root cause ("error sending request"); add the chain.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allowlist_matches_exact_and_wildcard_subdomains() {
        let allow = vec!["api.example.com".to_string(), "*.example.org".to_string()];
        assert!(host_allowed("api.example.com", &allow));
        assert!(!host_allowed("evil.api.example.com", &allow));
        assert!(host_allowed("a.b.example.org", &allow));
        assert!(!host_allowed("example.org", &allow));
        assert!(!host_allowed("badexample.org", &allow));
        assert!(!host_allowed("", &allow));
    }

    #[test]
    fn github_paths_must_be_under_an_allowed_repo() {
        assert!(repo_allowed(
            "repos/villa/telemetry/pulls",
            "villa/telemetry"
        ));
        assert!(repo_allowed("repos/Villa/Telemetry", "villa/telemetry"));
        assert!(repo_allowed("repos/villa/other", "villa/*"));
        assert!(!repo_allowed("repos/villa/telemetry2", "villa/telemetry"));
        assert!(!repo_allowed("user/repos", "villa/telemetry"));
        assert!(!repo_allowed("repos/villa", "villa/*"));
    }

    #[test]
    fn sizes_and_text_are_formatted_for_people() {
        assert_eq!(format_bytes(32 * 1024 * 1024), "32 MiB");
        assert_eq!(format_bytes(64 * 1024), "64 KiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
        assert_eq!(truncate("héllo".into(), 4), "h…");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn panic_message_is_taken_from_rust_std_stderr() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:12:13:\nboom went\nthe plugin\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom went the plugin (at src/lib.rs:12:13)")
        );
        assert_eq!(panic_message("just noise\n"), None);
    }
}
