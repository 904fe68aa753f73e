//! The one sequence every command runs: config → plan → run → report.
//!
//! `run`, `serve` (on every refresh) and `demo` all go through here, so
//! what a report contains never depends on which command asked for it.

use std::path::Path;

use crate::config::{Config, DEFAULT_CONFIG};
use crate::error::{ConfigError, Unreadable};
use crate::plan::{self, Plan};
use crate::probe;
use crate::report::{self, Report};
use crate::runner::{self, Progress, Services};

/// Reads the config at `path` and makes it a plan, with every plugin
/// compiled: a config that cannot run is an error before anything runs.
pub fn load_plan(path: &Path) -> Result<Plan, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            why: Unreadable::Missing {
                default: DEFAULT_CONFIG,
            },
        });
    }
    let plan = plan::build(Config::load(path)?)?;
    probe::load_plugins(&plan)?;
    Ok(plan)
}

/// Runs every check and upstream lookup of `plan` once and builds the
/// report; `progress` hears about each finished check.
pub async fn run(plan: &Plan, services: &Services, progress: Option<Progress<'_>>) -> Report {
    report::build(plan, runner::run(plan, services, progress).await)
}
