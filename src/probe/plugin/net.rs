//! Networking for plugins: `http-fetch` and `github-get`, each checked against the check's allowlist.

use std::time::{Duration, Instant};

use crate::redact::Redactor;

use super::bindings::villa::telemetry::host;
use crate::probe::github::GithubClient;
use crate::units::ByteSize;

/// Redirect hops `http-fetch` follows, re-checking the allowlist each time.
const MAX_REDIRECTS: usize = 5;

/// What the network imports may do during one run.
pub(super) struct Net {
    pub(super) allow_http: Vec<String>,
    pub(super) allow_github: Vec<String>,
    pub(super) http: Option<reqwest::Client>,
    pub(super) github: Option<GithubClient>,
    pub(super) body_cap: usize,
    pub(super) deadline: Instant,
    /// Takes the run's secrets (the token above all) out of what reaches
    /// the plugin and its error messages.
    pub(super) redactor: Redactor,
}

impl Net {
    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    pub(super) async fn fetch(
        &self,
        req: host::HttpRequest,
    ) -> Result<host::HttpResponse, host::HttpError> {
        use host::HttpError;
        let Some(client) = &self.http else {
            return Err(HttpError::Denied("no network access here".into()));
        };
        let mut method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpError::Transport(format!("invalid method {:?}", req.method)))?;
        let mut url = reqwest::Url::parse(&req.url)
            .map_err(|e| HttpError::Transport(format!("invalid URL {:?}: {e}", req.url)))?;
        let mut body = req.body;
        let mut headers = req.headers;
        for hop in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HttpError::Denied(format!(
                    "scheme {:?} is not allowed (http and https only)",
                    url.scheme()
                )));
            }
            let host = url
                .host_str()
                .unwrap_or("")
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            if !host_allowed(&host, &self.allow_http) {
                let what = if hop == 0 { "host" } else { "redirect to host" };
                return Err(HttpError::Denied(format!(
                    "{what} {host:?} is not in allow.http"
                )));
            }
            let remaining = self.remaining().ok_or(HttpError::Timeout)?;
            let mut builder = client
                .request(method.clone(), url.clone())
                .timeout(remaining);
            for (name, value) in &headers {
                // The URL decides where the request goes, not a Host header.
                if !name.eq_ignore_ascii_case("host") {
                    builder = builder.header(name.as_str(), value.as_str());
                }
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let resp = builder.send().await.map_err(reqwest_error)?;
            if resp.url() != &url {
                // The caller's client followed a redirect itself, past our allowlist check.
                return Err(HttpError::Denied(
                    "the host's HTTP client follows redirects itself; configure it with redirect::Policy::none()".into(),
                ));
            }
            let status = resp.status();
            if status.is_redirection()
                && let Some(location) = resp.headers().get(reqwest::header::LOCATION)
            {
                let location = location
                    .to_str()
                    .map_err(|_| HttpError::Transport("redirect Location is not text".into()))?;
                let next = url.join(location).map_err(|e| {
                    HttpError::Transport(format!("bad redirect Location {location:?}: {e}"))
                })?;
                if next.host_str() != url.host_str() {
                    // Credentials meant for one host must not follow a redirect to another.
                    headers.retain(|(name, _)| {
                        !["authorization", "cookie", "x-api-key"]
                            .iter()
                            .any(|h| name.eq_ignore_ascii_case(h))
                    });
                }
                // 303 always, and 301/302 for non-GET in practice, become a body-less GET.
                if status == reqwest::StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302)
                        && method != reqwest::Method::GET
                        && method != reqwest::Method::HEAD)
                {
                    method = reqwest::Method::GET;
                    body = None;
                }
                url = next;
                continue;
            }
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .take(100)
                .collect();
            let body =
                read_capped(resp, self.body_cap, self.remaining().unwrap_or_default()).await?;
            return Ok(host::HttpResponse {
                status: status.as_u16(),
                headers,
                body,
            });
        }
        Err(HttpError::Transport(format!(
            "too many redirects (more than {MAX_REDIRECTS})"
        )))
    }

    /// A GET through the process's GitHub client, so a plugin's reads share
    /// the probe's ETag cache (a 304 costs no rate limit) and its rate-limit
    /// block, and the token stays on the host.
    pub(super) async fn github_get(&self, path: &str) -> Result<String, String> {
        let Some(github) = &self.github else {
            return Err(
                "github-get is not available: the host has no GitHub access configured".into(),
            );
        };
        let path = path.trim_start_matches('/');
        let route = path.split(['?', '#']).next().unwrap_or("");
        if route
            .split('/')
            .any(|seg| seg == ".." || seg == "." || seg.is_empty())
        {
            return Err(format!("github-get path {path:?} is not a plain API path"));
        }
        if !self
            .allow_github
            .iter()
            .any(|allowed| repo_allowed(route, allowed))
        {
            return Err(format!(
                "github-get path {path:?} is not under a repository in allow.github"
            ));
        }
        let remaining = self.remaining().ok_or("github-get timed out")?;
        let body = match tokio::time::timeout(remaining, github.get_json(path)).await {
            Err(_) => return Err(format!("github-get {path}: timed out")),
            Ok(Err(e)) => {
                return Err(self
                    .redactor
                    .redact(&format!("github-get {path}: {e}"))
                    .into_owned());
            }
            // The token stays on the host even when GitHub (or a proxy) echoes it.
            Ok(Ok(body)) => self.redactor.redact(&body.to_string()).into_owned(),
        };
        if body.len() > self.body_cap {
            return Err(format!(
                "github-get {path}: response larger than {}",
                ByteSize::from(self.body_cap)
            ));
        }
        Ok(body)
    }
}

/// Exact host, or `*.example.com` for any subdomain (not the apex itself).
fn host_allowed(host: &str, allow: &[String]) -> bool {
    !host.is_empty()
        && allow.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            match entry.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
                }
                None => host == entry,
            }
        })
}

/// `repos/OWNER/REPO[/...]` against `owner/repo` or `owner/*` (case-insensitive, like GitHub).
fn repo_allowed(route: &str, allowed: &str) -> bool {
    let mut parts = route.split('/');
    let (Some("repos"), Some(owner), Some(repo)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some((allowed_owner, allowed_repo)) = allowed.trim().split_once('/') else {
        return false;
    };
    owner.eq_ignore_ascii_case(allowed_owner)
        && (allowed_repo == "*" || repo.eq_ignore_ascii_case(allowed_repo))
}

/// Reads a body, giving up past `cap` bytes or when the time is spent.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    time: Duration,
) -> Result<Vec<u8>, host::HttpError> {
    if resp.content_length().is_some_and(|len| len > cap as u64) {
        return Err(host::HttpError::TooLarge);
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(reqwest_error)? {
            if body.len() + chunk.len() > cap {
                return Err(host::HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(time, read)
        .await
        .unwrap_or(Err(host::HttpError::Timeout))
}

fn reqwest_error(e: reqwest::Error) -> host::HttpError {
    if e.is_timeout() {
        host::HttpError::Timeout
    } else {
        host::HttpError::Transport(describe_reqwest(&e))
    }
}

/// reqwest's Display hides the root cause ("error sending request"); add the chain.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allowlist_matches_exact_and_wildcard_subdomains() {
        let allow = vec!["api.example.com".to_string(), "*.example.org".to_string()];
        assert!(host_allowed("api.example.com", &allow));
        assert!(!host_allowed("evil.api.example.com", &allow));
        assert!(host_allowed("a.b.example.org", &allow));
        assert!(!host_allowed("example.org", &allow));
        assert!(!host_allowed("badexample.org", &allow));
        assert!(!host_allowed("", &allow));
    }

    #[test]
    fn github_paths_must_be_under_an_allowed_repo() {
        assert!(repo_allowed(
            "repos/villa/telemetry/pulls",
            "villa/telemetry"
        ));
        assert!(repo_allowed("repos/Villa/Telemetry", "villa/telemetry"));
        assert!(repo_allowed("repos/villa/other", "villa/*"));
        assert!(!repo_allowed("repos/villa/telemetry2", "villa/telemetry"));
        assert!(!repo_allowed("user/repos", "villa/telemetry"));
        assert!(!repo_allowed("repos/villa", "villa/*"));
    }
}
