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

/// The journey of the commit `ask` names through `report`'s environments
/// (issue 21): the runner's lookups under `[run] timeout`, then the pure
/// [`report::journey::journey`]. The lookups' GitHub requests are added to
/// `report.github`, so a report with a journey counts what it cost.
pub async fn journey(
    plan: &Plan,
    services: &Services,
    report: &mut Report,
    ask: crate::outcome::JourneyAsk,
) -> report::journey::Journey {
    let places = report::journey::whereabouts(report);
    let facts = runner::journey(plan, services, ask, &places).await;
    if let (Some(total), Some(spent)) = (report.github.as_mut(), facts.github.as_ref()) {
        total.requests += spent.requests;
        total.not_modified += spent.not_modified;
        total.rate_limit_points += spent.rate_limit_points;
        if spent.rate_limit_remaining.is_some() {
            total.rate_limit_remaining = spent.rate_limit_remaining;
            total.rate_limit_reset = spent.rate_limit_reset;
        }
    }
    report::journey::journey(report, &facts, chrono::Utc::now())
}
