//! An action against a report: is it enabled (`when`), and what exactly is
//! sent (templates rendered, `${VAR}` secrets filled in and handed to a redactor).
//! Nothing here sends anything.

use std::sync::LazyLock;
use std::time::Duration;

use handlebars::Handlebars;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::rollback::{self, DeploymentRef};
use crate::condition::Outcome;
use crate::outcome::DeploymentEntry;
use crate::plan::{ActionPlan, ActionSet, FillError, RequestSpec, fill_secrets};
use crate::probe::Observation;
use crate::redact::Redactor;
use crate::report::Report;

/// Why an attempt was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal (decides the HTTP status and exit code).
    pub kind: RefusalKind,
    /// What a person reads.
    pub message: String,
    /// The deployment it was about, when one was found (for the audit log).
    pub deployment: Option<DeploymentRef>,
}

/// The closed set of reasons an attempt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// No action with that id.
    UnknownAction,
    /// `--env` missing, unknown, or not one the action runs for.
    Environment,
    /// A `when` condition does not hold.
    Disabled,
    /// A template, variable or token could not be resolved.
    Unresolved,
    /// Cross-site, missing token, wrong confirm word, no terminal.
    Forbidden,
    /// The same action is already running.
    Busy,
    /// A rollback without a deployment, or one that is unknown or cannot be
    /// rolled back to (running now, failed, unfinished) in the current report.
    Deployment,
}

impl Refusal {
    /// A refusal of `kind`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
            deployment: None,
        }
    }

    /// The same refusal, recorded as about deployment `d`.
    pub fn about(mut self, d: DeploymentRef) -> Self {
        self.deployment = Some(d);
        self
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exact request of one attempt, with its secrets.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Action id.
    pub action: String,
    /// Environment of a per-environment action.
    pub env: Option<String>,
    /// The deployment a rollback goes back to.
    pub deployment: Option<DeploymentEntry>,
    /// The word a person types.
    pub confirm_word: String,
    /// Method.
    pub method: reqwest::Method,
    /// Rendered URL (never holds secrets).
    pub url: String,
    /// Rendered headers, secrets filled in: never print without [`Prepared::redactor`].
    pub headers: Vec<(String, String)>,
    /// Rendered body, secrets filled in.
    pub body: Option<String>,
    /// Takes this attempt's secrets (its `${VAR}` values, the GitHub token)
    /// out of everything shown or audited, in every encoding.
    pub redactor: Redactor,
    /// Longest the upstream may take.
    pub timeout: Duration,
}

impl Prepared {
    /// The whole request as text, secrets masked: what `--dry-run` prints.
    pub fn display(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(b) = &self.body {
            out.push('\n');
            out.push_str(b);
            out.push('\n');
        }
        self.redactor.redact(&out).into_owned()
    }

    /// One line for the audit log, secrets masked: method, URL and the start of the body.
    pub fn summary(&self) -> String {
        let line = match &self.body {
            Some(b) => format!("{} {} {}", self.method, self.url, b.replace('\n', " ")),
            None => format!("{} {}", self.method, self.url),
        };
        self.redactor.redact_then_cut(&line, 300)
    }

    /// The deployment it goes back to, as the audit log records it.
    pub fn deployment_ref(&self) -> Option<DeploymentRef> {
        self.deployment.as_ref().map(DeploymentRef::from)
    }
}

/// Finds the action and checks the environment against it.
pub fn instance<'a>(
    set: &'a ActionSet,
    id: &str,
    env: Option<&str>,
) -> Result<&'a ActionPlan, Refusal> {
    let Some(action) = set.get(id) else {
        let known: Vec<&str> = set.list.iter().map(|a| a.id.as_str()).collect();
        let hint = match crate::error::did_you_mean(id, known.iter().copied()) {
            Some(best) => format!(" (did you mean `{best}`?)"),
            None if known.is_empty() => {
                " (none are declared: add [[actions]] to the config)".into()
            }
            None => format!(" (declared: {})", known.join(", ")),
        };
        return Err(Refusal::new(
            RefusalKind::UnknownAction,
            format!("no action `{id}`{hint}"),
        ));
    };
    match (action.per_env(), env) {
        (true, None) => Err(Refusal::new(
            RefusalKind::Environment,
            format!(
                "action `{id}` runs per environment: pass --env with one of {}",
                action.environments.join(", ")
            ),
        )),
        (true, Some(e)) if !action.environments.iter().any(|x| x == e) => Err(Refusal::new(
            RefusalKind::Environment,
            format!(
                "action `{id}` does not run for environment `{e}` (it runs for {})",
                action.environments.join(", ")
            ),
        )),
        (false, Some(e)) => Err(Refusal::new(
            RefusalKind::Environment,
            format!("action `{id}` is global: it takes no environment (got `{e}`)"),
        )),
        _ => Ok(action),
    }
}

/// `Ok` when every `when` holds over the report JSON, else why not.
pub fn enabled(action: &ActionPlan, report_json: &Value) -> Result<(), Refusal> {
    let obs = Observation {
        value: report_json.clone(),
        body_is_json: true,
        ..Observation::default()
    };
    for cond in &action.when {
        match cond.eval(&obs) {
            Outcome::Held => {}
            Outcome::Violated { actual } => {
                return Err(Refusal::new(
                    RefusalKind::Disabled,
                    format!("not enabled now: `{cond}` does not hold ({actual})"),
                ));
            }
            Outcome::Error(e) => {
                return Err(Refusal::new(
                    RefusalKind::Disabled,
                    format!("not enabled now: `{cond}` cannot be evaluated: {e}"),
                ));
            }
        }
    }
    Ok(())
}

/// `Ok` unless the action asks for the promotion gate (`when = ["gate"]`)
/// and the gate into `env` does not pass in `report`: then every reason.
pub fn gated(action: &ActionPlan, env: Option<&str>, report: &Report) -> Result<(), Refusal> {
    let (true, Some(env)) = (action.gate, env) else {
        return Ok(());
    };
    let g = crate::report::gate::gate(report, env);
    if g.pass {
        return Ok(());
    }
    let reasons: Vec<&str> = g.reasons.iter().map(|r| r.sentence.as_str()).collect();
    Err(Refusal::new(
        RefusalKind::Disabled,
        format!(
            "not enabled now: the promotion gate into `{env}` does not pass ({})",
            reasons.join("; ")
        ),
    ))
}

/// What templates see: the report (`project`, `environments`, `comparison`,
/// `ci`, `git`, …), `checks.ID.FIELD` (`checks.ID.ENV.FIELD` for
/// per-environment checks), `env`, the current environment with its `id`,
/// and for a rollback `deployment`, the history entry it goes back to.
pub fn context(
    report_json: &Value,
    report: &Report,
    env: Option<&str>,
    deployment: Option<&DeploymentEntry>,
) -> Value {
    let mut ctx = report_json.clone();
    let mut checks = Map::new();
    for c in &report.checks {
        let mut fields = c.fields.clone();
        fields.insert("status".into(), json!(c.status));
        fields.insert("summary".into(), json!(c.summary));
        match &c.environment {
            None => {
                checks.insert(c.id.clone(), Value::Object(fields));
            }
            Some(e) => {
                let entry = checks.entry(c.id.clone()).or_insert_with(|| json!({}));
                if Some(e.as_str()) == env
                    && let Value::Object(o) = entry
                {
                    for (k, v) in &fields {
                        o.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                entry[e.as_str()] = Value::Object(fields);
            }
        }
    }
    ctx["checks"] = Value::Object(checks);
    if let Some(e) = env {
        let mut current = report_json["environments"][e].clone();
        if !current.is_object() {
            current = json!({});
        }
        current["id"] = json!(e);
        ctx["env"] = current;
    }
    if let Some(d) = deployment {
        ctx["deployment"] = serde_json::to_value(d).unwrap_or(Value::Null);
    }
    ctx
}

/// The deployment a run aims at: required for a rollback (and found in the
/// report's history, eligible), refused for any other action.
fn deployment_of<'a>(
    action: &ActionPlan,
    env: Option<&str>,
    asked: Option<&str>,
    report: &'a Report,
) -> Result<Option<&'a DeploymentEntry>, Refusal> {
    let asked = asked.map(str::trim).filter(|a| !a.is_empty());
    match (action.rollback(), env, asked) {
        (false, _, None) => Ok(None),
        (false, _, Some(a)) => Err(Refusal::new(
            RefusalKind::Deployment,
            format!(
                "action `{}` does not go back to a deployment (got `{a}`); only actions with `target = \"deployment\"` take one",
                action.id
            ),
        )),
        (true, Some(e), Some(a)) => rollback::pick(report, e, a).map(Some).map_err(|n| Refusal {
            kind: RefusalKind::Deployment,
            message: n.message,
            deployment: n.deployment,
        }),
        (true, Some(e), None) => Err(Refusal::new(
            RefusalKind::Deployment,
            match rollback::targets(report, e) {
                Ok(t) => format!(
                    "action `{}` goes back to a deployment of {e}: name one with --deployment ID (or its sha): {}",
                    action.id,
                    t.iter()
                        .map(|d| rollback::label(d))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Err(why) => format!("action `{}` has nothing to go back to: {why}", action.id),
            },
        )),
        // `instance` asks for the environment first.
        (true, None, _) => Err(Refusal::new(
            RefusalKind::Environment,
            format!("action `{}` runs per environment: pass --env", action.id),
        )),
    }
}

/// Renders the action's request against the report. `deployment` names
/// the history entry a rollback goes back to (its id or sha); `token` is
/// asked for only by a workflow dispatch.
pub fn prepare(
    action: &ActionPlan,
    env: Option<&str>,
    deployment: Option<&str>,
    report: &Report,
    github_api_url: &str,
    token: impl FnOnce() -> Option<String>,
) -> Result<Prepared, Refusal> {
    let deployment = deployment_of(action, env, deployment, report)?;
    render_request(action, env, deployment, report, github_api_url, token).map_err(|r| {
        match deployment {
            Some(d) => r.about(d.into()),
            None => r,
        }
    })
}

fn render_request(
    action: &ActionPlan,
    env: Option<&str>,
    deployment: Option<&DeploymentEntry>,
    report: &Report,
    github_api_url: &str,
    token: impl FnOnce() -> Option<String>,
) -> Result<Prepared, Refusal> {
    let report_json = serde_json::to_value(report).unwrap_or(Value::Null);
    enabled(action, &report_json)?;
    gated(action, env, report)?;
    let ctx = context(&report_json, report, env, deployment);
    let mut secrets: Vec<String> = Vec::new();
    let (method, url, headers, body) = match &action.request {
        RequestSpec::Http {
            method,
            url,
            headers,
            body,
        } => {
            let url = render_url(url, &ctx)?;
            let mut resolved = Vec::new();
            for (name, value) in headers {
                let value = render_with_secrets(value, &ctx, Escape::None, &mut secrets)?;
                resolved.push((name.clone(), value));
            }
            let body = match body {
                None => None,
                Some(b) => {
                    let escape = Escape::for_body(b, headers);
                    Some(render_with_secrets(b, &ctx, escape, &mut secrets)?)
                }
            };
            (method.clone(), url, resolved, body)
        }
        RequestSpec::Dispatch {
            repo,
            workflow,
            git_ref,
            inputs,
        } => {
            let Some(token) = token() else {
                return Err(Refusal::new(
                    RefusalKind::Unresolved,
                    "a workflow dispatch needs a GitHub token: set GITHUB_TOKEN (or GH_TOKEN), or log in with `gh auth login`",
                ));
            };
            secrets.push(token.clone());
            let git_ref = render(git_ref, &ctx, Escape::None)?;
            let mut input_values = Map::new();
            for (k, v) in inputs {
                input_values.insert(k.clone(), Value::String(render(v, &ctx, Escape::None)?));
            }
            let body = json!({ "ref": git_ref, "inputs": input_values }).to_string();
            let url = format!(
                "{}/repos/{repo}/actions/workflows/{workflow}/dispatches",
                github_api_url.trim_end_matches('/')
            );
            let headers = vec![
                (
                    "Accept".to_owned(),
                    "application/vnd.github+json".to_owned(),
                ),
                ("Authorization".to_owned(), format!("Bearer {token}")),
                ("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ];
            (reqwest::Method::POST, url, headers, Some(body))
        }
    };
    let redactor = Redactor::new(&secrets);
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => {
            return Err(Refusal::new(
                RefusalKind::Unresolved,
                redactor
                    .redact(&format!("the URL `{url}` is not an absolute http(s) URL"))
                    .into_owned(),
            ));
        }
    }
    for (k, v) in &headers {
        if reqwest::header::HeaderValue::from_str(v).is_err() {
            return Err(Refusal::new(
                RefusalKind::Unresolved,
                format!(
                    "header `{k}` has a value that cannot be sent (a line break or control character)"
                ),
            ));
        }
    }
    Ok(Prepared {
        action: action.id.clone(),
        env: env.map(str::to_owned),
        deployment: deployment.cloned(),
        confirm_word: action.confirm_word(env),
        method,
        url,
        headers,
        body,
        redactor,
        timeout: action.timeout,
    })
}

#[derive(Clone, Copy)]
enum Escape {
    None,
    /// Values land inside JSON strings: escape quotes, backslashes, controls.
    Json,
    /// Values land in a URL's path or query: percent-encode all but the
    /// unreserved characters, so a value stays one segment or one value.
    Url,
    /// Values land in an `application/x-www-form-urlencoded` body: `&`, `=`
    /// and `+` are encoded, so a value stays one value.
    Form,
}

impl Escape {
    /// `value` escaped for where it lands.
    fn apply(self, value: &str) -> String {
        match self {
            Escape::None => value.to_owned(),
            Escape::Json => {
                let quoted = serde_json::to_string(value).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
            }
            Escape::Url => utf8_percent_encode(value, URL_VALUE).to_string(),
            Escape::Form => form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        }
    }

    /// How values in an action's body are escaped: JSON for a body that
    /// starts as JSON does, form encoding for a form body (by its
    /// `Content-Type`, or `name=…` pairs with no `Content-Type` given).
    fn for_body(body: &str, headers: &[(String, String)]) -> Escape {
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase());
        let form_type = content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form_type {
            Escape::Form
        } else if body.trim_start().starts_with(['{', '[']) {
            Escape::Json
        } else if content_type.is_none() && FORM_PAIR.is_match(body) {
            Escape::Form
        } else {
            Escape::None
        }
    }
}

/// A body that starts as `name=` does: a form.
static FORM_PAIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.\-\[\]]+=").expect("valid regex"));

/// What [`Escape::Url`] leaves as it is: RFC 3986's unreserved characters.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn registry(escape: Escape) -> &'static Handlebars<'static> {
    fn with(escape: Escape) -> Handlebars<'static> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(move |s| escape.apply(s));
        hb
    }
    static PLAIN: LazyLock<Handlebars<'static>> = LazyLock::new(|| with(Escape::None));
    static JSON: LazyLock<Handlebars<'static>> = LazyLock::new(|| with(Escape::Json));
    static URL: LazyLock<Handlebars<'static>> = LazyLock::new(|| with(Escape::Url));
    static FORM: LazyLock<Handlebars<'static>> = LazyLock::new(|| with(Escape::Form));
    match escape {
        Escape::None => &PLAIN,
        Escape::Json => &JSON,
        Escape::Url => &URL,
        Escape::Form => &FORM,
    }
}

fn render(text: &str, ctx: &Value, escape: Escape) -> Result<String, Refusal> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    registry(escape).render_template(text, ctx).map_err(|e| {
        let message = match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(var)) => {
                format!("template `{text}`: `{var}` has no value in the current report")
            }
            other => format!("template `{text}` failed: {other}"),
        };
        Refusal::new(RefusalKind::Unresolved, message)
    })
}

/// Renders a URL template: every value is percent-encoded, except a
/// `{{value}}` that starts the URL, which is its base (`{{env.url}}/deploy`),
/// and a triple-stashed `{{{value}}}`, which is inserted as it is.
fn render_url(url: &str, ctx: &Value) -> Result<String, Refusal> {
    let base_end = url
        .strip_prefix("{{")
        .filter(|rest| !rest.starts_with(['#', '^', '/', '>', '!', '{', '~']))
        .and_then(|rest| rest.find("}}"))
        .map(|i| i + 4);
    let (base, rest) = match base_end {
        Some(end) => (render(&url[..end], ctx, Escape::None)?, &url[end..]),
        None => (String::new(), url),
    };
    let rendered = render(rest, ctx, Escape::Url)?;
    let written = TEMPLATE.replace_all(rest, "x");
    if moving_segments(&rendered) > moving_segments(&written) {
        return Err(Refusal::new(
            RefusalKind::Unresolved,
            format!(
                "the URL `{base}{rendered}` has a path segment that a value made empty, `.` or `..`, which would send the request to another path; nothing was sent"
            ),
        ));
    }
    Ok(base + &rendered)
}

/// A `{{…}}` (or `{{{…}}}`) in a template.
static TEMPLATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\{?[^}]*\}?\}\}").expect("valid regex"));

/// How many segments of the path in `url` (a whole URL, or what follows its
/// base) are empty, `.` or `..` once percent-decoded: the ones that change
/// where a request goes when the URL is resolved.
fn moving_segments(url: &str) -> usize {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let mut path = &url[..end];
    if let Some(i) = path.find("://") {
        let after = &path[i + 3..];
        path = after.find('/').map_or("", |j| &after[j..]);
    }
    path.split('/')
        .skip(1)
        .filter(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            matches!(decoded.as_ref(), "" | "." | "..")
        })
        .count()
}

/// Renders `text` with its `${VAR}` secrets filled in by the one function
/// that does it ([`fill_secrets`]), each secret escaped as the piece is.
fn render_with_secrets(
    text: &str,
    ctx: &Value,
    escape: Escape,
    secrets: &mut Vec<String>,
) -> Result<String, Refusal> {
    fill_secrets(
        text,
        |piece| render(piece, ctx, escape),
        |v| escape.apply(v),
        secrets,
    )
    .map_err(|e| match e {
        FillError::Template(refusal) => refusal,
        FillError::Unset(var) => Refusal::new(
            RefusalKind::Unresolved,
            format!("environment variable {var} is not set"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_values_are_percent_encoded_but_a_leading_base_is_not() {
        let ctx = json!({
            "env": { "url": "http://127.0.0.1:9/staging" },
            "checks": { "d": { "ref": "feature/x y?z=1#f", "id": "ünï" } }
        });
        assert_eq!(
            render_url(
                "{{env.url}}/deploy/{{checks.d.ref}}?id={{checks.d.id}}",
                &ctx
            )
            .unwrap(),
            "http://127.0.0.1:9/staging/deploy/feature%2Fx%20y%3Fz%3D1%23f?id=%C3%BCn%C3%AF"
        );
        assert_eq!(
            render_url("https://api.example/v1/{{checks.d.ref}}", &ctx).unwrap(),
            "https://api.example/v1/feature%2Fx%20y%3Fz%3D1%23f"
        );
        assert_eq!(
            render_url("https://api.example/{{{checks.d.ref}}}", &ctx).unwrap(),
            "https://api.example/feature/x y?z=1#f"
        );
        let err = render_url("https://api.example/{{checks.d.nope}}", &ctx).unwrap_err();
        assert_eq!(err.kind, RefusalKind::Unresolved);
    }

    #[test]
    fn a_value_cannot_make_a_path_segment_empty_or_a_dot_segment() {
        for sha in ["..", ".", ""] {
            let ctx = json!({
                "env": { "url": "http://127.0.0.1:9/staging" },
                "environments": { "staging": { "sha": sha } },
                "deployment": { "sha": sha, "id": 4 }
            });
            for url in [
                "{{env.url}}/deploy/{{environments.staging.sha}}",
                "{{env.url}}/rollback/{{deployment.id}}/{{deployment.sha}}",
                "https://api.example/deploy/{{environments.staging.sha}}/run",
                "https://api.example/x/{{{environments.staging.sha}}}",
            ] {
                let err = render_url(url, &ctx).unwrap_err();
                assert_eq!(err.kind, RefusalKind::Unresolved, "{url} {sha:?}");
                assert!(
                    err.message.contains("empty, `.` or `..`"),
                    "{}",
                    err.message
                );
            }
            // In the query a value may be anything: it stays one value.
            assert!(
                render_url(
                    "https://api.example/d?sha={{environments.staging.sha}}",
                    &ctx
                )
                .is_ok()
            );
        }
        // `%2e%2e` is encoded as a value, so it cannot become a dot segment;
        // the template's own empty segments and a base's are its own.
        let ctx = json!({ "env": { "url": "http://h/a/" }, "v": { "s": "%2e%2e" } });
        assert_eq!(
            render_url("{{env.url}}/d/{{v.s}}", &ctx).unwrap(),
            "http://h/a//d/%252e%252e"
        );
        assert!(render_url("https://h//x/{{v.s}}", &ctx).is_ok());
        assert!(moving_segments("https://h/a/%2E%2e/b") == 1);
    }

    #[test]
    fn form_bodies_encode_what_would_split_a_value() {
        let ctx = json!({ "environments": { "staging": { "sha": "abc&force=true +x" } } });
        let form = Escape::for_body("sha={{environments.staging.sha}}", &[]);
        assert!(matches!(form, Escape::Form));
        let mut secrets = Vec::new();
        let body = render_with_secrets(
            "sha={{environments.staging.sha}}&go=1",
            &ctx,
            form,
            &mut secrets,
        )
        .unwrap();
        assert_eq!(body, "sha=abc%26force%3Dtrue+%2Bx&go=1");
        let typed = [(
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )];
        assert!(matches!(Escape::for_body("{{x}}", &typed), Escape::Form));
        let text = [("content-type".to_owned(), "text/plain".to_owned())];
        assert!(matches!(Escape::for_body("a=b", &text), Escape::None));
        assert!(matches!(Escape::for_body("deploy now", &[]), Escape::None));
        assert!(matches!(Escape::for_body(" {\"a\": 1}", &[]), Escape::Json));
    }

    #[test]
    fn secrets_in_headers_and_json_bodies_go_to_the_redactor() {
        // SAFETY: a name no other test reads.
        unsafe { std::env::set_var("VILLA_RESOLVE_TEST_SECRET", "se\"cr3t-value") };
        let mut secrets = Vec::new();
        let body = render_with_secrets(
            r#"{"t": "${VILLA_RESOLVE_TEST_SECRET}"}"#,
            &json!({}),
            Escape::Json,
            &mut secrets,
        )
        .unwrap();
        assert_eq!(body, r#"{"t": "se\"cr3t-value"}"#);
        assert_eq!(Redactor::new(&secrets).redact(&body), r#"{"t": "••••"}"#);
    }
}
