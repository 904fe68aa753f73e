//! What callers hand a plugin run and what they get back.

use std::path::PathBuf;
use std::time::Duration;

use crate::redact::Redactor;

use super::bindings::villa::telemetry::types;
use crate::probe::github::GithubClient;

/// The WIT package plugins must be built against.
pub const WIT_PACKAGE: &str = "villa:telemetry@0.1.0";
/// Default per-run wall-clock budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default cap on a plugin's linear memory.
pub const DEFAULT_MEMORY_BYTES: u64 = 32 * 1024 * 1024;
/// Default cap on an `http-fetch` / `github-get` response body.
pub const DEFAULT_BODY_CAP: usize = 1024 * 1024;

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
    /// The process's GitHub client, shared with the GitHub probe: the same
    /// ETag cache, rate-limit block and token, which the plugin never sees.
    /// `None` makes every `github-get` fail.
    pub github: Option<GithubClient>,
    /// Largest response body a plugin may receive.
    pub body_cap: usize,
    /// The run's secrets: taken out of what the plugin reports (before any
    /// cut) and out of `github-get` answers.
    pub redactor: Redactor,
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
            redactor: Redactor::default(),
        }
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

/// Where a loaded plugin's compiled code came from; `plugin info` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No disk cache (turned off, or no home directory): compiled in this process.
    Off {
        /// Time spent compiling.
        compile: Duration,
    },
    /// Loaded from a verified entry: no compile.
    Hit {
        /// The entry's file.
        entry: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Compiled in this process, because there was no usable entry.
    Miss {
        /// The entry's file.
        entry: PathBuf,
        /// Why an entry that was there was ignored (corrupt, foreign, a link).
        rejected: Option<String>,
        /// Time spent compiling.
        compile: Duration,
        /// The size of the entry written, or why none could be.
        stored: Result<u64, String>,
        /// Old entries removed to make room (after a successful store).
        pruned: Pruned,
    },
}

impl CacheStatus {
    /// Whether the compiled code came from disk.
    pub fn is_hit(&self) -> bool {
        matches!(self, Self::Hit { .. })
    }
}

/// `12.3 MiB`: cache entries are never round numbers.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |d: &Duration| format!("{:.2} s", d.as_secs_f64());
        match self {
            Self::Off { compile } => write!(f, "off (compiled in {})", secs(compile)),
            Self::Hit { entry, bytes } => {
                write!(f, "hit, {} ({})", entry.display(), mib(*bytes))
            }
            Self::Miss {
                entry,
                rejected,
                compile,
                stored,
                pruned,
            } => {
                write!(f, "miss, compiled in {}", secs(compile))?;
                if let Some(why) = rejected {
                    write!(f, " (ignored the old entry: {why})")?;
                }
                match stored {
                    Ok(bytes) => write!(f, "; stored {} ({})", entry.display(), mib(*bytes))?,
                    Err(why) => write!(f, "; not stored: {why}")?,
                }
                if pruned.entries > 0 {
                    write!(
                        f,
                        "; removed {} old entr{} ({})",
                        pruned.entries,
                        if pruned.entries == 1 { "y" } else { "ies" },
                        mib(pruned.bytes)
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// What pruning the disk cache removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries (and dead temporary files) removed.
    pub entries: usize,
    /// Their total size.
    pub bytes: u64,
}

/// The entries in the disk cache's directory now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// How many entries there are.
    pub entries: usize,
    /// Their total size.
    pub bytes: u64,
}

/// How loads fared against the disk cache since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Loaded from a verified entry.
    pub hits: u64,
    /// Compiled (no entry, or one that was rejected).
    pub misses: u64,
    /// Entries found but not trusted (a subset of `misses`).
    pub rejected: u64,
}
