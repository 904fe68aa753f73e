//! The engine: compiling plugins once, and running each call in a fresh store under a deadline.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::redact::Redactor;

use super::api::{
    CacheCounts, CacheStatus, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT, PluginError, PluginOutcome,
    PluginRequest, Pruned, Usage,
};
use super::bindings::{self, villa::telemetry::types};
use super::cache::{DiskCache, Lookup};
use super::net::Net;
use super::output::{MAX_SUMMARY, failure_reason, timeout_reason, truncate, validate_output};
use super::sandbox::{Capture, HostState, Limiter, Limits, STDIO_CAP};
use crate::units::ByteSize;

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

/// A compiled, type-checked plugin; running it only instantiates.
pub struct LoadedPlugin {
    path: PathBuf,
    digest: [u8; 32],
    wit_version: Option<String>,
    cache: CacheStatus,
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

    /// Whether its compiled code came from the disk cache, or was compiled.
    pub fn cache(&self) -> &CacheStatus {
        &self.cache
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

/// Loads and runs plugins. Create one per process and share it.
pub struct PluginHost {
    engine: Engine,
    ticker: Arc<Ticker>,
    linker: Linker<HostState>,
    cache: Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>>,
    disk: Option<DiskCache>,
    counts: Counts,
    progress: bool,
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
}

impl PluginHost {
    /// Sets up the engine and starts the epoch ticker thread; compiled
    /// plugins are kept in memory only.
    pub fn new() -> Result<Self, PluginError> {
        Self::with_cache_dir(None)
    }

    /// Like [`PluginHost::new`], with compiled plugins also kept in `dir`
    /// (created 0700 when first written), so another process loading the
    /// same component with the same engine skips the compile.
    pub fn with_cache_dir(dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let engine_err = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config).map_err(engine_err)?;

        // A dedicated OS thread, not a tokio task: guests spinning on every
        // worker thread would starve a task, no tick would fire and nothing
        // would ever time out (a ticker on a tokio task hangs exactly so). The
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
        let disk = dir.map(|d| DiskCache::new(d, &engine));
        Ok(Self {
            engine,
            ticker,
            linker,
            cache: Mutex::new(HashMap::new()),
            disk,
            counts: Counts::default(),
            progress: false,
        })
    }

    /// Says on stderr when a plugin is compiled (it can take seconds): for
    /// a person at a terminal, so only set when stderr is one.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The disk cache's directory, if there is one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskCache::dir)
    }

    /// How many entries the disk cache holds and their size, if there is one.
    pub fn cache_usage(&self) -> Option<Usage> {
        self.disk.as_ref().map(DiskCache::usage)
    }

    /// Hits and misses of the disk cache so far.
    pub fn cache_counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.counts.hits.load(Ordering::Relaxed),
            misses: self.counts.misses.load(Ordering::Relaxed),
            rejected: self.counts.rejected.load(Ordering::Relaxed),
        }
    }

    /// Reads, compiles and type-checks a plugin (CPU-heavy and blocking: call
    /// it from `spawn_blocking`). Compiled plugins are kept by canonical
    /// path and content, so loading an unchanged file again is cheap, and
    /// in the disk cache, if there is one, for the next process.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let path = std::fs::canonicalize(path).map_err(|source| PluginError::Read {
            path: path.to_owned(),
            source,
        })?;
        let bytes = std::fs::read(&path).map_err(|source| PluginError::Read {
            path: path.clone(),
            source,
        })?;
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            && hit.digest == digest
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
        let (component, cache) = self.compiled(&path, &bytes, &digest)?;
        let (wit_version, pre) = self.type_check(&path, &component)?;
        let loaded = Arc::new(LoadedPlugin {
            path: path.clone(),
            digest,
            wit_version,
            cache,
            pre,
        });
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path, loaded.clone());
        Ok(loaded)
    }

    /// The component from the disk cache, or compiled (and then stored).
    fn compiled(
        &self,
        path: &Path,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, CacheStatus), PluginError> {
        let key = self.disk.as_ref().map(|d| d.key(digest));
        let mut rejected = None;
        if let (Some(disk), Some(key)) = (&self.disk, &key) {
            match disk.lookup(&self.engine, key) {
                Lookup::Hit(component, size) => {
                    self.counts.hits.fetch_add(1, Ordering::Relaxed);
                    let entry = disk.path(key);
                    return Ok((component, CacheStatus::Hit { entry, bytes: size }));
                }
                Lookup::Miss => {}
                Lookup::Rejected(why) => {
                    self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                    rejected = Some(why);
                }
            }
        }
        self.counts.misses.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        if self.progress {
            let name = path
                .file_name()
                .unwrap_or(path.as_os_str())
                .to_string_lossy();
            let mut err = std::io::stderr().lock();
            let size = match bytes.len() {
                n if n < 1 << 20 => format!("{} KiB", n.div_ceil(1024)),
                n => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
            };
            let _ = write!(
                err,
                "compiling plugin {name} ({size}), once: later runs load it from the cache... "
            );
            let _ = err.flush();
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        });
        let compile = start.elapsed();
        if self.progress {
            eprintln!("{:.1} s", compile.as_secs_f64());
        }
        let component = component?;
        let status = match (&self.disk, &key) {
            (Some(disk), Some(key)) => {
                let stored = disk.store(key, &component);
                let pruned = match stored {
                    Ok(_) => disk.prune(key, std::time::SystemTime::now()),
                    Err(_) => Pruned::default(),
                };
                CacheStatus::Miss {
                    entry: disk.path(key),
                    rejected,
                    compile,
                    stored,
                    pruned,
                }
            }
            _ => CacheStatus::Off { compile },
        };
        Ok((component, status))
    }

    /// Checks the component's exports and imports against the world.
    fn type_check(
        &self,
        path: &Path,
        component: &Component,
    ) -> Result<(Option<String>, bindings::CheckPluginPre<HostState>), PluginError> {
        let incompatible = |reason: String| PluginError::Incompatible {
            path: path.to_owned(),
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
            .linker_for(component)
            .map_err(|e| incompatible(format!("{e:#}")))?
            .instantiate_pre(component)
            .map_err(|e| incompatible(format!("{e:#}")))?;
        let pre = bindings::CheckPluginPre::new(pre).map_err(|e| incompatible(format!("{e:#}")))?;
        Ok((wit_version, pre))
    }

    /// The linker, or for a component that imports `wasi:http` (a
    /// componentize-js one: its engine imports the interface even when its
    /// `fetch` is disabled) a copy in which every `wasi:http` function traps.
    /// Plugins reach the network only through `http-fetch`, which checks the
    /// allowlist; any other unknown import still fails the load.
    fn linker_for(
        &self,
        component: &Component,
    ) -> wasmtime::Result<std::borrow::Cow<'_, Linker<HostState>>> {
        use wasmtime::component::types::ComponentItem;
        let ty = component.component_type();
        let http: Vec<_> = ty
            .imports(&self.engine)
            .filter(|(name, _)| name.starts_with("wasi:http/"))
            .collect();
        if http.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(&self.linker));
        }
        let mut linker = self.linker.clone();
        for (name, item) in http {
            let ComponentItem::ComponentInstance(instance) = item.ty else {
                continue;
            };
            let mut stub = linker.instance(name)?;
            for (export, item) in instance.exports(&self.engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(_) => {
                        let what = format!("{name}#{export}");
                        stub.func_new(export, move |_, _, _, _| {
                            wasmtime::bail!(
                                "{what}: wasi:http is not available to plugins; use http-fetch (allow.http)"
                            )
                        })?;
                    }
                    ComponentItem::Resource(_) => {
                        use wasmtime::component::ResourceType;
                        use wasmtime_wasi::p2::{
                            DynInputStream, DynOutputStream, DynPollable, IoError,
                        };
                        // wasi:io's resources, re-used by wasi:http/types,
                        // are the ones the WASI linker already has.
                        let ty = match export {
                            "input-stream" => ResourceType::host::<DynInputStream>(),
                            "output-stream" => ResourceType::host::<DynOutputStream>(),
                            "pollable" => ResourceType::host::<DynPollable>(),
                            "io-error" | "error" => ResourceType::host::<IoError>(),
                            _ => ResourceType::host::<NoHttp>(),
                        };
                        stub.resource(export, ty, |_, _| Ok(()))?;
                    }
                    _ => {}
                }
            }
        }
        Ok(std::borrow::Cow::Owned(linker))
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
        let redactor = req.redactor.clone();
        let net = Net {
            allow_http: req.allow_http,
            allow_github: req.allow_github,
            http: Some(req.http),
            github: req.github,
            body_cap: req.body_cap,
            deadline: Instant::now() + req.timeout,
            redactor: req.redactor,
        };
        let (result, log, duration) = self
            .invoke(plugin, limits, env, net, Call::Run(input))
            .await;
        let result = result.and_then(|r| match r {
            Returned::Run(Ok(out)) => validate_output(out, &redactor),
            Returned::Run(Err(msg)) => {
                Err(truncate(redactor.redact(&msg).into_owned(), MAX_SUMMARY))
            }
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
            redactor: Redactor::default(),
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
        // Redacted before the cuts below (failure reasons keep a tail of
        // stderr); the capture cap may have cut a secret in a stream's last
        // line, so a cut stream loses that line.
        let redactor = store.data().net.redactor.clone();
        let cut = truncated.load(Ordering::Relaxed);
        let captured = |c: &Capture| {
            let mut text = c.text();
            if cut && !text.ends_with('\n') {
                text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
            }
            redactor.redact(&text).into_owned()
        };
        let stdout_text = captured(&stdout);
        let stderr_text = captured(&stderr);
        let result = match outcome {
            Err(_elapsed) => Err(timeout_reason(limits.timeout)),
            // A host call cut short by the deadline lets the guest return
            // just after it; an answer past the deadline is still late.
            Ok(Ok(_)) if duration >= limits.timeout => Err(timeout_reason(limits.timeout)),
            // A guest whose runtime catches the refused grow (SpiderMonkey
            // throws "out of memory") answers with an error; the limiter
            // knows the cause, so the reason says it.
            Ok(Ok(Returned::Run(Err(msg)))) if store.data().limiter.memory_exceeded => {
                Ok(Returned::Run(Err(format!(
                    "plugin exceeded memory limit {}; it said: {msg}",
                    ByteSize::bytes(limits.memory_bytes)
                ))))
            }
            Ok(Ok(returned)) => Ok(returned),
            Ok(Err(err)) => Err(failure_reason(
                &err,
                store.data().limiter.memory_exceeded,
                &limits,
                &stderr_text,
            )),
        };
        let mut log = std::mem::take(&mut store.data_mut().log);
        for (stream, text) in [("stdout", stdout_text), ("stderr", stderr_text)] {
            log.extend(text.lines().map(|line| format!("{stream}: {line}")));
        }
        if truncated.load(Ordering::Relaxed) {
            log.push(format!(
                "(plugin output truncated at {})",
                ByteSize::from(STDIO_CAP)
            ));
        }
        (result, log, duration)
    }
}

/// The host type behind the trapping `wasi:http` resources: never created.
struct NoHttp;

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

enum Call {
    Run(types::CheckInput),
    Describe,
}

enum Returned {
    Run(Result<types::CheckOutput, String>),
    Describe(String),
}
