//! Everything one run learned, the only input of the report besides the plan.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use super::{CheckResult, CommitCi, Comparison, DeploymentHistory, GithubInfo, Suspects};

/// What one run found out: every check's result and the answers of the
/// upstream jobs the runner schedules after them (drift, each environment's
/// commit CI, whether local HEAD is deployed).
#[derive(Debug, Clone, PartialEq)]
pub struct RunResults {
    /// One per plan job, in job order (check id, then environment).
    pub checks: Vec<CheckResult>,
    /// Drift of each environment that runs a different commit than the one
    /// it tracks, keyed by the tracking environment's id. Pairs with the same
    /// commit or an unknown sha need no upstream call and are absent.
    pub drift: IndexMap<String, Comparison>,
    /// CI of the exact commit each environment runs, keyed by environment
    /// id; present for every environment with a sha when GitHub is used.
    pub commit_ci: IndexMap<String, CommitCi>,
    /// Whether local HEAD is in what each environment runs, keyed by
    /// environment id; present when both shas are known.
    pub deployed: IndexMap<String, Deployed>,
    /// The last GitHub deployments of each environment that has a
    /// `github = { deployment = … }` check, keyed by environment id; empty
    /// with `[github] history = 0`.
    pub deployments: IndexMap<String, DeploymentHistory>,
    /// The commits between each environment's last good deployment and
    /// its newest one, keyed by environment id; present when the two differ.
    pub suspects: IndexMap<String, Suspects>,
    /// GitHub requests this run spent; None when the plan has no GitHub check.
    pub github: Option<GithubInfo>,
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
}

/// The answer to "is local HEAD in what this environment runs?".
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The answer, or why there is none (a timeout names what it waited for).
    pub contained: Result<bool, String>,
    /// git said your clone does not have the environment's commit (so the
    /// answer, if any, came from GitHub): said once in the assessment, not
    /// in every environment's reason.
    pub missing_in_clone: bool,
    /// Wall time of the lookup.
    pub duration_ms: u64,
}
