//! Why a GitHub call did not produce an answer, in words a person acts on.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::outcome::ErrorKind;
use crate::units;

/// A GitHub call that did not produce a usable answer.
///
/// `Display` is the sentence shown as the check's `error`, so each variant
/// says what happened and what to do. No variant holds the token, so neither
/// `Display` nor `Debug` can leak it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GithubError {
    /// Primary rate limit used up (403/429 with `x-ratelimit-remaining: 0`).
    /// Every later call fails with this, without a request, until `reset`.
    #[error(
        "GitHub rate limit exhausted, resets at {} UTC ({}){}",
        reset.format("%H:%M"),
        in_words(*wait_s),
        if *authenticated { "" } else { "; set GITHUB_TOKEN" }
    )]
    RateLimited {
        /// When GitHub resets the window (`x-ratelimit-reset`).
        reset: DateTime<Utc>,
        /// Seconds from the failed call to `reset`.
        wait_s: u64,
        /// A token was sent, so "set GITHUB_TOKEN" would not help.
        authenticated: bool,
    },
    /// Secondary (abuse) rate limit with a wait too long to sit out.
    #[error(
        "GitHub secondary rate limit; retry after {}",
        units::duration(Duration::from_secs(*retry_after_s))
    )]
    SecondaryRateLimited {
        /// Seconds GitHub asked us to wait (`retry-after`, else the documented minute).
        retry_after_s: u64,
    },
    /// 401: the token is wrong, expired or revoked.
    #[error("GitHub token rejected (401 Bad credentials); check GITHUB_TOKEN")]
    BadCredentials,
    /// 404: GitHub answers 404, not 403, for private repos it will not show.
    #[error(
        "GitHub answered 404 for {path}: a wrong repo or workflow name, a commit not pushed, or a private repo without a token?"
    )]
    NotFound {
        /// The API path asked for.
        path: String,
    },
    /// 403 that is not a rate limit (missing scope, SSO, blocked).
    #[error("GitHub refused {path} (403 Forbidden: {message})")]
    Forbidden {
        /// The API path asked for.
        path: String,
        /// GitHub's `message`.
        message: String,
    },
    /// 5xx from GitHub.
    #[error("GitHub returned {status} for {path}")]
    Server {
        /// Code and reason, e.g. "502 Bad Gateway".
        status: String,
        /// The API path asked for.
        path: String,
    },
    /// Any other status GitHub should not send for a GET.
    #[error("GitHub returned {status} for {path}: {message}")]
    UnexpectedStatus {
        /// Code and reason.
        status: String,
        /// The API path asked for.
        path: String,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// DNS, connect, TLS or timeout before an answer.
    #[error("cannot reach GitHub at {api_url}: {reason}")]
    Unreachable {
        /// Timeout, refused, DNS, TLS or another connection failure.
        kind: ErrorKind,
        /// Base URL in use.
        api_url: String,
        /// The lowest-level cause, e.g. "Connection refused (os error 111)".
        reason: String,
    },
    /// A 2xx body that is not the JSON shape expected.
    #[error("unexpected response from GitHub for {path}: {detail}")]
    BadResponse {
        /// The API path asked for.
        path: String,
        /// The serde error or the missing piece.
        detail: String,
    },
    /// A 2xx answer past the size cap: reading stopped there.
    #[error(
        "GitHub answer larger than {limit} for {path}; reading stopped there (raise [run] max_body)"
    )]
    TooLarge {
        /// The API path asked for.
        path: String,
        /// The cap (`[run] max_body`, at least 8 MiB).
        limit: units::ByteSize,
    },
    /// The workflow exists but has no run (on that branch).
    #[error("workflow {workflow} has no runs{} in {repo}", branch.as_deref().map(|b| format!(" on branch {b}")).unwrap_or_default())]
    NoRuns {
        /// `owner/name`.
        repo: String,
        /// Workflow file name or id.
        workflow: String,
        /// Branch filter, if any.
        branch: Option<String>,
    },
    /// No deployment to that environment.
    #[error("no deployments to environment {environment} in {repo}")]
    NoDeployments {
        /// `owner/name`.
        repo: String,
        /// GitHub environment name.
        environment: String,
    },
    /// A caller passed something that cannot be a repository.
    #[error("invalid GitHub repository {repo:?}: expected owner/name")]
    InvalidRepo {
        /// What was given.
        repo: String,
    },
}

impl GithubError {
    /// The closed-set kind, for advice and blame.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GithubError::RateLimited { .. } | GithubError::SecondaryRateLimited { .. } => {
                ErrorKind::RateLimited
            }
            GithubError::BadCredentials | GithubError::Forbidden { .. } => ErrorKind::Unauthorized,
            GithubError::NotFound { .. } => ErrorKind::NotFound,
            GithubError::Server { .. } | GithubError::UnexpectedStatus { .. } => {
                ErrorKind::HttpStatus
            }
            GithubError::Unreachable { kind, .. } => *kind,
            GithubError::BadResponse { .. } => ErrorKind::BadResponse,
            GithubError::TooLarge { .. } => ErrorKind::TooLarge,
            GithubError::NoRuns { .. } | GithubError::NoDeployments { .. } => ErrorKind::NoData,
            GithubError::InvalidRepo { .. } => ErrorKind::Config,
        }
    }
}

/// "in 17m" / "in 40 s": minutes are rounded up so "in 0m" never shows.
fn in_words(wait_s: u64) -> String {
    let shown = if wait_s < 60 {
        wait_s
    } else {
        wait_s.div_ceil(60).saturating_mul(60)
    };
    format!("in {}", units::duration(Duration::from_secs(shown)))
}
