//! The suspect commits of a broken environment as the verdict names them
//! (issue 20): each commit with its CI and pull request, as far as the run
//! found them.

use super::CommitBrief;
use super::timeline::{SuspectCommits, ci_word};

/// Commits named one by one in an evidence sentence; the rest are counted.
const NAMED: usize = 5;

/// "2 commits between A and B: 0b67ce8 "subject" (CI failure, PR #44 …)".
pub fn sentence(s: &SuspectCommits, commits: &[CommitBrief]) -> String {
    let mut text = format!(
        "{} between {} and {}",
        crate::units::commits(commits.len() as u64),
        s.from,
        s.to
    );
    if s.truncated {
        text.push_str(" (the newest listed; there are more)");
    }
    if commits.is_empty() {
        return text;
    }
    // Newest first: the last deployed commit is the likeliest suspect.
    let named: Vec<String> = commits.iter().rev().take(NAMED).map(named).collect();
    text.push_str(": ");
    text.push_str(&named.join("; "));
    if commits.len() > NAMED {
        text.push_str(&format!("; and {} older", commits.len() - NAMED));
    }
    text
}

/// `0b67ce8 "subject" (CI failure, PR #44 "title")`.
fn named(c: &CommitBrief) -> String {
    let mut facts = vec![match c.ci {
        Some(ci) => format!("CI {}", ci_word(ci)),
        None => "CI unknown".to_owned(),
    }];
    if let Some(pr) = &c.pull_request {
        facts.push(format!("PR #{} \"{}\"", pr.number, pr.title));
    }
    format!("{} \"{}\" ({})", c.sha, c.message, facts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{CiStatus, PullRequestBrief};

    #[test]
    fn the_sentence_names_each_commit_newest_first_with_ci_and_pr() {
        let s = SuspectCommits {
            from: "72f64e6".into(),
            to: "0b67ce8".into(),
            commits: None,
            unknown: None,
            diff_url: None,
            truncated: false,
        };
        let mut old = CommitBrief::new("1111111".into(), "Older".into(), None, None);
        old.ci = Some(CiStatus::Success);
        let mut new = CommitBrief::new("0b67ce8".into(), "Newer".into(), None, None);
        new.ci = Some(CiStatus::Failure);
        new.pull_request = Some(PullRequestBrief {
            number: 44,
            title: "Retry".into(),
            author: None,
            url: "https://github.com/o/r/pull/44".into(),
        });
        assert_eq!(
            sentence(&s, &[old, new]),
            "2 commits between 72f64e6 and 0b67ce8: 0b67ce8 \"Newer\" (CI failure, PR #44 \"Retry\"); 1111111 \"Older\" (CI success)"
        );
        assert_eq!(sentence(&s, &[]), "0 commits between 72f64e6 and 0b67ce8");
    }
}
