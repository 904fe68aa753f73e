//! The probe table of a check (`http`, `github`, `git`, `plugin`): exactly
//! one, with its own fields valid.

use std::ops::Range;

use indexmap::IndexMap;
use serde_json::Value;
use toml::Spanned;

use super::builder::{Builder, quote};
use super::templates::secret_refs;
use super::{GithubKind, PluginSpec, ProbeSpec, valid_repo};
use crate::config::{CheckConfig, Located};

/// Adds the metric and prometheus config problems as diagnostics.
pub(super) fn spec_errors(b: &mut Builder<'_>, file: usize, errors: Vec<crate::metric::SpecError>) {
    for e in errors {
        b.error(file, e.span, e.message);
        if let Some(h) = e.help {
            b.help(h);
        }
    }
}

/// The check's probe, or `None` after recording why there is none.
pub(super) fn probe_spec(
    b: &mut Builder<'_>,
    located: &Located<CheckConfig>,
    repo: Option<&str>,
) -> Option<ProbeSpec> {
    let c = &located.value;
    let file = located.file;
    if !one_probe(b, located) {
        return None;
    }
    if let Some(h) = &c.http {
        return http_spec(b, file, h.get_ref());
    }
    if let Some(p) = &c.prometheus {
        return match super::metrics::prometheus_spec(p.get_ref()) {
            Ok(spec) => Some(spec),
            Err(errors) => {
                spec_errors(b, file, errors);
                None
            }
        };
    }
    if let Some(g) = &c.git {
        return Some(ProbeSpec::Git {
            path: b.resolve_path(file, g.get_ref().path.get_ref()),
        });
    }
    if let Some(gh) = &c.github {
        return github_spec(b, file, gh, repo);
    }
    plugin_spec(b, file, c.plugin.as_ref().expect("one probe").get_ref())
}

/// Whether the check has exactly one probe table; records why not.
fn one_probe(b: &mut Builder<'_>, located: &Located<CheckConfig>) -> bool {
    let c = &located.value;
    let file = located.file;
    let present: Vec<(&str, std::ops::Range<usize>)> = [
        ("http", c.http.as_ref().map(|s| s.span())),
        ("github", c.github.as_ref().map(|s| s.span())),
        ("git", c.git.as_ref().map(|s| s.span())),
        ("plugin", c.plugin.as_ref().map(|s| s.span())),
        ("prometheus", c.prometheus.as_ref().map(|s| s.span())),
    ]
    .into_iter()
    .filter_map(|(n, s)| s.map(|s| (n, s)))
    .collect();
    match present.as_slice() {
        [] => {
            b.error(
                file,
                c.id.span(),
                format!("check `{}` has no probe", quote(c.id.get_ref())),
            );
            b.help("add exactly one of `http = { url = \"...\" }`, `github = { workflow = \"ci.yml\" }`, `git = { path = \".\" }`, `plugin = { wasm = \"...\" }`, `prometheus = { url = \"...\", query = \"...\" }`");
            return false;
        }
        [_] => {}
        [first, second, ..] => {
            b.error(
                file,
                second.1.clone(),
                format!(
                    "check `{}` has two probes, `{}` and `{}`",
                    quote(c.id.get_ref()),
                    first.0,
                    second.0
                ),
            );
            b.help("a check has exactly one probe table; split it into two [[checks]]");
            return false;
        }
    }
    true
}

/// `http = { ... }`.
fn http_spec(b: &mut Builder<'_>, file: usize, h: &crate::config::HttpConfig) -> Option<ProbeSpec> {
    let method = method(b, file, h.method.as_ref(), reqwest::Method::GET)?;
    if !absolute_url(
        b,
        file,
        &h.url,
        "write the full URL, e.g. \"https://example.com/api/health\" or \"{{env.url}}/api/health\"",
    ) {
        return None;
    }
    Some(ProbeSpec::Http {
        method,
        url: h.url.get_ref().clone(),
        headers: headers(b, file, &h.headers),
        body: h.body.as_ref().map(|s| s.get_ref().clone()),
    })
}

/// `github = { ... }`: exactly one of workflow, deployment, compare.
fn github_spec(
    b: &mut Builder<'_>,
    file: usize,
    gh: &toml::Spanned<crate::config::GithubCheckConfig>,
    repo: Option<&str>,
) -> Option<ProbeSpec> {
    let g = gh.get_ref();
    let repo = repository(
        b,
        file,
        g.repo.as_ref(),
        repo,
        gh.span(),
        "github checks need",
    )?;
    let kinds: Vec<&str> = [
        g.workflow.as_ref().map(|_| "workflow"),
        g.deployment.as_ref().map(|_| "deployment"),
        g.compare.as_ref().map(|_| "compare"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if kinds.len() != 1 {
        b.error(
            file,
            gh.span(),
            if kinds.is_empty() {
                "github probe needs one of `workflow`, `deployment` or `compare`".to_owned()
            } else {
                format!(
                    "github probe has both `{}` and `{}`; use one per check",
                    kinds[0], kinds[1]
                )
            },
        );
        b.help("e.g. github = { workflow = \"ci.yml\", branch = \"main\" }");
        return None;
    }
    let kind = if let Some(w) = &g.workflow {
        GithubKind::Workflow {
            workflow: w.get_ref().clone(),
            branch: g.branch.clone(),
            stalled_after: g.stalled_after,
        }
    } else if let Some(d) = &g.deployment {
        GithubKind::Deployment {
            environment: d.get_ref().clone(),
        }
    } else {
        let cmp = g.compare.as_ref().expect("one kind");
        if !cmp.get_ref().contains("...") {
            b.error(
                file,
                cmp.span(),
                "`compare` must be `BASE...HEAD` (three dots)",
            );
            return None;
        }
        GithubKind::Compare {
            basehead: cmp.get_ref().clone(),
        }
    };
    Some(ProbeSpec::Github { repo, kind })
}

/// `plugin = { ... }`: the component must exist; its memory cap parses.
fn plugin_spec(
    b: &mut Builder<'_>,
    file: usize,
    p: &crate::config::PluginConfig,
) -> Option<ProbeSpec> {
    let memory_bytes = match &p.memory {
        None => 32 << 20,
        Some(m) => {
            match crate::units::ByteSize::parse(m.get_ref()).map(crate::units::ByteSize::get) {
                Some(n) => n,
                None => {
                    b.error(
                        file,
                        m.span(),
                        format!("invalid memory size `{}`", quote(m.get_ref())),
                    );
                    b.help("write a size like \"32MiB\"");
                    return None;
                }
            }
        }
    };
    let wasm = b.resolve_path(file, p.wasm.get_ref());
    if !wasm.is_file() {
        b.error(
            file,
            p.wasm.span(),
            format!("plugin file {} does not exist", wasm.display()),
        );
        b.help("build it with `cargo build --release --target wasm32-wasip2` and point `wasm` at the .wasm (relative to this file)");
        return None;
    }
    let config = serde_json::to_value(&p.config).unwrap_or(Value::Null);
    Some(ProbeSpec::Plugin(PluginSpec {
        wasm,
        memory_bytes,
        config,
        allow_http: p.allow.http.clone(),
        allow_env: p.allow.env.clone(),
        allow_github: p.allow.github.clone(),
        source: (file, p.wasm.span()),
    }))
}

/// `method = "..."`, or `default` without one; `None` after recording why
/// the written one is not a method.
pub(super) fn method(
    b: &mut Builder<'_>,
    file: usize,
    written: Option<&Spanned<String>>,
    default: reqwest::Method,
) -> Option<reqwest::Method> {
    let Some(m) = written else {
        return Some(default);
    };
    match reqwest::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
        Ok(m) => Some(m),
        Err(_) => {
            b.error(
                file,
                m.span(),
                format!("invalid HTTP method `{}`", quote(m.get_ref())),
            );
            None
        }
    }
}

/// Whether `url` is absolute or a template (checked once rendered); records
/// an error with `help` when it is neither.
pub(super) fn absolute_url(
    b: &mut Builder<'_>,
    file: usize,
    url: &Spanned<String>,
    help: &str,
) -> bool {
    let text = url.get_ref();
    if text.contains("{{") || reqwest::Url::parse(text).is_ok() {
        return true;
    }
    b.error(
        file,
        url.span(),
        format!("`{}` is not an absolute URL", quote(text)),
    );
    b.help(help);
    false
}

/// Header names and the `${VAR}` references in their values, checked; the
/// headers as name and value template.
pub(super) fn headers(
    b: &mut Builder<'_>,
    file: usize,
    written: &IndexMap<String, Spanned<String>>,
) -> Vec<(String, String)> {
    for (name, value) in written {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            b.error(
                file,
                value.span(),
                format!("invalid header name `{}`", quote(name)),
            );
        }
        secret_names(b, file, value.get_ref(), value.span());
    }
    written
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect()
}

/// Records an error for each `${VAR}` in `text` whose name is not letters,
/// digits and `_`.
pub(super) fn secret_names(b: &mut Builder<'_>, file: usize, text: &str, span: Range<usize>) {
    for var in secret_refs(text) {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            b.error(
                file,
                span.clone(),
                format!(
                    "invalid environment variable reference `${{{}}}`",
                    quote(&var)
                ),
            );
            b.help("write ${NAME} with letters, digits and `_`");
        }
    }
}

/// The repository of a GitHub table: its own `repo` (checked for the
/// `owner/name` shape), else `[project] repo`; `None` after recording that
/// there is none (`needs` starts the message, e.g. "github checks need").
pub(super) fn repository(
    b: &mut Builder<'_>,
    file: usize,
    own: Option<&Spanned<String>>,
    project: Option<&str>,
    table: Range<usize>,
    needs: &str,
) -> Option<String> {
    match (own, project) {
        (Some(r), _) => {
            if !valid_repo(r.get_ref()) {
                b.error(
                    file,
                    r.span(),
                    format!("`repo` must be `owner/name`, got `{}`", quote(r.get_ref())),
                );
            }
            Some(r.get_ref().clone())
        }
        (None, Some(r)) => Some(r.to_owned()),
        (None, None) => {
            b.error(file, table, format!("{needs} a repository"));
            b.help("set `repo = \"owner/name\"` under [project] (or in this github table)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_from;
    use super::*;

    fn probe_of(toml: &str) -> (Option<ProbeSpec>, Vec<String>) {
        let config = config_from(toml);
        let mut b = Builder::new(&config);
        let spec = probe_spec(&mut b, &config.checks[0], Some("o/r"));
        let messages = b
            .problems
            .shown()
            .iter()
            .map(|d| d.message().to_owned())
            .collect();
        (spec, messages)
    }

    #[test]
    fn http_defaults_to_get() {
        let (spec, errors) =
            probe_of("[[checks]]\nid = \"a\"\nhttp = { url = \"https://x.example/h\" }\n");
        assert!(errors.is_empty(), "{errors:?}");
        let Some(ProbeSpec::Http { method, url, .. }) = spec else {
            panic!("not http: {spec:?}")
        };
        assert_eq!(method, reqwest::Method::GET);
        assert_eq!(url, "https://x.example/h");
    }

    #[test]
    fn github_takes_the_project_repo() {
        let (spec, errors) =
            probe_of("[[checks]]\nid = \"a\"\ngithub = { workflow = \"ci.yml\" }\n");
        assert!(errors.is_empty(), "{errors:?}");
        let Some(ProbeSpec::Github { repo, kind }) = spec else {
            panic!("not github: {spec:?}")
        };
        assert_eq!(repo, "o/r");
        assert!(matches!(kind, GithubKind::Workflow { .. }));
    }

    #[test]
    fn rejects_bad_probe_fields() {
        for (toml, expected) in [
            ("[[checks]]\nid = \"a\"\n", "check `a` has no probe"),
            (
                "[[checks]]\nid = \"a\"\nhttp = { url = \"x\", method = \"G T\" }\n",
                "invalid HTTP method `G T`",
            ),
            (
                "[[checks]]\nid = \"a\"\nhttp = { url = \"relative\" }\n",
                "`relative` is not an absolute URL",
            ),
            (
                "[[checks]]\nid = \"a\"\ngithub = { compare = \"a..b\" }\n",
                "`compare` must be `BASE...HEAD` (three dots)",
            ),
            (
                "[[checks]]\nid = \"a\"\ngithub = { workflow = \"w\", deployment = \"d\" }\n",
                "github probe has both `workflow` and `deployment`; use one per check",
            ),
        ] {
            let (spec, errors) = probe_of(toml);
            assert!(spec.is_none(), "{toml}");
            assert_eq!(errors.first().map(String::as_str), Some(expected), "{toml}");
        }
    }
}
