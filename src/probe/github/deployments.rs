//! An environment's deployment history: its last N GitHub deployments,
//! each with the state of its newest status, read page by page.
//!
//! Each entry is read on its own: one deployment GitHub sends in a shape
//! octocrab's model refuses costs that entry (named in
//! [`History::skipped`]), not the whole history.

use std::ops::Deref;

use futures::future::join_all;
use octocrab::models::repos::{Deployment as GhDeployment, DeploymentStatus as GhDeploymentStatus};
use serde::Deserialize;
use serde_json::Value;

use super::{GithubClient, GithubError, check_repo, encode, model, parse};
use crate::outcome::DeploymentEntry;

/// GitHub's largest page.
const MAX_PER_PAGE: usize = 100;

/// Unreadable entries named one by one in [`History::skipped`]; the rest are counted.
const NAMED: usize = 3;

/// What [`GithubClient::deployment_history`] read; derefs to its entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// The deployments that could be read, newest first.
    pub entries: Vec<DeploymentEntry>,
    /// Which of the listed deployments could not be read and why, e.g.
    /// "1 of 10 deployments could not be read: entry 3: missing field `id`".
    pub skipped: Option<String>,
}

impl Deref for History {
    type Target = [DeploymentEntry];

    fn deref(&self) -> &[DeploymentEntry] {
        &self.entries
    }
}

/// One deployment as the probe uses it: octocrab's model, and the creator's
/// login read on its own.
pub(crate) struct Read {
    pub deployment: GhDeployment,
    pub creator: Option<String>,
}

/// Reads one deployment object. octocrab's `Author` requires `id` and a
/// dozen URLs that GitHub omits for some app and ghost creators; only the
/// login is used, so when the creator is what fails, the entry is read
/// without it and keeps the login.
pub(crate) fn read(json: &Value) -> Result<Read, String> {
    let whole = GhDeployment::deserialize(json);
    let whole_err = match whole {
        Ok(deployment) => {
            let creator = deployment.creator.as_ref().map(|c| c.login.clone());
            return Ok(Read {
                deployment,
                creator,
            });
        }
        Err(e) => e.to_string(),
    };
    let Value::Object(map) = json else {
        return Err(whole_err);
    };
    let Some(creator) = map.get("creator").filter(|c| !c.is_null()) else {
        return Err(whole_err);
    };
    let mut without = map.clone();
    without.insert("creator".into(), Value::Null);
    // Failing without the creator too, the fault is elsewhere: name that one.
    let deployment =
        GhDeployment::deserialize(&Value::Object(without)).map_err(|e| e.to_string())?;
    Ok(Read {
        deployment,
        creator: creator["login"].as_str().map(str::to_owned),
    })
}

impl GithubClient {
    /// The last `limit` deployments to `environment`, newest first (GitHub's
    /// order), each with its newest status. Pages are followed while GitHub
    /// names a next one on the same API host and fewer than `limit` were
    /// listed; the statuses are asked for concurrently, one request each,
    /// all conditional like every other call. An entry that cannot be read
    /// (or whose newest status cannot) is left out and named in `skipped`.
    pub async fn deployment_history(
        &self,
        repo: &str,
        environment: &str,
        limit: usize,
    ) -> Result<History, GithubError> {
        check_repo(repo)?;
        let listed = self.list_deployments(repo, environment, limit).await?;
        let looked_up = join_all(listed.iter().map(|json| async move {
            let r = read(json)?;
            let status = self.latest_status(repo, r.deployment.id.into_inner()).await;
            Ok::<_, String>((r, status))
        }))
        .await;
        let mut entries = Vec::new();
        let mut unread = Vec::new();
        for (i, looked_up) in looked_up.into_iter().enumerate() {
            match looked_up {
                Ok((r, Ok((_, status)))) => entries.push(entry(r, status)),
                Err(why) => unread.push(format!("entry {}: {why}", i + 1)),
                Ok((_, Err(GithubError::BadResponse { detail, .. }))) => {
                    unread.push(format!("entry {}: its newest status: {detail}", i + 1));
                }
                // GitHub refused or failed: the history as a whole is not known.
                Ok((_, Err(e))) => return Err(e),
            }
        }
        Ok(History {
            entries,
            skipped: skipped(&unread, listed.len()),
        })
    }

    /// Up to `limit` deployment objects, as sent, newest first.
    async fn list_deployments(
        &self,
        repo: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<Value>, GithubError> {
        let mut listed: Vec<Value> = Vec::new();
        let mut path = Some(format!(
            "repos/{repo}/deployments?environment={}&per_page={}",
            encode(environment),
            limit.clamp(1, MAX_PER_PAGE)
        ));
        while let Some(p) = path.take() {
            if listed.len() >= limit {
                break;
            }
            let page = self.get_page(&p).await?;
            let items: Vec<Value> = parse(&p, &page.body)?;
            if items.is_empty() {
                break;
            }
            listed.extend(items);
            path = page.next.as_deref().and_then(|next| self.api_path(next));
        }
        listed.truncate(limit);
        Ok(listed)
    }

    /// `next` as a path under `api_url`, or None when it points elsewhere:
    /// the token is never sent to another host, whatever a `Link` says.
    fn api_path(&self, next: &str) -> Option<String> {
        let rest = next.strip_prefix(self.inner.api_url.as_str())?;
        rest.starts_with('/')
            .then(|| rest.trim_start_matches('/').to_string())
    }
}

/// "2 of 10 deployments could not be read: entry 3: …; entry 7: …".
fn skipped(unread: &[String], listed: usize) -> Option<String> {
    if unread.is_empty() {
        return None;
    }
    let mut text = format!(
        "{} of {listed} deployments could not be read: {}",
        unread.len(),
        unread[..unread.len().min(NAMED)].join("; ")
    );
    if unread.len() > NAMED {
        text.push_str(&format!("; and {} more", unread.len() - NAMED));
    }
    Some(text)
}

fn entry(r: Read, status: Option<GhDeploymentStatus>) -> DeploymentEntry {
    let d = r.deployment;
    let updated = status.as_ref().map_or(d.updated_at, |s| s.updated_at);
    DeploymentEntry {
        id: d.id.into_inner(),
        state: status
            .as_ref()
            .map_or_else(|| "created".to_string(), |s| model::state_word(s.state)),
        sha: d.sha,
        git_ref: d.ref_field,
        creator: r.creator,
        created_at: model::rfc3339(&d.created_at),
        updated_at: model::rfc3339(&updated),
        environment_url: status.as_ref().and_then(|s| s.environment_url.clone()),
        log_url: status.and_then(|s| s.log_url),
        current: None,
        superseded: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn documented() -> Value {
        let text = include_str!("../../demo/fixtures/official/deployments_list.json");
        serde_json::from_str::<Value>(text).unwrap()[0].clone()
    }

    #[test]
    fn a_creator_octocrab_refuses_is_read_for_its_login_alone() {
        let mut d = documented();
        d["creator"].as_object_mut().unwrap().remove("id");
        assert!(
            GhDeployment::deserialize(&d).is_err(),
            "octocrab refuses it"
        );
        let r = read(&d).unwrap();
        assert_eq!(r.creator.as_deref(), Some("octocat"));
        assert_eq!(r.deployment.id.into_inner(), 1);
    }

    #[test]
    fn anything_else_missing_is_the_entry_s_error() {
        let mut d = documented();
        d.as_object_mut().unwrap().remove("sha");
        assert_eq!(read(&d).err().as_deref(), Some("missing field `sha`"));
        assert!(read(&json!("a deployment")).is_err());
        // The creator is not blamed for a fault elsewhere.
        d["creator"] = json!({ "login": "x" });
        assert_eq!(read(&d).err().as_deref(), Some("missing field `sha`"));
    }
}
