//! `[[actions]]` and `[act]` from config to [`ActionSet`]: every mistake is
//! a config error at its file, line and column, collected with the checks'.
//! The checks' validators are reused for what the two share (environment
//! lists, conditions, methods, URLs, headers, `${VAR}`s, repositories,
//! templates and their references).

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::builder::{Builder, quote};
use super::checks::{Checks, condition, environment_list};
use super::environments::Environments;
use super::probe::{absolute_url, headers, method, repository, secret_names};
use super::templates::{
    Reference, SecretsIn, check_template, deployment_fields, misplaced_secret, references,
    secret_refs,
};
use super::{DEFAULT_GITHUB_HISTORY, GithubKind, ProbeSpec, valid_id};
use crate::condition::{Condition, Operand};
use crate::config::Located;
use crate::config::actions::ActionConfig;
pub use crate::config::actions::ActionTarget;

/// What `{{deployment.FIELD}}` can read in a rollback's templates: the
/// fields of a history entry.
pub const DEPLOYMENT_FIELDS: [&str; 9] = [
    "id",
    "sha",
    "ref",
    "state",
    "creator",
    "created_at",
    "updated_at",
    "environment_url",
    "log_url",
];

/// Default `[act] timeout`: the longest an upstream may take to answer.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Every declared action with the `[act]` settings applied.
#[derive(Debug, Clone, Default)]
pub struct ActionSet {
    /// In declaration order.
    pub list: Vec<ActionPlan>,
    /// `[act] audit`, resolved against the config's directory.
    pub audit_path: Option<PathBuf>,
    /// `[serve] actions = true`: the dashboard shows buttons and accepts POSTs.
    pub dashboard: bool,
    /// `[mcp] actions = true`: MCP lists each action as a tool.
    pub agent: bool,
}

impl ActionSet {
    /// The action with this id.
    pub fn get(&self, id: &str) -> Option<&ActionPlan> {
        self.list.iter().find(|a| a.id == id)
    }
}

/// One validated action.
#[derive(Debug, Clone)]
pub struct ActionPlan {
    /// Unique id.
    pub id: String,
    /// Button text.
    pub name: String,
    /// Environment ids it runs for, in configured order; empty for a global action.
    pub environments: Vec<String>,
    /// What is sent.
    pub request: RequestSpec,
    /// The word to type; None: the environment id (or the action id).
    pub confirm: Option<String>,
    /// All must hold over the report JSON.
    pub when: Vec<Condition>,
    /// `when = ["gate"]`: the promotion gate into the instance's environment
    /// (`villa-telemetry gate --env ENV`) must pass too.
    pub gate: bool,
    /// Longest the upstream may take.
    pub timeout: Duration,
    /// Where the dashboard puts the button.
    pub button: Button,
    /// What one run aims at: its environment, or a deployment of its history.
    pub target: ActionTarget,
}

impl ActionPlan {
    /// Whether it runs once per environment (then `--env` is needed).
    pub fn per_env(&self) -> bool {
        !self.environments.is_empty()
    }

    /// The word a person types to confirm this instance.
    pub fn confirm_word(&self, env: Option<&str>) -> String {
        match (&self.confirm, env) {
            (Some(w), _) => w.clone(),
            (None, Some(e)) => e.to_owned(),
            (None, None) => self.id.clone(),
        }
    }

    /// Whether each run goes back to a deployment of the history (then
    /// `--deployment` is needed too).
    pub fn rollback(&self) -> bool {
        self.target == ActionTarget::Deployment
    }

    /// Its instances: one per environment it runs for, or one global. A
    /// rollback has one run per eligible deployment of each (see `action::rollback`).
    pub fn instances(&self) -> Vec<Option<&str>> {
        if self.per_env() {
            self.environments.iter().map(|e| Some(e.as_str())).collect()
        } else {
            vec![None]
        }
    }
}

/// The request of an action, templates unrendered.
#[derive(Debug, Clone)]
pub enum RequestSpec {
    /// `http = { ... }`.
    Http {
        /// Method (POST by default).
        method: reqwest::Method,
        /// URL template.
        url: String,
        /// Header templates; values may hold `${VAR}`.
        headers: Vec<(String, String)>,
        /// Body template; may hold `${VAR}`.
        body: Option<String>,
    },
    /// `github = { dispatch = ... }`: POST
    /// `{api_url}/repos/{repo}/actions/workflows/{workflow}/dispatches`.
    Dispatch {
        /// `owner/name`.
        repo: String,
        /// Workflow file name or id.
        workflow: String,
        /// Ref template.
        git_ref: String,
        /// Input name and value template.
        inputs: Vec<(String, String)>,
    },
}

/// Where the dashboard shows an action's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Button {
    /// On the environment's card (redeploy).
    Environment,
    /// Beside the drift warning of the comparison (promote).
    Comparison,
    /// In the quick links panel.
    Links,
}

/// Validates every `[[actions]]` and `[act]`; invalid actions are left out.
pub(super) fn actions(
    b: &mut Builder<'_>,
    envs: &Environments,
    checks: &Checks,
    repo: Option<&str>,
) -> ActionSet {
    let config = b.config;
    let default_timeout = config.act.timeout.unwrap_or(DEFAULT_ACTION_TIMEOUT);
    if config.act.timeout.is_some_and(|t| t.is_zero()) {
        b.error(0, 0..0, "`[act] timeout` must be more than 0s");
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut list = Vec::new();
    for located in &config.actions {
        let a = &located.value;
        let id = a.id.get_ref();
        if !valid_id(id) {
            b.error(
                located.file,
                a.id.span(),
                format!("invalid action id `{}`", quote(id)),
            );
            b.help(
                "use letters, digits, `_` and `-` (the id is typed as `villa-telemetry act ID`)",
            );
        }
        if !seen.insert(id) {
            b.error(
                located.file,
                a.id.span(),
                format!("duplicate action id `{}`", quote(id)),
            );
            b.help("every [[actions]] needs its own id");
            continue;
        }
        if let Some(action) = action(b, located, envs, checks, repo, default_timeout) {
            list.push(action);
        }
    }
    let audit_path = config.act.audit.as_ref().map(|p| {
        if p.get_ref().trim().is_empty() {
            b.error(0, p.span(), "`audit` is empty");
            b.help("name a file, e.g. audit = \"audit.jsonl\", or leave the key out for the XDG state directory");
        }
        config.base_dir.join(p.get_ref())
    });
    ActionSet {
        list,
        audit_path,
        dashboard: config.serve.actions.unwrap_or(false),
        agent: config.mcp.actions,
    }
}

fn action(
    b: &mut Builder<'_>,
    located: &Located<ActionConfig>,
    envs: &Environments,
    checks: &Checks,
    repo: Option<&str>,
    default_timeout: Duration,
) -> Option<ActionPlan> {
    let a = &located.value;
    let file = located.file;
    let id = a.id.get_ref().clone();
    let environments: Vec<String> =
        environment_list(b, file, a.environments.as_ref(), envs, "action")
            .into_iter()
            .map(|i| envs.list[i].id.clone())
            .collect();
    let per_env = a.environments.is_some();

    let (when, gate) = when_rules(b, located, &environments, envs);

    if let Some(c) = &a.confirm
        && c.get_ref().trim().is_empty()
    {
        b.error(file, c.span(), "`confirm` is empty");
        b.help("name the word a person types, e.g. confirm = \"production\"");
    }
    let button = button(b, located, per_env);
    let target = target(b, located, envs, checks);
    if a.timeout.is_some_and(|t| t.is_zero()) {
        b.error(file, a.id.span(), "`timeout` must be more than 0s");
    }

    let request = request(b, located, repo)?;
    for (text, span) in template_strings(a) {
        template(b, file, text, span.clone(), envs, checks, per_env);
        deployment_template(b, file, text, span, target);
    }
    Some(ActionPlan {
        name: a.name.clone().unwrap_or_else(|| id.clone()),
        id,
        environments,
        request,
        confirm: a.confirm.as_ref().map(|c| c.get_ref().trim().to_owned()),
        when,
        gate,
        timeout: a.timeout.unwrap_or(default_timeout),
        button,
        target,
    })
}

/// The word in `when` that asks for the promotion gate.
const GATE_WORD: &str = "gate";

/// `when`: the conditions over the report JSON, and whether the list names
/// [`GATE_WORD`]. The gate is about promoting into one environment, so it
/// needs a per-environment action whose environments all track another.
fn when_rules(
    b: &mut Builder<'_>,
    located: &Located<ActionConfig>,
    environments: &[String],
    envs: &Environments,
) -> (Vec<Condition>, bool) {
    let a = &located.value;
    let file = located.file;
    let mut when = Vec::new();
    let mut gate = false;
    for cond in &a.when {
        if cond.get_ref().trim() == GATE_WORD {
            gate = true;
            if a.environments.is_none() {
                b.error(
                    file,
                    cond.span(),
                    "`gate` needs a per-environment action: the gate decides whether promoting into one environment is safe",
                );
                b.help("add environments = [\"production\"] (each one `tracks` the environment it is promoted from)");
            }
            for id in environments {
                let tracks = envs
                    .list
                    .iter()
                    .find(|e| &e.id == id)
                    .and_then(|e| e.tracks.as_ref());
                if tracks.is_none() {
                    b.error(
                        file,
                        cond.span(),
                        format!("`gate` on environment `{}`, which tracks no environment: there is nothing to promote from", quote(id)),
                    );
                    b.help(format!(
                        "set tracks = \"staging\" on environment `{}`, or drop `gate`",
                        quote(id)
                    ));
                }
            }
            continue;
        }
        let Some(c) = condition(
            b,
            file,
            cond,
            "write `$.PATH OP VALUE` over the report JSON, e.g. \"$.comparison.staging_vs_production.in_sync == false\", or \"gate\" for the promotion gate",
        ) else {
            continue;
        };
        if matches!(
            c.left(),
            Operand::Status | Operand::Duration | Operand::Header(_)
        ) {
            b.error(
                file,
                cond.span(),
                "`when` reads the report: its left side is a JSONPath or len(PATH)",
            );
            b.help("e.g. \"$.comparison.staging_vs_production.in_sync == false\" or \"$.environments.production.status != 'healthy'\"");
        } else {
            when.push(c);
        }
    }
    (when, gate)
}

/// `target = "deployment"` needs what the history is made of: environments,
/// `[github] history` above 0 and a `github = { deployment = … }` check
/// for each of them. Its button goes beside the deployments, so no `button`.
fn target(
    b: &mut Builder<'_>,
    located: &Located<ActionConfig>,
    envs: &Environments,
    checks: &Checks,
) -> ActionTarget {
    let a = &located.value;
    let file = located.file;
    let Some(t) = &a.target else {
        return ActionTarget::Environment;
    };
    if *t.get_ref() != ActionTarget::Deployment {
        return *t.get_ref();
    }
    let Some(listed) = &a.environments else {
        b.error(
            file,
            t.span(),
            "`target = \"deployment\"` needs `environments`: the history is kept per environment",
        );
        b.help("e.g. environments = [\"production\"]");
        return ActionTarget::Deployment;
    };
    let history = b
        .config
        .github
        .history
        .as_ref()
        .map_or(DEFAULT_GITHUB_HISTORY as u64, |h| *h.get_ref());
    if history == 0 {
        b.error(
            file,
            t.span(),
            "`target = \"deployment\"` rolls back to a deployment of the history, but `[github] history = 0` turns it off",
        );
        b.help("set `[github] history` to how many deployments to offer, e.g. 10");
    }
    let has_history = |ei: usize| {
        checks.plans.iter().zip(&checks.envs).any(|(c, on)| {
            on.contains(&ei)
                && matches!(
                    c.probe,
                    ProbeSpec::Github {
                        kind: GithubKind::Deployment { .. },
                        ..
                    }
                )
        })
    };
    let mut seen = HashSet::new();
    for e in listed.get_ref() {
        let wanted: Vec<usize> = match e.get_ref().as_str() {
            "*" if seen.len() < envs.list.len() => (0..envs.list.len()).collect(),
            "*" => Vec::new(),
            id => envs.index.get(id).copied().into_iter().collect(),
        };
        for ei in wanted
            .into_iter()
            .filter(|&ei| seen.insert(ei) && !has_history(ei))
        {
            b.error(
                file,
                e.span(),
                format!(
                    "environment `{}` has no deployment history: no `github = {{ deployment = … }}` check runs for it",
                    envs.list[ei].id
                ),
            );
            b.help("add a check like [[checks]] id = \"deployment\", environments = [\"production\"], github = { deployment = \"{{env.id}}\" }");
        }
    }
    if let Some(place) = &a.button {
        b.error(
            file,
            place.span(),
            "a rollback's buttons sit beside its deployments in the history: leave out `button`",
        );
    }
    ActionTarget::Deployment
}

/// `{{deployment.FIELD}}` is defined only in rollbacks, and only for the
/// fields a history entry has.
fn deployment_template(
    b: &mut Builder<'_>,
    file: usize,
    text: &str,
    span: Range<usize>,
    target: ActionTarget,
) {
    for field in deployment_fields(text) {
        if target != ActionTarget::Deployment {
            b.error(
                file,
                span,
                "`deployment` is only defined in actions with `target = \"deployment\"`",
            );
            b.help("add `target = \"deployment\"` to roll back to a deployment of the history");
            return;
        }
        if !DEPLOYMENT_FIELDS.contains(&field.as_str()) {
            b.error(
                file,
                span.clone(),
                format!(
                    "`deployment.{}` is not a field of a deployment",
                    quote(&field)
                ),
            );
            let hint = crate::error::did_you_mean(&field, DEPLOYMENT_FIELDS)
                .map(|best| format!("did you mean `deployment.{best}`? "))
                .unwrap_or_default();
            b.help(format!(
                "{hint}a deployment has {}",
                DEPLOYMENT_FIELDS.join(", ")
            ));
            return;
        }
    }
}

fn button(b: &mut Builder<'_>, located: &Located<ActionConfig>, per_env: bool) -> Button {
    let Some(place) = &located.value.button else {
        return if per_env {
            Button::Environment
        } else {
            Button::Links
        };
    };
    match place.get_ref().as_str() {
        "environment" => {
            if !per_env {
                b.error(
                    located.file,
                    place.span(),
                    "`button = \"environment\"` needs `environments`",
                );
                b.help("a global action's button goes beside the drift warning (\"comparison\") or with the links (\"links\")");
            }
            Button::Environment
        }
        "comparison" => Button::Comparison,
        "links" => Button::Links,
        other => {
            b.error(
                located.file,
                place.span(),
                format!("unknown button place `{}`", quote(other)),
            );
            b.help("one of \"environment\", \"comparison\", \"links\"");
            Button::Links
        }
    }
}

fn request(
    b: &mut Builder<'_>,
    located: &Located<ActionConfig>,
    repo: Option<&str>,
) -> Option<RequestSpec> {
    let a = &located.value;
    let file = located.file;
    match (&a.http, &a.github) {
        (None, None) => {
            b.error(
                file,
                a.id.span(),
                format!("action `{}` has no request", quote(a.id.get_ref())),
            );
            b.help("add `http = { url = \"...\" }` or `github = { dispatch = \"deploy.yml\", ref = \"main\" }`");
            None
        }
        (Some(_), Some(g)) => {
            b.error(
                file,
                g.span(),
                format!(
                    "action `{}` has both `http` and `github`",
                    quote(a.id.get_ref())
                ),
            );
            b.help("an action sends one request; split it into two [[actions]]");
            None
        }
        (Some(h), None) => {
            let h = h.get_ref();
            let method = method(b, file, h.method.as_ref(), reqwest::Method::POST)?;
            let url = h.url.get_ref();
            if !secret_refs(url).is_empty() {
                misplaced_secret(b, file, url, h.url.span(), SecretsIn::Action);
                return None;
            }
            if !absolute_url(
                b,
                file,
                &h.url,
                "write the full URL, e.g. \"https://api.vercel.com/v10/projects/ID/promote/{{checks.vercel.deployment}}\"",
            ) {
                return None;
            }
            let headers = headers(b, file, &h.headers);
            if let Some(body) = &h.body {
                secret_names(b, file, body.get_ref(), body.span());
            }
            Some(RequestSpec::Http {
                method,
                url: url.clone(),
                headers,
                body: h.body.as_ref().map(|b| b.get_ref().clone()),
            })
        }
        (None, Some(g)) => {
            let span = g.span();
            let g = g.get_ref();
            let repo = repository(
                b,
                file,
                g.repo.as_ref(),
                repo,
                span,
                "a workflow dispatch needs",
            )?;
            let workflow = g.dispatch.get_ref();
            if workflow.is_empty() || workflow.contains('/') || workflow.contains("{{") {
                b.error(
                    file,
                    g.dispatch.span(),
                    format!(
                        "`dispatch` must be a workflow file name or id, got `{}`",
                        quote(workflow)
                    ),
                );
                b.help("e.g. dispatch = \"deploy.yml\" (the file in .github/workflows)");
                return None;
            }
            for v in std::iter::once(&g.git_ref).chain(g.inputs.values()) {
                misplaced_secret(b, file, v.get_ref(), v.span(), SecretsIn::Action);
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

/// Checks one template string of an action: it compiles as the checks'
/// templates do, and what it reads exists. Actions render over the report,
/// so a reference adds no dependency.
fn template(
    b: &mut Builder<'_>,
    file: usize,
    text: &str,
    span: Range<usize>,
    envs: &Environments,
    checks: &Checks,
    per_env: bool,
) {
    if let Err(why) = check_template(text) {
        b.error(file, span, why);
        b.help("templates look like {{environments.staging.sha}}, {{env.id}}, {{checks.ID.FIELD}}");
        return;
    }
    let mut seen = HashSet::new();
    for r in references(text) {
        if !seen.insert(r.clone()) {
            continue;
        }
        match r {
            Reference::Check(id) if !checks.index.contains_key(&id) => {
                b.unknown_reference(
                    file,
                    span.clone(),
                    "check",
                    &id,
                    checks.plans.iter().map(|c| c.id.as_str()),
                );
            }
            Reference::Environment(env, _) if !envs.index.contains_key(&env) => {
                b.unknown_reference(
                    file,
                    span.clone(),
                    "environment",
                    &env,
                    envs.ids.iter().map(String::as_str),
                );
            }
            Reference::CurrentEnv(_) if !per_env => {
                b.error(
                    file,
                    span.clone(),
                    "`env` is only defined in per-environment actions",
                );
                b.help("add `environments = [\"production\"]` to the action, or use environments.ID.FIELD");
            }
            _ => {}
        }
    }
}

/// Every templated string of an action, with its span.
fn template_strings(a: &ActionConfig) -> Vec<(&str, Range<usize>)> {
    let mut out = Vec::new();
    if let Some(h) = &a.http {
        let h = h.get_ref();
        out.push(&h.url);
        out.extend(h.headers.values());
        out.extend(&h.body);
    }
    if let Some(g) = &a.github {
        let g = g.get_ref();
        out.push(&g.git_ref);
        out.extend(g.inputs.values());
    }
    out.into_iter()
        .map(|s| (s.get_ref().as_str(), s.span()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_from;
    use super::*;

    fn errors_of(toml: &str) -> Vec<String> {
        match super::super::build(config_from(toml)) {
            Ok(_) => Vec::new(),
            Err(crate::error::ConfigError::Invalid(p)) => {
                p.shown().iter().map(|d| d.message().to_owned()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    const ENVS: &str = "[[environments]]\nid = \"staging\"\n[[environments]]\nid = \"production\"\n[[checks]]\nid = \"health\"\nenvironments = [\"*\"]\nhttp = { url = \"https://x.example/\" }\n";

    #[test]
    fn builds_an_action_with_its_instances_in_configured_order() {
        let plan = super::super::build(config_from(&format!(
            "{ENVS}[[actions]]\nid = \"redeploy\"\nenvironments = [\"production\", \"staging\"]\nwhen = [\"$.status != 'healthy'\"]\nhttp = {{ url = \"https://d.example/{{{{env.id}}}}/{{{{checks.health.status}}}}\", headers = {{ Authorization = \"Bearer ${{T}}\" }}, body = '{{\"k\": \"${{T}}\"}}' }}\n"
        )))
        .expect("valid");
        let a = plan.actions.get("redeploy").expect("declared");
        assert_eq!(a.instances(), [Some("staging"), Some("production")]);
        assert_eq!(a.button, Button::Environment);
        assert_eq!(a.timeout, DEFAULT_ACTION_TIMEOUT);
        assert_eq!(a.confirm_word(Some("staging")), "staging");
        assert!(
            matches!(&a.request, RequestSpec::Http { method, .. } if method == reqwest::Method::POST)
        );
    }

    #[test]
    fn a_rollback_needs_a_history_and_only_it_reads_deployment() {
        let with_history = format!(
            "[project]\nrepo = \"o/r\"\n{ENVS}[[checks]]\nid = \"d\"\nenvironments = [\"production\"]\ngithub = {{ deployment = \"{{{{env.id}}}}\" }}\n"
        );
        let plan = super::super::build(config_from(&format!(
            "{with_history}[[actions]]\nid = \"rollback\"\nenvironments = [\"production\"]\ntarget = \"deployment\"\nhttp = {{ url = \"https://x.example/{{{{deployment.sha}}}}\" }}\n"
        )))
        .expect("valid");
        let a = plan.actions.get("rollback").expect("declared");
        assert!(a.rollback());
        assert_eq!(a.target, ActionTarget::Deployment);
        for (action, want) in [
            (
                "environments = [\"staging\"]\ntarget = \"deployment\"\nhttp = { url = \"https://x.example/\" }",
                "environment `staging` has no deployment history: no `github = { deployment = … }` check runs for it",
            ),
            (
                "target = \"deployment\"\nhttp = { url = \"https://x.example/\" }",
                "`target = \"deployment\"` needs `environments`: the history is kept per environment",
            ),
            (
                "environments = [\"production\"]\nhttp = { url = \"https://x.example/{{deployment.sha}}\" }",
                "`deployment` is only defined in actions with `target = \"deployment\"`",
            ),
            (
                "environments = [\"production\"]\ntarget = \"deployment\"\nhttp = { url = \"https://x.example/{{deployment.sh}}\" }",
                "`deployment.sh` is not a field of a deployment",
            ),
            (
                "environments = [\"production\"]\ntarget = \"deployment\"\nbutton = \"links\"\nhttp = { url = \"https://x.example/\" }",
                "a rollback's buttons sit beside its deployments in the history: leave out `button`",
            ),
        ] {
            let errors = errors_of(&format!(
                "{with_history}[[actions]]\nid = \"a\"\n{action}\n"
            ));
            assert_eq!(
                errors.first().map(String::as_str),
                Some(want),
                "{action}: {errors:?}"
            );
        }
        let errors = errors_of(&format!(
            "{with_history}[github]\nhistory = 0\n[[actions]]\nid = \"a\"\nenvironments = [\"production\"]\ntarget = \"deployment\"\nhttp = {{ url = \"https://x.example/\" }}\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`[github] history = 0` turns it off")),
            "{errors:?}"
        );
    }

    #[test]
    fn shares_the_checks_validators() {
        for (action, want) in [
            (
                "http = { url = \"https://x.example/\", headers = { A = \"${B-C}\" } }",
                "invalid environment variable reference `${B-C}`",
            ),
            (
                "http = { url = \"https://x.example/\", method = \"G T\" }",
                "invalid HTTP method `G T`",
            ),
            (
                "http = { url = \"https://x.example/{{checks.helth.sha}}\" }",
                "template references unknown check `helth`",
            ),
            (
                "http = { url = \"https://x.example/{{> p}}\" }",
                "templates cannot use partials (`{{> name}}`): there are none to call",
            ),
            (
                "http = { url = \"https://x.example/${T}\" }",
                "`${T}` is only read in header values and bodies; here it would be sent and shown as written",
            ),
            (
                "github = { dispatch = \"d.yml\", ref = \"main\", repo = \"o/r\", inputs = { a = \"${T}\" } }",
                "`${T}` is only read in header values and bodies; here it would be sent and shown as written",
            ),
            (
                "github = { dispatch = \"d.yml\", ref = \"main\", repo = \"o\" }",
                "`repo` must be `owner/name`, got `o`",
            ),
            (
                "when = [\"$.x ==\"]\nhttp = { url = \"https://x.example/\" }",
                "invalid condition: missing value after `==`",
            ),
        ] {
            let errors = errors_of(&format!("{ENVS}[[actions]]\nid = \"a\"\n{action}\n"));
            assert_eq!(
                errors.first().map(String::as_str),
                Some(want),
                "{action}: {errors:?}"
            );
        }
    }
}
