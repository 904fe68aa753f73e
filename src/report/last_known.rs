//! A down environment keeps the commit it last ran: `serve` holds the
//! previous report between refreshes and carries each environment's sha
//! into the next report in which that environment reports none, and what
//! it observed (`timeline::carry_observed`).

use super::{LastKnown, LastKnownSource, Report, assess};
use crate::outcome::same_commit;

/// Marks, in `report`, each environment that reports no sha with what it
/// ran in `previous` (its sha then, or the last known one `previous`
/// carried), and recomputes the assessment. An environment that reports a
/// sha, or already has a last known commit (e.g. from a deployment), is left
/// alone.
pub fn carry_last_known(report: &mut Report, previous: &Report) {
    // What serve observed between the two reports (issue 20): transitions,
    // the last commit it saw healthy.
    let mut changed = super::timeline::carry_observed(report, previous);
    for (id, env) in &mut report.environments {
        if env.sha.is_some() || env.last_known.is_some() {
            continue;
        }
        let Some(before) = previous.environments.get(id) else {
            continue;
        };
        let known = match &before.sha {
            Some(sha) => Some(LastKnown {
                sha: sha.clone(),
                at: previous.timestamp,
                source: LastKnownSource::Report,
            }),
            None => before.last_known.clone(),
        };
        if known.is_some() {
            env.last_known = known;
            changed = true;
        }
    }
    if !changed {
        return;
    }
    carry_answers(report, previous);
    super::timeline::annotate(report);
    report.assessment = assess(report);
}

/// Drift and "is local HEAD there" for environments now on their last known
/// commit: the previous report's answers, when they were about the same
/// commits (so they still hold).
fn carry_answers(report: &mut Report, previous: &Report) {
    let last_known = |id: &str| {
        report
            .environments
            .get(id)
            .and_then(|e| e.last_known.as_ref().map(|k| (k.sha.clone(), k.at)))
    };
    let sha_now = |id: &str| -> Option<(String, Option<chrono::DateTime<chrono::Utc>>)> {
        let e = report.environments.get(id)?;
        match (&e.sha, &e.last_known) {
            (Some(s), _) => Some((s.clone(), None)),
            (None, Some(k)) => Some((k.sha.clone(), Some(k.at))),
            _ => None,
        }
    };
    let mut updates = Vec::new();
    for (key, c) in &report.comparison {
        if c.in_sync.is_some() {
            continue;
        }
        let (Some((env_sha, env_at)), Some((tracked_sha, tracked_at))) =
            (sha_now(&c.environment), sha_now(&c.tracked))
        else {
            continue;
        };
        let Some(before) = previous.comparison.get(key) else {
            continue;
        };
        let same = |a: &Option<String>, b: &str| a.as_deref().is_some_and(|a| same_commit(a, b));
        if before.in_sync.is_some()
            && same(&before.environment_sha, &env_sha)
            && same(&before.tracked_sha, &tracked_sha)
        {
            let mut carried = before.clone();
            carried.duration_ms = None;
            carried.last_known_at = env_at.into_iter().chain(tracked_at).min();
            updates.push((key.clone(), carried));
        }
    }
    for (key, c) in updates {
        report.comparison.insert(key, c);
    }
    let (Some(git), Some(before)) = (report.git.as_mut(), previous.git.as_ref()) else {
        return;
    };
    if git.sha_full != before.sha_full {
        return;
    }
    for id in report.environments.keys() {
        if git.deployed.contains_key(id) {
            continue;
        }
        let Some((sha, _)) = last_known(id) else {
            continue;
        };
        let then = previous.environments.get(id).and_then(|e| {
            e.sha
                .clone()
                .or_else(|| e.last_known.as_ref().map(|k| k.sha.clone()))
        });
        if let (Some(answer), Some(then)) = (before.deployed.get(id), then)
            && same_commit(&then, &sha)
        {
            git.deployed.insert(id.clone(), *answer);
            git.deployed_errors.shift_remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    #[test]
    fn a_down_environment_keeps_the_sha_it_last_reported() {
        let up = fixture("all_green");
        let id = up
            .environments
            .iter()
            .find(|(_, e)| e.sha.is_some())
            .map(|(id, _)| id.clone())
            .expect("a fixture environment with a sha");
        let mut down = up.clone();
        down.timestamp = up.timestamp + chrono::Duration::minutes(1);
        down.environments[&id].sha = None;
        carry_last_known(&mut down, &up);
        let known = down.environments[&id].last_known.clone().expect("carried");
        assert_eq!(Some(known.sha.clone()), up.environments[&id].sha);
        assert_eq!(known.at, up.timestamp);
        assert_eq!(known.source, LastKnownSource::Report);

        // Still down a run later: the same last known commit and time.
        let mut later = down.clone();
        later.environments[&id].last_known = None;
        carry_last_known(&mut later, &down);
        assert_eq!(later.environments[&id].last_known, Some(known));

        // Back up: nothing is carried.
        let mut back = up.clone();
        carry_last_known(&mut back, &later);
        assert!(back.environments.values().all(|e| e.last_known.is_none()));
    }
}
