//! One environment's (or a few environments') part of a report, for
//! `?env=ID` and the MCP `status` tool.

use super::{CheckResult, Report, overall, summarize};

/// `report` cut down to the environments in `ids` (configured order kept):
/// their cards, their checks, the comparisons that involve any of them and
/// local HEAD's deployment there. Global checks, CI runs and links stay.
/// Status and summary are recomputed so they describe what is shown.
/// The assessment is the whole report's, with only the members that belong
/// to other environments dropped: a filter never changes a conclusion (the
/// headline and the next steps stay, so `?env=production` cannot advise
/// promoting what CI failed on in staging).
/// Ids not in the report are ignored; callers validate them first.
pub fn only_environments(report: &Report, ids: &[String]) -> Report {
    let wanted = |id: &str| ids.iter().any(|w| w == id);
    let environments: indexmap::IndexMap<_, _> = report
        .environments
        .iter()
        .filter(|(id, _)| wanted(id))
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    let checks: Vec<CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.environment.as_deref().is_none_or(wanted))
        .cloned()
        .collect();
    let comparison = report
        .comparison
        .iter()
        .filter(|(_, c)| wanted(&c.environment) || wanted(&c.tracked))
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    let git = report.git.clone().map(|mut g| {
        g.deployed.retain(|id, _| wanted(id));
        g.deployed_errors.retain(|id, _| wanted(id));
        g.not_in_clone.retain(|id| wanted(id));
        g
    });
    let global: Vec<&CheckResult> = checks.iter().filter(|c| c.environment.is_none()).collect();
    let status = overall(&environments, &global);
    let summary = summarize(&environments, &global);
    let mut assessment = report.assessment.clone();
    if let Some(head) = &mut assessment.local_head {
        head.deployed.retain(|id, _| wanted(id));
        head.deployed_unknown.retain(|id, _| wanted(id));
        head.deployed_last_known.retain(|id, _| wanted(id));
        if let Some(g) = &git {
            head.not_in_clone = super::assess::not_in_clone(&environments, g);
        }
    }
    assessment
        .broken
        .retain(|b| b.environment.as_deref().is_none_or(wanted));
    Report {
        status,
        summary,
        environments,
        checks,
        comparison,
        git,
        assessment,
        ..report.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    #[test]
    fn keeps_the_environment_its_checks_and_its_drift() {
        let full = fixture("warning_drift_ci_failed");
        let only = only_environments(&full, &["production".to_owned()]);
        assert_eq!(only.environments.keys().collect::<Vec<_>>(), ["production"]);
        assert!(
            only.checks
                .iter()
                .all(|c| c.environment.as_deref().is_none_or(|e| e == "production"))
        );
        assert!(only.checks.iter().any(|c| c.environment.is_none()));
        assert_eq!(
            only.comparison.keys().collect::<Vec<_>>(),
            ["staging_vs_production"]
        );
        assert_eq!(only.ci, full.ci);
        assert!(only.summary.contains("production"), "{}", only.summary);
        assert!(!only.summary.contains("2 healthy"), "{}", only.summary);
    }

    #[test]
    fn status_describes_what_is_shown() {
        use crate::report::Health;
        // staging is down there; local is fine and a global deploy check warns.
        let full = fixture("failing_error");
        assert_eq!(full.status, Health::Failing);
        let only = only_environments(&full, &["local".to_owned()]);
        assert_eq!(only.status, Health::Warning, "{}", only.summary);
        assert!(!only.summary.contains("staging"), "{}", only.summary);
    }

    #[test]
    fn a_filter_drops_members_but_never_changes_a_conclusion() {
        for (name, keep) in [
            ("warning_drift_ci_failed", "production"),
            ("failing_error", "local"),
            ("failing_error", "staging"),
        ] {
            let mut full = fixture(name);
            full.assessment = crate::report::assess(&full);
            let only = only_environments(&full, &[keep.to_owned()]);
            let (a, b) = (&full.assessment, &only.assessment);
            assert_eq!(a.headline, b.headline, "{name} ?env={keep}");
            assert_eq!(a.next_steps, b.next_steps, "{name} ?env={keep}");
            let kept: Vec<_> = a
                .broken
                .iter()
                .filter(|x| x.environment.as_deref().is_none_or(|e| e == keep))
                .collect();
            assert_eq!(
                b.broken.iter().collect::<Vec<_>>(),
                kept,
                "{name} ?env={keep}"
            );
            if let Some(head) = &b.local_head {
                assert!(head.deployed.keys().all(|e| e == keep), "{name}");
                assert!(head.deployed_unknown.keys().all(|e| e == keep), "{name}");
            }
        }
        // The case the issue found: the whole report says to fix what
        // staging runs first; production's part says the same.
        let mut full = fixture("warning_drift_ci_failed");
        full.assessment = crate::report::assess(&full);
        let only = only_environments(&full, &["production".to_owned()]);
        assert!(
            !only
                .assessment
                .next_steps
                .first()
                .is_some_and(|s| s.action.starts_with("Review the diff and promote")),
            "{:?}",
            only.assessment.next_steps
        );
    }
}
