//! What a run produces, below everything that produces or reads it.
//!
//! Probes return an [`Observation`] and a [`Verdict`]; the runner turns them
//! into [`CheckResult`]s and, for the jobs that are not checks (drift, the CI
//! of each environment's commit, whether local HEAD is deployed), into
//! [`Comparison`]s, [`CommitCi`]s and booleans. The report is built from these
//! alone. Nothing here imports another module of this crate but the leaf
//! [`crate::units`] (one duration format for every text), so `plan`,
//! `condition`, `probe`, `runner` and `report` can all use these types while
//! data still flows one way: config → plan → runner → probe → report → render.

mod check;
mod ci;
mod deploy;
mod drift;
mod journey;
mod metrics;
mod run;
mod suspects;

pub use check::{
    Blame, CheckResult, CheckStatus, ErrorKind, Observation, Probed, Problem, Verdict,
};
pub use ci::{
    CiRun, CiStatus, CommitCi, GithubInfo, MAX_FAILING_NAME_CHARS, MAX_FAILING_NAMES, MAX_USUAL_S,
    MIN_RUNS_FOR_USUAL, Slow, failing_name, percentile,
};
pub use deploy::{DeploymentEntry, DeploymentHistory, deploy_durations, mark_superseded};
pub use drift::{CommitBrief, Comparison, Position, PullRequestBrief, same_commit, short_sha};
pub use journey::{Containment, ContainmentSource, JourneyAsk, JourneyFacts, Whereabouts};
pub use metrics::{Level, MetricResult, TableResult, Thresholds};
pub use run::{Deployed, RunResults};
pub use suspects::{SUSPECT_LIMIT, SuspectSource, Suspects, suspect_range};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[project]` facts carried into every output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ProjectInfo {
    /// Display name, e.g. "Villa".
    pub name: String,
    /// Subhead under the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// GitHub `owner/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}
