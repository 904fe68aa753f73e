//! `villa-telemetry where [SHA|#PR]`: where a commit is (issue 21). Runs
//! the checks as `run` does, then the journey's lookups, and prints a line
//! on the commit and one per environment: "staging: live since 14:02
//! (deploy #812)", "production: not yet, expected ~14:20 (deploy #813)".

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{Exit, Failure, load_plan, run_with, runtime};
use crate::config::DEFAULT_CONFIG;
use crate::outcome::JourneyAsk;
use crate::report::journey::lines;
use crate::runner::Services;

/// `where [SHA|#PR] [--config FILE] [--format text|json]`.
#[derive(Debug, clap::Args)]
pub struct WhereArgs {
    /// The commit (7 to 40 hex digits) or `#PR` (its head commit); local
    /// HEAD when left out.
    #[arg(value_name = "SHA|#PR")]
    pub commit: Option<String>,
    /// Config file.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub format: WhereFormat,
}

/// How the journey is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WhereFormat {
    /// A line on the commit, then one line per environment.
    Text,
    /// The journey as JSON (the report's `journey`).
    Json,
}

/// Exit 0 with an answer (live, arriving or not yet), 2 when the commit
/// cannot be found (no HEAD to read, an unknown pull request), 3 for a bad
/// argument or config, 4 when the program cannot go on.
pub fn where_is(args: WhereArgs) -> Result<Exit, Failure> {
    let ask = JourneyAsk::parse(args.commit.as_deref())
        .map_err(|why| Failure::Usage(format!("where: {why}")))?;
    let plan = load_plan(&args.config)?;
    let services = Services::new(&plan);
    let journey = runtime()?.block_on(async {
        let mut report = run_with(&plan, &services).await;
        crate::pipeline::journey(&plan, &services, &mut report, ask).await
    });
    let text = match args.format {
        WhereFormat::Json => {
            let mut s = serde_json::to_string_pretty(&journey).expect("a journey serializes");
            s.push('\n');
            s
        }
        WhereFormat::Text => lines(&journey),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(if journey.sha.is_some() {
        Exit::Healthy
    } else {
        Exit::Failing
    })
}
