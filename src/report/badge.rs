//! Badges in shields.io's endpoint format
//! (<https://shields.io/badges/endpoint-badge>): what an environment runs
//! and how it is, and where a commit is live. Pure: read from the report.

use serde::Serialize;

use super::{Health, Report, query};
use crate::outcome::short_sha;

/// One badge as shields.io's endpoint badge reads it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Badge {
    /// Always 1.
    pub schema_version: u8,
    /// Left side: the environment's name, or the commit.
    pub label: String,
    /// Right side: "0b67ce8 · healthy", "live in staging".
    pub message: String,
    /// A shields.io color name.
    pub color: &'static str,
    /// Set when the badge says the question could not be answered (shields
    /// then shows it as an error).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Badge {
    fn new(label: impl Into<String>, message: impl Into<String>, color: &'static str) -> Self {
        Self {
            schema_version: 1,
            label: label.into(),
            message: message.into(),
            color,
            is_error: false,
        }
    }

    /// A badge saying why there is no answer.
    pub fn error(label: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            is_error: true,
            ..Self::new(label, message, "lightgrey")
        }
    }
}

/// Environment `id`: the commit it runs (or last ran) and its status; `None`
/// when the report has no such environment.
pub fn environment(report: &Report, id: &str) -> Option<Badge> {
    let env = report.environments.get(id)?;
    let status = if env.offline {
        "offline"
    } else {
        env.status.as_str()
    };
    let color = match env.status {
        _ if env.offline => "lightgrey",
        Health::Healthy => "brightgreen",
        Health::Warning => "yellow",
        Health::Failing => "red",
        Health::Unknown => "lightgrey",
    };
    let message = match (&env.sha, &env.last_known) {
        (Some(sha), _) => format!("{} · {status}", short_sha(sha)),
        (None, Some(k)) => format!("{status} · last ran {}", short_sha(&k.sha)),
        (None, None) => status.to_owned(),
    };
    Some(Badge::new(&env.name, message, color))
}

/// Where commit `sha` is live: the environments whose commit contains it.
pub fn commit(report: &Report, sha: &str) -> Result<Badge, String> {
    let d = query::deployed(report, Some(sha))?;
    let live: Vec<&str> = d
        .environments
        .iter()
        .filter(|(_, v)| **v == Some(true))
        .map(|(id, _)| id.as_str())
        .collect();
    let unknown = d.environments.values().any(Option::is_none);
    let label = short_sha(sha).to_owned();
    Ok(match (live.is_empty(), unknown) {
        (false, _) => Badge::new(label, format!("live in {}", live.join(", ")), "brightgreen"),
        (true, false) => Badge::new(label, "not deployed", "blue"),
        (true, true) => Badge::new(label, "not deployed where known", "lightgrey"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    #[test]
    fn an_environment_badge_names_its_commit_and_status() {
        let r = fixture("warning_drift_ci_failed");
        let b = environment(&r, "production").unwrap();
        assert_eq!(
            (
                b.schema_version,
                b.label.as_str(),
                b.message.as_str(),
                b.color
            ),
            (1, "Production", "53004a6 · warning", "yellow")
        );
        assert_eq!(environment(&r, "nope"), None);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert!(json.get("isError").is_none(), "{json}");
    }

    #[test]
    fn a_commit_badge_says_where_it_is_live() {
        let r = fixture("warning_drift_ci_failed");
        let b = commit(&r, "cbefe7c").unwrap();
        assert!(b.message.starts_with("live in "), "{b:?}");
        assert!(
            b.message.contains("staging") && !b.message.contains("production"),
            "{b:?}"
        );
        assert!(commit(&r, "zz").is_err());
        assert!(Badge::error("x", "y").is_error);
    }
}
