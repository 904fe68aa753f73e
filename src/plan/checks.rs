//! `[[checks]]`: ids, the environments each runs for, conditions, extracts,
//! timeouts and the template references that become dependencies.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::builder::{Builder, quote};
use super::environments::Environments;
use super::probe::probe_spec;
use super::templates::{
    Reference, SecretsIn, check_template, literal_strings, misplaced_secret, references,
    template_strings,
};
use super::{CheckPlan, DEFAULT_TIMEOUT, PLUGIN_TIMEOUT, valid_id};
use crate::condition::{CompiledPath, Condition};
use crate::config::{CheckConfig, Located};
use toml::Spanned;

/// A template reference with the file and span of the string holding it.
pub(super) type FoundRef = (Reference, usize, Range<usize>);

/// The valid check definitions and what the job step needs about each.
pub(super) struct Checks {
    /// Definitions, in file order.
    pub(super) plans: Vec<CheckPlan>,
    /// Environments each check runs for (indices), parallel to `plans`.
    pub(super) envs: Vec<Vec<usize>>,
    /// Template references of each check, parallel to `plans`.
    pub(super) refs: Vec<Vec<FoundRef>>,
    /// Id to index into `plans`.
    pub(super) index: HashMap<String, usize>,
}

/// Validates every `[[checks]]` table; invalid ones are left out.
pub(super) fn checks(b: &mut Builder<'_>, envs: &Environments, repo: Option<&str>) -> Checks {
    let config = b.config;
    let mut out = Checks {
        plans: Vec::new(),
        envs: Vec::new(),
        refs: Vec::new(),
        index: HashMap::new(),
    };
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, located) in config.checks.iter().enumerate() {
        let c = &located.value;
        let id = c.id.get_ref();
        if !valid_id(id) {
            b.error(
                located.file,
                c.id.span(),
                format!("invalid check id `{}`", quote(id)),
            );
            b.help("use letters, digits, `_` and `-` (ids appear in templates as checks.ID)");
        }
        if let Some(&prev) = first_of.get(id.as_str()) {
            let id = quote(id);
            b.error(
                located.file,
                c.id.span(),
                format!("duplicate check id `{id}`"),
            );
            if !b.counting_only() {
                let first = &config.checks[prev];
                let at = config.sources[first.file].location(first.value.id.span().start);
                b.help(format!(
                    "`{id}` is already defined at {at}; rename one of them"
                ));
            }
            continue;
        }
        first_of.insert(id, i);
        let Some((plan, check_envs, refs)) = check(b, located, envs, repo) else {
            continue;
        };
        out.index.insert(plan.id.clone(), out.plans.len());
        out.plans.push(plan);
        out.envs.push(check_envs);
        out.refs.push(refs);
    }
    out
}

/// One check, or `None` when its probe is unusable.
fn check(
    b: &mut Builder<'_>,
    located: &Located<CheckConfig>,
    envs: &Environments,
    repo: Option<&str>,
) -> Option<(CheckPlan, Vec<usize>, Vec<FoundRef>)> {
    let c = &located.value;
    let id = c.id.get_ref().clone();
    let probe = probe_spec(b, located, repo)?;
    let display = match super::metrics::display(c) {
        Ok(d) => d,
        Err(errors) => {
            super::probe::spec_errors(b, located.file, errors);
            return None;
        }
    };
    let check_envs = environment_list(b, located.file, c.environments.as_ref(), envs, "check");
    let (expect, warn_unless, mut needs_body) = conditions(b, located);
    let reads_status = expect.iter().any(Condition::reads_status);
    let extract = extracts(b, located);
    needs_body |= !extract.is_empty();
    let refs = template_refs(b, located);
    for (text, span) in literal_strings(c) {
        misplaced_secret(b, located.file, text, span, SecretsIn::Check);
    }

    // Plugins default to their own 2s, not `[run] timeout`: a plugin run
    // computes in this process, up to its memory cap, while a network check
    // mostly waits.
    let probe_default = if c.plugin.is_some() {
        PLUGIN_TIMEOUT
    } else {
        b.config.run.timeout.unwrap_or(DEFAULT_TIMEOUT)
    };
    let timeout = c
        .timeout
        .or(c.http.as_ref().and_then(|h| h.get_ref().timeout))
        .or(c.plugin.as_ref().and_then(|p| p.get_ref().timeout))
        .unwrap_or(probe_default);
    let plan = CheckPlan {
        name: c.name.clone().unwrap_or_else(|| id.clone()),
        id,
        probe,
        expect,
        warn_unless,
        extract,
        timeout,
        per_env: c.environments.is_some(),
        // A metric or table reads the body: a cut one must be an error.
        needs_body: needs_body || display.metric.is_some() || display.table.is_some(),
        reads_status,
        metric: display.metric,
        table: display.table,
        panel: display.panel,
    };
    Some((plan, check_envs, refs))
}

/// `environments = [...]` as indices in configured order, `*` meaning all;
/// empty for a table without the key. `what` names the table in the help
/// ("check", "action").
pub(super) fn environment_list(
    b: &mut Builder<'_>,
    file: usize,
    list: Option<&Spanned<Vec<Spanned<String>>>>,
    envs: &Environments,
    what: &str,
) -> Vec<usize> {
    let Some(list) = list else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    if list.get_ref().is_empty() {
        b.error(file, list.span(), "`environments` is empty");
        b.help(format!(
            "use [\"*\"] for every environment, or leave the key out for a global {what}"
        ));
    }
    for e in list.get_ref() {
        if e.get_ref() == "*" {
            // Once is enough: `["*", "*", ...]` must not cost envs × stars.
            if out.len() < envs.list.len() {
                out.extend(0..envs.list.len());
            }
        } else if let Some(&i) = envs.index.get(e.get_ref()) {
            out.insert(i);
        } else {
            b.error(
                file,
                e.span(),
                format!("unknown environment `{}`", quote(e.get_ref())),
            );
            b.suggest(e.get_ref(), envs.ids.iter().map(String::as_str));
        }
    }
    out.into_iter().collect()
}

/// `expect` and `warn_unless` parsed, and whether any of them reads the body.
fn conditions(
    b: &mut Builder<'_>,
    located: &Located<CheckConfig>,
) -> (Vec<Condition>, Vec<Condition>, bool) {
    let c = &located.value;
    let mut expect = Vec::new();
    let mut warn_unless = Vec::new();
    let mut needs_body = false;
    for (list, out) in [(&c.expect, &mut expect), (&c.warn_unless, &mut warn_unless)] {
        for cond in list {
            if let Some(parsed) = condition(
                b,
                located.file,
                cond,
                "write `LEFT OP RIGHT`, e.g. \"status == 200\", \"$.status == 'ok'\", \"duration < 800ms\"",
            ) {
                needs_body |= cond.get_ref().trim_start().starts_with('$')
                    || cond.get_ref().trim_start().starts_with("len(");
                out.push(parsed);
            }
        }
    }
    (expect, warn_unless, needs_body)
}

/// One condition parsed, or `None` after recording where it goes wrong;
/// `example` is the help when the parser has none of its own.
pub(super) fn condition(
    b: &mut Builder<'_>,
    file: usize,
    cond: &Spanned<String>,
    example: &str,
) -> Option<Condition> {
    match Condition::parse(cond.get_ref()) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            let start = cond.span().start + 1 + e.offset;
            b.error(
                file,
                start..start + e.len.max(1),
                format!("invalid condition: {}", e.message),
            );
            b.label(e.message.clone());
            b.help(e.help.unwrap_or_else(|| example.to_owned()));
            None
        }
    }
}

/// `extract = { name = "$.path" }` compiled.
fn extracts(b: &mut Builder<'_>, located: &Located<CheckConfig>) -> Vec<(String, CompiledPath)> {
    let mut out = Vec::new();
    for (name, path) in &located.value.extract {
        match crate::condition::compile_path(path.get_ref()) {
            Ok(p) => out.push((name.clone(), p)),
            Err(e) => {
                let start = path.span().start + 1 + e.offset;
                b.error(
                    located.file,
                    start..start + e.len.max(1),
                    format!("invalid JSONPath for `{}`: {}", quote(name), e.message),
                );
                if let Some(h) = e.help {
                    b.help(h);
                }
            }
        }
    }
    out
}

/// What the check's templates read, after checking that each one compiles.
fn template_refs(b: &mut Builder<'_>, located: &Located<CheckConfig>) -> Vec<FoundRef> {
    let mut found = Vec::new();
    for (text, span) in template_strings(&located.value) {
        if let Err(why) = check_template(&text) {
            b.error(located.file, span.clone(), why);
            b.help("templates look like {{env.url}}, {{environments.staging.sha}}, {{checks.ID.FIELD}}");
            continue;
        }
        for r in references(&text) {
            found.push((r, located.file, span.clone()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::environments::environments;
    use super::super::tests::config_from;
    use super::*;

    fn checks_of(toml: &str) -> (Checks, Vec<String>) {
        let config = config_from(toml);
        let mut b = Builder::new(&config);
        let envs = environments(&mut b);
        let out = checks(&mut b, &envs, None);
        let messages = b
            .problems
            .shown()
            .iter()
            .map(|d| d.message().to_owned())
            .collect();
        (out, messages)
    }

    #[test]
    fn reads_conditions_extracts_and_environments() {
        let (out, errors) = checks_of(
            r#"
[[environments]]
id = "p"
[[environments]]
id = "s"
[[checks]]
id = "a"
environments = ["*"]
http = { url = "{{env.url}}/h", timeout = "1s" }
expect = ["status == 200"]
warn_unless = ["duration < 1s"]
extract = { sha = "$.sha" }
"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let a = &out.plans[0];
        assert_eq!(out.envs[0], [0, 1]);
        assert!(a.per_env && a.needs_body && a.reads_status);
        assert_eq!((a.expect.len(), a.warn_unless.len()), (1, 1));
        assert!(a.extracts("sha"));
        assert_eq!(a.timeout, std::time::Duration::from_secs(1));
        assert_eq!(out.refs[0].len(), 1);
    }

    #[test]
    fn a_duplicate_points_at_the_first_definition() {
        let (out, errors) = checks_of(
            "[[checks]]\nid = \"a\"\nhttp = { url = \"http://x/\" }\n[[checks]]\nid = \"a\"\nhttp = { url = \"http://y/\" }\n",
        );
        assert_eq!(out.plans.len(), 1);
        assert_eq!(errors, ["duplicate check id `a`"]);
    }

    #[test]
    fn bad_parts_are_each_reported() {
        let (_, errors) = checks_of(
            "[[checks]]\nid = \"a\"\nenvironments = []\nhttp = { url = \"{{#if}}\" }\nexpect = [\"status = 1\"]\nextract = { x = \"nope\" }\n",
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(errors[0], "`environments` is empty");
        assert!(errors[1].starts_with("invalid condition"), "{errors:?}");
        assert!(
            errors[2].starts_with("invalid JSONPath for `x`"),
            "{errors:?}"
        );
        assert!(errors[3].starts_with("invalid template"), "{errors:?}");
    }
}
