//! An environment's deployment history: its last N GitHub deployments,
//! each with the state of its newest status, read page by page.

use futures::future::join_all;
use octocrab::models::repos::{Deployment as GhDeployment, DeploymentStatus as GhDeploymentStatus};
use serde_json::Value;

use super::{GithubClient, GithubError, check_repo, encode, model, parse};
use crate::outcome::DeploymentEntry;

/// GitHub's largest page.
const MAX_PER_PAGE: usize = 100;

impl GithubClient {
    /// The last `limit` deployments to `environment`, newest first (GitHub's
    /// order), each with its newest status. Pages are followed while GitHub
    /// names a next one on the same API host and fewer than `limit` were
    /// listed; the statuses are asked for concurrently, one request each,
    /// all conditional like every other call.
    pub async fn deployment_history(
        &self,
        repo: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<DeploymentEntry>, GithubError> {
        check_repo(repo)?;
        let mut listed: Vec<GhDeployment> = Vec::new();
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
            for item in &items {
                listed.push(parse(&p, item)?);
            }
            path = page.next.as_deref().and_then(|next| self.api_path(next));
        }
        listed.truncate(limit);
        let statuses = join_all(
            listed
                .iter()
                .map(|d| self.latest_status(repo, d.id.into_inner())),
        )
        .await;
        listed
            .into_iter()
            .zip(statuses)
            .map(|(d, s)| Ok(entry(d, s?.1)))
            .collect()
    }

    /// `next` as a path under `api_url`, or None when it points elsewhere:
    /// the token is never sent to another host, whatever a `Link` says.
    fn api_path(&self, next: &str) -> Option<String> {
        let rest = next.strip_prefix(self.inner.api_url.as_str())?;
        rest.starts_with('/')
            .then(|| rest.trim_start_matches('/').to_string())
    }
}

fn entry(d: GhDeployment, status: Option<GhDeploymentStatus>) -> DeploymentEntry {
    let updated = status.as_ref().map_or(d.updated_at, |s| s.updated_at);
    DeploymentEntry {
        id: d.id.into_inner(),
        state: status
            .as_ref()
            .map_or_else(|| "created".to_string(), |s| model::state_word(s.state)),
        sha: d.sha,
        git_ref: d.ref_field,
        creator: d.creator.map(|c| c.login),
        created_at: model::rfc3339(&d.created_at),
        updated_at: model::rfc3339(&updated),
        environment_url: status.as_ref().and_then(|s| s.environment_url.clone()),
        log_url: status.and_then(|s| s.log_url),
        current: None,
    }
}
