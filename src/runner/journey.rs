//! The lookups of one commit's journey (issue 21): which commit was asked
//! about (HEAD, a sha, a pull request's head), whether GitHub has it, its
//! CI, and which of the environments' commits contain it.
//!
//! It reuses the run's machinery: [`upstream::Lookups`] for GitHub's
//! compare (with its memory of 404s) and commit lookups, each under `[run]
//! timeout` and inside the `concurrency` limit, and git first wherever the
//! clone has both commits. The report's `journey` is then built from the
//! answers without I/O (`report::journey`).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use futures::future::join_all;
use indexmap::IndexMap;
use tokio::sync::Semaphore;

use super::Services;
use super::upstream::{self, CompareFailed, Known, LookupError, Lookups};
use crate::outcome::{
    CommitCi, Containment, ContainmentSource, JourneyAsk, JourneyFacts, Whereabouts, same_commit,
    short_sha,
};
use crate::plan::Plan;
use crate::probe::git;
use crate::probe::github::GithubClient;

/// Asks where the commit of `ask` is, against what each of `places` runs
/// and its deployment history.
///
/// Per environment: its commit, then its deployments that went live,
/// newest first, until one does not contain the commit (history is taken
/// as linear: an older deployment than one without the commit has it only
/// after a rollback, which the newer one already says); then the
/// deployments under way after the newest live one. A commit asked twice
/// (two environments run the same) is asked once.
pub async fn journey(
    plan: &Plan,
    services: &Services,
    ask: JourneyAsk,
    places: &[Whereabouts],
) -> JourneyFacts {
    let started = Instant::now();
    // Counts only this lookup's GitHub requests.
    let github = services.github.as_ref().map(GithubClient::for_run);
    let semaphore = Semaphore::new(plan.settings.concurrency);
    let lookups = Lookups {
        plan,
        services,
        github: github.as_ref(),
        semaphore: &semaphore,
        results: &[],
        finished: &[],
    };
    let asker = Asker {
        lookups: &lookups,
        dir: plan.git_jobs().next().map(|(_, dir)| dir),
        memo: Mutex::new(IndexMap::new()),
    };
    let sha = asker.resolve(&ask).await;
    let (pushed, ci) = match &sha {
        Ok(sha) => {
            let (pushed, ci, _) = tokio::join!(
                asker.pushed(sha),
                asker.ci(sha),
                join_all(places.iter().map(|p| asker.walk(sha, p)))
            );
            (pushed, ci)
        }
        Err(_) => (None, None),
    };
    JourneyFacts {
        asked: ask,
        sha,
        pushed,
        ci,
        contains: asker.memo.into_inner().expect("not poisoned"),
        github: github.as_ref().map(GithubClient::stats),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// One journey's lookups and what they answered so far.
struct Asker<'l, 'a, 'f> {
    lookups: &'l Lookups<'a, 'f>,
    /// The clone of the first `git` check.
    dir: Option<&'a Path>,
    /// Every commit asked about, with its answer.
    memo: Mutex<IndexMap<String, Containment>>,
}

impl Asker<'_, '_, '_> {
    fn github(&self) -> Option<(&GithubClient, &str)> {
        Some((
            self.lookups.github?,
            self.lookups.plan.project.repo.as_deref()?,
        ))
    }

    /// The full sha asked about: HEAD or a sha through git (a sha the clone
    /// lacks is kept as written), a pull request's head through GitHub.
    async fn resolve(&self, ask: &JourneyAsk) -> Result<String, String> {
        let rev = match ask {
            JourneyAsk::Head => "HEAD".to_owned(),
            JourneyAsk::Sha(sha) => sha.clone(),
            JourneyAsk::Pull(n) => return self.pull_head(*n).await,
        };
        let Some(dir) = self.dir else {
            return match ask {
                JourneyAsk::Sha(sha) => Ok(sha.clone()),
                _ => Err("no `git` check in the config to read HEAD from: name a commit".into()),
            };
        };
        let spec = format!("{rev}^{{commit}}");
        let limit = self.lookups.timeout();
        let asked = {
            let _permit = self
                .lookups
                .semaphore
                .acquire()
                .await
                .expect("never closed");
            tokio::time::timeout(limit, git::git(dir, &["rev-parse", "--verify", &spec])).await
        };
        match (asked, ask) {
            (Ok(Ok(out)), _) => Ok(out.trim().to_owned()),
            (_, JourneyAsk::Sha(sha)) => Ok(sha.clone()),
            (Ok(Err(e)), _) => Err(self.scrubbed(e.to_string())),
            (Err(_), _) => Err(LookupError::GitTimeout {
                limit,
                what: "rev-parse",
                dir: dir.to_path_buf(),
            }
            .to_string()),
        }
    }

    async fn pull_head(&self, n: u64) -> Result<String, String> {
        let Some((gh, repo)) = self.github() else {
            return Err(format!(
                "#{n}: pull requests are looked up on GitHub, and no `[project] repo` with a GitHub check is configured"
            ));
        };
        let limit = self.lookups.timeout();
        let _permit = self
            .lookups
            .semaphore
            .acquire()
            .await
            .expect("never closed");
        match tokio::time::timeout(limit, gh.pull_head(repo, n)).await {
            Ok(Ok(sha)) => Ok(sha),
            Ok(Err(e)) => Err(self.scrubbed(format!("#{n}: {e}"))),
            Err(_) => Err(LookupError::GithubTimeout {
                limit,
                what: format!("repos/{repo}/pulls/{n}"),
            }
            .to_string()),
        }
    }

    /// Whether GitHub has the commit: it was pushed.
    async fn pushed(&self, sha: &str) -> Option<Result<bool, String>> {
        let (gh, repo) = self.github()?;
        Some(match self.lookups.commit_known(gh, repo, sha).await {
            Known::Yes => Ok(true),
            Known::No => Ok(false),
            Known::Failed(why) => Err(self.scrubbed(why)),
        })
    }

    /// The commit's combined status and check runs.
    async fn ci(&self, sha: &str) -> Option<CommitCi> {
        let (gh, repo) = self.github()?;
        let started = Instant::now();
        let limit = self.lookups.timeout();
        let answer = {
            let _permit = self
                .lookups
                .semaphore
                .acquire()
                .await
                .expect("never closed");
            tokio::time::timeout(limit, gh.commit_ci(repo, sha)).await
        };
        let mut ci = match answer {
            Ok(Ok(ci)) => ci,
            Ok(Err(e)) => upstream::unknown_ci(LookupError::from(e)),
            Err(_) => upstream::unknown_ci(LookupError::GithubTimeout {
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
            self.lookups.scrub(text);
        }
        Some(ci)
    }

    /// Asks what one environment needs (see [`journey`]).
    async fn walk(&self, target: &str, place: &Whereabouts) {
        if let Some(sha) = &place.sha {
            self.contains(target, sha).await;
        }
        for d in place.deployments.iter().filter(|d| d.went_live()) {
            if self.contains(target, &d.sha).await.contained != Ok(true) {
                break;
            }
        }
        let coming = place.deployments.iter().take_while(|d| !d.went_live());
        for d in coming.filter(|d| d.under_way()) {
            self.contains(target, &d.sha).await;
        }
    }

    /// Whether `other` contains `target`: git when the clone has both, else
    /// GitHub's compare `target...other` (ahead or identical).
    async fn contains(&self, target: &str, other: &str) -> Containment {
        if let Some(known) = self.remembered(other) {
            return known;
        }
        let answer = if same_commit(target, other) {
            Containment {
                contained: Ok(true),
                source: None,
            }
        } else {
            self.ask(target, other).await
        };
        self.memo
            .lock()
            .expect("not poisoned")
            .insert(other.to_owned(), answer.clone());
        answer
    }

    fn remembered(&self, other: &str) -> Option<Containment> {
        let memo = self.memo.lock().expect("not poisoned");
        memo.iter()
            .find(|(k, _)| same_commit(k, other))
            .map(|(_, c)| c.clone())
    }

    async fn ask(&self, target: &str, other: &str) -> Containment {
        let local = match self.dir {
            Some(dir) => {
                let limit = self.lookups.timeout();
                let _permit = self
                    .lookups
                    .semaphore
                    .acquire()
                    .await
                    .expect("never closed");
                match tokio::time::timeout(limit, git::contains(dir, other, target)).await {
                    Ok(Ok(c)) => {
                        return Containment {
                            contained: Ok(c),
                            source: Some(ContainmentSource::Git),
                        };
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => LookupError::GitTimeout {
                        limit,
                        what: "merge-base",
                        dir: dir.to_path_buf(),
                    }
                    .to_string(),
                }
            }
            None => "no `git` check in the config".to_owned(),
        };
        let Some((gh, repo)) = self.github() else {
            return Containment {
                contained: Err(self.scrubbed(local)),
                source: None,
            };
        };
        let contained = match self.lookups.compare(gh, repo, target, other).await {
            Ok(cmp) => {
                return Containment {
                    contained: Ok(matches!(cmp.status.as_str(), "identical" | "ahead")),
                    source: Some(ContainmentSource::Github),
                };
            }
            Err(CompareFailed::Unknown) => format!(
                "GitHub answered 404 comparing {} with {} in {repo} (a commit it does not have?)",
                short_sha(target),
                short_sha(other)
            ),
            Err(CompareFailed::Other(e)) => format!("{e}; and locally: {local}"),
        };
        Containment {
            contained: Err(self.scrubbed(contained)),
            source: None,
        }
    }

    fn scrubbed(&self, mut text: String) -> String {
        self.lookups.scrub(&mut text);
        text
    }
}
