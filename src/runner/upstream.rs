//! The lookups a run makes besides its checks: drift between environments,
//! the CI of each environment's exact commit, and whether local HEAD is in
//! what each environment runs.
//!
//! Each waits only for the checks that give it its shas, then takes a
//! permit from the run's semaphore and asks GitHub or git under `[run]
//! timeout`. A lookup that does not finish in time gives an answer that says
//! so, naming the timeout and the endpoint; the rest of the run is unaffected.

use crate::outcome::short_sha as short;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared, join_all};
use indexmap::IndexMap;
use tokio::sync::Semaphore;

use super::{NOT_FOUND_TTL, Services};

/// The deployment histories of [`Lookups::deployments`], awaited by more
/// than one lookup.
pub type Histories<'a> = Shared<BoxFuture<'a, IndexMap<String, DeploymentHistory>>>;
use crate::outcome::{
    CheckResult, CheckStatus, CiStatus, CommitBrief, CommitCi, Comparison, Deployed,
    DeploymentHistory, PullRequestBrief, SUSPECT_LIMIT, SuspectSource, Suspects, same_commit,
    suspect_range,
};
use crate::plan::Plan;
use crate::probe::git::{self, GitError};
use crate::probe::github::{Compare, GithubClient, GithubError};

/// Why a lookup gave no answer. Its text goes to the report (masked there).
#[derive(Debug, thiserror::Error)]
pub(super) enum LookupError {
    /// GitHub did not answer within `[run] timeout`.
    #[error("timed out after {} waiting for GitHub (GET {what})", human(*limit))]
    GithubTimeout {
        /// The run's timeout.
        limit: Duration,
        /// The endpoint(s) asked.
        what: String,
    },
    /// git did not finish within `[run] timeout`.
    #[error("timed out after {} running git {what} in {}", human(*limit), dir.display())]
    GitTimeout {
        /// The run's timeout.
        limit: Duration,
        /// The git subcommand.
        what: &'static str,
        /// The repository.
        dir: std::path::PathBuf,
    },
    /// GitHub answered with an error.
    #[error(transparent)]
    Github(#[from] GithubError),
    /// git answered with an error.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// What the lookups of one run share with its checks.
pub(super) struct Lookups<'a, 'f> {
    pub plan: &'a Plan,
    pub services: &'a Services,
    /// This run's GitHub client (its own request counters).
    pub github: Option<&'a GithubClient>,
    pub semaphore: &'a Semaphore,
    pub results: &'a [Mutex<Option<CheckResult>>],
    /// Each job's future, resolved once its result is stored.
    pub finished: &'a [Shared<BoxFuture<'f, ()>>],
}

impl Lookups<'_, '_> {
    /// Drift of every shown environment that tracks another, keyed by its id;
    /// only pairs whose shas are both known and differ need a lookup.
    /// A side that is down is compared by the commit of its last successful
    /// deployment, with `last_known_at` set.
    pub async fn drift(&self, histories: Histories<'_>) -> IndexMap<String, Comparison> {
        let plan = self.plan;
        let pairs: Vec<(usize, usize)> = plan
            .environments
            .iter()
            .enumerate()
            .filter_map(|(ei, env)| {
                let tracked = env.tracks.as_ref()?;
                let ti = plan.environments.iter().position(|e| &e.id == tracked)?;
                (plan.shows_env(&env.id) && plan.shows_env(tracked)).then_some((ei, ti))
            })
            .collect();
        let answers = join_all(
            pairs
                .iter()
                .map(|&(ei, ti)| self.drift_of(ei, ti, histories.clone())),
        )
        .await;
        pairs
            .iter()
            .zip(answers)
            .filter_map(|(&(ei, _), c)| Some((plan.environments[ei].id.clone(), c?)))
            .collect()
    }

    /// CI of the commit each shown environment runs, when GitHub is used.
    pub async fn commit_ci(&self) -> IndexMap<String, CommitCi> {
        let (Some(gh), Some(repo)) = (self.github, &self.plan.project.repo) else {
            return IndexMap::new();
        };
        let envs = self.shown_envs();
        let answers = join_all(envs.iter().map(|&ei| async move {
            self.wait_for(self.plan.fact_jobs(ei, "sha")).await;
            let sha = self.sha_of(ei)?;
            let _permit = self.semaphore.acquire().await.expect("never closed");
            let started = Instant::now();
            let limit = self.timeout();
            let mut ci = match tokio::time::timeout(limit, gh.commit_ci(repo, &sha)).await {
                Ok(Ok(ci)) => ci,
                Ok(Err(e)) => unknown_ci(LookupError::from(e)),
                Err(_) => unknown_ci(LookupError::GithubTimeout {
                    limit,
                    what: format!("repos/{repo}/commits/{sha}/status and …/check-runs"),
                }),
            };
            ci.duration_ms = Some(started.elapsed().as_millis() as u64);
            for text in ci
                .error
                .iter_mut()
                .chain(ci.url.iter_mut())
                .chain(ci.failing.iter_mut())
            {
                self.scrub(text);
            }
            Some(ci)
        }))
        .await;
        envs.iter()
            .zip(answers)
            .filter_map(|(&ei, ci)| Some((self.plan.environments[ei].id.clone(), ci?)))
            .collect()
    }

    /// Whether local HEAD is in what each shown environment runs: git first,
    /// then GitHub for a sha the local repository does not have.
    ///
    /// An environment that reports no sha is asked about the commit of its
    /// newest successful deployment in `histories` (what it last ran), so
    /// "is HEAD there" has an answer while it is down.
    pub async fn deployed(&self, histories: Histories<'_>) -> IndexMap<String, Deployed> {
        let envs = self.shown_envs();
        let answers = join_all(envs.iter().map(|&ei| {
            let histories = histories.clone();
            async move {
                self.wait_for(
                    self.plan
                        .fact_jobs(ei, "sha")
                        .chain(self.plan.git_jobs().map(|(i, _)| i)),
                )
                .await;
                let (sha, _) = self.sha_or_last_deployed(ei, histories).await?;
                let (dir, head) = self.local_head()?;
                let started = Instant::now();
                let local = {
                    let _permit = self.semaphore.acquire().await.expect("never closed");
                    let limit = self.timeout();
                    match tokio::time::timeout(limit, git::contains(dir, &sha, &head)).await {
                        Ok(answer) => answer.map_err(LookupError::from),
                        Err(_) => Err(LookupError::GitTimeout {
                            limit,
                            what: "merge-base",
                            dir: dir.to_path_buf(),
                        }),
                    }
                };
                // merge-base could not decide: a commit is missing, and HEAD is
                // the clone's own, so it is the environment's.
                let missing_in_clone = matches!(
                    &local,
                    Err(LookupError::Git(
                        GitError::Undecided { .. } | GitError::MissingCommit { .. }
                    ))
                );
                let contained = match (local, self.github, &self.plan.project.repo) {
                    (Ok(c), _, _) => Ok(c),
                    (Err(local), Some(gh), Some(repo)) => {
                        match self.compare(gh, repo, &head, &sha).await {
                            Ok(cmp) => Ok(matches!(cmp.status.as_str(), "identical" | "ahead")),
                            // Both sides miss a commit: say which, briefly, not
                            // two messages with 40-digit shas in API paths; GitHub
                            // is asked which of the two it lacks (issue 19).
                            Err(CompareFailed::Unknown) => {
                                let (h, e) = tokio::join!(
                                    self.commit_known(gh, repo, &head),
                                    self.commit_known(gh, repo, &sha)
                                );
                                let why = compare_404_message(repo, (&head, h), (&sha, e));
                                // That the clone lacks the commit is said once, in
                                // the assessment; any other git failure is said here.
                                Err(if missing_in_clone {
                                    why
                                } else {
                                    format!("{local}; and {why}")
                                })
                            }
                            Err(CompareFailed::Other(e)) => {
                                Err(format!("{e}; and locally: {local}"))
                            }
                        }
                    }
                    (Err(local), _, _) => Err(local.to_string()),
                };
                let contained = contained.map_err(|mut e| {
                    self.scrub(&mut e);
                    e
                });
                Some(Deployed {
                    contained,
                    missing_in_clone,
                    duration_ms: started.elapsed().as_millis() as u64,
                })
            }
        }))
        .await;
        envs.iter()
            .zip(answers)
            .filter_map(|(&ei, d)| Some((self.plan.environments[ei].id.clone(), d?)))
            .collect()
    }

    /// The last `[github] history` deployments of each shown environment
    /// that has a `github = { deployment = … }` check, under the GitHub
    /// environment name that check rendered; asked once that check is done.
    pub async fn deployments(&self) -> IndexMap<String, DeploymentHistory> {
        let limit = self.plan.settings.github_history;
        let (Some(gh), Some(repo), true) = (self.github, &self.plan.project.repo, limit > 0) else {
            return IndexMap::new();
        };
        let envs: Vec<(usize, usize)> = self
            .shown_envs()
            .into_iter()
            .filter_map(|ei| Some((ei, self.plan.deployment_job(ei)?)))
            .collect();
        let answers = join_all(envs.iter().map(|&(_, job)| async move {
            self.wait_for(std::iter::once(job)).await;
            let name = self.result(job, |r| r.text("github_environment"))?;
            let _permit = self.semaphore.acquire().await.expect("never closed");
            let started = Instant::now();
            let limit_t = self.timeout();
            let mut history = DeploymentHistory {
                github_environment: name.clone(),
                ..DeploymentHistory::default()
            };
            match tokio::time::timeout(limit_t, gh.deployment_history(repo, &name, limit)).await {
                Ok(Ok(read)) => {
                    history.entries = read.entries;
                    crate::outcome::mark_superseded(&mut history.entries);
                    history.error = read.skipped;
                }
                Ok(Err(e)) => history.error = Some(e.to_string()),
                Err(_) => {
                    let timeout = LookupError::GithubTimeout {
                        limit: limit_t,
                        what: format!(
                            "repos/{repo}/deployments?environment={name} and their statuses"
                        ),
                    };
                    history.error = Some(timeout.to_string());
                }
            }
            history.duration_ms = started.elapsed().as_millis() as u64;
            // GitHub's words reach the report here, outside any check result.
            for text in history
                .error
                .iter_mut()
                .chain(history.entries.iter_mut().flat_map(|e| {
                    [&mut e.git_ref, &mut e.state]
                        .into_iter()
                        .chain(e.creator.iter_mut())
                        .chain(e.environment_url.iter_mut())
                        .chain(e.log_url.iter_mut())
                }))
            {
                self.scrub(text);
            }
            Some(history)
        }))
        .await;
        envs.iter()
            .zip(answers)
            .filter_map(|(&(ei, _), h)| Some((self.plan.environments[ei].id.clone(), h?)))
            .collect()
    }

    /// The committer date of each commit that went live in a history's
    /// DORA window (`[github] dora_window`), one `commits/{sha}` request per
    /// distinct sha over all environments, concurrently: the start of each
    /// lead time (issue 21). Keyed by full sha; an error is the reason.
    pub async fn commit_times(
        &self,
        histories: Histories<'_>,
    ) -> IndexMap<String, Result<chrono::DateTime<chrono::Utc>, String>> {
        let (Some(gh), Some(repo)) = (self.github, &self.plan.project.repo) else {
            return IndexMap::new();
        };
        let histories = histories.await;
        let window = chrono::Duration::from_std(self.plan.settings.github_dora_window)
            .unwrap_or(chrono::Duration::MAX);
        let since = chrono::Utc::now() - window;
        let mut shas: Vec<String> = histories
            .values()
            .flat_map(|h| &h.entries)
            .filter(|e| {
                e.went_live()
                    && chrono::DateTime::parse_from_rfc3339(&e.created_at).is_ok_and(|t| t >= since)
            })
            .map(|e| e.sha.clone())
            .collect();
        shas.sort();
        shas.dedup();
        let answers = join_all(shas.iter().map(|sha| async move {
            let _permit = self.semaphore.acquire().await.expect("never closed");
            let limit = self.timeout();
            let mut answer = match tokio::time::timeout(limit, gh.commit_date(repo, sha)).await {
                Ok(Ok(at)) => return Ok(at),
                Ok(Err(e)) => e.to_string(),
                Err(_) => LookupError::GithubTimeout {
                    limit,
                    what: format!("repos/{repo}/commits/{sha}"),
                }
                .to_string(),
            };
            self.scrub(&mut answer);
            Err(answer)
        }))
        .await;
        shas.into_iter().zip(answers).collect()
    }

    /// The commits between each shown environment's last good deployment
    /// and its newest one, when their commits differ (issue 20): local git
    /// when the clone has both, else GitHub's compare; each with its pull
    /// request. Asked once the histories are read.
    pub async fn suspects(&self, histories: Histories<'_>) -> IndexMap<String, Suspects> {
        let histories = histories.await;
        let ranges: Vec<(String, String, String)> = histories
            .iter()
            .filter_map(|(id, h)| {
                let (from, to) = suspect_range(&h.entries)?;
                Some((id.clone(), from.to_owned(), to.to_owned()))
            })
            .collect();
        let answers = join_all(
            ranges
                .iter()
                .map(|(_, from, to)| self.suspects_of(from, to)),
        )
        .await;
        ranges
            .into_iter()
            .zip(answers)
            .map(|((id, _, _), s)| (id, s))
            .collect()
    }

    /// The commits after `from` up to `to`, from git or GitHub, with their
    /// pull requests; every text from upstream scrubbed.
    async fn suspects_of(&self, from: &str, to: &str) -> Suspects {
        let started = Instant::now();
        let mut s = Suspects::new(from, to);
        let repo = self.plan.project.repo.as_deref();
        if let Some(repo) = repo {
            s.diff_url = Some(format!(
                "https://github.com/{repo}/compare/{}...{}",
                short(from),
                short(to)
            ));
        }
        let mut shas = Vec::new();
        let local = match self.suspects_in_git(&mut s).await {
            Ok(full) => {
                shas = full;
                None
            }
            Err(why) => Some(why),
        };
        if let Some(local) = local {
            let github = match (self.github, repo) {
                (Some(gh), Some(repo)) => Some(self.suspects_on_github(gh, repo, &mut s).await),
                _ => None,
            };
            match (github, local) {
                (Some(Ok(full)), _) => shas = full,
                (Some(Err(g)), Some(l)) => s.error = Some(join_errors(Some(g), &l)),
                (Some(Err(g)), None) => s.error = Some(g.to_string()),
                (None, Some(l)) => s.error = Some(l.to_string()),
                (None, None) => {
                    s.error = Some("no git check answered and GitHub is not used".to_owned());
                }
            }
        }
        if let (Some(gh), Some(repo), Some(commits)) = (self.github, repo, s.commits.as_mut())
            && self.plan.settings.github_pull_requests
            && !shas.is_empty()
        {
            match self.pulls_of_each(gh, repo, &shas).await {
                Ok(each) => {
                    // The answers are the newest commits', aligned from the end.
                    for (c, prs) in commits.iter_mut().rev().zip(each.into_iter().rev()) {
                        c.pull_request = prs.into_iter().next();
                    }
                }
                Err(e) => s.pull_requests_error = Some(e.to_string()),
            }
        }
        s.duration_ms = started.elapsed().as_millis() as u64;
        // Upstream's words reach the report here, outside any check result.
        for text in s
            .error
            .iter_mut()
            .chain(s.diff_url.iter_mut())
            .chain(s.pull_requests_error.iter_mut())
            .chain(s.commits.iter_mut().flatten().flat_map(|c| {
                [&mut c.message]
                    .into_iter()
                    .chain(c.author.iter_mut())
                    .chain(c.pull_request.iter_mut().flat_map(|p| {
                        [&mut p.title, &mut p.url]
                            .into_iter()
                            .chain(p.author.iter_mut())
                    }))
            }))
        {
            self.scrub(text);
        }
        s
    }

    /// `git log from..to` in the clone of the first git check, under the
    /// run's timeout: the full shas listed, or why git could not (None: no
    /// git check answered).
    async fn suspects_in_git(&self, s: &mut Suspects) -> Result<Vec<String>, Option<LookupError>> {
        self.wait_for(self.plan.git_jobs().map(|(i, _)| i)).await;
        let (dir, _) = self.local_head().ok_or(None)?;
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        let logged =
            tokio::time::timeout(limit, git::log_between(dir, &s.from, &s.to, SUSPECT_LIMIT));
        let (commits, total) = match logged.await {
            Ok(answer) => answer.map_err(|e| Some(LookupError::from(e)))?,
            Err(_) => {
                return Err(Some(LookupError::GitTimeout {
                    limit,
                    what: "log",
                    dir: dir.to_path_buf(),
                }));
            }
        };
        s.truncated = total > commits.len() as u64;
        s.total = Some(total);
        s.source = Some(SuspectSource::Git);
        let shas = commits.iter().map(|c| c.sha.clone()).collect();
        s.commits = Some(
            commits
                .into_iter()
                .map(|c| {
                    CommitBrief::new(
                        short(&c.sha).to_owned(),
                        c.subject,
                        Some(c.author),
                        Some(c.date),
                    )
                })
                .collect(),
        );
        Ok(shas)
    }

    /// GitHub's compare of `s.from...s.to`, the newest [`SUSPECT_LIMIT`]
    /// of its commits kept: their full shas, or why GitHub gave none.
    async fn suspects_on_github(
        &self,
        gh: &GithubClient,
        repo: &str,
        s: &mut Suspects,
    ) -> Result<Vec<String>, LookupError> {
        let cmp = match self.compare(gh, repo, &s.from, &s.to).await {
            Ok(cmp) => cmp,
            Err(CompareFailed::Unknown) => {
                return Err(LookupError::Github(GithubError::NotFound {
                    path: format!("repos/{repo}/compare/{}...{}", s.from, s.to),
                }));
            }
            Err(CompareFailed::Other(e)) => return Err(e),
        };
        let cut = cmp.commits.len().saturating_sub(SUSPECT_LIMIT);
        let kept = cmp.commits.len() - cut;
        s.commits = Some(cmp.commits[cut..].to_vec());
        s.total = Some(cmp.ahead_by);
        s.truncated = cmp.ahead_by > kept as u64;
        s.source = Some(SuspectSource::Github);
        s.diff_url = Some(cmp.html_url);
        Ok(cmp.commit_shas[cut.min(cmp.commit_shas.len())..].to_vec())
    }

    /// `gh.pulls_of_each` under the run's timeout and inside its
    /// concurrency limit.
    async fn pulls_of_each(
        &self,
        gh: &GithubClient,
        repo: &str,
        shas: &[String],
    ) -> Result<Vec<Vec<PullRequestBrief>>, LookupError> {
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        match tokio::time::timeout(limit, gh.pulls_of_each(repo, shas)).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(LookupError::GithubTimeout {
                limit,
                what: format!("repos/{repo}/commits/…/pulls"),
            }),
        }
    }

    /// Counts the commits between an environment and the one it tracks:
    /// GitHub first (it also lists them), then local git.
    async fn drift_of(&self, ei: usize, ti: usize, histories: Histories<'_>) -> Option<Comparison> {
        let plan = self.plan;
        self.wait_for(plan.fact_jobs(ei, "sha").chain(plan.fact_jobs(ti, "sha")))
            .await;
        let ((a, a_at), (b, b_at)) = (
            self.sha_or_last_deployed(ei, histories.clone()).await?,
            self.sha_or_last_deployed(ti, histories).await?,
        );
        if same_commit(&a, &b) && a_at.is_none() && b_at.is_none() {
            return None;
        }
        let started = Instant::now();
        let (env, tracked) = (&plan.environments[ei].id, &plan.environments[ti].id);
        let mut c = Comparison::new(tracked, env, Some(b.clone()), Some(a.clone()));
        // A down side is compared by what it last ran; say since when.
        c.last_known_at = a_at.into_iter().chain(b_at).min();
        c.in_sync = Some(same_commit(&a, &b));
        if c.in_sync == Some(true) {
            c.set_counts(0, 0);
            return Some(c);
        }
        if let Some(repo) = &plan.project.repo {
            c.diff_url = Some(format!("https://github.com/{repo}/compare/{a}...{b}"));
        }
        let mut github_error = None;
        if let (Some(gh), Some(repo)) = (self.github, &plan.project.repo) {
            // base = the environment, head = what it tracks: GitHub's
            // ahead_by is then how far the environment is behind.
            match self.compare(gh, repo, &a, &b).await {
                Ok(cmp) => {
                    c.status = Some(cmp.status.clone());
                    c.diff_url = Some(cmp.html_url.clone());
                    c.commits = cmp.commits;
                    c.set_counts(cmp.ahead_by, cmp.behind_by);
                    c.source = Some("github".into());
                    if plan.settings.github_pull_requests && !cmp.commit_shas.is_empty() {
                        match self.pull_requests(gh, repo, &cmp.commit_shas).await {
                            Ok(prs) => c.pull_requests = prs,
                            Err(e) => c.pull_requests_error = Some(e.to_string()),
                        }
                    }
                }
                Err(CompareFailed::Unknown) => {
                    github_error = Some(LookupError::Github(GithubError::NotFound {
                        path: format!("repos/{repo}/compare/{a}...{b}"),
                    }))
                }
                Err(CompareFailed::Other(e)) => github_error = Some(e),
            }
        }
        if c.source.is_none() {
            self.git_counts(&mut c, &a, &b, github_error).await;
        }
        c.duration_ms = Some(started.elapsed().as_millis() as u64);
        // GitHub's words reach the report here, outside any check result.
        for text in c
            .error
            .iter_mut()
            .chain(c.diff_url.iter_mut())
            .chain(c.pull_requests_error.iter_mut())
            .chain(
                c.commits
                    .iter_mut()
                    .flat_map(|m| std::iter::once(&mut m.message).chain(m.author.iter_mut())),
            )
            .chain(c.pull_requests.iter_mut().flat_map(|p| {
                [&mut p.title, &mut p.url]
                    .into_iter()
                    .chain(p.author.iter_mut())
            }))
        {
            self.scrub(text);
        }
        Some(c)
    }

    /// Local git answers a comparison GitHub could not (or is not used
    /// for); without a git check the error is GitHub's, if any.
    async fn git_counts(
        &self,
        c: &mut Comparison,
        a: &str,
        b: &str,
        github_error: Option<LookupError>,
    ) {
        self.wait_for(self.plan.git_jobs().map(|(i, _)| i)).await;
        let Some((dir, _)) = self.local_head() else {
            c.error = github_error.map(|e| e.to_string());
            return;
        };
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        let counted = match tokio::time::timeout(limit, git::count_between(dir, a, b)).await {
            Ok(answer) => answer.map_err(LookupError::from),
            Err(_) => Err(LookupError::GitTimeout {
                limit,
                what: "rev-list",
                dir: dir.to_path_buf(),
            }),
        };
        match counted {
            Ok((behind, ahead)) => {
                c.set_counts(behind, ahead);
                c.status = Some(tracked_side_status(behind, ahead).into());
                c.source = Some("git".into());
            }
            Err(e) => c.error = Some(join_errors(github_error, &e)),
        }
    }

    /// The pull requests the commits `shas` came from, under the run's
    /// timeout and inside its concurrency limit.
    async fn pull_requests(
        &self,
        gh: &GithubClient,
        repo: &str,
        shas: &[String],
    ) -> Result<Vec<PullRequestBrief>, LookupError> {
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        match tokio::time::timeout(limit, gh.pulls_behind(repo, shas)).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(LookupError::GithubTimeout {
                limit,
                what: format!("repos/{repo}/commits/…/pulls"),
            }),
        }
    }

    /// `gh.compare` under the run's timeout and inside its concurrency
    /// limit; a 404 seen in an earlier run less than [`NOT_FOUND_TTL`] ago
    /// is answered from memory: a 404 has no ETag, so asking again (an
    /// unpushed local HEAD, on every `serve` refresh) would spend a
    /// rate-limit point each time for the same answer.
    pub(super) async fn compare(
        &self,
        gh: &GithubClient,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Compare, CompareFailed> {
        let path = format!("repos/{repo}/compare/{base}...{head}");
        {
            let mut seen = self.services.github_not_found.lock().expect("not poisoned");
            seen.retain(|_, at| at.elapsed() < NOT_FOUND_TTL);
            if seen.contains_key(&path) {
                return Err(CompareFailed::Unknown);
            }
        }
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        match tokio::time::timeout(limit, gh.compare(repo, base, head)).await {
            Ok(Ok(cmp)) => Ok(cmp),
            Ok(Err(GithubError::NotFound { .. })) => {
                self.services
                    .github_not_found
                    .lock()
                    .expect("not poisoned")
                    .insert(path, Instant::now());
                Err(CompareFailed::Unknown)
            }
            Ok(Err(e)) => Err(CompareFailed::Other(e.into())),
            Err(_) => Err(CompareFailed::Other(LookupError::GithubTimeout {
                limit,
                what: path,
            })),
        }
    }

    /// Whether GitHub knows `sha` in `repo`, asked after a compare with it
    /// answered 404, under the run's timeout and inside its concurrency
    /// limit. Both answers are remembered for [`NOT_FOUND_TTL`]: a 404 has
    /// no ETag, and a commit GitHub has stays there, so the same 404 on
    /// every `serve` refresh costs no request after the first.
    pub(super) async fn commit_known(&self, gh: &GithubClient, repo: &str, sha: &str) -> Known {
        let path = format!("repos/{repo}/commits/{sha}");
        for (memory, known) in [
            (&self.services.github_not_found, Known::No),
            (&self.services.github_known_commits, Known::Yes),
        ] {
            let mut seen = memory.lock().expect("not poisoned");
            seen.retain(|_, at| at.elapsed() < NOT_FOUND_TTL);
            if seen.contains_key(&path) {
                return known;
            }
        }
        let _permit = self.semaphore.acquire().await.expect("never closed");
        let limit = self.timeout();
        let (memory, known) = match tokio::time::timeout(limit, gh.commit_known(repo, sha)).await {
            Ok(Ok(true)) => (&self.services.github_known_commits, Known::Yes),
            Ok(Ok(false)) => (&self.services.github_not_found, Known::No),
            Ok(Err(e)) => return Known::Failed(e.to_string()),
            Err(_) => {
                return Known::Failed(LookupError::GithubTimeout { limit, what: path }.to_string());
            }
        };
        memory
            .lock()
            .expect("not poisoned")
            .insert(path, Instant::now());
        known
    }

    pub(super) fn timeout(&self) -> Duration {
        self.plan.settings.timeout
    }

    fn shown_envs(&self) -> Vec<usize> {
        (0..self.plan.environments.len())
            .filter(|&ei| self.plan.shows_env(&self.plan.environments[ei].id))
            .collect()
    }

    /// Resolves once every listed job has its result.
    async fn wait_for(&self, jobs: impl Iterator<Item = usize>) {
        join_all(jobs.map(|i| self.finished[i].clone())).await;
    }

    fn result<T>(&self, job: usize, read: impl FnOnce(&CheckResult) -> Option<T>) -> Option<T> {
        self.results[job]
            .lock()
            .expect("not poisoned")
            .as_ref()
            .and_then(read)
    }

    /// The environment's sha by the plan's one rule ([`Plan::fact_jobs`]);
    /// call after those jobs finished.
    /// What `env` runs; when it reports no sha, the commit of its newest
    /// successful deployment in `histories` and when that went live.
    async fn sha_or_last_deployed(
        &self,
        env: usize,
        histories: Histories<'_>,
    ) -> Option<(String, Option<chrono::DateTime<chrono::Utc>>)> {
        if let Some(sha) = self.sha_of(env) {
            return Some((sha, None));
        }
        let histories = histories.await;
        let last = histories
            .get(&self.plan.environments[env].id)?
            .entries
            .iter()
            .find(|e| e.succeeded())?;
        let at = chrono::DateTime::parse_from_rfc3339(&last.updated_at)
            .ok()?
            .with_timezone(&chrono::Utc);
        Some((last.sha.clone(), Some(at)))
    }

    fn sha_of(&self, env: usize) -> Option<String> {
        self.plan
            .fact_jobs(env, "sha")
            .find_map(|i| self.result(i, |r| r.text("sha")))
    }

    /// The directory and full HEAD sha of the first git check that ran, as
    /// the report takes it; call after the git jobs finished.
    fn local_head(&self) -> Option<(&Path, String)> {
        self.plan
            .git_jobs()
            .find_map(|(i, path)| {
                self.result(i, |r| {
                    (r.status != CheckStatus::Error).then(|| r.text("sha_full").unwrap_or_default())
                })
                .map(|head| (path, head))
            })
            .filter(|(_, head)| !head.is_empty())
    }

    /// Takes the run's secrets out of text from upstream.
    pub(super) fn scrub(&self, text: &mut String) {
        self.services.redactor.redact_string(text);
    }
}

pub(super) fn unknown_ci(error: LookupError) -> CommitCi {
    CommitCi {
        status: CiStatus::Unknown,
        url: None,
        counts: IndexMap::new(),
        failing: Vec::new(),
        error: Some(error.to_string()),
        duration_ms: None,
    }
}

/// Whether GitHub knows one commit, asked after a compare answered 404.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Known {
    /// GitHub answered with the commit.
    Yes,
    /// GitHub answered 404 (or 422): it does not have it.
    No,
    /// The lookup gave no answer; why.
    Failed(String),
}

/// What to say when GitHub answered 404 comparing your clone's `head`
/// with an environment's commit `env`: name only the commit(s)
/// GitHub does not know, from the lookups of each; when a lookup failed,
/// say what is known and why the rest is not (issue 19, contradiction 9).
fn compare_404_message(repo: &str, head: (&str, Known), env: (&str, Known)) -> String {
    let (h, e) = (short(head.0), short(env.0));
    match (head.1, env.1) {
        (Known::No, Known::No) => format!(
            "GitHub does not know {h} or {e} in {repo} (HEAD not pushed? a private repo without a token?)"
        ),
        (Known::No, Known::Yes) => {
            format!("GitHub does not know {h} in {repo} (HEAD not pushed?)")
        }
        (Known::Yes, Known::No) => {
            format!("GitHub does not know {e} in {repo} (a commit that was never pushed?)")
        }
        (Known::Yes, Known::Yes) => {
            format!("GitHub knows {h} and {e} in {repo} but answered 404 comparing them")
        }
        (Known::Failed(a), Known::Failed(b)) if a == b => format!(
            "GitHub answered 404 comparing {h} with {e} in {repo}, and looking up either failed: {a}"
        ),
        (Known::Failed(a), Known::Failed(b)) => format!(
            "GitHub answered 404 comparing {h} with {e} in {repo}, and looking them up failed: {h}: {a}; {e}: {b}"
        ),
        (known, Known::Failed(why)) => format!(
            "GitHub {} {h} in {repo}; whether it knows {e} is unknown: {why}",
            knows(&known)
        ),
        (Known::Failed(why), known) => format!(
            "GitHub {} {e} in {repo}; whether it knows {h} is unknown: {why}",
            knows(&known)
        ),
    }
}

fn knows(k: &Known) -> &'static str {
    match k {
        Known::Yes => "knows",
        _ => "does not know",
    }
}

/// Why a compare gave no answer.
pub(super) enum CompareFailed {
    /// GitHub answered 404: it does not know one of the commits, or the repo.
    Unknown,
    /// Anything else.
    Other(LookupError),
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// GitHub's compare word for the tracked environment (head) against the
/// one that tracks it (base): the tracked side is "ahead" when the other is
/// behind.
fn tracked_side_status(behind: u64, ahead: u64) -> &'static str {
    match (behind, ahead) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    }
}

fn join_errors(github: Option<LookupError>, git: &LookupError) -> String {
    match github {
        Some(g) => format!("{g}; and locally: {git}"),
        None => git.to_string(),
    }
}

/// Gives `history` the commit dates of its own deployments, and the first
/// reason one of them could not be read.
pub(super) fn attach_commit_times(
    history: &mut DeploymentHistory,
    times: &IndexMap<String, Result<chrono::DateTime<chrono::Utc>, String>>,
) {
    for e in &history.entries {
        match times.get(&e.sha) {
            Some(Ok(at)) => {
                history.commit_times.insert(e.sha.clone(), *at);
            }
            Some(Err(why)) if history.commit_times_error.is_none() => {
                history.commit_times_error = Some(why.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "e6421c9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ENV: &str = "93e6db6bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn message(head: Known, env: Known) -> String {
        compare_404_message("o/r", (HEAD, head), (ENV, env))
    }

    /// Only the commit GitHub lacks is named as unknown (issue 19).
    #[test]
    fn the_404_message_names_what_github_lacks() {
        let clone = "GitHub ";
        assert_eq!(
            message(Known::No, Known::Yes),
            format!("{clone}does not know e6421c9 in o/r (HEAD not pushed?)")
        );
        assert_eq!(
            message(Known::Yes, Known::No),
            format!("{clone}does not know 93e6db6 in o/r (a commit that was never pushed?)")
        );
        assert!(
            message(Known::No, Known::No)
                .starts_with(&format!("{clone}does not know e6421c9 or 93e6db6 in o/r"))
        );
        assert_eq!(
            message(Known::Yes, Known::Yes),
            format!("{clone}knows e6421c9 and 93e6db6 in o/r but answered 404 comparing them")
        );
        let down = || Known::Failed("cannot reach GitHub".into());
        assert_eq!(
            message(Known::Yes, down()),
            format!(
                "{clone}knows e6421c9 in o/r; whether it knows 93e6db6 is unknown: cannot reach GitHub"
            )
        );
        let both = message(down(), down());
        assert!(
            both.ends_with("looking up either failed: cannot reach GitHub")
                && !both.contains("does not know"),
            "{both}"
        );
    }
}
