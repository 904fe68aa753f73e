//! `[run]`, `[serve]`, `[github]` and `[project] templates` with defaults
//! applied.

use std::time::Duration;

use super::builder::{Builder, quote};
use super::{
    DEFAULT_BODY_CAP, DEFAULT_CONCURRENCY, DEFAULT_GITHUB_HISTORY, DEFAULT_TIMEOUT,
    MAX_GITHUB_HISTORY, Settings,
};

/// Most checks in flight at once: more would run out of file descriptors
/// long before it ran anything faster.
pub const MAX_CONCURRENCY: usize = 4096;

pub(super) fn settings(b: &mut Builder<'_>) -> Settings {
    let concurrency = concurrency(b);
    let body_cap = body_cap(b);
    let listen = listen(b);
    let github_api_url = github_api_url(b);
    let github_history = github_history(b);
    let c = b.config;
    let templates_dir = c.project.templates.as_ref().map(|t| {
        let p = b.resolve_path(0, t.get_ref());
        if !p.is_dir() {
            b.error(
                0,
                t.span(),
                format!("template directory {} does not exist", p.display()),
            );
        }
        p
    });
    Settings {
        concurrency,
        timeout: c.run.timeout.unwrap_or(DEFAULT_TIMEOUT),
        body_cap,
        listen,
        refresh: c.serve.refresh.unwrap_or(Duration::from_secs(30)),
        allow_remote: c.serve.allow_remote,
        github_api_url,
        github_disk_cache: c.github.disk_cache.unwrap_or(true),
        github_history,
        github_pull_requests: c.github.pull_requests.unwrap_or(true),
        github_dora_window: c.github.dora_window.unwrap_or(super::DEFAULT_DORA_WINDOW),
        templates_dir,
    }
}

/// `[run] concurrency`, at least 1 and at most [`MAX_CONCURRENCY`].
fn concurrency(b: &mut Builder<'_>) -> usize {
    let c = b.config;
    match &c.run.concurrency {
        Some(n) if *n.get_ref() == 0 => {
            b.error(0, n.span(), "`concurrency` must be at least 1");
            1
        }
        Some(n) if *n.get_ref() > MAX_CONCURRENCY => {
            b.error(
                0,
                n.span(),
                format!(
                    "`concurrency` is at most {MAX_CONCURRENCY}, got {}",
                    n.get_ref()
                ),
            );
            b.help(
                "each check in flight holds a connection and a file descriptor; the default is 256",
            );
            MAX_CONCURRENCY
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_CONCURRENCY,
    }
}

/// `[run] max_body` in bytes.
fn body_cap(b: &mut Builder<'_>) -> usize {
    let c = b.config;
    match &c.run.max_body {
        None => DEFAULT_BODY_CAP,
        Some(s) => crate::units::ByteSize::parse(s.get_ref())
            .map(crate::units::ByteSize::as_usize)
            .unwrap_or_else(|| {
                b.error(
                    0,
                    s.span(),
                    format!("invalid size `{}`", quote(s.get_ref())),
                );
                b.help("write a size like \"1MiB\", \"512KiB\" or \"2MB\"");
                DEFAULT_BODY_CAP
            }),
    }
}

/// `[serve] listen`, checked to be an address.
fn listen(b: &mut Builder<'_>) -> String {
    let c = b.config;
    match &c.serve.listen {
        None => "127.0.0.1:3003".to_owned(),
        Some(l) => {
            if l.get_ref().parse::<std::net::SocketAddr>().is_err() {
                b.error(
                    0,
                    l.span(),
                    format!(
                        "`listen` must be an address like 127.0.0.1:3003, got `{}`",
                        quote(l.get_ref())
                    ),
                );
            }
            l.get_ref().clone()
        }
    }
}

/// `[github] api_url`, checked, without a trailing `/`.
fn github_api_url(b: &mut Builder<'_>) -> String {
    let c = b.config;
    let url = c.github.api_url.as_ref().map_or_else(
        || "https://api.github.com".to_owned(),
        |u| u.get_ref().trim_end_matches('/').to_owned(),
    );
    if let Some(u) = &c.github.api_url {
        super::templates::misplaced_secret(
            b,
            0,
            u.get_ref(),
            u.span(),
            super::templates::SecretsIn::Check,
        );
    }
    if let Some(u) = &c.github.api_url
        && reqwest::Url::parse(u.get_ref()).is_err()
    {
        b.error(
            0,
            u.span(),
            format!("`api_url` is not a URL: `{}`", quote(u.get_ref())),
        );
    }
    url
}

/// `[github] history`, at most [`MAX_GITHUB_HISTORY`].
fn github_history(b: &mut Builder<'_>) -> usize {
    let c = b.config;
    match &c.github.history {
        None => DEFAULT_GITHUB_HISTORY,
        Some(n) if *n.get_ref() > MAX_GITHUB_HISTORY as u64 => {
            b.error(
                0,
                n.span(),
                format!(
                    "`history` is at most {MAX_GITHUB_HISTORY}: each deployment listed costs a request for its status"
                ),
            );
            MAX_GITHUB_HISTORY
        }
        Some(n) => *n.get_ref() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_from;
    use super::*;

    #[test]
    fn defaults_apply_when_sections_are_missing() {
        let config = config_from("");
        let mut b = Builder::new(&config);
        let s = settings(&mut b);
        assert!(b.problems.is_empty());
        assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.body_cap, DEFAULT_BODY_CAP);
        assert_eq!(s.listen, "127.0.0.1:3003");
        assert_eq!(s.github_api_url, "https://api.github.com");
        assert_eq!(s.github_dora_window, super::super::DEFAULT_DORA_WINDOW);
    }

    #[test]
    fn dora_window_is_a_duration() {
        let config = config_from("[github]\ndora_window = \"7d\"\n");
        let mut b = Builder::new(&config);
        let s = settings(&mut b);
        assert!(b.problems.is_empty());
        assert_eq!(s.github_dora_window, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn bad_values_are_reported_each() {
        let config = config_from(
            "[run]\nconcurrency = 0\nmax_body = \"lots\"\n[serve]\nlisten = \"here\"\n[github]\napi_url = \"nope\"\n",
        );
        let mut b = Builder::new(&config);
        settings(&mut b);
        let messages: Vec<&str> = b.problems.shown().iter().map(|d| d.message()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("`concurrency` must be at least 1"));
        assert!(messages[1].contains("invalid size `lots`"));
        assert!(messages[2].contains("`listen` must be an address"));
        assert!(messages[3].contains("`api_url` is not a URL"));
    }

    #[test]
    fn concurrency_past_the_cap_is_refused() {
        let config = config_from("[run]\nconcurrency = 2305843009213693952\n");
        let mut b = Builder::new(&config);
        let s = settings(&mut b);
        let messages: Vec<&str> = b.problems.shown().iter().map(|d| d.message()).collect();
        assert_eq!(
            messages,
            ["`concurrency` is at most 4096, got 2305843009213693952"]
        );
        assert_eq!(s.concurrency, MAX_CONCURRENCY);
    }
}
