//! `villa-telemetry gate --env ENV [--wait DUR]`: the promotion gate for CI
//! pipelines (issue 21). Runs the checks as `run` does, decides with
//! [`crate::report::gate::gate`], and with `--wait` polls until it passes,
//! as Argo CD's `app wait` does.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use super::{Exit, Failure, load_plan, run_with, runtime};
use crate::config::DEFAULT_CONFIG;
use crate::report::gate::{Gate, gate as decide};
use crate::runner::Services;

/// `gate --env ENV [--config FILE] [--wait DUR] [--format text|json]`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// The environment to promote into; it must `tracks` the one promoted from.
    #[arg(long = "env", value_name = "ENV")]
    pub env: String,
    /// Config file.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Re-run every `[serve] refresh` until the gate passes or this much
    /// time has gone by ("10m", "90s"); without it the gate decides once.
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<humantime::Duration>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub format: GateFormat,
}

/// How the gate's answer is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GateFormat {
    /// The verdict, then one reason (or one promoted commit) a line.
    Text,
    /// The [`Gate`] as JSON.
    Json,
}

/// Exit 0 when promoting is safe now (or there is nothing to promote), 1
/// when it is not, 3 when `--env` is unknown or tracks nothing.
pub fn gate(args: GateArgs) -> Result<Exit, Failure> {
    let mut plan = load_plan(&args.config)?;
    let target = args.env.clone();
    let Some(env) = plan.environments.iter().find(|e| e.id == target) else {
        let known: Vec<&str> = plan.environments.iter().map(|x| x.id.as_str()).collect();
        return Err(Failure::Usage(format!(
            "--env {target}: no such environment (known: {})",
            known.join(", ")
        )));
    };
    let Some(source) = env.tracks.clone() else {
        return Err(Failure::Usage(format!(
            "--env {target}: `{target}` has no `tracks`, so there is nothing to promote from; \
             set `tracks = \"ENV\"` on it in {}",
            args.config.display()
        )));
    };
    // Only the two environments decide; other environments' checks would
    // only cost time on every poll.
    plan.restrict_to(&[source, target.clone()]);
    let wait: Duration = args.wait.map(Into::into).unwrap_or_default();
    let every = plan.settings.refresh;
    let deadline = Instant::now() + wait;
    let services = Services::new(&plan);
    let answer = runtime()?.block_on(async {
        loop {
            let report = run_with(&plan, &services).await;
            let g = decide(&report, &target);
            let now = Instant::now();
            if g.pass || now >= deadline {
                return g;
            }
            let pause = every.min(deadline - now);
            eprintln!(
                "villa-telemetry gate: {}; checking again in {}",
                g.verdict,
                humantime::format_duration(Duration::from_secs(pause.as_secs().max(1)))
            );
            tokio::time::sleep(pause).await;
        }
    });
    let text = match args.format {
        GateFormat::Json => {
            let mut s = serde_json::to_string_pretty(&answer).expect("a gate serializes");
            s.push('\n');
            s
        }
        GateFormat::Text => text(&answer),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    // 1 is `run`'s "warning" code: here "not yet", never a config error.
    Ok(if answer.pass {
        Exit::Healthy
    } else {
        Exit::Warning
    })
}

/// The verdict line, then each reason (or each commit promoted) a line.
fn text(g: &Gate) -> String {
    let mut s = format!("{}\n", g.verdict);
    for r in &g.reasons {
        s.push_str(&format!("- {}\n", r.sentence));
    }
    for c in &g.commits {
        let by = c
            .author
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        s.push_str(&format!("  {} {}{by}\n", c.sha, c.message));
    }
    s
}
