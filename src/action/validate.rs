//! `[[actions]]` and `[act]` from config to [`ActionSet`]: every mistake is a
//! config error at its file, line and column, reported with the plan's.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{ActionPlan, ActionSet, Button, DEFAULT_TIMEOUT, RequestSpec};
use crate::condition::{Condition, Operand};
use crate::config::{Config, Located};
use crate::error::{Diagnostic, did_you_mean};

use super::config::ActionConfig;

struct Ctx<'a> {
    config: &'a Config,
    diags: &'a mut Vec<Diagnostic>,
    env_ids: Vec<String>,
    check_ids: Vec<String>,
}

impl Ctx<'_> {
    fn error(&mut self, file: usize, span: Range<usize>, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(&self.config.sources[file], span, msg));
    }

    fn help(&mut self, help: impl Into<String>) {
        if let Some(last) = self.diags.pop() {
            self.diags.push(last.with_help(help));
        }
    }

    fn suggest(&mut self, word: &str, candidates: &[String]) {
        if let Some(best) = did_you_mean(word, candidates.iter().map(String::as_str)) {
            self.help(format!("did you mean `{best}`?"));
        } else if !candidates.is_empty() {
            self.help(format!("known: {}", candidates.join(", ")));
        }
    }
}

/// Validates the actions of `config`, adding every problem to `diags`.
pub fn build(config: &Config, diags: &mut Vec<Diagnostic>) -> ActionSet {
    let mut cx = Ctx {
        config,
        diags,
        env_ids: config
            .environments
            .iter()
            .map(|e| e.value.id.get_ref().clone())
            .collect(),
        check_ids: config
            .checks
            .iter()
            .map(|c| c.value.id.get_ref().clone())
            .collect(),
    };
    let default_timeout = config.act.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if config.act.timeout.is_some_and(|t| t.is_zero()) {
        cx.error(0, 0..0, "`[act] timeout` must be more than 0s");
    }
    let repo = config.project.repo.as_ref().map(|r| r.get_ref().as_str());
    let mut seen: HashSet<String> = HashSet::new();
    let mut list = Vec::new();
    for located in &config.actions {
        let a = &located.value;
        let id = a.id.get_ref();
        if !valid_id(id) {
            cx.error(
                located.file,
                a.id.span(),
                format!("invalid action id `{id}`"),
            );
            cx.help(
                "use letters, digits, `_` and `-` (the id is typed as `villa-telemetry act ID`)",
            );
        }
        if !seen.insert(id.clone()) {
            cx.error(
                located.file,
                a.id.span(),
                format!("duplicate action id `{id}`"),
            );
            cx.help("every [[actions]] needs its own id");
            continue;
        }
        if let Some(action) = action(&mut cx, located, repo, default_timeout) {
            list.push(action);
        }
    }
    let audit_path = config.act.audit.as_ref().map(|p| {
        if p.get_ref().trim().is_empty() {
            cx.error(0, p.span(), "`audit` is empty");
            cx.help("name a file, e.g. audit = \"audit.jsonl\", or leave the key out for the XDG state directory");
        }
        config.base_dir.join(p.get_ref())
    });
    ActionSet {
        list,
        audit_path,
        dashboard: config.serve.actions.unwrap_or(false),
    }
}

fn action(
    cx: &mut Ctx<'_>,
    located: &Located<ActionConfig>,
    repo: Option<&str>,
    default_timeout: std::time::Duration,
) -> Option<ActionPlan> {
    let a = &located.value;
    let file = located.file;
    let id = a.id.get_ref().clone();

    let environments = match &a.environments {
        None => Vec::new(),
        Some(list) => {
            if list.get_ref().is_empty() {
                cx.error(file, list.span(), "`environments` is empty");
                cx.help(
                    "use [\"*\"] for every environment, or leave the key out for a global action",
                );
            }
            let mut out: Vec<String> = Vec::new();
            for e in list.get_ref() {
                if e.get_ref() == "*" {
                    out.extend(cx.env_ids.iter().cloned());
                } else if cx.env_ids.contains(e.get_ref()) {
                    out.push(e.get_ref().clone());
                } else {
                    cx.error(
                        file,
                        e.span(),
                        format!("unknown environment `{}`", e.get_ref()),
                    );
                    let known = cx.env_ids.clone();
                    cx.suggest(e.get_ref(), &known);
                }
            }
            // Keep configured order, once each.
            let mut ordered: Vec<String> = cx
                .env_ids
                .iter()
                .filter(|e| out.contains(e))
                .cloned()
                .collect();
            ordered.dedup();
            ordered
        }
    };
    let per_env = a.environments.is_some();

    let mut when = Vec::new();
    for cond in &a.when {
        match Condition::parse(cond.get_ref()) {
            Ok(c) => {
                if matches!(
                    c.left(),
                    Operand::Status | Operand::Duration | Operand::Header(_)
                ) {
                    cx.error(
                        file,
                        cond.span(),
                        "`when` reads the report: its left side is a JSONPath or len(PATH)",
                    );
                    cx.help("e.g. \"$.comparison.staging_vs_production.in_sync == false\" or \"$.environments.production.status != 'healthy'\"");
                } else {
                    when.push(c);
                }
            }
            Err(e) => {
                let start = cond.span().start + 1 + e.offset;
                cx.error(
                    file,
                    start..start + e.len.max(1),
                    format!("invalid condition: {}", e.message),
                );
                cx.help(e.help.unwrap_or_else(|| {
                    "write `$.PATH OP VALUE` over the report JSON, e.g. \"$.comparison.staging_vs_production.in_sync == false\"".into()
                }));
            }
        }
    }

    if let Some(c) = &a.confirm
        && c.get_ref().trim().is_empty()
    {
        cx.error(file, c.span(), "`confirm` is empty");
        cx.help("name the word a person types, e.g. confirm = \"production\"");
    }
    let button = match &a.button {
        None if per_env => Button::Environment,
        None => Button::Links,
        Some(b) => match b.get_ref().as_str() {
            "environment" => {
                if !per_env {
                    cx.error(
                        file,
                        b.span(),
                        "`button = \"environment\"` needs `environments`",
                    );
                    cx.help("a global action's button goes beside the drift warning (\"comparison\") or with the links (\"links\")");
                }
                Button::Environment
            }
            "comparison" => Button::Comparison,
            "links" => Button::Links,
            other => {
                cx.error(file, b.span(), format!("unknown button place `{other}`"));
                cx.help("one of \"environment\", \"comparison\", \"links\"");
                Button::Links
            }
        },
    };
    if a.timeout.is_some_and(|t| t.is_zero()) {
        cx.error(file, a.id.span(), "`timeout` must be more than 0s");
    }

    let request = request(cx, located, repo)?;
    for (text, span) in template_strings(a) {
        check_template(cx, file, &text, span, per_env);
    }
    Some(ActionPlan {
        name: a.name.clone().unwrap_or_else(|| id.clone()),
        id,
        environments,
        request,
        confirm: a.confirm.as_ref().map(|c| c.get_ref().trim().to_owned()),
        when,
        timeout: a.timeout.unwrap_or(default_timeout),
        button,
    })
}

fn request(
    cx: &mut Ctx<'_>,
    located: &Located<ActionConfig>,
    repo: Option<&str>,
) -> Option<RequestSpec> {
    let a = &located.value;
    let file = located.file;
    match (&a.http, &a.github) {
        (None, None) => {
            cx.error(
                file,
                a.id.span(),
                format!("action `{}` has no request", a.id.get_ref()),
            );
            cx.help("add `http = { url = \"...\" }` or `github = { dispatch = \"deploy.yml\", ref = \"main\" }`");
            None
        }
        (Some(_), Some(g)) => {
            cx.error(
                file,
                g.span(),
                format!("action `{}` has both `http` and `github`", a.id.get_ref()),
            );
            cx.help("an action sends one request; split it into two [[actions]]");
            None
        }
        (Some(h), None) => {
            let h = h.get_ref();
            let method = match &h.method {
                None => reqwest::Method::POST,
                Some(m) => {
                    match reqwest::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
                        Ok(m) => m,
                        Err(_) => {
                            cx.error(
                                file,
                                m.span(),
                                format!("invalid HTTP method `{}`", m.get_ref()),
                            );
                            return None;
                        }
                    }
                }
            };
            let url = h.url.get_ref();
            if url.contains("${") {
                cx.error(
                    file,
                    h.url.span(),
                    "secrets (`${VAR}`) are not allowed in the URL",
                );
                cx.help("URLs are shown and audited; put the secret in a header, e.g. headers = { Authorization = \"Bearer ${TOKEN}\" }");
                return None;
            }
            if !url.contains("{{") && reqwest::Url::parse(url).is_err() {
                cx.error(
                    file,
                    h.url.span(),
                    format!("`{url}` is not an absolute URL"),
                );
                cx.help("write the full URL, e.g. \"https://api.vercel.com/v10/projects/ID/promote/{{checks.vercel.deployment}}\"");
                return None;
            }
            for (name, value) in &h.headers {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    cx.error(file, value.span(), format!("invalid header name `{name}`"));
                }
                check_secret_refs(cx, file, value.get_ref(), value.span());
            }
            if let Some(body) = &h.body {
                check_secret_refs(cx, file, body.get_ref(), body.span());
            }
            Some(RequestSpec::Http {
                method,
                url: url.clone(),
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                    .collect(),
                body: h.body.as_ref().map(|b| b.get_ref().clone()),
            })
        }
        (None, Some(g)) => {
            let span = g.span();
            let g = g.get_ref();
            let repo = match (&g.repo, repo) {
                (Some(r), _) => {
                    if !valid_repo(r.get_ref()) {
                        cx.error(
                            file,
                            r.span(),
                            format!("`repo` must be `owner/name`, got `{}`", r.get_ref()),
                        );
                    }
                    r.get_ref().clone()
                }
                (None, Some(r)) => r.to_owned(),
                (None, None) => {
                    cx.error(file, span, "a workflow dispatch needs a repository");
                    cx.help(
                        "set `repo = \"owner/name\"` under [project] (or in this github table)",
                    );
                    return None;
                }
            };
            let workflow = g.dispatch.get_ref();
            if workflow.is_empty() || workflow.contains('/') || workflow.contains("{{") {
                cx.error(
                    file,
                    g.dispatch.span(),
                    format!("`dispatch` must be a workflow file name or id, got `{workflow}`"),
                );
                cx.help("e.g. dispatch = \"deploy.yml\" (the file in .github/workflows)");
                return None;
            }
            for (text, sp) in std::iter::once((g.git_ref.get_ref(), g.git_ref.span()))
                .chain(g.inputs.values().map(|v| (v.get_ref(), v.span())))
            {
                if text.contains("${") {
                    cx.error(
                        file,
                        sp,
                        "secrets (`${VAR}`) are not allowed in workflow inputs",
                    );
                    cx.help("inputs show up in the run's page; let the workflow read its secrets itself");
                }
            }
            Some(RequestSpec::Dispatch {
                repo,
                workflow: workflow.clone(),
                git_ref: g.git_ref.get_ref().clone(),
                inputs: g
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                    .collect(),
            })
        }
    }
}

fn check_secret_refs(cx: &mut Ctx<'_>, file: usize, text: &str, span: Range<usize>) {
    for var in crate::plan::secret_refs(text) {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            cx.error(
                file,
                span.clone(),
                format!("invalid environment variable reference `${{{var}}}`"),
            );
            cx.help("write ${NAME} with letters, digits and `_`");
        }
    }
}

fn check_template(cx: &mut Ctx<'_>, file: usize, text: &str, span: Range<usize>, per_env: bool) {
    if let Err(e) = handlebars::Template::compile(text) {
        cx.error(file, span, format!("invalid template: {}", e.reason()));
        cx.help(
            "templates look like {{environments.staging.sha}}, {{env.id}}, {{checks.ID.FIELD}}",
        );
        return;
    }
    static MUSTACHE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{\{\{?([^}]*)\}?\}\}").expect("valid regex"));
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s(])(checks|environments|env)\.([A-Za-z0-9_-]+)").expect("valid regex")
    });
    for m in MUSTACHE.captures_iter(text) {
        for p in PATH.captures_iter(&m[1]) {
            let name = p[2].to_owned();
            match &p[1] {
                "environments" if !cx.env_ids.contains(&name) => {
                    cx.error(
                        file,
                        span.clone(),
                        format!("template references unknown environment `{name}`"),
                    );
                    let known = cx.env_ids.clone();
                    cx.suggest(&name, &known);
                }
                "checks" if !cx.check_ids.contains(&name) => {
                    cx.error(
                        file,
                        span.clone(),
                        format!("template references unknown check `{name}`"),
                    );
                    let known = cx.check_ids.clone();
                    cx.suggest(&name, &known);
                }
                "env" if !per_env => {
                    cx.error(
                        file,
                        span.clone(),
                        "`env` is only defined in per-environment actions",
                    );
                    cx.help("add `environments = [\"production\"]` to the action, or use environments.ID.FIELD");
                }
                _ => {}
            }
        }
    }
}

/// Every templated string of an action, with its span.
fn template_strings(a: &ActionConfig) -> Vec<(String, Range<usize>)> {
    let mut out = Vec::new();
    if let Some(h) = &a.http {
        let h = h.get_ref();
        out.push((h.url.get_ref().clone(), h.url.span()));
        for v in h.headers.values() {
            out.push((v.get_ref().clone(), v.span()));
        }
        if let Some(b) = &h.body {
            out.push((b.get_ref().clone(), b.span()));
        }
    }
    if let Some(g) = &a.github {
        let g = g.get_ref();
        out.push((g.git_ref.get_ref().clone(), g.git_ref.span()));
        for v in g.inputs.values() {
            out.push((v.get_ref().clone(), v.span()));
        }
    }
    out
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty())
}
