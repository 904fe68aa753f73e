//! "CI of the latest commit": the newest commit a workflow check ran on,
//! and every workflow's verdict on it, beside the CI of each environment's
//! commit. Derived from `ci` and `environments` alone (no I/O).

use crate::outcome::short_sha as short;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CiRun, CiStatus, CommitCi, Report};
use crate::outcome::same_commit;

/// The newest commit CI ran on, on the branch the workflow checks watch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LatestCommit {
    /// The branch of the newest workflow run; null when GitHub did not say.
    pub branch: Option<String>,
    /// Short sha of that run's commit.
    pub sha: String,
    /// The workflow checks' latest runs on this commit, by check id: each
    /// one's status (a check whose latest run is on another commit is not
    /// listed).
    pub runs: IndexMap<String, CiStatus>,
    /// The worst of `runs`: what "CI of the latest commit" answers.
    pub status: CiStatus,
    /// The combined status and check runs of this commit, when an
    /// environment runs it (its `environments.ID.ci`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CommitCi>,
    /// The environments that run this commit, in configured order.
    pub running_in: Vec<String>,
    /// The page of the worst run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The latest commit of `report`'s workflow runs, or none when no run
/// names a commit and a time.
pub fn latest_commit(report: &Report) -> Option<LatestCommit> {
    let newest = report
        .ci
        .values()
        .filter(|r| r.sha.is_some())
        .filter_map(|r| Some((created(r)?, r)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, r)| r)?;
    let sha = newest.sha.clone()?;
    let on_it = |r: &&CiRun| r.sha.as_deref().is_some_and(|s| same_commit(s, &sha));
    let runs: IndexMap<String, CiStatus> = report
        .ci
        .iter()
        .filter(|(_, r)| on_it(r))
        .map(|(id, r)| (id.clone(), r.status))
        .collect();
    let worst = report
        .ci
        .values()
        .filter(on_it)
        .max_by_key(|r| super::assess::ci_rank(r.status))
        .unwrap_or(newest);
    let running: Vec<_> = report
        .environments
        .iter()
        .filter(|(_, e)| e.sha.as_deref().is_some_and(|s| same_commit(s, &sha)))
        .collect();
    Some(LatestCommit {
        branch: newest.branch.clone(),
        sha: short(&sha).to_owned(),
        runs,
        status: worst.status,
        ci: running.iter().find_map(|(_, e)| e.ci.clone()),
        running_in: running.iter().map(|(id, _)| (*id).clone()).collect(),
        url: worst.url.clone(),
    })
}

fn created(r: &CiRun) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = r.created_at.as_deref()?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_commit_is_the_newest_runs_with_every_workflow_on_it() {
        let report = super::super::fixtures::fixture("warning_drift_ci_failed");
        let latest = latest_commit(&report).expect("the fixture has workflow runs");
        assert_eq!(latest.sha, "cbefe7c");
        assert_eq!(latest.status, CiStatus::Failure, "{latest:#?}");
        assert!(latest.runs.contains_key("ci"), "{latest:#?}");
        assert_eq!(latest.running_in, ["local", "staging"], "{latest:#?}");
        assert!(latest.ci.is_some(), "staging's commit CI: {latest:#?}");

        let mut none = report.clone();
        for r in none.ci.values_mut() {
            r.created_at = None;
        }
        assert_eq!(latest_commit(&none), None, "no time, no newest");
    }
}
