//! HTTP probe: one request, body read up to a cap, JSON parsed when it is JSON.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Map, Value};

use super::{ErrorKind, Observation, Probed, Problem, Verdict};
use crate::units::{self, ByteSize};

/// A request with every template and `${VAR}` already resolved.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: reqwest::Method,
    /// Absolute URL.
    pub url: String,
    /// Header name and value (may hold secrets: never print).
    pub headers: Vec<(String, String)>,
    /// Names of the headers whose value holds a `${VAR}` secret: never sent
    /// to another origin on a redirect.
    pub secret_headers: Vec<String>,
    /// Request body.
    pub body: Option<String>,
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Builds the one client all HTTP checks share: rustls, verified TLS,
/// pooled connections, redirects followed within an origin only. reqwest
/// strips only `Authorization` and cookies on a hop to another origin, so
/// [`observe`] takes those hops itself, without the secret headers.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("villa-telemetry/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt
                .previous()
                .last()
                .is_some_and(|prev| !same_origin(prev, attempt.url()))
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()
        .expect("the TLS backend is compiled in")
}

/// The client plugins' `http-fetch` uses: it follows no redirects, so the
/// plugin host can check its allowlist on every hop.
pub fn plugin_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!(
            "villa-telemetry-plugin/",
            env!("CARGO_PKG_VERSION")
        ))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("the TLS backend is compiled in")
}

/// Renders an `http` check's URL, headers and body and fills the headers'
/// `${VAR}` secrets (the one way: [`crate::plan::fill_secrets`]).
pub(super) fn start<'a>(
    cx: &mut super::Cx<'a, '_>,
    method: &reqwest::Method,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> Result<super::ProbeFuture<'a>, String> {
    use crate::plan::{FillError, fill_secrets, secret_refs};
    let render = cx.render;
    let url = render(url)?;
    let mut resolved = Vec::new();
    let mut secret_headers = Vec::new();
    for (name, value) in headers {
        if !secret_refs(value).is_empty() {
            secret_headers.push(name.clone());
        }
        let value =
            fill_secrets(value, render, str::to_owned, &mut cx.secrets).map_err(|e| match e {
                FillError::Template(why) => why,
                FillError::Unset(var) => format!("environment variable {var} is not set"),
            })?;
        resolved.push((name.clone(), value));
    }
    let req = HttpRequest {
        method: method.clone(),
        url,
        headers: resolved,
        secret_headers,
        body: body.map(render).transpose()?,
    };
    let (client, cap, needs_body) = (
        &cx.services.http,
        cx.plan.settings.body_cap,
        cx.check.needs_body,
    );
    Ok(Box::pin(observe(client, req, cap, needs_body)))
}

/// Sends the request and observes the answer. `needs_body` is false when no
/// condition or extract reads the body: then an oversized body is cut, not an
/// error.
pub async fn observe(
    client: &reqwest::Client,
    req: HttpRequest,
    body_cap: usize,
    needs_body: bool,
) -> Probed {
    let started = Instant::now();
    let response = match send(client, &req).await {
        Ok(r) => r,
        Err(p) => return Probed::error(p.kind, p.message, started.elapsed()),
    };
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let (body, truncated) = match read_body(response, body_cap, &req.url).await {
        Ok(read) => read,
        Err(p) => return Probed::error(p.kind, p.message, started.elapsed()),
    };
    let duration = started.elapsed();
    if truncated && needs_body {
        return Probed::error(
            ErrorKind::TooLarge,
            format!(
                "response body from {} is larger than the {} limit; reading stopped there (raise [run] max_body)",
                req.url,
                ByteSize::from(body_cap)
            ),
            duration,
        );
    }
    let (value, body_is_json) = if truncated || body.is_empty() {
        (Value::Null, false)
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (v, true),
            Err(_) => (
                Value::String(String::from_utf8_lossy(&body).into_owned()),
                false,
            ),
        }
    };

    let reason = status.canonical_reason().unwrap_or("");
    let summary = format!(
        "{} {reason} in {}",
        status.as_u16(),
        units::duration(duration)
    )
    .replace("  ", " ");
    let verdict = verdict_of(status, &req.url);
    let mut fields = Map::new();
    if truncated {
        fields.insert("body_truncated".into(), Value::Bool(true));
    }
    Probed {
        observation: Observation {
            value,
            body_is_json,
            content_type,
            status: Some(status.as_u16()),
            headers,
            duration,
        },
        summary,
        fields,
        verdict,
        log: Vec::new(),
    }
}

/// Sends `req`, following redirects within its origin (reqwest does) and to
/// other origins here, without its secret headers. `Err` says why no answer came.
async fn send(client: &reqwest::Client, req: &HttpRequest) -> Result<reqwest::Response, Problem> {
    let (mut method, mut url, mut headers, mut body) = (
        req.method.clone(),
        req.url.clone(),
        req.headers.clone(),
        req.body.clone(),
    );
    let mut hops = 0;
    loop {
        let mut builder = client.request(method.clone(), &url);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &body {
            builder = builder.body(body.clone());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Err(describe_error(&e, &req.url)),
        };
        let Some(next) = cross_origin_redirect(&response) else {
            break Ok(response);
        };
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(Problem::new(
                ErrorKind::Redirect,
                format!("too many redirects from {} (a redirect loop?)", req.url),
            ));
        }
        // Another origin gets no secret: not the `${VAR}` headers, and not
        // what reqwest itself would strip.
        headers.retain(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !req.secret_headers
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&name))
                && !matches!(
                    name.as_str(),
                    "authorization" | "cookie" | "proxy-authorization"
                )
        });
        let status = response.status().as_u16();
        if status == 303 && method != reqwest::Method::HEAD
            || matches!(status, 301 | 302) && method == reqwest::Method::POST
        {
            method = reqwest::Method::GET;
            body = None;
        }
        url = next.to_string();
    }
}

/// Reads the body up to `cap` bytes: (bytes, whether it was cut there).
async fn read_body(
    response: reqwest::Response,
    cap: usize,
    url: &str,
) -> Result<(Vec<u8>, bool), Problem> {
    let mut body = Vec::new();
    let mut truncated = false;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                if body.len() + bytes.len() > cap {
                    body.extend_from_slice(&bytes[..cap - body.len()]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&bytes);
            }
            Err(e) => {
                return Err(Problem::new(
                    if e.is_timeout() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Connection
                    },
                    format!(
                        "connection broke while reading the body from {}: {}",
                        url,
                        chain(&e)
                    ),
                ));
            }
        }
    }
    Ok((body, truncated))
}

/// The probe's own verdict on an HTTP status: 5xx an error (up but
/// failing), 3xx and 4xx a failure.
fn verdict_of(status: reqwest::StatusCode, url: &str) -> Verdict {
    let reason = status.canonical_reason().unwrap_or("");
    if status.is_server_error() {
        Verdict::Error(Problem::new(
            ErrorKind::HttpStatus,
            format!(
                "HTTP {} {reason} from {}: the service is up but failing",
                status.as_u16(),
                url
            ),
        ))
    } else if status.is_client_error() || status.is_redirection() {
        Verdict::Fail(Problem::new(
            status_kind(status.as_u16()),
            format!("HTTP {} {reason} from {}", status.as_u16(), url),
        ))
    } else {
        Verdict::Pass
    }
}

/// Same scheme, host and port (as reqwest decides whether to keep
/// `Authorization` on a redirect).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Where a redirect that the client stopped at (another origin) points.
fn cross_origin_redirect(response: &reqwest::Response) -> Option<reqwest::Url> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    let next = response.url().join(location).ok()?;
    (!same_origin(response.url(), &next) && matches!(next.scheme(), "http" | "https"))
        .then_some(next)
}

/// The kind of an HTTP status the check did not expect.
pub(crate) fn status_kind(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 | 410 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimited,
        300..=399 => ErrorKind::Redirect,
        _ => ErrorKind::HttpStatus,
    }
}

/// Why a request got no answer: its kind, and a sentence naming the full
/// URL, as every other error of a check does (an agent matches them up).
/// "connection refused by http://127.0.0.1:9/health (is the service running?)"
/// and the like.
pub(crate) fn describe_error(e: &reqwest::Error, url: &str) -> Problem {
    let detail = chain(e);
    let lower = detail.to_ascii_lowercase();
    // reqwest gives no structured cause for DNS and refusals: its error
    // chain's text is the only place they are told apart.
    let (kind, message) = if e.is_redirect() {
        (
            ErrorKind::Redirect,
            format!("too many redirects from {url} (a redirect loop?)"),
        )
    } else if e.is_builder() {
        (
            ErrorKind::Config,
            format!("invalid request to {url}: {detail}"),
        )
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        (
            ErrorKind::Dns,
            format!("DNS lookup failed for {url}: is the host name right?"),
        )
    } else if lower.contains("connection refused") {
        (
            ErrorKind::Refused,
            format!("connection refused by {url} (is the service running?)"),
        )
    } else if let Some(tls) = rustls_error(e) {
        let message = if matches!(
            tls,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
        ) {
            format!(
                "TLS handshake with {url} failed: the server does not speak TLS (is it plain http://?)"
            )
        } else {
            format!("TLS handshake with {url} failed: {tls}")
        };
        (ErrorKind::Tls, message)
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        (
            ErrorKind::Tls,
            format!("TLS handshake with {url} failed: {detail}"),
        )
    } else if e.is_timeout() {
        (ErrorKind::Timeout, format!("no answer from {url} in time"))
    } else if e.is_connect() {
        (
            ErrorKind::Connection,
            format!("cannot connect to {url}: {detail}"),
        )
    } else {
        (
            ErrorKind::Connection,
            format!("request to {url} failed: {detail}"),
        )
    };
    Problem::new(kind, message)
}

/// The rustls error behind a request error, if any. rustls errors reach
/// reqwest wrapped in an `io::Error`, whose `source()` skips the payload, so
/// each io error is opened by hand.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            },
            None => err.source(),
        };
    }
    None
}

/// The error and its sources, deduplicated, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
