//! GitHub probe: workflow runs, deployments, compare and commit CI.
//!
//! **octocrab is the client.** Every request goes through
//! [`Octocrab::_get_with_headers`] on a stack of octocrab's own layers
//! (base URL for api.github.com, GitHub Enterprise or the fake GitHub; the
//! token, sent only to that host; `X-GitHub-Api-Version`) over the process's
//! one reqwest client, so there is no second HTTP or TLS stack (rustls with
//! ring; octocrab's hyper client, aws-lc, retry and redirect layers are off).
//! The raw answer comes back with its headers, so what octocrab would hide
//! stays here: `ETag` / `If-None-Match` (an unchanged answer costs no rate
//! limit) with the memory and disk cache, the `x-ratelimit-*` and
//! `retry-after` headers, the shared in-flight requests and the per-run counters.
//!
//! **Models.** octocrab's `repos::Deployment` and `repos::DeploymentStatus`
//! read deployments and their statuses, each list entry on its own (one
//! entry GitHub sends in an unexpected shape costs that entry, see
//! `deployments`). Own structs remain (in `model`) where
//! octocrab's do not fit what GitHub sends: workflow runs (`name` and
//! `head_branch` are nullable in GitHub's schema but `String` in octocrab),
//! compare (octocrab's `CommitComparison` requires `node_id` and
//! `merge_base_commit`, which older and Enterprise answers lack, so a drift
//! would turn into an error), check runs (octocrab's `CheckRun` has no
//! `status`, which the CI verdict needs) and the combined status (only
//! `statuses[].state` is read, as a word, so an unknown state is counted,
//! not a parse error). Each struct names only the fields the report uses.
//!
//! One [`GithubClient`] per process; clones share the connection pool, the
//! ETag cache, the counters and the rate-limit state, so once GitHub says the
//! limit is used up no call of any check spends another request on it.

mod body;
mod cache;
mod check;
mod deployments;
mod error;
mod limits;
mod model;
mod pulls;
mod start;

use crate::redact::Redactor;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::service::middleware::reqwest_connector::ReqwestConnector;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};

use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use crate::outcome::{CommitCi, ErrorKind, GithubInfo};
use crate::units::ByteSize;
use cache::{Entry, EtagCache};
pub use check::{Request, observe};
pub use deployments::History;
pub use error::GithubError;
pub use model::{Compare, Deployment, WorkflowRun, ci_status};
use model::{RawCheckRuns, RawCombinedStatus, RawCompare, RawRun, RawRunList};
use octocrab::models::repos::DeploymentStatus as GhDeploymentStatus;
pub use pulls::MAX_COMMITS as MAX_PULL_REQUEST_COMMITS;
pub(crate) use start::start;

/// The public API's address; anything else is GitHub Enterprise or a test server.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Longest `retry-after` (secondary limit) sat out before retrying once;
/// longer waits become an error so a run is not held up for minutes.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Largest GitHub answer read by default (a compare of 300 files with
/// their patches is a few MiB); `[run] max_body` raises it, never lowers it.
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// Workflow runs asked for per check: the newest is the check's answer,
/// the successful ones before it are what "usually takes" is read from.
pub const RUN_HISTORY: usize = 10;

/// Error answers are read this far for GitHub's `message`.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Distinct warnings a run keeps: one per header and kind is what occurs.
const MAX_WARNINGS: usize = 16;

/// `gh auth token` gets this long; a hung credential helper must not hang `run`.
const GH_CLI_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the token came from, for the report's `github.auth` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable: `GITHUB_TOKEN` or `GH_TOKEN`.
    Env(&'static str),
    /// `gh auth token`.
    GhCli,
    /// No token; GitHub allows 60 requests an hour per IP address.
    Anonymous,
}

/// One per process; cheap to clone (Arc inside). All GitHub calls of a run
/// share it and run concurrently.
#[derive(Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
    /// What this handle and its clones spent; [`GithubClient::for_run`]
    /// starts a fresh one, so each run counts its own requests.
    spent: Arc<Spent>,
}

/// Requests sent and 304s received through one handle (and its clones).
#[derive(Debug, Default)]
struct Spent {
    requests: AtomicU64,
    not_modified: AtomicU64,
    /// What GitHub sent that was not used as sent, for the report.
    warnings: Mutex<Vec<String>>,
}

struct Inner {
    /// The one HTTP client (rustls with ring) octocrab sends through.
    http: reqwest::Client,
    /// Octocrab over `http`, built on first use (see [`GithubClient::octocrab`]);
    /// `Err` holds why `api_url` cannot be used.
    octo: OnceLock<Result<Octocrab, String>>,
    api_url: String,
    /// `Bearer …`, marked sensitive so no HTTP-level debug output prints it.
    auth_header: Option<HeaderValue>,
    /// Takes the token out of GitHub's error messages before they are cut.
    redactor: Redactor,
    source: TokenSource,
    cache: EtagCache,
    max_retry_wait_ms: AtomicU64,
    /// Bytes of one answer read at most ([`DEFAULT_MAX_BODY`]).
    max_body: AtomicU64,
    rate: Mutex<RateState>,
    /// Requests under way, by path, so concurrent identical calls share one.
    inflight: Mutex<HashMap<String, SharedFetch>>,
}

#[derive(Default)]
struct RateState {
    remaining: Option<u64>,
    reset: Option<DateTime<Utc>>,
    /// Set when GitHub said stop; calls before this instant fail without a request.
    blocked: Option<Block>,
}

#[derive(Clone, Copy)]
enum Block {
    Primary { reset: DateTime<Utc> },
    Secondary { until: DateTime<Utc> },
}

/// Hand-written so the token can never show up in `{:?}` output.
impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_url", &self.inner.api_url)
            .field("auth", &self.auth_description())
            .field("requests", &self.spent.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// `api_url` defaults to <https://api.github.com> (GHE / tests override);
    /// `cache_dir`: Some(user cache dir) enables the on-disk ETag cache.
    ///
    /// A token paired with [`TokenSource::Anonymous`], or an empty token, is
    /// not sent: the source is what the report claims, so the two must agree.
    pub fn new(
        http: reqwest::Client,
        api_url: &str,
        token: Option<(String, TokenSource)>,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        let api_url = if api_url.trim().is_empty() {
            DEFAULT_API_URL
        } else {
            api_url.trim()
        };
        let token = token.filter(|(t, s)| !t.trim().is_empty() && *s != TokenSource::Anonymous);
        let auth_header = token.as_ref().and_then(|(t, _)| {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.trim())).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        // A token that is not a valid header value is treated as absent, not sent mangled.
        let source = match (&auth_header, &token) {
            (Some(_), Some((_, s))) => *s,
            _ => TokenSource::Anonymous,
        };
        let cache = EtagCache::new(
            cache_dir,
            token
                .as_ref()
                .filter(|_| auth_header.is_some())
                .map(|(t, _)| t.trim()),
        );
        let redactor = Redactor::new(
            token
                .as_ref()
                .filter(|_| auth_header.is_some())
                .map(|(t, _)| t.trim()),
        );
        GithubClient {
            inner: Arc::new(Inner {
                http,
                octo: OnceLock::new(),
                api_url: api_url.trim_end_matches('/').to_string(),
                auth_header,
                redactor,
                source,
                cache,
                max_retry_wait_ms: AtomicU64::new(DEFAULT_MAX_RETRY_WAIT.as_millis() as u64),
                max_body: AtomicU64::new(DEFAULT_MAX_BODY as u64),
                rate: Mutex::new(RateState::default()),
                inflight: Mutex::new(HashMap::new()),
            }),
            spent: Arc::default(),
        }
    }

    /// The same client (connections, ETag cache, rate-limit state) with its
    /// own request counters starting at zero: one per run, so a report
    /// counts what its run spent even while another run is under way.
    pub fn for_run(&self) -> GithubClient {
        GithubClient {
            inner: Arc::clone(&self.inner),
            spent: Arc::default(),
        }
    }

    /// Cap on sitting out a secondary limit's `retry-after`; the runner sets
    /// it below its per-check timeout so a retry can still finish in time.
    pub fn set_max_retry_wait(&self, wait: Duration) {
        self.inner
            .max_retry_wait_ms
            .store(wait.as_millis() as u64, Ordering::Relaxed);
    }

    /// Cap on one answer's size: `max_body` when it is above
    /// [`DEFAULT_MAX_BODY`], else that default (a `[run] max_body` sized for
    /// health endpoints must not break a compare).
    pub fn set_max_body(&self, max_body: usize) {
        let cap = max_body.max(DEFAULT_MAX_BODY);
        self.inner
            .max_body
            .store(u64::try_from(cap).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn max_body(&self) -> usize {
        usize::try_from(self.inner.max_body.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Notes `warning` (once) for this run's report.
    fn warn(&self, warning: Option<String>) {
        let Some(warning) = warning else {
            return;
        };
        let mut warnings = self.spent.warnings.lock().expect("warnings lock");
        if warnings.len() < MAX_WARNINGS && !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }

    /// The value of a range-checked header; its warning, if any, is noted.
    fn read<T>(&self, read: limits::Read<T>) -> Option<T> {
        self.warn(read.warning);
        read.value
    }

    /// GITHUB_TOKEN, then GH_TOKEN, then `gh auth token` if gh is installed
    /// (with a short timeout), else None.
    pub fn resolve_token() -> Option<(String, TokenSource)> {
        for name in ["GITHUB_TOKEN", "GH_TOKEN"] {
            if let Ok(t) = std::env::var(name)
                && !t.trim().is_empty()
            {
                return Some((t.trim().to_string(), TokenSource::Env(name)));
            }
        }
        gh_auth_token().map(|t| (t, TokenSource::GhCli))
    }

    /// "token from GITHUB_TOKEN" | "token from gh auth token" |
    /// "anonymous (60 requests/hour; set GITHUB_TOKEN)".
    pub fn auth_description(&self) -> String {
        match self.inner.source {
            TokenSource::Env(name) => format!("token from {name}"),
            TokenSource::GhCli => "token from gh auth token".to_string(),
            TokenSource::Anonymous => "anonymous (60 requests/hour; set GITHUB_TOKEN)".to_string(),
        }
    }

    /// Requests sent and 304s since this client was created or made with
    /// [`GithubClient::for_run`] (its clones count together), and the last
    /// rate-limit headers any handle saw.
    pub fn stats(&self) -> GithubInfo {
        let rate = self.inner.rate.lock().expect("rate lock");
        let requests = self.spent.requests.load(Ordering::Relaxed);
        let not_modified = self.spent.not_modified.load(Ordering::Relaxed);
        GithubInfo {
            auth: self.auth_description(),
            requests,
            not_modified,
            rate_limit_points: requests.saturating_sub(not_modified),
            rate_limit_remaining: rate.remaining,
            rate_limit_reset: rate.reset,
            warnings: self.spent.warnings.lock().expect("warnings lock").clone(),
        }
    }

    /// GET {api_url}/{path}: conditional (stored ETag → If-None-Match; 304
    /// reuses the cached body and is counted as not_modified), rate-limit
    /// aware. Returns parsed JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, GithubError> {
        Ok((*self.get_shared(path).await?).clone())
    }

    /// The latest run of `workflow` (file name or id), optionally on `branch`.
    pub async fn latest_workflow_run(
        &self,
        repo: &str,
        workflow: &str,
        branch: Option<&str>,
        stalled_after: Option<Duration>,
    ) -> Result<WorkflowRun, GithubError> {
        check_repo(repo)?;
        // One page of recent runs, not one run: the same single request
        // (0 points once unchanged) also says how long the workflow usually
        // takes, so a run can be `slow` (issue 21).
        let mut path = format!(
            "repos/{repo}/actions/workflows/{}/runs?per_page={RUN_HISTORY}",
            encode(workflow)
        );
        if let Some(b) = branch {
            path.push_str("&branch=");
            path.push_str(&encode(b));
        }
        let body = self.get_shared(&path).await?;
        let list: RawRunList = parse(&path, &body)?;
        let mut runs = list.workflow_runs.into_iter();
        let Some(json) = runs.next() else {
            return Err(GithubError::NoRuns {
                repo: repo.to_string(),
                workflow: workflow.to_string(),
                branch: branch.map(str::to_string),
            });
        };
        let raw: RawRun = parse(&path, &json)?;
        let mut run = WorkflowRun::from_raw(raw, json, Utc::now(), stalled_after);
        // An older run that does not parse is left out of the sample, not
        // an error of the check: only the newest run is the check's answer.
        run.recent_durations_s = runs
            .filter_map(|j| serde_json::from_value::<RawRun>(j).ok())
            .filter_map(|r| model::finished_in_s(&r))
            .collect();
        Ok(run)
    }

    /// The newest deployment to `environment` and the state of its newest status.
    pub async fn latest_deployment(
        &self,
        repo: &str,
        environment: &str,
    ) -> Result<Deployment, GithubError> {
        check_repo(repo)?;
        let path = format!(
            "repos/{repo}/deployments?environment={}&per_page=1",
            encode(environment)
        );
        let body = self.get_shared(&path).await?;
        let list: Vec<Value> = parse(&path, &body)?;
        let Some(mut json) = list.into_iter().next() else {
            return Err(GithubError::NoDeployments {
                repo: repo.to_string(),
                environment: environment.to_string(),
            });
        };
        let deployments::Read {
            deployment: raw,
            creator,
        } = deployments::read(&json).map_err(|detail| GithubError::BadResponse {
            path: path.split('?').next().unwrap_or(&path).to_string(),
            detail,
        })?;
        let (latest, status) = self.latest_status(repo, raw.id.into_inner()).await?;
        if let Value::Object(map) = &mut json {
            map.insert("latest_status".into(), latest.unwrap_or(Value::Null));
        }
        Ok(Deployment {
            sha: raw.sha,
            r#ref: raw.ref_field,
            created_at: model::rfc3339(&raw.created_at),
            creator,
            state: status.as_ref().map(|s| model::state_word(s.state)),
            environment_url: status.and_then(|s| s.environment_url),
            json,
        })
    }

    /// The newest status of deployment `id` (GitHub lists statuses newest
    /// first), as sent and parsed; None when it has none yet.
    async fn latest_status(
        &self,
        repo: &str,
        id: u64,
    ) -> Result<(Option<Value>, Option<GhDeploymentStatus>), GithubError> {
        let path = format!("repos/{repo}/deployments/{id}/statuses?per_page=1");
        let statuses = self.get_shared(&path).await?;
        let statuses: Vec<Value> = parse(&path, &statuses)?;
        let latest = statuses.into_iter().next();
        let parsed = match &latest {
            Some(v) => Some(parse(&path, v)?),
            None => None,
        };
        Ok((latest, parsed))
    }

    /// How `head` relates to `base`: for drift, `base` is the environment and
    /// `head` the one it tracks, so `ahead_by` is how far behind it is.
    pub async fn compare(
        &self,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Compare, GithubError> {
        check_repo(repo)?;
        let path = format!("repos/{repo}/compare/{}...{}", encode(base), encode(head));
        let body = self.get_shared(&path).await?;
        let raw: RawCompare = parse(&path, &body)?;
        Ok(Compare::from_raw(raw, (*body).clone()))
    }

    /// Whether GitHub knows commit `sha` in `repo` (`GET
    /// repos/{repo}/commits/{sha}`): asked only after a compare answered
    /// 404, to say which of its two sides is missing. A 404 (or the 422
    /// "No commit found for SHA" GitHub sends for a sha it lacks) is
    /// `false`; any other failure is the error.
    pub async fn commit_known(&self, repo: &str, sha: &str) -> Result<bool, GithubError> {
        check_repo(repo)?;
        let path = format!("repos/{repo}/commits/{}", encode(sha));
        match self.get_shared(&path).await {
            // A commit object names its sha; anything else is no answer.
            Ok(body) if body.get("sha").is_some_and(Value::is_string) => Ok(true),
            Ok(_) => Err(GithubError::BadResponse {
                path,
                detail: "a commit without a `sha`".into(),
            }),
            Err(GithubError::NotFound { .. }) => Ok(false),
            Err(GithubError::UnexpectedStatus { status, .. }) if status.starts_with("422") => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The committer date of commit `sha` in `repo` (`GET
    /// repos/{repo}/commits/{sha}`, conditional like every call, so a warm
    /// lookup is a free 304): when the commit landed on its branch, DORA's
    /// start of a lead time. A commit without a readable date is a bad response.
    pub async fn commit_date(
        &self,
        repo: &str,
        sha: &str,
    ) -> Result<chrono::DateTime<chrono::Utc>, GithubError> {
        check_repo(repo)?;
        let path = format!("repos/{repo}/commits/{}", encode(sha));
        let body = self.get_shared(&path).await?;
        body["commit"]["committer"]["date"]
            .as_str()
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .ok_or(GithubError::BadResponse {
                path,
                detail: "a commit without a readable `commit.committer.date`".into(),
            })
    }

    /// Commit statuses and check runs of `sha`, folded into one verdict:
    /// any failure → failure, else running → in_progress, else queued, else
    /// success; nothing reported → unknown. Both calls run concurrently.
    pub async fn commit_ci(&self, repo: &str, sha: &str) -> Result<CommitCi, GithubError> {
        check_repo(repo)?;
        let sha_enc = encode(sha);
        let status_path = format!("repos/{repo}/commits/{sha_enc}/status");
        let checks_path = format!("repos/{repo}/commits/{sha_enc}/check-runs?per_page=100");
        let (statuses, checks) =
            tokio::join!(self.get_shared(&status_path), self.get_shared(&checks_path));
        let statuses: RawCombinedStatus = parse(&status_path, &*statuses?)?;
        let checks: RawCheckRuns = parse(&checks_path, &*checks?)?;
        let (status, counts, failing) = model::combine_ci(&statuses, &checks);
        Ok(CommitCi {
            status,
            url: Some(format!("{}/{repo}/commit/{sha}", self.web_url())),
            counts,
            failing,
            error: None,
            duration_ms: None,
        })
    }

    /// github.com for the public API, the host for GHE's `/api/v3`.
    fn web_url(&self) -> String {
        let api = &self.inner.api_url;
        match api.strip_suffix("/api/v3") {
            Some(host) => host.to_string(),
            None => "https://github.com".to_string(),
        }
    }

    /// The body behind `path`, shared with the cache so a 304 costs no copy.
    ///
    /// Concurrent calls for the same path share one request: two
    /// environments running the same sha ask for the same commit CI in the
    /// same run, and that should cost one request, not two.
    async fn get_shared(&self, path: &str) -> Result<Arc<Value>, GithubError> {
        Ok(self.get_page(path).await?.body)
    }

    /// Like [`GithubClient::get_shared`], with the next page's path when
    /// GitHub's `Link` header names one on the same API host.
    async fn get_page(&self, path: &str) -> Result<Fetched, GithubError> {
        let path = path.trim_start_matches('/').to_string();
        let (fut, leader) = {
            let mut inflight = self.inner.inflight.lock().expect("inflight lock");
            match inflight.get(&path) {
                Some(f) => (f.clone(), false),
                None => {
                    let this = self.clone();
                    let p = path.clone();
                    let f = async move { this.fetch(&p).await }.boxed().shared();
                    inflight.insert(path.clone(), f.clone());
                    (f, true)
                }
            }
        };
        // The leader removes the entry even if it is cancelled (a timeout):
        // the next call then starts afresh instead of joining a dead request.
        let _guard = leader.then(|| InflightGuard {
            client: self,
            path: &path,
        });
        fut.await
    }

    async fn fetch(&self, path: &str) -> Result<Fetched, GithubError> {
        let url = format!("{}/{}", self.inner.api_url, path);
        let shown = path.split('?').next().unwrap_or(path);
        let mut retried = false;
        loop {
            self.fail_fast()?;
            let (cached, skipped) = self.inner.cache.get(&url, self.max_body()).await;
            self.warn(skipped);
            let resp = self.send(path, cached.as_ref()).await?;
            self.spent.requests.fetch_add(1, Ordering::Relaxed);
            let (parts, body) = resp.into_parts();
            self.record_rate(&parts.headers);
            let status = parts.status;

            if status == StatusCode::NOT_MODIFIED {
                if let Some(entry) = cached {
                    self.spent.not_modified.fetch_add(1, Ordering::Relaxed);
                    return Ok(Fetched {
                        body: entry.body,
                        next: entry.next,
                    });
                }
                // Only possible if someone else sent our ETag; nothing to reuse.
                return Err(GithubError::BadResponse {
                    path: shown.to_string(),
                    detail: "304 Not Modified without a cached body".into(),
                });
            }
            if status.is_success() {
                return self.accept(path, &url, &parts.headers, body).await;
            }
            // An error answer cut short (or too long) is still classified by its status.
            let bytes = body::read(body, MAX_ERROR_BODY, None)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let message = error_message(&self.inner.redactor.redact(&text));
            match self.classify(status, &parts.headers, &message, shown) {
                Failure::RetryAfter(wait) if !retried => {
                    retried = true;
                    tokio::time::sleep(wait).await;
                }
                Failure::RetryAfter(wait) => {
                    return Err(self.block_secondary(wait.as_secs().max(1)));
                }
                Failure::Error(e) => return Err(e),
            }
        }
    }

    /// A 2xx answer: read up to the cap (a page cut to its `per_page` as it
    /// arrives), parsed, and remembered with its `ETag`.
    async fn accept(
        &self,
        path: &str,
        url: &str,
        headers: &HeaderMap,
        body: BoxBody<Bytes, octocrab::Error>,
    ) -> Result<Fetched, GithubError> {
        let shown = path.split('?').next().unwrap_or(path);
        let cap = self.max_body();
        let bytes = match body::read(body, cap, body::per_page(path)).await {
            Ok(bytes) => bytes,
            Err(body::BodyError::TooLarge) => {
                return Err(GithubError::TooLarge {
                    path: shown.to_string(),
                    limit: ByteSize::from(cap),
                });
            }
            Err(body::BodyError::Read(e)) => return Err(self.unreachable(&e)),
        };
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| GithubError::BadResponse {
            path: shown.to_string(),
            detail: e.to_string(),
        })?;
        drop(bytes);
        let body = Arc::new(body);
        let next = next_link(headers);
        let etag = headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(etag) = etag {
            let entry = Entry {
                etag,
                body: body.clone(),
                next: next.clone(),
            };
            let skipped = self.inner.cache.put(url, entry).await;
            self.warn(skipped);
        }
        Ok(Fetched { body, next })
    }

    /// GET `path` through octocrab: its stack adds the base URL, the token
    /// (only towards `api_url`) and `X-GitHub-Api-Version`; the conditional
    /// header is ours, and the raw answer comes back with its headers.
    async fn send(&self, path: &str, cached: Option<&Entry>) -> Result<RawResponse, GithubError> {
        let octo = self.octocrab()?;
        let mut headers = HeaderMap::new();
        if let Some(entry) = cached
            && let Ok(etag) = HeaderValue::from_str(&entry.etag)
        {
            headers.insert(header::IF_NONE_MATCH, etag);
        }
        octo._get_with_headers(format!("/{path}"), Some(headers))
            .await
            .map_err(|e| self.unreachable(&e))
    }

    /// The octocrab client, built on first use: its request queue is a task
    /// on the tokio runtime, which is only certain to run once a call is made.
    fn octocrab(&self) -> Result<&Octocrab, GithubError> {
        self.inner
            .octo
            .get_or_init(|| {
                build_octocrab(
                    self.inner.http.clone(),
                    &self.inner.api_url,
                    self.inner.auth_header.clone(),
                )
            })
            .as_ref()
            .map_err(|reason| GithubError::Unreachable {
                kind: ErrorKind::Config,
                api_url: self.inner.api_url.clone(),
                reason: reason.clone(),
            })
    }

    /// Turns a non-2xx answer into a retry or the error a person acts on.
    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        message: &str,
        path: &str,
    ) -> Failure {
        let code = status_text(status);
        let limited = status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS;
        let remaining = self.read(limits::remaining(raw(headers, "x-ratelimit-remaining")));
        if limited && remaining == Some(0) {
            let now = Utc::now();
            let reset = match self.read(limits::reset(raw(headers, "x-ratelimit-reset"), now)) {
                Some(reset) if reset > now => reset,
                sent => {
                    if sent.is_some() {
                        self.warn(Some(
                            "GitHub's x-ratelimit-reset is in the past; waiting for the hourly window instead".into(),
                        ));
                    }
                    // Documented fallback when reset is missing: the hourly window.
                    now + TimeDelta::hours(1)
                }
            };
            let mut rate = self.inner.rate.lock().expect("rate lock");
            rate.blocked = Some(Block::Primary { reset });
            drop(rate);
            return Failure::Error(self.primary_error(reset));
        }
        let retry_after = self.read(limits::retry_after(raw(headers, "retry-after")));
        let secondary_text = message
            .to_ascii_lowercase()
            .contains("secondary rate limit");
        if limited && (retry_after.is_some() || secondary_text || status.as_u16() == 429) {
            // Without retry-after GitHub says wait at least a minute.
            let wait_s = retry_after.unwrap_or(60);
            let max_ms = self.inner.max_retry_wait_ms.load(Ordering::Relaxed);
            if wait_s.saturating_mul(1000) <= max_ms {
                return Failure::RetryAfter(Duration::from_secs(wait_s));
            }
            return Failure::Error(self.block_secondary(wait_s));
        }
        let path = path.to_string();
        Failure::Error(match status.as_u16() {
            401 => GithubError::BadCredentials,
            404 => GithubError::NotFound { path },
            403 => GithubError::Forbidden {
                path,
                message: message.to_string(),
            },
            500..=599 => GithubError::Server { status: code, path },
            _ => GithubError::UnexpectedStatus {
                status: code,
                path,
                message: message.to_string(),
            },
        })
    }

    fn block_secondary(&self, wait_s: u64) -> GithubError {
        // Never more than the longest retry-after believed: so the seconds
        // fit any clock arithmetic.
        let wait_s = wait_s.min(limits::MAX_RETRY_AFTER_S);
        let now = Utc::now();
        let until = i64::try_from(wait_s)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        self.inner.rate.lock().expect("rate lock").blocked = Some(Block::Secondary { until });
        GithubError::SecondaryRateLimited {
            retry_after_s: wait_s,
        }
    }

    /// While GitHub's "stop" is in force, fail without sending: every request
    /// then would be refused and could lengthen a secondary block.
    fn fail_fast(&self) -> Result<(), GithubError> {
        let mut rate = self.inner.rate.lock().expect("rate lock");
        let now = Utc::now();
        match rate.blocked {
            Some(Block::Primary { reset }) if reset > now => Err(self.primary_error(reset)),
            Some(Block::Secondary { until }) if until > now => {
                Err(GithubError::SecondaryRateLimited {
                    retry_after_s: (until - now).num_seconds().max(1) as u64,
                })
            }
            Some(_) => {
                rate.blocked = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn primary_error(&self, reset: DateTime<Utc>) -> GithubError {
        GithubError::RateLimited {
            reset,
            wait_s: (reset - Utc::now()).num_seconds().max(0) as u64,
            authenticated: self.inner.auth_header.is_some(),
        }
    }

    fn record_rate(&self, headers: &HeaderMap) {
        let remaining = self.read(limits::remaining(raw(headers, "x-ratelimit-remaining")));
        let reset = self.read(limits::reset(raw(headers, "x-ratelimit-reset"), Utc::now()));
        if remaining.is_none() && reset.is_none() {
            return;
        }
        let mut rate = self.inner.rate.lock().expect("rate lock");
        rate.remaining = remaining.or(rate.remaining);
        rate.reset = reset.or(rate.reset);
    }

    fn unreachable(&self, e: &(dyn std::error::Error + 'static)) -> GithubError {
        // The innermost cause ("Connection refused (os error 111)") is the
        // useful part; the layers above it repeat the URL or say "service error".
        let mut source: &(dyn std::error::Error + 'static) = e;
        let mut timed_out = false;
        // octocrab wraps reqwest's error; the kind (timeout, refused, DNS,
        // TLS) is read from it, as for every other HTTP probe.
        let mut kind = ErrorKind::Connection;
        loop {
            if let Some(r) = source.downcast_ref::<reqwest::Error>() {
                timed_out |= r.is_timeout();
                kind = super::http::describe_error(r, &self.inner.api_url).kind;
            }
            match source.source() {
                Some(next) => source = next,
                None => break,
            }
        }
        GithubError::Unreachable {
            kind,
            api_url: self.inner.api_url.clone(),
            reason: if timed_out {
                "timed out".to_string()
            } else {
                source.to_string()
            },
        }
    }
}

/// What octocrab's raw GET returns: status, headers and the unread body.
type RawResponse = http::Response<BoxBody<Bytes, octocrab::Error>>;

/// Octocrab's own layers (base URL, token towards that host only, our
/// `User-Agent` and `Accept`) over the shared reqwest client; no retry or
/// redirect layer: rate limits and retries are handled above, in [`GithubClient::fetch`].
fn build_octocrab(
    http: reqwest::Client,
    api_url: &str,
    auth: Option<HeaderValue>,
) -> Result<Octocrab, String> {
    let base: http::Uri = api_url
        .parse()
        .map_err(|_| format!("`{api_url}` is not a URL"))?;
    if base.scheme().is_none() || base.authority().is_none() {
        return Err(format!("`{api_url}` is not an absolute http(s) URL"));
    }
    let headers = vec![
        (
            header::USER_AGENT,
            HeaderValue::from_static(concat!("villa-telemetry/", env!("CARGO_PKG_VERSION"))),
        ),
        (
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        ),
    ];
    let Ok(octo) = OctocrabBuilder::new_empty()
        .with_service(ReqwestConnector::new(http))
        .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&AuthHeaderLayer::new(auth, base.clone(), base))
        .with_auth(AuthState::None)
        .build();
    Ok(octo)
}

type SharedFetch = Shared<BoxFuture<'static, Result<Fetched, GithubError>>>;

/// One answer: the body, and the `Link` rel="next" URL it carried.
#[derive(Clone)]
struct Fetched {
    body: Arc<Value>,
    next: Option<String>,
}

/// The `rel="next"` URL of a `Link` header (GitHub's pagination).
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

struct InflightGuard<'a> {
    client: &'a GithubClient,
    path: &'a str,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut inflight) = self.client.inner.inflight.lock() {
            inflight.remove(self.path);
        }
    }
}

enum Failure {
    RetryAfter(Duration),
    Error(GithubError),
}

fn parse<T: for<'de> Deserialize<'de>>(path: &str, body: &Value) -> Result<T, GithubError> {
    T::deserialize(body).map_err(|e| GithubError::BadResponse {
        path: path.split('?').next().unwrap_or(path).to_string(),
        detail: e.to_string(),
    })
}

fn check_repo(repo: &str) -> Result<(), GithubError> {
    let mut parts = repo.split('/');
    let ok = matches!((parts.next(), parts.next(), parts.next()),
        (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty()
            && repo.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(GithubError::InvalidRepo {
            repo: repo.to_string(),
        })
    }
}

/// Bytes kept as they are in a path segment or query value: RFC 3986's
/// unreserved characters; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode one path segment or query value.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A header's bytes, for [`limits`] to range-check.
fn raw<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get(name).map(HeaderValue::as_bytes)
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// GitHub's `message`, else the start of the body.
fn error_message(text: &str) -> String {
    #[derive(Deserialize)]
    struct Msg {
        message: String,
    }
    match serde_json::from_str::<Msg>(text) {
        Ok(m) => m.message,
        Err(_) => text.chars().take(200).collect(),
    }
}

/// `gh auth token`, killed after [`GH_CLI_TIMEOUT`]; None if gh is missing,
/// logged out or slow.
fn gh_auth_token() -> Option<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("gh")
        .args(["auth", "token"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + GH_CLI_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) => return None,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    let token = out.trim().to_string();
    (!token.is_empty()).then_some(token)
}
