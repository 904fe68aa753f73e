//! Command line: parse arguments, run the pipeline, map outcomes to exit codes.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::DEFAULT_CONFIG;
use crate::error::ConfigError;
use crate::outcome::JourneyAsk;
use crate::plan::Plan;
use crate::render::{Format, RenderExtras, Renderer};
use crate::report::{Health, Report};
use crate::runner::Services;

pub mod actions;
pub mod gate;
pub mod r#where;

/// villa-telemetry: what each environment runs, whether they are in sync,
/// whether CI passed — for developers and AI agents.
#[derive(Debug, Parser)]
#[command(name = "villa-telemetry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every check once, print the report, exit with its status.
    Run(RunArgs),
    /// Serve the live dashboard and the JSON API (default 127.0.0.1:3003).
    Serve {
        /// Config file.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Address to listen on (overrides `[serve] listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Allow a non-loopback `--listen` address: the server has no
        /// authentication, so anyone who can reach it reads everything.
        #[arg(long)]
        allow_remote: bool,
    },
    /// Start a simulated world on loopback (three environments with drift, a
    /// failed CI run, a GitHub look-alike), print its report and serve its
    /// dashboard: every panel alive with zero setup.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3003")]
        listen: String,
        /// Allow a non-loopback `--listen` address (no authentication).
        #[arg(long)]
        allow_remote: bool,
        /// Which state the world is in.
        #[arg(long, value_enum, default_value = "drift")]
        scenario: crate::demo::world::Scenario,
        /// Print the report once and exit instead of serving.
        #[arg(long)]
        once: bool,
        /// Format of the printed report.
        #[arg(long, short, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write or inspect WASM check plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run a declared action (redeploy, promote, roll back): asks for its
    /// confirm word, sends it, records it in the audit log.
    Act(actions::ActArgs),
    /// List the declared actions and whether each is enabled now.
    Actions(actions::ActionsArgs),
    /// Print the latest entries of the actions audit log.
    Audit(actions::AuditArgs),
    /// Is promoting into `--env` safe now? Exit 0 yes (or nothing to
    /// promote), 1 not yet with each reason; `--wait 10m` polls until it is.
    Gate(gate::GateArgs),
    /// Where is a commit (local HEAD, a sha or `#PR`): pushed, its CI, and
    /// per environment live since when, or the deploy bringing it and when.
    Where(r#where::WhereArgs),
    /// Print the JSON Schema (draft 2020-12) of the JSON report, every
    /// status word with its meaning.
    Schema,
    /// Answer AI agents over MCP (Model Context Protocol) on stdin/stdout:
    /// read-only tools status, deployed, compare, ci, next_steps.
    Mcp {
        /// Config file.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate the configuration without running anything.
    Check {
        /// Config file.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Scaffold a plugin that builds as is with one command (cargo,
    /// componentize-py or componentize-js; its README says which).
    New {
        /// Plugin name, e.g. `disk-space`.
        name: String,
        /// Where to create the plugin's directory (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: PluginLang,
    },
    /// Print what a plugin's `describe` returns, the WIT it was built
    /// against and whether its compiled code came from the disk cache.
    Info {
        /// The .wasm component.
        file: PathBuf,
    },
}

/// `plugin new --lang`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PluginLang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Config file.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Only these environments (repeatable); global checks still run.
    #[arg(long = "env", value_name = "ID")]
    envs: Vec<String>,
    /// Lowest report status that exits non-zero.
    #[arg(long, value_enum, default_value = "failing")]
    fail_on: FailOn,
    /// Add the journey of a commit (local HEAD, or `SHA` / `#PR`): where it
    /// is live and since when; markdown prints it as a table for a PR comment.
    #[arg(long, value_name = "SHA|#PR", num_args = 0..=1, default_missing_value = "HEAD")]
    journey: Option<String>,
}

/// Which report status makes `run` exit non-zero.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOn {
    /// Exit 1 on a warning, 2 on failing.
    Warning,
    /// Exit 2 on failing only.
    Failing,
}

/// Exit codes of `run` (see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything healthy (or warnings without `--fail-on warning`).
    Healthy = 0,
    /// A warning, with `--fail-on warning`.
    Warning = 1,
    /// Something failing.
    Failing = 2,
    /// The configuration is invalid; nothing ran.
    Config = 3,
    /// The program could not go on (I/O, runtime).
    Internal = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The one colour decision: stderr is a terminal and `NO_COLOR` is unset
/// (<https://no-color.org>). Diagnostics and the progress bar both ask it.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = stderr_color();
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Check { config } => check(&config),
        Command::Schema => {
            print!("{}", crate::report::schema::report_schema_json());
            Ok(Exit::Healthy)
        }
        Command::Mcp { config } => mcp(&config),
        Command::Plugin(cmd) => plugin(cmd),
        Command::Act(args) => actions::act(args),
        Command::Actions(args) => actions::actions(args),
        Command::Audit(args) => actions::audit(args),
        Command::Gate(args) => gate::gate(args),
        Command::Where(args) => r#where::where_is(args),
        Command::Serve {
            config,
            listen,
            allow_remote,
        } => serve(&config, listen, allow_remote),
        Command::Demo {
            listen,
            allow_remote,
            scenario,
            once,
            format,
        } => demo(&listen, access(allow_remote), scenario, once, format),
    };
    match outcome {
        Ok(code) => code.into(),
        Err(Failure::Config(e)) => {
            eprint!("{}", e.render(color));
            Exit::Config.into()
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            Exit::Config.into()
        }
        Err(Failure::Internal(msg)) => {
            eprintln!("error: {msg}");
            Exit::Internal.into()
        }
    }
}

/// Why a command stopped.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration: exit 3.
    Config(ConfigError),
    /// Cannot go on: exit 4.
    Internal(InternalError),
    /// Wrong usage (port in use, unknown --env): exit 3.
    Usage(String),
}

/// Why a command cannot go on (exit 4), with the error underneath.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The async runtime did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The demo's look-alike upstreams did not start.
    #[error("cannot start the demo world: {0}")]
    DemoWorld(#[source] std::io::Error),
    /// `--output FILE` could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound socket has no address.
    #[error("{0}")]
    LocalAddr(#[source] std::io::Error),
    /// Templates did not load or a report did not render.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The server stopped with an error.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// The audit log cannot be found or read.
    #[error(transparent)]
    Audit(#[from] crate::action::audit::AuditError),
    /// A part that reports its failure as text: the plugin host, MCP over
    /// stdio, an action whose `sending` line could not be written.
    #[error("{0}")]
    Reported(String),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<InternalError> for Failure {
    fn from(e: InternalError) -> Self {
        Failure::Internal(e)
    }
}

pub use crate::pipeline::load_plan;

#[cfg(feature = "plugins")]
fn plugin(cmd: PluginCommand) -> Result<Exit, Failure> {
    use crate::probe::plugin;
    match cmd {
        PluginCommand::New { name, dir, lang } => {
            let lang = match lang {
                PluginLang::Rust => plugin::Lang::Rust,
                PluginLang::Python => plugin::Lang::Python,
                PluginLang::Js => plugin::Lang::Js,
            };
            let at = dir.join(&name);
            plugin::scaffold_lang(&name, &at, lang).map_err(|e| Failure::Usage(e.to_string()))?;
            println!("created {}", at.display());
            println!(
                "build it:  cd {} && {}",
                at.display(),
                lang.build_command(&name)
            );
            println!(
                "then:      villa-telemetry plugin info {}",
                at.join(lang.wasm_path(&name)).display()
            );
            Ok(Exit::Healthy)
        }
        PluginCommand::Info { file } => {
            let host = crate::probe::plugin::plugin_host().map_err(InternalError::Reported)?;
            let loaded = host
                .load(&file)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let described = runtime()?
                .block_on(host.describe(&loaded))
                .map_err(|e| Failure::Usage(format!("{}: describe failed: {e}", file.display())))?;
            println!("file: {}", file.display());
            println!(
                "wit:  villa:telemetry@{}",
                loaded.wit_version().unwrap_or("unknown")
            );
            println!("cache: {}", loaded.cache());
            if let (Some(dir), Some(usage)) = (host.cache_dir(), host.cache_usage()) {
                println!(
                    "cache dir: {} ({} entr{}, {:.1} MiB; entries unused for {} days go, then the least recently used past {} GiB)",
                    dir.display(),
                    usage.entries,
                    if usage.entries == 1 { "y" } else { "ies" },
                    usage.bytes as f64 / (1024.0 * 1024.0),
                    crate::probe::plugin::CACHE_UNUSED_DAYS,
                    crate::probe::plugin::CACHE_MAX_GIB,
                );
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&described).unwrap_or_else(|_| described.to_string())
            );
            Ok(Exit::Healthy)
        }
    }
}

#[cfg(not(feature = "plugins"))]
fn plugin(_cmd: PluginCommand) -> Result<Exit, Failure> {
    Err(Failure::Usage(
        "this build has no plugin support (rebuild with the default `plugins` feature)".into(),
    ))
}

fn check(path: &Path) -> Result<Exit, Failure> {
    let plan = load_plan(path)?;
    let envs = plan.environments.len();
    let jobs = plan.jobs.len();
    println!(
        "{}: ok — {} environment{}, {} check{} ({} to run)",
        path.display(),
        envs,
        if envs == 1 { "" } else { "s" },
        plan.checks.len(),
        if plan.checks.len() == 1 { "" } else { "s" },
        jobs
    );
    Ok(Exit::Healthy)
}

fn serve(path: &Path, listen: Option<String>, allow_remote: bool) -> Result<Exit, Failure> {
    let plan = load_plan(path)?;
    let listen = listen.unwrap_or_else(|| plan.settings.listen.clone());
    let access = access(allow_remote || plan.settings.allow_remote);
    serve_plan(plan, &listen, access)
}

/// MCP over stdio: the same pipeline and cache as `serve`, no socket.
/// Stdout carries the protocol, so nothing else may print there.
fn mcp(path: &Path) -> Result<Exit, Failure> {
    let plan = load_plan(path)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let services = Services::new(&plan);
        let renderer =
            Renderer::new(plan.settings.templates_dir.as_deref()).map_err(InternalError::Render)?;
        let listen = plan.settings.listen.clone();
        let state = crate::serve::AppState::new(plan, services, renderer, &listen);
        crate::serve::mcp::serve_stdio(state)
            .await
            .map_err(InternalError::Reported)?;
        Ok(Exit::Healthy)
    })
}

fn access(allow_remote: bool) -> crate::serve::Access {
    if allow_remote {
        crate::serve::Access::Remote
    } else {
        crate::serve::Access::Local
    }
}

/// Serves `plan` on `listen` until Ctrl-C; a port in use, or an address
/// beyond loopback without [`crate::serve::Access::Remote`], exits 3.
pub fn serve_plan(plan: Plan, listen: &str, access: crate::serve::Access) -> Result<Exit, Failure> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let services = Services::new(&plan);
        serve_async(plan, services, listen, access).await
    })
}

async fn serve_async(
    plan: Plan,
    services: Services,
    listen: &str,
    access: crate::serve::Access,
) -> Result<Exit, Failure> {
    let renderer =
        Renderer::new(plan.settings.templates_dir.as_deref()).map_err(InternalError::Render)?;
    let listener = crate::serve::bind(listen, access)
        .await
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let addr = listener.local_addr().map_err(InternalError::LocalAddr)?;
    let state = crate::serve::AppState::new(plan, services, renderer, &addr.to_string());
    crate::serve::serve(listener, state)
        .await
        .map_err(InternalError::Serve)?;
    Ok(Exit::Healthy)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Runtime::new().map_err(InternalError::Runtime)?)
}

fn demo(
    listen: &str,
    access: crate::serve::Access,
    scenario: crate::demo::world::Scenario,
    once: bool,
    format: Format,
) -> Result<Exit, Failure> {
    let dir = std::env::temp_dir().join(format!("villa-telemetry-demo-{}", std::process::id()));
    let runtime = runtime()?;
    let outcome = runtime.block_on(async {
        let world = crate::demo::world::World::start(scenario, &dir)
            .await
            .map_err(InternalError::DemoWorld)?;
        let plan = load_plan(&world.config_path)?;
        // The look-alike is not GitHub: never send it a real token.
        let services = Services::with_token(&plan, None);
        let renderer = Renderer::new(None).map_err(InternalError::Render)?;
        let report = run_with(&plan, &services).await;
        let text = renderer
            .render(format, &report, &RenderExtras::default())
            .map_err(InternalError::Render)?;
        print!("{text}");
        let _ = std::io::stdout().flush();
        if once {
            return Ok(exit_for(&report, false));
        }
        eprintln!(
            "villa-telemetry: demo world on loopback ({scenario:?}); config written to {}",
            world.config_path.display()
        );
        let result = serve_async(plan, services, listen, access).await;
        drop(world);
        result
    });
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run(args: RunArgs) -> Result<Exit, Failure> {
    let mut plan = load_plan(&args.config)?;
    for e in &args.envs {
        if !plan.environments.iter().any(|x| &x.id == e) {
            let known: Vec<&str> = plan.environments.iter().map(|x| x.id.as_str()).collect();
            return Err(Failure::Usage(format!(
                "--env {e}: no such environment (known: {})",
                known.join(", ")
            )));
        }
    }
    plan.restrict_to(&args.envs);
    let journey = args
        .journey
        .as_deref()
        .map(|a| {
            JourneyAsk::parse(Some(a)).map_err(|why| Failure::Usage(format!("--journey: {why}")))
        })
        .transpose()?;
    // JSON needs no templates: agents calling `run` in a loop skip compiling them.
    let renderer = match args.format {
        Format::Json => None,
        _ => Some(
            Renderer::new(plan.settings.templates_dir.as_deref()).map_err(InternalError::Render)?,
        ),
    };
    let report = runtime()?.block_on(async {
        let services = Services::new(&plan);
        let mut report = run_with(&plan, &services).await;
        if let Some(ask) = journey {
            report.journey =
                Some(crate::pipeline::journey(&plan, &services, &mut report, ask).await);
        }
        report
    });
    let text = match &renderer {
        None => crate::render::to_json(&report),
        Some(r) => r
            .render(args.format, &report, &RenderExtras::default())
            .map_err(InternalError::Render)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|source| InternalError::Output {
            path: path.clone(),
            source,
        })?,
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    Ok(exit_for(&report, matches!(args.fail_on, FailOn::Warning)))
}

/// Runs every check once and builds the report, with a progress bar on a
/// terminal.
pub async fn run_once(plan: &Plan) -> Report {
    run_with(plan, &Services::new(plan)).await
}

/// As [`run_once`], with clients already made.
pub async fn run_with(plan: &Plan, services: &Services) -> Report {
    let bar = progress_bar(plan.jobs.len());
    let tick = |done: usize, _total: usize| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let report = crate::pipeline::run(plan, services, Some(&tick)).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    report
}

fn progress_bar(total: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = if stderr_color() {
        "{spinner:.magenta} checking {pos}/{len} {wide_bar:.magenta/dim}"
    } else {
        "{spinner} checking {pos}/{len}"
    };
    bar.set_style(indicatif::ProgressStyle::with_template(style).expect("valid template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(80));
    Some(bar)
}

/// Exit code for a report.
pub fn exit_for(report: &Report, fail_on_warning: bool) -> Exit {
    match report.status {
        Health::Failing => Exit::Failing,
        Health::Warning if fail_on_warning => Exit::Warning,
        _ => Exit::Healthy,
    }
}
