//! Rollback targets: which deployments of an environment's history an
//! action with `target = "deployment"` may go back to, and finding the one
//! a person named by its id or its sha.
//!
//! A deployment is a target when it once went live — its newest status is
//! `success`, or `inactive` (GitHub's word for a success that a later
//! deployment replaced) — and it is not what runs now. What runs now is
//! every entry whose sha the environment reports (`current`); when the
//! environment reports no sha, it is the newest `success` (what GitHub
//! considers deployed, and what the report shows as last known). Failed,
//! errored and unfinished deployments never ran, so they are never offered.

use serde::{Deserialize, Serialize};

use crate::outcome::DeploymentEntry;
use crate::report::Report;

/// The deployment an attempt aims at, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRef {
    /// GitHub's deployment id.
    pub id: u64,
    /// Its commit.
    pub sha: String,
}

impl From<&DeploymentEntry> for DeploymentRef {
    fn from(d: &DeploymentEntry) -> Self {
        DeploymentRef {
            id: d.id,
            sha: d.sha.clone(),
        }
    }
}

/// Why no deployment was picked: the deployment was not found, is
/// ambiguous, or cannot be rolled back to (then it is named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotATarget {
    /// What a person reads.
    pub message: String,
    /// The deployment that was found but cannot be rolled back to.
    pub deployment: Option<DeploymentRef>,
}

impl NotATarget {
    fn new(message: String) -> Self {
        NotATarget {
            message,
            deployment: None,
        }
    }
}

/// The index of the entry that runs now when the environment reports no
/// sha: its newest successful deployment.
fn assumed_live(entries: &[DeploymentEntry]) -> Option<usize> {
    if entries.iter().any(|e| e.current.is_some()) {
        return None;
    }
    entries.iter().position(DeploymentEntry::succeeded)
}

/// Why entry `i` of `entries` cannot be rolled back to; `None` when it can.
pub fn why_not(entries: &[DeploymentEntry], i: usize) -> Option<String> {
    let e = entries.get(i)?;
    let live = assumed_live(entries);
    let live_sha = live.map(|l| entries[l].sha.as_str());
    if e.current == Some(true) {
        return Some("it is the commit this environment runs now".into());
    }
    if live == Some(i) {
        return Some(
            "it is the newest successful deployment, so taken as what runs now (the environment reports no sha)"
                .into(),
        );
    }
    match e.state.as_str() {
        "success" | "inactive" if live_sha == Some(e.sha.as_str()) => Some(
            "it deployed the same commit as the newest successful deployment, which is taken as what runs now"
                .into(),
        ),
        "success" | "inactive" => None,
        "failure" | "error" => Some(format!(
            "its deployment ended in `{}`: it never went live",
            e.state
        )),
        other => Some(format!(
            "it has not finished (state `{other}`): it never went live"
        )),
    }
}

/// The deployments of `env` in `report` that can be rolled back to, newest
/// first; `Err` says why there are none.
pub fn targets<'a>(report: &'a Report, env: &str) -> Result<Vec<&'a DeploymentEntry>, String> {
    let Some(e) = report.environments.get(env) else {
        return Err(format!("environment `{env}` is not in this report"));
    };
    let list = &e.deployments;
    let found: Vec<&DeploymentEntry> = (0..list.len())
        .filter(|&i| why_not(list, i).is_none())
        .map(|i| &list[i])
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    Err(match (&e.deployments_error, list.is_empty()) {
        (Some(err), _) => format!("the deployment history of {env} could not be read: {err}"),
        (None, true) => format!("GitHub lists no deployments of {env}"),
        (None, false) => format!(
            "none of the last {} deployments of {env} can be rolled back to (each is running now, failed or unfinished)",
            list.len()
        ),
    })
}

/// One line naming a deployment: `2 (53004a6, success, main)`.
pub fn label(d: &DeploymentEntry) -> String {
    format!(
        "{} ({}, {}, {})",
        d.id,
        d.sha.get(..7).unwrap_or(&d.sha),
        d.state,
        d.git_ref
    )
}

/// The deployment of `env` that `asked` names — its id (`2`, `#2`) or
/// (a prefix of at least 7 characters of) its sha — if it can be rolled
/// back to. An id wins over a sha prefix made of digits only.
pub fn pick<'a>(
    report: &'a Report,
    env: &str,
    asked: &str,
) -> Result<&'a DeploymentEntry, NotATarget> {
    let list = report
        .environments
        .get(env)
        .map_or(&[][..], |e| e.deployments.as_slice());
    let wanted = asked.trim().trim_start_matches('#').to_ascii_lowercase();
    let eligible = || match targets(report, env) {
        Ok(t) => format!(
            "; it can go back to {}",
            t.iter().map(|d| label(d)).collect::<Vec<_>>().join(", ")
        ),
        Err(why) => format!("; {why}"),
    };
    let by_id = wanted
        .parse::<u64>()
        .ok()
        .and_then(|id| list.iter().position(|d| d.id == id));
    let index = match by_id {
        Some(i) => i,
        None => {
            let hex = wanted.len() >= 7 && wanted.chars().all(|c| c.is_ascii_hexdigit());
            let matching: Vec<usize> = (0..list.len())
                .filter(|&i| hex && list[i].sha.to_ascii_lowercase().starts_with(&wanted))
                .collect();
            let mut shas: Vec<&str> = matching.iter().map(|&i| list[i].sha.as_str()).collect();
            shas.sort_unstable();
            shas.dedup();
            if shas.len() > 1 {
                return Err(NotATarget::new(format!(
                    "`{asked}` names more than one commit ({}): give more of the sha or the deployment id",
                    shas.join(", ")
                )));
            }
            // The same commit deployed twice: the newest eligible one.
            match matching
                .iter()
                .copied()
                .find(|&i| why_not(list, i).is_none())
                .or_else(|| matching.first().copied())
            {
                Some(i) => i,
                None => {
                    return Err(NotATarget::new(format!(
                        "no deployment `{asked}` among the last {} of {env} (give its id or at least 7 characters of its sha){}",
                        list.len(),
                        eligible()
                    )));
                }
            }
        }
    };
    let d = &list[index];
    match why_not(list, index) {
        None => Ok(d),
        Some(why) => Err(NotATarget {
            message: format!(
                "cannot roll {env} back to deployment {}: {why}{}",
                label(d),
                eligible()
            ),
            deployment: Some(d.into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, sha: &str, state: &str, current: Option<bool>) -> DeploymentEntry {
        DeploymentEntry {
            id,
            state: state.into(),
            sha: sha.into(),
            git_ref: "main".into(),
            creator: None,
            created_at: "2026-01-20T09:00:00Z".into(),
            updated_at: "2026-01-20T09:00:00Z".into(),
            environment_url: None,
            log_url: None,
            current,
            superseded: false,
        }
    }

    #[test]
    fn only_earlier_deployments_that_went_live_are_targets() {
        let list = [
            entry(5, "eeeeeee1", "queued", Some(false)),
            entry(4, "ddddddd1", "failure", Some(false)),
            entry(3, "ccccccc1", "success", Some(true)),
            entry(2, "bbbbbbb1", "inactive", Some(false)),
            entry(1, "ccccccc1", "inactive", Some(true)),
        ];
        let ok: Vec<usize> = (0..list.len())
            .filter(|&i| why_not(&list, i).is_none())
            .collect();
        assert_eq!(ok, [3]);
        assert!(why_not(&list, 0).unwrap().contains("has not finished"));
        assert!(why_not(&list, 1).unwrap().contains("never went live"));
        assert!(why_not(&list, 2).unwrap().contains("runs now"));
        assert!(why_not(&list, 4).unwrap().contains("runs now"));
    }

    #[test]
    fn without_a_reported_sha_the_newest_success_is_taken_as_live() {
        let list = [
            entry(3, "ccccccc1", "failure", None),
            entry(2, "bbbbbbb1", "success", None),
            entry(1, "aaaaaaa1", "inactive", None),
            entry(0, "bbbbbbb1", "inactive", None),
        ];
        let ok: Vec<usize> = (0..list.len())
            .filter(|&i| why_not(&list, i).is_none())
            .collect();
        assert_eq!(ok, [2]);
        assert!(why_not(&list, 3).unwrap().contains("same commit"));
    }
}
