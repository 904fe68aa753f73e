//! The pull requests behind a drift: which pull request each commit an
//! environment lacks came from (`GET repos/{repo}/commits/{sha}/pulls`).

use futures::future::join_all;
use octocrab::models::pulls::PullRequest;

use super::{GithubClient, GithubError, check_repo, encode, parse};
use crate::outcome::PullRequestBrief;

/// Commits looked up at most, the newest ones: each costs a request the
/// first time (then a free 304), and a drift of more than this many commits
/// is a release, not a question of which pull request is missing.
pub const MAX_COMMITS: usize = 30;

impl GithubClient {
    /// The pull requests `shas` (oldest first) came from, in that order,
    /// each once; of a longer list only the newest [`MAX_COMMITS`] are asked.
    pub async fn pulls_behind(
        &self,
        repo: &str,
        shas: &[String],
    ) -> Result<Vec<PullRequestBrief>, GithubError> {
        let mut out: Vec<PullRequestBrief> = Vec::new();
        for answer in self.pulls_of_each(repo, shas).await? {
            for pr in answer {
                if !out.iter().any(|p| p.number == pr.number) {
                    out.push(pr);
                }
            }
        }
        Ok(out)
    }

    /// The pull requests of each of the newest [`MAX_COMMITS`] of `shas`
    /// (oldest first), in that order: the last answer is the last sha's.
    pub async fn pulls_of_each(
        &self,
        repo: &str,
        shas: &[String],
    ) -> Result<Vec<Vec<PullRequestBrief>>, GithubError> {
        check_repo(repo)?;
        let newest = &shas[shas.len().saturating_sub(MAX_COMMITS)..];
        join_all(newest.iter().map(|sha| self.commit_pulls(repo, sha)))
            .await
            .into_iter()
            .collect()
    }

    /// The pull requests one commit belongs to (merged or open).
    async fn commit_pulls(
        &self,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<PullRequestBrief>, GithubError> {
        let path = format!("repos/{repo}/commits/{}/pulls", encode(sha));
        let body = self.get_shared(&path).await?;
        let pulls: Vec<PullRequest> = parse(&path, &body)?;
        Ok(pulls
            .into_iter()
            .map(|p| PullRequestBrief {
                number: p.number,
                title: p.title.unwrap_or_default(),
                author: p.user.map(|u| u.login),
                url: p.html_url.map_or(p.url, |u| u.to_string()),
            })
            .collect())
    }

    /// The head commit of pull request `number` (`GET
    /// repos/{repo}/pulls/{number}`, its `head.sha`): what `where #PR`
    /// follows. A sha that is not 40 hex digits is a bad answer, not a
    /// commit to ask about.
    pub async fn pull_head(&self, repo: &str, number: u64) -> Result<String, GithubError> {
        check_repo(repo)?;
        let path = format!("repos/{repo}/pulls/{number}");
        let body = self.get_shared(&path).await?;
        body.get("head")
            .and_then(|h| h.get("sha"))
            .and_then(serde_json::Value::as_str)
            .filter(|s| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
            .ok_or(GithubError::BadResponse {
                path,
                detail: "no `head.sha` of 40 hex digits".to_owned(),
            })
    }
}
