//! What the runner learned about one commit's journey (issue 21): which
//! commit was asked about, whether GitHub has it, its CI, and which of the
//! environments' commits contain it. The report's `journey` is made from
//! this alone, without I/O.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CommitCi, DeploymentEntry, GithubInfo};

/// Which commit a journey is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JourneyAsk {
    /// The clone's HEAD (of the first `git` check).
    Head,
    /// A commit, 7 to 40 hex digits.
    Sha(String),
    /// A pull request: its head commit, as GitHub says.
    Pull(u64),
}

impl JourneyAsk {
    /// Reads `SHA`, `#PR` or nothing (HEAD), as `where` and the `journey`
    /// tool take it; Err says what was wrong, for an exit 3.
    pub fn parse(text: Option<&str>) -> Result<JourneyAsk, String> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(JourneyAsk::Head);
        };
        if text.eq_ignore_ascii_case("HEAD") {
            return Ok(JourneyAsk::Head);
        }
        if let Some(n) = text.strip_prefix('#') {
            return match n.parse::<u64>() {
                Ok(n) if n > 0 => Ok(JourneyAsk::Pull(n)),
                _ => Err(format!("`{text}` is not a pull request number (#123)")),
            };
        }
        let hex = text.chars().all(|c| c.is_ascii_hexdigit());
        if hex && (7..=40).contains(&text.len()) {
            Ok(JourneyAsk::Sha(text.to_ascii_lowercase()))
        } else {
            Err("expected a commit (7 to 40 hex digits), `#PR` or nothing for HEAD".to_owned())
        }
    }

    /// How it is said back: "HEAD", "#12", the sha as given.
    pub fn label(&self) -> String {
        match self {
            JourneyAsk::Head => "HEAD".to_owned(),
            JourneyAsk::Sha(s) => s.clone(),
            JourneyAsk::Pull(n) => format!("#{n}"),
        }
    }
}

/// Where one environment stands, as the lookup reads it: what it runs
/// and its deployment history (newest first).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Whereabouts {
    /// Environment id.
    pub env: String,
    /// What it runs now (reported, else last known); None when unknown.
    pub sha: Option<String>,
    /// Its GitHub deployments, newest first (superseded ones marked).
    pub deployments: Vec<DeploymentEntry>,
}

/// Who answered whether one commit contains another.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainmentSource {
    /// `git merge-base --is-ancestor` in the clone, which has both.
    Git,
    /// GitHub's compare (`status` ahead or identical).
    Github,
}

/// Whether one environment's (or deployment's) commit contains the one
/// asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Containment {
    /// The answer, or why there is none.
    pub contained: Result<bool, String>,
    /// Who answered; None when nobody could.
    pub source: Option<ContainmentSource>,
}

/// Everything the journey lookup learned.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyFacts {
    /// What was asked.
    pub asked: JourneyAsk,
    /// The commit, full when git or GitHub could resolve it; Err: why
    /// there is none (no git check, an unknown pull request).
    pub sha: Result<String, String>,
    /// Whether GitHub has the commit (it was pushed); None when GitHub is
    /// not used, Err when it could not say.
    pub pushed: Option<Result<bool, String>>,
    /// The commit's CI; None when GitHub is not used.
    pub ci: Option<CommitCi>,
    /// For every commit asked about (an environment's or a deployment's,
    /// as written there), whether it contains the commit.
    pub contains: IndexMap<String, Containment>,
    /// The GitHub requests the lookup spent.
    pub github: Option<GithubInfo>,
    /// Wall time of the lookup.
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journey_is_asked_for_head_a_sha_or_a_pull_request() {
        assert_eq!(JourneyAsk::parse(None), Ok(JourneyAsk::Head));
        assert_eq!(JourneyAsk::parse(Some("head")), Ok(JourneyAsk::Head));
        assert_eq!(JourneyAsk::parse(Some("#812")), Ok(JourneyAsk::Pull(812)));
        assert_eq!(
            JourneyAsk::parse(Some("ABCDEF1")),
            Ok(JourneyAsk::Sha("abcdef1".into()))
        );
        for bad in ["#", "#0", "#x", "abc", "zzzzzzz", &"a".repeat(41)] {
            assert!(JourneyAsk::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
