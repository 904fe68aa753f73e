//! The clients every run shares (HTTP, GitHub, the plugins' HTTP) and the
//! run's secrets: what a probe needs besides its own spec.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::plan::{Plan, ProbeSpec, RequestSpec, secret_refs};
use crate::redact::Redactor;

use super::github::{GithubClient, TokenSource};

/// Shared clients every run uses: one HTTP client, one GitHub client, one
/// plugin host.
#[derive(Clone)]
pub struct Services {
    /// Shared by every HTTP check.
    pub http: reqwest::Client,
    /// Present when the plan talks to GitHub (a repo and a github check).
    pub github: Option<GithubClient>,
    /// For plugins' `http-fetch`: follows no redirects itself, so the host
    /// can re-check the allowlist on every hop.
    pub plugin_http: reqwest::Client,
    /// Compares GitHub answered 404 (a sha it does not have, e.g. an
    /// unpushed local HEAD), by API path, with when. A 404 carries no ETag,
    /// so asking again on every `serve` refresh would cost a rate-limit
    /// point each time; the runner skips them for [`NOT_FOUND_TTL`].
    pub(crate) github_not_found: std::sync::Arc<Mutex<HashMap<String, Instant>>>,
    /// Commits GitHub answered for (`repos/O/R/commits/SHA`, asked after a
    /// compare 404 to tell which side it lacks), by API path, with when: a
    /// warm refresh with the same 404 then asks nothing at all.
    pub(crate) github_known_commits: std::sync::Arc<Mutex<HashMap<String, Instant>>>,
    /// The GitHub token (for plugins' `github-get`).
    pub(crate) secrets: Vec<String>,
    /// The run's secrets (the GitHub token and every `${VAR}` in a header
    /// value) in every form: a proxy or an upstream that echoes a header must
    /// not leak it, whichever check's output it lands in.
    pub(crate) redactor: Redactor,
}

/// How long a GitHub 404 for a compare (and a commit lookup's answer) is
/// believed before asking again.
pub const NOT_FOUND_TTL: std::time::Duration = std::time::Duration::from_secs(600);

impl Services {
    /// Clients for `plan`, with the GitHub token from the environment.
    pub fn new(plan: &Plan) -> Self {
        let wants_token = uses_github(plan)
            || plan
                .checks
                .iter()
                .any(|c| matches!(&c.probe, ProbeSpec::Plugin(p) if !p.allow_github.is_empty()));
        let token = if wants_token {
            GithubClient::resolve_token()
        } else {
            None
        };
        Self::with_token(plan, token)
    }

    /// Clients for `plan` with this GitHub token (None: anonymous).
    pub fn with_token(plan: &Plan, token: Option<(String, TokenSource)>) -> Self {
        let http = super::http::client();
        let secrets: Vec<String> = token
            .iter()
            .map(|(t, _)| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        // Plugins' `github-get` goes through the same client as the probe.
        let plugins_read_github = plan
            .checks
            .iter()
            .any(|c| matches!(&c.probe, ProbeSpec::Plugin(p) if !p.allow_github.is_empty()));
        let github = (uses_github(plan) || plugins_read_github).then(|| {
            let cache_dir = plan
                .settings
                .github_disk_cache
                .then(crate::paths::cache_dir)
                .flatten();
            GithubClient::new(
                http.clone(),
                &plan.settings.github_api_url,
                token,
                cache_dir,
            )
        });
        if let Some(gh) = &github {
            // A secondary limit's retry must still fit in the check's timeout.
            let shortest = plan
                .checks
                .iter()
                .filter(|c| matches!(c.probe, ProbeSpec::Github { .. }))
                .map(|c| c.timeout)
                .min()
                .unwrap_or(plan.settings.timeout);
            gh.set_max_retry_wait(shortest / 2);
            gh.set_max_body(plan.settings.body_cap);
        }
        // Building a TLS client reads the system's root certificates (~150
        // files): only pay for a second one when a plugin may fetch.
        let plugin_http = if plan
            .checks
            .iter()
            .any(|c| matches!(c.probe, ProbeSpec::Plugin(_)))
        {
            super::http::plugin_client()
        } else {
            http.clone()
        };
        Services {
            http,
            github,
            plugin_http,
            github_not_found: std::sync::Arc::default(),
            github_known_commits: std::sync::Arc::default(),
            redactor: Redactor::new(secrets.iter().chain(&header_secrets(plan))),
            secrets,
        }
    }
}

/// The values of every `${VAR}` the plan names, as set now: in checks'
/// header values, and in actions' header values and bodies (a report must
/// not show a deploy token that a check happened to read).
fn header_secrets(plan: &Plan) -> Vec<String> {
    let checks = plan
        .checks
        .iter()
        .filter_map(|c| match &c.probe {
            ProbeSpec::Http { headers, .. } => Some(headers),
            _ => None,
        })
        .flatten()
        .map(|(_, value)| value);
    let actions = plan.actions.list.iter().flat_map(|a| match &a.request {
        RequestSpec::Http { headers, body, .. } => {
            headers.iter().map(|(_, v)| v).chain(body).collect()
        }
        RequestSpec::Dispatch { .. } => Vec::new(),
    });
    checks
        .chain(actions)
        .flat_map(|value| secret_refs(value))
        .filter_map(|var| std::env::var(var).ok())
        .collect()
}

/// A plan uses GitHub when it has a github check.
pub fn uses_github(plan: &Plan) -> bool {
    plan.checks
        .iter()
        .any(|c| matches!(c.probe, ProbeSpec::Github { .. }))
}
