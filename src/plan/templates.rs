//! Templates in checks and links: where they are and what they read from
//! other checks and environments.

use std::sync::LazyLock;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use regex::Regex;

use crate::config::CheckConfig;

/// Block helpers a template may use. The product registers no helpers of
/// its own, and no partials or decorators: a template is values and logic.
const BLOCK_HELPERS: [&str; 4] = ["if", "unless", "with", "each"];

/// Helpers a template may call with arguments.
const INLINE_HELPERS: [&str; 11] = [
    "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "lookup",
];

/// Handlebars' other built-in helpers, refused even without arguments.
const REFUSED_HELPERS: [&str; 2] = ["log", "raw"];

/// Deepest nesting of blocks or `(...)` sub-expressions accepted. The
/// template parser recurses on both, so this also bounds its stack.
pub const MAX_NESTING: usize = 8;

/// Why `text` is not a template this product renders, if it is not: a
/// syntax error, nesting deeper than [`MAX_NESTING`], a partial or a
/// decorator (with which a template could call itself), or a helper the
/// product does not offer.
pub fn check_template(text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    let depth = nesting(text);
    if depth > MAX_NESTING {
        return Err(format!(
            "template nests {depth} levels deep; at most {MAX_NESTING} blocks or (...) are allowed"
        ));
    }
    let template =
        Template::compile(text).map_err(|e| format!("invalid template: {}", e.reason()))?;
    check_elements(&template, false)?;
    if SECRET.is_match(text) {
        // Rendered piece by piece (see `fill_secrets`): each must stand alone.
        for piece in secret_free_pieces(text) {
            if let Err(e) = Template::compile(piece) {
                return Err(format!(
                    "a `${{NAME}}` cannot stand inside a template block or expression ({}); write it outside the {{{{#…}}}} … {{{{/…}}}}",
                    e.reason()
                ));
            }
        }
    }
    Ok(())
}

/// Largest text a template may render to.
pub const MAX_RENDERED: usize = 1 << 20;

/// Renders `text` (a template [`check_template`] accepted) over `data`,
/// failing once the output passes [`MAX_RENDERED`] bytes.
pub fn render_template<T: serde::Serialize>(
    hb: &handlebars::Handlebars<'_>,
    text: &str,
    data: &T,
) -> Result<String, handlebars::RenderError> {
    /// Collects output up to the cap, then refuses more.
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + buf.len() > MAX_RENDERED {
                return Err(std::io::Error::other(format!(
                    "rendered text is larger than {} KiB",
                    MAX_RENDERED >> 10
                )));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new());
    hb.render_template_to_write(text, data, &mut out)?;
    // Templates and values are UTF-8, and handlebars writes whole strings.
    Ok(String::from_utf8_lossy(&out.0).into_owned())
}

/// An upper bound of the nesting depth of blocks and sub-expressions,
/// found without the (recursive) parser.
fn nesting(text: &str) -> usize {
    let mut deepest = 0;
    let mut blocks: usize = 0;
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").unwrap_or(after.len());
        let inner = after[..close].trim_start_matches(['{', '~']);
        if inner.starts_with('#') || inner.starts_with('^') && inner.len() > 1 {
            blocks += 1;
        } else if inner.starts_with('/') {
            blocks = blocks.saturating_sub(1);
        }
        let parens = inner.matches('(').count();
        deepest = deepest.max(blocks + parens);
        rest = &after[close..];
    }
    deepest
}

/// Checks every element; `in_each` refuses an `each` inside another, so
/// that rendering time stays linear in the data.
fn check_elements(template: &Template, in_each: bool) -> Result<(), String> {
    for element in &template.elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                check_call(h, false)?;
            }
            TemplateElement::HelperBlock(h) => {
                check_call(h, true)?;
                let each = h.name.as_name() == Some("each");
                if each && in_each {
                    return Err("templates cannot nest `{{#each}}` inside `{{#each}}`".into());
                }
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    check_elements(inner, in_each || each)?;
                }
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                return Err(
                    "templates cannot use partials (`{{> name}}`): there are none to call".into(),
                );
            }
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                return Err(
                    "templates cannot use decorators such as `{{#*inline}}`: write the text out"
                        .into(),
                );
            }
            _ => return Err("templates cannot use this construct".into()),
        }
    }
    Ok(())
}

/// A `{{name args}}` or `{{#name args}}`: a value, or an offered helper.
fn check_call(h: &HelperTemplate, block: bool) -> Result<(), String> {
    let name = h.name.as_name().unwrap_or("");
    let calls = block || !h.params.is_empty() || !h.hash.is_empty();
    if block && !BLOCK_HELPERS.contains(&name) {
        return Err(format!(
            "template block `{{{{#{}}}}}` is not offered; blocks: {}",
            super::builder::quote(name),
            BLOCK_HELPERS.join(", ")
        ));
    }
    if (calls && !block && !INLINE_HELPERS.contains(&name)) || REFUSED_HELPERS.contains(&name) {
        return Err(format!(
            "template helper `{}` is not offered; helpers: {}",
            super::builder::quote(name),
            INLINE_HELPERS.join(", ")
        ));
    }
    for p in h.params.iter().chain(h.hash.values()) {
        if let Parameter::Subexpression(sub) = p
            && let TemplateElement::Expression(inner) = sub.as_element()
        {
            check_call(inner, false)?;
        }
    }
    Ok(())
}

/// Every templated string of a check, with its span.
pub(super) fn template_strings(c: &CheckConfig) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    if let Some(h) = &c.http {
        let h = h.get_ref();
        out.push((h.url.get_ref().clone(), h.url.span()));
        for v in h.headers.values() {
            out.push((v.get_ref().clone(), v.span()));
        }
        if let Some(body) = &h.body {
            out.push((body.get_ref().clone(), body.span()));
        }
    }
    if let Some(g) = &c.github {
        let g = g.get_ref();
        for s in [&g.compare, &g.deployment].into_iter().flatten() {
            out.push((s.get_ref().clone(), s.span()));
        }
    }
    if let Some(p) = &c.prometheus {
        let p = p.get_ref();
        out.push((p.url.get_ref().clone(), p.url.span()));
        out.push((p.query.get_ref().clone(), p.query.span()));
    }
    if let Some(p) = &c.plugin {
        for s in toml_strings(&p.get_ref().config) {
            if s.contains("{{") {
                out.push((s.to_owned(), p.span()));
            }
        }
    }
    out
}

/// Every string of a check that is not a header value, with its span:
/// where a `${VAR}` would not be read.
pub(super) fn literal_strings(c: &CheckConfig) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut spanned: Vec<&toml::Spanned<String>> = Vec::new();
    if let Some(h) = &c.http {
        let h = h.get_ref();
        spanned.push(&h.url);
        spanned.extend(h.method.iter().chain(&h.body));
    }
    if let Some(g) = &c.github {
        let g = g.get_ref();
        spanned.extend(
            [&g.workflow, &g.deployment, &g.compare, &g.repo]
                .into_iter()
                .flatten(),
        );
    }
    if let Some(g) = &c.git {
        spanned.push(&g.get_ref().path);
    }
    if let Some(p) = &c.prometheus {
        let p = p.get_ref();
        spanned.push(&p.url);
        spanned.push(&p.query);
    }
    if let Some(p) = &c.plugin {
        spanned.push(&p.get_ref().wasm);
        spanned.extend(&p.get_ref().memory);
    }
    spanned.extend(
        c.expect
            .iter()
            .chain(&c.warn_unless)
            .chain(c.extract.values()),
    );
    let mut out: Vec<(&str, std::ops::Range<usize>)> = spanned
        .into_iter()
        .map(|s| (s.get_ref().as_str(), s.span()))
        .collect();
    if let Some(p) = &c.plugin {
        for s in toml_strings(&p.get_ref().config) {
            out.push((s, p.span()));
        }
    }
    out
}

/// Every string in a TOML table, however deeply nested (without recursion).
fn toml_strings(table: &toml::Table) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack: Vec<&toml::Value> = table.values().collect();
    while let Some(v) = stack.pop() {
        match v {
            toml::Value::String(s) => out.push(s.as_str()),
            toml::Value::Array(a) => stack.extend(a),
            toml::Value::Table(t) => stack.extend(t.values()),
            _ => {}
        }
    }
    out
}

/// What a template reads from other checks and environments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Reference {
    /// `checks.ID`.
    Check(String),
    /// `environments.ID.FIELD`.
    Environment(String, Option<String>),
    /// `env.FIELD`.
    CurrentEnv(Option<String>),
}

static MUSTACHE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\{?([^}]*)\}?\}\}").expect("valid regex"));
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s(])(checks|environments|env)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")
        .expect("valid regex")
});

/// The fields a template reads of `deployment` (`{{deployment.sha}}` → `sha`),
/// which only rollback actions define.
pub(super) fn deployment_fields(template: &str) -> Vec<String> {
    static DEPLOYMENT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s(])deployment(?:\.([A-Za-z0-9_-]+))?(?:$|[\s).])")
            .expect("valid regex")
    });
    let mut out = Vec::new();
    for m in MUSTACHE.captures_iter(template) {
        for d in DEPLOYMENT.captures_iter(&m[1]) {
            out.push(d.get(1).map_or_else(String::new, |f| f.as_str().to_owned()));
        }
    }
    out
}

pub(super) fn references(template: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for m in MUSTACHE.captures_iter(template) {
        for p in PATH.captures_iter(&m[1]) {
            let second = p.get(3).map(|x| x.as_str().to_owned());
            out.push(match &p[1] {
                "checks" => Reference::Check(p[2].to_owned()),
                "environments" => Reference::Environment(p[2].to_owned(), second),
                _ => Reference::CurrentEnv(Some(p[2].to_owned())),
            });
        }
    }
    out
}

/// Which table a `${VAR}` is written in: that decides where it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecretsIn {
    /// A check or link: only header values read secrets.
    Check,
    /// An action: header values and the body read secrets.
    Action,
}

/// Records an error when `value`, a string that reads no secrets, holds a
/// `${VAR}` reference: there the text would be sent and shown as written
/// (URLs appear in reports, workflow inputs on the run's page).
pub(super) fn misplaced_secret(
    b: &mut super::builder::Builder<'_>,
    file: usize,
    value: &str,
    span: std::ops::Range<usize>,
    table: SecretsIn,
) {
    let Some(reference) = SECRET.find(value) else {
        return;
    };
    let (read_in, shown) = match table {
        SecretsIn::Check => ("header values", "URLs, bodies and names appear in reports"),
        SecretsIn::Action => (
            "header values and bodies",
            "URLs are shown and audited, workflow inputs appear on the run's page",
        ),
    };
    b.error(
        file,
        span,
        format!(
            "`{}` is only read in {read_in}; here it would be sent and shown as written",
            super::builder::quote(reference.as_str())
        ),
    );
    b.help(format!("put the secret in a header, e.g. headers = {{ Authorization = \"Bearer ${{TOKEN}}\" }}; {shown}, so they never hold secrets"));
}

static SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{([^}]*)\}").expect("valid regex"));

/// Names of `${VAR}` references in a header value.
pub fn secret_refs(value: &str) -> Vec<String> {
    SECRET
        .captures_iter(value)
        .map(|c| c[1].to_owned())
        .collect()
}

/// Why a config string could not be filled in by [`fill_secrets`].
#[derive(Debug)]
pub enum FillError<E> {
    /// A template piece failed to render.
    Template(E),
    /// A `${NAME}` names a variable that is not set.
    Unset(String),
}

/// The one way a config string with `${NAME}` references is filled in, for
/// checks and actions alike. The pieces between the references are rendered
/// with `render` one by one and each secret's value (through `encode`, the
/// piece's escaping) is put between them, so only a `${NAME}` written in the
/// config reads a secret: what a template value rendered to (an upstream's
/// answer, a report field) is never scanned for `${`, and a secret's value is
/// never read as a template. Every value filled in is pushed to `secrets`,
/// for the redactor.
pub fn fill_secrets<E>(
    text: &str,
    mut render: impl FnMut(&str) -> Result<String, E>,
    encode: impl Fn(&str) -> String,
    secrets: &mut Vec<String>,
) -> Result<String, FillError<E>> {
    let mut out = String::new();
    let mut last = 0;
    for m in SECRET.captures_iter(text) {
        let whole = m.get(0).expect("a match has group 0");
        out.push_str(&render(&text[last..whole.start()]).map_err(FillError::Template)?);
        let var = &m[1];
        let value = std::env::var(var).map_err(|_| FillError::Unset(var.to_owned()))?;
        out.push_str(&encode(&value));
        if !value.is_empty() {
            secrets.push(value);
        }
        last = whole.end();
    }
    out.push_str(&render(&text[last..]).map_err(FillError::Template)?);
    Ok(out)
}

/// The pieces [`fill_secrets`] renders one by one: `text` split at its
/// `${NAME}` references.
fn secret_free_pieces(text: &str) -> impl Iterator<Item = &str> {
    SECRET.split(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_in_templates() {
        let refs = references(
            "{{environments.production.sha}}...{{ checks.health.sha }} {{env.url}} {{project.repo}}",
        );
        assert_eq!(
            refs,
            vec![
                Reference::Environment("production".into(), Some("sha".into())),
                Reference::Check("health".into()),
                Reference::CurrentEnv(Some("url".into())),
            ]
        );
    }

    #[test]
    fn accepts_values_and_offered_helpers() {
        for ok in [
            "plain",
            "{{env.url}}/x",
            "{{{checks.a.sha}}}",
            "{{#if env.sha}}{{env.sha}}{{else}}none{{/if}}",
            "{{#each checks}}{{@key}}{{/each}}",
            "{{#if (eq env.id \"p\")}}p{{/if}}",
            "{{lookup environments env.tracks}}",
        ] {
            assert_eq!(check_template(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_recursion_and_what_is_not_offered() {
        for (bad, why) in [
            ("{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}", "decorators"),
            ("{{> p}}", "partials"),
            ("{{#> p}}x{{/p}}", "partials"),
            ("{{log env}}", "helper `log`"),
            ("{{raw}}", "helper `raw`"),
            ("{{shout env.url}}", "helper `shout`"),
            ("{{#shout}}x{{/shout}}", "block `{{#shout}}`"),
            ("{{#if (shout 1)}}x{{/if}}", "helper `shout`"),
            ("{{#if}}", "invalid template"),
        ] {
            let err = check_template(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn rendering_stops_at_the_size_bound() {
        let hb = handlebars::Handlebars::new();
        let big = serde_json::json!({ "x": "y".repeat(MAX_RENDERED / 4) });
        let text = "{{x}}{{x}}{{x}}{{x}}{{x}}";
        assert_eq!(check_template(text), Ok(()));
        let err = render_template(&hb, text, &big).expect_err("too large");
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
        let small = serde_json::json!({ "x": "y" });
        assert_eq!(
            render_template(&hb, text, &small).expect("renders"),
            "yyyyy"
        );
    }

    #[test]
    fn nested_each_is_refused() {
        let err = check_template("{{#each a}}{{#each b}}x{{/each}}{{/each}}").expect_err("nested");
        assert!(err.contains("inside `{{#each}}`"), "{err}");
        assert_eq!(
            check_template("{{#each a}}x{{/each}}{{#each b}}y{{/each}}"),
            Ok(())
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "{{#if a}}".repeat(100_000);
        let err = check_template(&deep).expect_err("too deep");
        assert!(err.contains("at most 8"), "{err}");
        let parens = format!(
            "{{{{eq {}1{}}}}}",
            "(eq ".repeat(50_000),
            ")".repeat(50_000)
        );
        assert!(check_template(&parens).is_err());
        let ok = format!("{}x{}", "{{#if a}}".repeat(8), "{{/if}}".repeat(8));
        assert_eq!(check_template(&ok), Ok(()));
    }

    #[test]
    fn finds_secret_references() {
        assert_eq!(
            secret_refs("Bearer ${API_TOKEN} ${X}"),
            vec!["API_TOKEN", "X"]
        );
    }
}
