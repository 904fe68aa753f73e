//! The condition language of `expect` and `warn_unless`: `LEFT OP RIGHT`.
//!
//! LEFT is `status`, `duration`, `header.NAME`, a JSONPath starting with `$`,
//! or `len(PATH)`. OP is one of `== != < <= > >= contains matches in`. RIGHT
//! is a literal: a number, a `'single'` or `"double"` quoted string, `true`,
//! `false`, `null`, a duration such as `800ms` (only against `duration`), or a
//! list such as `['a', 'b', 1]` (only with `in`).
//!
//! Parsing happens once, when the config is loaded, so every mistake in a
//! condition is a config error with a byte range for a caret and a hint.
//! Evaluation never fails the program: it yields [`Outcome::Held`],
//! [`Outcome::Violated`] (with what was actually seen) or [`Outcome::Error`]
//! (the condition could not be evaluated against this observation).
//!
//! Inside quoted strings the only escape is a backslash before the closing
//! quote character (`'it\'s'`); every other backslash is kept verbatim so
//! regular expressions such as `'^\d+$'` read as written.

use std::fmt;
use std::time::Duration;

use jsonpath_rust::parser::model::JpQuery;
use regex::Regex;
use serde_json::Value;

pub use crate::probe::Observation;

/// A parsed condition: `LEFT OP RIGHT`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The condition as written in the config.
    pub source: String,
    left: Operand,
    op: Op,
    right: Literal,
}

/// The left side of a condition: what is read from the observation.
#[derive(Debug, Clone)]
pub enum Operand {
    /// `status`: the HTTP status code.
    Status,
    /// `duration`: how long the probe took.
    Duration,
    /// `header.NAME`: a response header, matched case-insensitively (stored lower-cased).
    Header(String),
    /// A JSONPath into the observation value; its first match is the value.
    Path(CompiledPath),
    /// `len(PATH)`: length of an array, characters of a string, keys of an
    /// object; for a non-singular path (wildcard, filter, slice, `..`), the
    /// number of matches.
    Len(CompiledPath),
}

/// A comparison operator.
#[derive(Debug, Clone)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`: substring of a string, element of an array, key of an object.
    Contains,
    /// `matches`: the regular expression, compiled at parse time.
    Matches(Regex),
    /// `in`: the value equals one of the list's items.
    In,
}

/// The right side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `200`, `-1.5`, `1e3`.
    Number(f64),
    /// `'ok'` or `"ok"`.
    String(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `800ms`, `1.5s`, `2m` (humantime syntax).
    Duration(Duration),
    /// `['a', 'b', 1]`, for `in`.
    List(Vec<Literal>),
}

/// A condition or JSONPath that cannot be parsed.
///
/// `offset` and `len` are byte offsets within the condition (or path) string,
/// for a caret under the offending part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// What is wrong, in one line.
    pub message: String,
    /// Byte offset of the offending part within the parsed string.
    pub offset: usize,
    /// Byte length of the offending part (0 points between characters).
    pub len: usize,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl ConditionError {
    fn new(message: impl Into<String>, offset: usize, len: usize) -> Self {
        ConditionError {
            message: message.into(),
            offset,
            len,
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same error with its offset moved by `by` bytes, for a condition
    /// embedded in a larger string (e.g. after the opening quote in TOML).
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

impl miette::Diagnostic for ConditionError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

/// The result of evaluating a condition against an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The condition is true.
    Held,
    /// The condition is false; `actual` says what was seen
    /// (`"actual 503"`, `"actual 'degraded'"`, `"actual 1.2s"`, `"header absent"`,
    /// `"no value at $.x"`).
    Violated {
        /// What was actually observed, ready to show after the condition.
        actual: String,
    },
    /// The condition could not be evaluated: body not JSON, type mismatch
    /// (`"$.count is a string ('x'), not a number"`), no HTTP status, ...
    Error(String),
}

/// A compiled JSONPath with its source text (used by `extract` and conditions).
#[derive(Debug, Clone)]
pub struct CompiledPath {
    text: String,
    query: JpQuery,
}

impl CompiledPath {
    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All matches in document order; the first match is "the" value.
    /// A path that cannot be evaluated yields no matches.
    pub fn query<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        self.try_query(v).unwrap_or_default()
    }

    /// True when the path names at most one value (only `.name` / `[index]`
    /// segments); wildcards, slices, filters, unions and `..` are not singular.
    pub fn is_singular(&self) -> bool {
        use jsonpath_rust::parser::model::{Segment, Selector};
        self.query
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Selector(Selector::Name(_) | Selector::Index(_))))
    }

    /// Like [`CompiledPath::query`], but reports evaluation failures.
    pub fn try_query<'a>(&self, v: &'a Value) -> Result<Vec<&'a Value>, String> {
        jsonpath_rust::query::js_path_process(&self.query, v)
            .map(|refs| refs.into_iter().map(|r| r.val).collect())
            .map_err(|e| format!("cannot evaluate {}: {e}", self.text))
    }
}

impl fmt::Display for CompiledPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Compile a JSONPath used by `extract`; errors carry offsets within `src`.
pub fn compile_path(src: &str) -> Result<CompiledPath, ConditionError> {
    if src.trim().is_empty() {
        return Err(ConditionError::new("empty JSONPath", 0, src.len())
            .help("a JSONPath starts with `$`, e.g. `$.version`"));
    }
    if !src.starts_with('$') {
        let trimmed = src.trim_start();
        let lead = src.len() - trimmed.len();
        let mut e = ConditionError::new(
            format!("JSONPath `{src}` must start with `$`"),
            lead,
            first_char_len(trimmed),
        );
        if let Some(s) = path_suggestion(trimmed) {
            e = e.help(format!("did you mean `{s}`?"));
        }
        return Err(e);
    }
    scan(src, 0, false)?;
    compile_at(src, 0)
}

/// Compile `text` (already known to start with `$` and be balanced), reporting
/// errors at `base + offset-within-text`.
fn compile_at(text: &str, base: usize) -> Result<CompiledPath, ConditionError> {
    match jsonpath_rust::parser::parse_json_path(text) {
        Ok(query) => Ok(CompiledPath {
            text: text.to_string(),
            query,
        }),
        Err(e) => Err(jsonpath_error(text, base, &e.to_string())),
    }
}

/// Turn jsonpath-rust's (pest) error text into one line with a precise offset.
fn jsonpath_error(text: &str, base: usize, raw: &str) -> ConditionError {
    let example = "JSONPath looks like `$.status`, `$.items[0].name`, `$['key-with-dash']` \
                   or `$.items[?(@.ok == true)]`";
    // pest: " --> 1:COL" ... "= expected a, b, or c"
    let col = raw
        .split("-->")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|lc| lc.split(':').nth(1))
        .and_then(|c| c.parse::<usize>().ok());
    let expected = raw
        .lines()
        .find_map(|l| l.trim().strip_prefix("= expected "))
        .map(describe_expected);
    let (Some(col), Some(expected)) = (col, expected) else {
        let msg = raw.lines().next().unwrap_or(raw).trim();
        return ConditionError::new(
            format!("invalid JSONPath `{text}`: {msg}"),
            base,
            text.len(),
        )
        .help(example);
    };
    let at = text
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    let found = text[at..].chars().next();
    let len = found.map_or(0, char::len_utf8);
    let what = match found {
        Some(c) => format!("unexpected `{c}`"),
        None => format!("incomplete, expected {expected} at the end"),
    };
    let mut e = ConditionError::new(format!("invalid JSONPath `{text}`: {what}"), base + at, len);
    let before = &text[..at];
    e = if found == Some('-') && before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| i + 1);
        let end = text[at..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .map_or(text.len(), |i| at + i);
        let name = &text[start..end];
        if start > 0 && text[..start].ends_with('.') {
            e.help(format!(
                "names with `-` need brackets: `{}['{name}']{}`",
                &text[..start - 1],
                &text[end..]
            ))
        } else {
            e.help(example)
        }
    } else if found.is_none() && before.ends_with('.') {
        e.help("add a member name after `.`, e.g. `$.status`, or `[*]` for all items")
    } else if found == Some('=') {
        e.help("compare with `==` inside filters: `$.items[?(@.ok == true)]`")
    } else {
        e.help(example)
    };
    e
}

fn describe_expected(list: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for rule in list.split(", ").flat_map(|s| s.split(" or ")) {
        let rule = rule.trim().trim_start_matches("or ").trim();
        let d = match rule {
            "" => continue,
            "wildcard_selector" => "`*`",
            "ALPHA" | "DIGIT" | "name_first" | "name_char" | "member_name_shorthand" => {
                "a member name"
            }
            "segment" | "child_segment" | "segments" => "`.name` or `[...]`",
            "name_segment" => "`.name`",
            "index_segment" => "`[index]`",
            "bracketed_selection" => "`[...]`",
            "EOI" => "the end of the path",
            "comp_op" => "a comparison (==, !=, <, <=, >, >=)",
            "slice_selector" => "a slice such as `0:2`",
            "string" => "a quoted name",
            "jp_query" => "`$`",
            "int" => "an index",
            _ => rule,
        };
        if !out.contains(&d) {
            out.push(d);
        }
    }
    match out.len() {
        0 => "something else".to_string(),
        1 => out[0].to_string(),
        n => format!("{} or {}", out[..n - 1].join(", "), out[n - 1]),
    }
}

fn first_char_len(s: &str) -> usize {
    s.chars().next().map_or(0, char::len_utf8)
}

/// For a left side that is not a known operand, guess what was meant.
fn path_suggestion(word: &str) -> Option<String> {
    let rest = word
        .strip_prefix('@')
        .or_else(|| word.strip_prefix("body"))
        .or_else(|| word.strip_prefix("json"))
        .or_else(|| word.strip_prefix("response"));
    if let Some(rest) = rest
        && (rest.starts_with('.') || rest.starts_with('['))
    {
        return Some(format!("${rest}"));
    }
    if word.starts_with('.') || word.starts_with('[') {
        return Some(format!("${word}"));
    }
    let head = word.split(['.', '[']).next().unwrap_or("");
    if !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Some(format!("$.{word}"));
    }
    None
}

/// Scan an operand starting at `start`, respecting brackets, parentheses and
/// quotes. With `stop`, ends at top-level whitespace or an operator character;
/// otherwise runs to the end. Returns the end offset.
fn scan(src: &str, start: usize, stop: bool) -> Result<usize, ConditionError> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in src[start..].char_indices() {
        let i = start + i;
        if let Some((q, _)) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some((c, i)),
            '(' | '[' => stack.push((c, i)),
            ')' | ']' => match stack.last() {
                Some(&(o, _)) if (o, c) == ('(', ')') || (o, c) == ('[', ']') => {
                    stack.pop();
                }
                Some(&(o, oi)) => {
                    let want = if o == '(' { ')' } else { ']' };
                    return Err(ConditionError::new(
                        format!("`{c}` closes the `{o}` at offset {oi}"),
                        i,
                        1,
                    )
                    .help(format!("close `{o}` with `{want}` first")));
                }
                None => {}
            },
            _ if stop && stack.is_empty() && (c.is_whitespace() || "=!<>~".contains(c)) => {
                return Ok(i);
            }
            _ => {}
        }
    }
    if let Some((q, qi)) = quote {
        return Err(
            ConditionError::new("unterminated string", qi, src.len() - qi)
                .help(format!("add the closing {q}")),
        );
    }
    if let Some(&(o, oi)) = stack.last() {
        if o == '(' && src[..oi].ends_with("len") {
            return Err(
                ConditionError::new("`len(` is not closed", oi - 3, src.len() - (oi - 3))
                    .help("close it with `)`, e.g. `len($.items) > 0`"),
            );
        }
        let want = if o == '(' { ')' } else { ']' };
        return Err(ConditionError::new(format!("unclosed `{o}`"), oi, 1)
            .help(format!("add the matching `{want}`")));
    }
    Ok(src.len())
}

fn skip_ws(src: &str, mut pos: usize) -> usize {
    while let Some(c) = src[pos..].chars().next() {
        if !c.is_whitespace() {
            break;
        }
        pos += c.len_utf8();
    }
    pos
}

const OPERATORS: &str = "== != < <= > >= contains matches in";

impl Condition {
    /// Parse `LEFT OP RIGHT`; errors carry byte offsets within `src`.
    pub fn parse(src: &str) -> Result<Condition, ConditionError> {
        let start = skip_ws(src, 0);
        if start == src.len() {
            return Err(ConditionError::new("empty condition", 0, src.len()).help(
                "a condition is `LEFT OP VALUE`, e.g. `status == 200` or `$.status == 'ok'`",
            ));
        }
        let left_end = scan(src, start, true)?;
        let left_text = &src[start..left_end];
        let left = parse_operand(src, start, left_text)?;

        let op_start = skip_ws(src, left_end);
        let (op_kind, op_end) = parse_op(src, op_start, left_text)?;

        let right_start = skip_ws(src, op_end);
        if right_start == src.len() {
            return Err(ConditionError::new(
                format!("missing value after `{}`", &src[op_start..op_end]),
                src.len(),
                0,
            )
            .help(missing_right_help(&left, &op_kind)));
        }
        let (right, right_end) = parse_literal(src, right_start)?;
        let rest = skip_ws(src, right_end);
        if rest < src.len() {
            let extra = src[rest..].trim_end();
            let lower = extra.to_ascii_lowercase();
            let help = if ["&&", "||", "and ", "or "]
                .iter()
                .any(|p| lower.starts_with(p))
            {
                "one comparison per condition: list each one in `expect = [...]` (all must hold)"
            } else {
                "a condition is `LEFT OP VALUE`; quote strings that contain spaces: 'like this'"
            };
            return Err(ConditionError::new(
                format!("unexpected `{extra}` after the value"),
                rest,
                extra.len(),
            )
            .help(help));
        }
        let right_span = (right_start, right_end - right_start);
        let op = validate(src, &left, op_kind, &right, right_span)?;
        Ok(Condition {
            source: src.to_string(),
            left,
            op,
            right: right.literal,
        })
    }

    /// The left side.
    pub fn left(&self) -> &Operand {
        &self.left
    }

    /// The operator.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The right side.
    pub fn right(&self) -> &Literal {
        &self.right
    }

    /// True when LEFT is `status` (the runner then skips its implicit `status < 400`).
    pub fn reads_status(&self) -> bool {
        matches!(self.left, Operand::Status)
    }

    /// Evaluate against what a probe saw.
    pub fn eval(&self, obs: &Observation) -> Outcome {
        let label = self.left.to_string();
        let value = match &self.left {
            Operand::Status => match obs.status {
                Some(s) => Value::from(s),
                None => {
                    return Outcome::Error(
                        "no HTTP status: `status` only applies to http checks".to_string(),
                    );
                }
            },
            Operand::Duration => return self.eval_duration(obs.duration),
            Operand::Header(name) => {
                match obs
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some((_, v)) => Value::String(v.clone()),
                    None => {
                        return Outcome::Violated {
                            actual: "header absent".to_string(),
                        };
                    }
                }
            }
            Operand::Path(path) | Operand::Len(path) => {
                if !obs.body_is_json {
                    let ct = match obs.content_type.as_deref() {
                        Some(ct) => format!(
                            " (content-type {})",
                            ct.split(';').next().unwrap_or(ct).trim()
                        ),
                        None => String::new(),
                    };
                    return Outcome::Error(format!(
                        "response body is not JSON{ct}: cannot evaluate {}",
                        path.text()
                    ));
                }
                let found = match path.try_query(&obs.value) {
                    Ok(found) => found,
                    Err(e) => return Outcome::Error(e),
                };
                if matches!(self.left, Operand::Len(_)) && !path.is_singular() {
                    // `len($.items[?(@.ok == true)])` counts the matches.
                    return compare(&label, &Value::from(found.len()), &self.op, &self.right);
                }
                let Some(first) = found.first() else {
                    return Outcome::Violated {
                        actual: format!("no value at {}", path.text()),
                    };
                };
                if matches!(self.left, Operand::Len(_)) {
                    match first {
                        Value::Array(a) => Value::from(a.len()),
                        Value::String(s) => Value::from(s.chars().count()),
                        Value::Object(o) => Value::from(o.len()),
                        other => {
                            return Outcome::Error(format!(
                                "{label}: {} is {}, not an array, string or object",
                                path.text(),
                                describe(other)
                            ));
                        }
                    }
                } else {
                    (*first).clone()
                }
            }
        };
        compare(&label, &value, &self.op, &self.right)
    }

    fn eval_duration(&self, took: Duration) -> Outcome {
        let actual_ms = took.as_secs_f64() * 1000.0;
        let ms = |lit: &Literal| match lit {
            Literal::Duration(d) => Some(d.as_secs_f64() * 1000.0),
            Literal::Number(n) => Some(*n),
            _ => None,
        };
        let Some(want) = ms(&self.right) else {
            return Outcome::Error(format!("cannot compare duration with {}", self.right));
        };
        let held = match self.op {
            Op::Eq => actual_ms == want,
            Op::Ne => actual_ms != want,
            Op::Lt => actual_ms < want,
            Op::Le => actual_ms <= want,
            Op::Gt => actual_ms > want,
            Op::Ge => actual_ms >= want,
            _ => return Outcome::Error(format!("`{}` does not apply to duration", self.op)),
        };
        if held {
            Outcome::Held
        } else {
            Outcome::Violated {
                actual: format!("actual {}", fmt_duration(took)),
            }
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Status => f.write_str("status"),
            Operand::Duration => f.write_str("duration"),
            Operand::Header(n) => write!(f, "header.{n}"),
            Operand::Path(p) => f.write_str(p.text()),
            Operand::Len(p) => write!(f, "len({})", p.text()),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::Matches(_) => "matches",
            Op::In => "in",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(n) => f.write_str(&fmt_number(*n)),
            Literal::String(s) => write!(f, "'{s}'"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
            Literal::Duration(d) => f.write_str(&fmt_duration(*d)),
            Literal::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

// ---------------------------------------------------------------- parsing

fn parse_operand(src: &str, start: usize, text: &str) -> Result<Operand, ConditionError> {
    let len = text.len();
    if text.is_empty() {
        let c = src[start..].chars().next().unwrap_or(' ');
        return Err(ConditionError::new(
            format!(
                "missing left side before `{}`",
                &src[start..].split_whitespace().next().unwrap_or("")
            ),
            start,
            c.len_utf8(),
        )
        .help("a condition is `LEFT OP VALUE`, e.g. `status == 200` or `$.status == 'ok'`"));
    }
    match text {
        "status" => return Ok(Operand::Status),
        "duration" => return Ok(Operand::Duration),
        _ => {}
    }
    if text.starts_with('$') {
        return compile_at(text, start).map(Operand::Path);
    }
    if let Some(name) = text.strip_prefix("header.") {
        if name.is_empty() {
            return Err(
                ConditionError::new("`header.` needs a header name", start, len)
                    .help("name the header, e.g. `header.content-type contains 'json'`"),
            );
        }
        return Ok(Operand::Header(name.to_ascii_lowercase()));
    }
    if let Some(inner) = text.strip_prefix("len(") {
        let Some(inner) = inner.strip_suffix(')') else {
            // Balanced but with trailing text, e.g. `len($.a)x`.
            return Err(ConditionError::new(
                format!("unexpected text after `len(...)` in `{text}`"),
                start,
                len,
            )
            .help("write `len($.items) > 0`"));
        };
        let lead = inner.len() - inner.trim_start().len();
        let path = inner.trim();
        let path_start = start + 4 + lead;
        if path.is_empty() {
            return Err(ConditionError::new("`len()` needs a JSONPath", start, len)
                .help("e.g. `len($.items) > 0`"));
        }
        if !path.starts_with('$') {
            let mut e = ConditionError::new(
                format!("`len()` takes a JSONPath starting with `$`, not `{path}`"),
                path_start,
                path.len(),
            );
            e = match path_suggestion(path) {
                Some(s) => e.help(format!("did you mean `len({s})`?")),
                None => e.help("e.g. `len($.items) > 0`"),
            };
            return Err(e);
        }
        return compile_at(path, path_start).map(Operand::Len);
    }
    Err(unknown_operand(start, text))
}

fn unknown_operand(start: usize, text: &str) -> ConditionError {
    let e = ConditionError::new(format!("unknown left side `{text}`"), start, text.len());
    let sep = text.find(['.', '(']).unwrap_or(text.len());
    let (head, tail) = text.split_at(sep);
    let head_l = head.to_ascii_lowercase();
    if text.starts_with(['\'', '"']) || text.starts_with(|c: char| c.is_ascii_digit()) {
        return e.help(
            "the value goes on the right: `LEFT OP VALUE`, where LEFT is status, duration, \
             header.NAME, a JSONPath ($.x) or len(PATH)",
        );
    }
    let alias = match head_l.as_str() {
        "code" | "status_code" | "statuscode" | "http_status" => Some("status"),
        "latency" | "elapsed" | "time" | "response_time" | "took" => Some("duration"),
        "headers" | "hdr" => Some("header"),
        "length" | "count" | "size" | "len" => Some("len"),
        _ => None,
    };
    let best = alias.or_else(|| {
        ["status", "duration", "header", "len"]
            .into_iter()
            .map(|k| (k, strsim::damerau_levenshtein(&head_l, k)))
            .filter(|&(k, d)| d <= 2 && d < k.len())
            .min_by_key(|&(_, d)| d)
            .map(|(k, _)| k)
    });
    match best {
        Some("header") => {
            let name = tail.trim_start_matches('.');
            let name = if name.is_empty() { "content-type" } else { name };
            e.help(format!("did you mean `header.{name}`?"))
        }
        Some("len") => {
            let inner = tail
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .filter(|t| !t.is_empty())
                .unwrap_or("$.items");
            e.help(format!("did you mean `len({inner})`?"))
        }
        Some(k) if tail.is_empty() => e.help(format!("did you mean `{k}`?")),
        _ => match path_suggestion(text) {
            Some(s) => e.help(format!(
                "a JSONPath starts with `$`: did you mean `{s}`? (or status, duration, header.NAME, len(PATH))"
            )),
            None => e.help("LEFT is status, duration, header.NAME, a JSONPath ($.x) or len(PATH)"),
        },
    }
}

/// The operator before validation (regex not compiled yet).
#[derive(Debug, Clone, Copy, PartialEq)]
enum OpKind {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    In,
}

fn parse_op(src: &str, start: usize, left: &str) -> Result<(OpKind, usize), ConditionError> {
    if start == src.len() {
        return Err(
            ConditionError::new(format!("missing operator after `{left}`"), start, 0)
                .help(format!("operators: {OPERATORS}; e.g. `{left} == 200`")),
        );
    }
    let rest = &src[start..];
    let sym_len = rest
        .find(|c: char| !"=!<>~".contains(c))
        .unwrap_or(rest.len());
    if sym_len > 0 {
        let sym = &rest[..sym_len];
        let kind = match sym {
            "==" => Some(OpKind::Eq),
            "!=" => Some(OpKind::Ne),
            "<" => Some(OpKind::Lt),
            "<=" => Some(OpKind::Le),
            ">" => Some(OpKind::Gt),
            ">=" => Some(OpKind::Ge),
            _ => None,
        };
        if let Some(k) = kind {
            return Ok((k, start + sym_len));
        }
        let help = match sym {
            "=" | "===" => "did you mean `==`?".to_string(),
            "!" | "!==" | "<>" => "did you mean `!=`?".to_string(),
            "=<" => "did you mean `<=`?".to_string(),
            "=>" => "did you mean `>=`?".to_string(),
            "~=" | "=~" | "~" => {
                "for regular expressions use `matches`, e.g. `$.version matches '^1\\.'`"
                    .to_string()
            }
            _ => format!("operators: {OPERATORS}"),
        };
        return Err(
            ConditionError::new(format!("unknown operator `{sym}`"), start, sym_len).help(help),
        );
    }
    let word_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if word_len == 0 {
        let tok = rest.split_whitespace().next().unwrap_or(rest);
        return Err(ConditionError::new(
            format!("missing operator between `{left}` and `{tok}`"),
            start,
            0,
        )
        .help(format!("operators: {OPERATORS}")));
    }
    let word = &rest[..word_len];
    match word {
        "contains" => return Ok((OpKind::Contains, start + word_len)),
        "matches" => return Ok((OpKind::Matches, start + word_len)),
        "in" => return Ok((OpKind::In, start + word_len)),
        _ => {}
    }
    let lower = word.to_ascii_lowercase();
    let suggestion = match lower.as_str() {
        "contains" | "matches" | "in" => Some(lower.clone()),
        "eq" | "is" | "equals" => Some("==".to_string()),
        "ne" | "neq" | "not" => Some("!=".to_string()),
        "lt" => Some("<".to_string()),
        "le" | "lte" => Some("<=".to_string()),
        "gt" => Some(">".to_string()),
        "ge" | "gte" => Some(">=".to_string()),
        "like" | "regex" | "match" | "matching" => Some("matches".to_string()),
        "has" | "includes" | "include" | "contain" => Some("contains".to_string()),
        _ => ["contains", "matches"]
            .into_iter()
            .find(|k| strsim::damerau_levenshtein(&lower, k) <= 2)
            .map(str::to_string),
    };
    let e = ConditionError::new(format!("unknown operator `{word}`"), start, word_len);
    Err(match suggestion {
        Some(s) => e.help(format!("did you mean `{s}`?")),
        None => e.help(format!("operators: {OPERATORS}")),
    })
}

/// A literal with the facts validation needs about how it was written.
struct ParsedLiteral {
    literal: Literal,
    /// For strings: byte offset of the content's first byte, and whether the
    /// content appears verbatim in the source (no escapes), for regex carets.
    string_content: Option<(usize, bool)>,
}

fn parse_literal(src: &str, start: usize) -> Result<(ParsedLiteral, usize), ConditionError> {
    let rest = &src[start..];
    let first = rest.chars().next().unwrap_or(' ');
    if first == '\'' || first == '"' {
        let mut out = String::new();
        let mut verbatim = true;
        let mut chars = rest.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\\' && chars.peek().map(|&(_, n)| n) == Some(first) {
                chars.next();
                out.push(first);
                verbatim = false;
            } else if c == first {
                let lit = ParsedLiteral {
                    literal: Literal::String(out),
                    string_content: Some((start + 1, verbatim)),
                };
                return Ok((lit, start + i + 1));
            } else {
                out.push(c);
            }
        }
        return Err(
            ConditionError::new("unterminated string", start, rest.len())
                .help(format!("add the closing {first}")),
        );
    }
    if first == '[' {
        let mut items = Vec::new();
        let mut pos = skip_ws(src, start + 1);
        loop {
            match src[pos..].chars().next() {
                None => {
                    return Err(ConditionError::new("list is not closed", start, 1)
                        .help("add `]`, e.g. `in ['a', 'b']`"));
                }
                Some(']') => return Ok((plain(Literal::List(items)), pos + 1)),
                Some(_) => {}
            }
            let (item, end) = parse_literal(src, pos)?;
            if matches!(item.literal, Literal::List(_)) {
                return Err(
                    ConditionError::new("lists cannot be nested", pos, end - pos)
                        .help("list plain values, e.g. `in ['a', 'b', 1]`"),
                );
            }
            items.push(item.literal);
            pos = skip_ws(src, end);
            match src[pos..].chars().next() {
                Some(',') => pos = skip_ws(src, pos + 1),
                Some(']') => {}
                None => {
                    return Err(ConditionError::new("list is not closed", start, 1)
                        .help("add `]`, e.g. `in ['a', 'b']`"));
                }
                Some(c) => {
                    return Err(ConditionError::new(
                        format!("expected `,` or `]` in the list, found `{c}`"),
                        pos,
                        c.len_utf8(),
                    )
                    .help("separate items with commas: `['a', 'b', 1]`"));
                }
            }
        }
    }
    let word_len = rest
        .find(|c: char| c.is_whitespace() || c == ',' || c == ']')
        .unwrap_or(rest.len());
    let word = &rest[..word_len];
    let end = start + word_len;
    if word.is_empty() {
        return Err(ConditionError::new(
            format!("expected a value, found `{first}`"),
            start,
            first.len_utf8(),
        )
        .help(
            "a value is a number, 'string', true, false, null, a duration like 800ms, or a list",
        ));
    }
    let lit = match word {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        "null" => Literal::Null,
        _ => {
            let lower = word.to_ascii_lowercase();
            if matches!(lower.as_str(), "true" | "false" | "null") {
                return Err(ConditionError::new(
                    format!("unknown value `{word}`"),
                    start,
                    word_len,
                )
                .help(format!("did you mean `{lower}`?")));
            }
            let mut cs = word.chars();
            let c0 = cs.next().unwrap_or(' ');
            let numeric_start = c0.is_ascii_digit()
                || ("+-.".contains(c0) && cs.next().is_some_and(|c| c.is_ascii_digit()));
            if numeric_start {
                if let Some(n) = parse_number(word) {
                    Literal::Number(n)
                } else {
                    match humantime::parse_duration(word) {
                        Ok(d) => Literal::Duration(d),
                        Err(e) => {
                            return Err(ConditionError::new(
                                format!("`{word}` is not a number or a duration: {e}"),
                                start,
                                word_len,
                            )
                            .help("numbers look like 200 or 1.5; durations like 800ms, 1.5s, 2m"));
                        }
                    }
                }
            } else if word.starts_with('$') {
                return Err(ConditionError::new(
                    format!("the right side must be a value, not the JSONPath `{word}`"),
                    start,
                    word_len,
                )
                .help("conditions compare one reading with a literal, e.g. `$.count > 0`"));
            } else {
                return Err(ConditionError::new(
                    format!("unquoted string `{word}`"),
                    start,
                    word_len,
                )
                .help(format!("quote it: '{word}'")));
            }
        }
    };
    Ok((plain(lit), end))
}

fn plain(literal: Literal) -> ParsedLiteral {
    ParsedLiteral {
        literal,
        string_content: None,
    }
}

/// A finite number written in plain decimal/exponent notation (no `inf`, `nan`, hex).
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s.chars().any(|c| c.is_ascii_digit())
        || !s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn missing_right_help(left: &Operand, op: &OpKind) -> String {
    match (left, op) {
        (_, OpKind::Matches) => "give a regular expression in quotes, e.g. `matches '^ok'`".into(),
        (_, OpKind::In) => "give a list, e.g. `in ['a', 'b']`".into(),
        (Operand::Status, _) => "e.g. `status == 200`".into(),
        (Operand::Duration, _) => "e.g. `duration < 800ms`".into(),
        (Operand::Len(_), _) => "e.g. `len($.items) > 0`".into(),
        _ => "a value is a number, 'string', true, false or null".into(),
    }
}

fn literal_kind(l: &Literal) -> &'static str {
    match l {
        Literal::Number(_) => "a number",
        Literal::String(_) => "a string",
        Literal::Bool(_) => "a boolean",
        Literal::Null => "null",
        Literal::Duration(_) => "a duration",
        Literal::List(_) => "a list",
    }
}

/// Check that LEFT, OP and RIGHT make sense together; compile the regex.
fn validate(
    src: &str,
    left: &Operand,
    op: OpKind,
    right: &ParsedLiteral,
    (r_off, r_len): (usize, usize),
) -> Result<Op, ConditionError> {
    let lit = &right.literal;
    let right_text = &src[r_off..r_off + r_len];
    let bad = |msg: String, help: String| Err(ConditionError::new(msg, r_off, r_len).help(help));
    let ordering = matches!(op, OpKind::Lt | OpKind::Le | OpKind::Gt | OpKind::Ge);

    // Lists only with `in`, and `in` only with lists.
    match (op, lit) {
        (OpKind::In, Literal::List(_)) => {}
        (OpKind::In, _) => {
            return bad(
                format!("`in` needs a list, not {}", literal_kind(lit)),
                format!("write `in [{right_text}]`"),
            );
        }
        (OpKind::Eq, Literal::List(_)) => {
            return bad(
                "a list only goes with `in`".into(),
                format!("did you mean `in {right_text}`?"),
            );
        }
        (_, Literal::List(_)) => {
            return bad(
                "a list only goes with `in`".into(),
                "use one value, or write one condition per value".into(),
            );
        }
        _ => {}
    }
    let items: Vec<&Literal> = match lit {
        Literal::List(items) => items.iter().collect(),
        other => vec![other],
    };

    // Duration literals only against `duration`.
    if !matches!(left, Operand::Duration)
        && let Some(d) = items.iter().find(|l| matches!(l, Literal::Duration(_)))
    {
        return bad(
            format!("the duration {d} only compares with `duration`"),
            format!("e.g. `duration < {d}`; for {left} give a plain number"),
        );
    }

    match left {
        Operand::Duration => {
            if matches!(op, OpKind::Contains | OpKind::Matches | OpKind::In) {
                return bad_op(src, op, "duration", "compare it with == != < <= > >=");
            }
            match lit {
                Literal::Duration(_) | Literal::Number(_) => {}
                Literal::String(s) if humantime::parse_duration(s).is_ok() => {
                    return bad(
                        "durations are written without quotes".into(),
                        format!("write `duration < {s}`"),
                    );
                }
                _ => {
                    return bad(
                        format!(
                            "duration compares with a duration, not {}",
                            literal_kind(lit)
                        ),
                        "e.g. `duration < 800ms` (a bare number means milliseconds)".into(),
                    );
                }
            }
        }
        Operand::Status | Operand::Len(_) => {
            let name = if matches!(left, Operand::Status) {
                "status"
            } else {
                "len(...)"
            };
            if op == OpKind::Contains {
                return bad_op(src, op, name, "it is a number; use == != < <= > >= or in");
            }
            if op != OpKind::Matches
                && let Some(l) = items.iter().find(|l| !matches!(l, Literal::Number(_)))
            {
                let example = if matches!(left, Operand::Status) {
                    "status == 200"
                } else {
                    "len($.items) > 0"
                };
                let help = match l {
                    Literal::String(s) if parse_number(s).is_some() => {
                        format!("drop the quotes: {s}")
                    }
                    _ => format!("e.g. `{example}`"),
                };
                return bad(
                    format!(
                        "{name} is a number; it cannot be compared with {}",
                        literal_kind(l)
                    ),
                    help,
                );
            }
        }
        Operand::Header(_) => {
            if let Some(l) = items
                .iter()
                .find(|l| matches!(l, Literal::Bool(_) | Literal::Null))
            {
                return bad(
                    format!("header values are text; they cannot equal {}", literal_kind(l)),
                    "compare with a 'string' or a number; a missing header never satisfies a condition"
                        .into(),
                );
            }
        }
        Operand::Path(_) => {}
    }

    if ordering && matches!(lit, Literal::Bool(_) | Literal::Null) {
        return bad(
            format!(
                "`{}` needs a number or a string, not {}",
                op_symbol(op),
                literal_kind(lit)
            ),
            "use == or != for true, false and null".into(),
        );
    }

    Ok(match op {
        OpKind::Eq => Op::Eq,
        OpKind::Ne => Op::Ne,
        OpKind::Lt => Op::Lt,
        OpKind::Le => Op::Le,
        OpKind::Gt => Op::Gt,
        OpKind::Ge => Op::Ge,
        OpKind::Contains => Op::Contains,
        OpKind::In => Op::In,
        OpKind::Matches => {
            let Literal::String(pattern) = lit else {
                return bad(
                    format!(
                        "`matches` needs a regular expression in quotes, not {}",
                        literal_kind(lit)
                    ),
                    format!("write `matches '{}'`", right_text.trim_matches(['\'', '"'])),
                );
            };
            match Regex::new(pattern) {
                Ok(re) => Op::Matches(re),
                Err(e) => return Err(regex_error(&e, pattern, r_off, r_len, right.string_content)),
            }
        }
    })
}

fn op_symbol(op: OpKind) -> &'static str {
    match op {
        OpKind::Eq => "==",
        OpKind::Ne => "!=",
        OpKind::Lt => "<",
        OpKind::Le => "<=",
        OpKind::Gt => ">",
        OpKind::Ge => ">=",
        OpKind::Contains => "contains",
        OpKind::Matches => "matches",
        OpKind::In => "in",
    }
}

fn bad_op<T>(src: &str, op: OpKind, name: &str, help: &str) -> Result<T, ConditionError> {
    let sym = op_symbol(op);
    // The operator is the first occurrence after the left side; find it for the caret.
    let offset = find_op_offset(src, sym).unwrap_or(0);
    Err(ConditionError::new(
        format!("`{sym}` does not apply to {name}"),
        offset,
        sym.len(),
    )
    .help(help.to_string()))
}

fn find_op_offset(src: &str, sym: &str) -> Option<usize> {
    let start = skip_ws(src, 0);
    let left_end = scan(src, start, true).ok()?;
    let op_start = skip_ws(src, left_end);
    src[op_start..].starts_with(sym).then_some(op_start)
}

/// Map a regex syntax error to the pattern's position in the condition.
fn regex_error(
    e: &regex::Error,
    pattern: &str,
    r_off: usize,
    r_len: usize,
    content: Option<(usize, bool)>,
) -> ConditionError {
    let text = e.to_string();
    let reason = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or(&text))
        .trim();
    let mut offset = r_off;
    let mut len = r_len;
    if let Some((content_start, true)) = content
        && !pattern.contains('\n')
        && let Some(caret) = text.lines().find(|l| l.trim_start().starts_with('^'))
    {
        let col = caret.find('^').unwrap_or(4).saturating_sub(4);
        let n = caret.matches('^').count();
        let mut idx = pattern.char_indices().map(|(i, _)| i).skip(col);
        if let Some(b) = idx.next() {
            let e = pattern
                .char_indices()
                .map(|(i, _)| i)
                .nth(col + n)
                .unwrap_or(pattern.len());
            offset = content_start + b;
            len = e - b;
        }
    }
    ConditionError::new(format!("invalid regular expression: {reason}"), offset, len)
        .help("regex syntax: https://docs.rs/regex/latest/regex/#syntax")
}

// ---------------------------------------------------------------- evaluation

fn compare(label: &str, left: &Value, op: &Op, right: &Literal) -> Outcome {
    let verdict = |held: bool| {
        if held {
            Outcome::Held
        } else {
            Outcome::Violated {
                actual: format!("actual {}", show(left)),
            }
        }
    };
    match op {
        Op::Eq | Op::Ne => {
            let equal = equals(left, right);
            if matches!(op, Op::Eq) {
                if equal {
                    Outcome::Held
                } else if comparable_kinds(left, right) {
                    verdict(false)
                } else {
                    Outcome::Violated {
                        actual: format!(
                            "actual {} ({}, not {})",
                            show(left),
                            value_kind(left),
                            literal_kind(right)
                        ),
                    }
                }
            } else {
                verdict(!equal)
            }
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match order(label, left, right) {
                Ok(o) => o,
                Err(e) => return Outcome::Error(e),
            };
            let Some(ord) = ord else {
                return verdict(false); // NaN-like: never holds
            };
            use std::cmp::Ordering::*;
            verdict(match op {
                Op::Lt => ord == Less,
                Op::Le => ord != Greater,
                Op::Gt => ord == Greater,
                _ => ord != Less,
            })
        }
        Op::Contains => match left {
            Value::String(s) => {
                let needle = match right {
                    Literal::String(n) => n.clone(),
                    Literal::Number(n) => fmt_number(*n),
                    Literal::Bool(b) => b.to_string(),
                    other => {
                        return Outcome::Error(format!(
                            "{label} is a string; it cannot contain {}",
                            literal_kind(other)
                        ));
                    }
                };
                verdict(s.contains(&needle))
            }
            Value::Array(items) => verdict(items.iter().any(|v| equals(v, right))),
            Value::Object(map) => match right {
                Literal::String(k) => verdict(map.contains_key(k)),
                other => Outcome::Error(format!(
                    "{label} is an object; `contains` checks its keys, which are strings, not {}",
                    literal_kind(other)
                )),
            },
            other => Outcome::Error(format!(
                "{label} is {}, not a string or an array",
                describe(other)
            )),
        },
        Op::Matches(re) => {
            let text = match left {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Outcome::Error(format!("{label} is {}, not a string", describe(other)));
                }
            };
            verdict(re.is_match(&text))
        }
        Op::In => {
            if matches!(left, Value::Array(_) | Value::Object(_)) {
                return Outcome::Error(format!(
                    "{label} is {}; `in` checks a single value (use `contains` for arrays)",
                    describe(left)
                ));
            }
            let Literal::List(items) = right else {
                return Outcome::Error("`in` needs a list".to_string());
            };
            verdict(items.iter().any(|item| equals(left, item)))
        }
    }
}

/// Equality with numeric coercion of numeric strings.
fn equals(left: &Value, right: &Literal) -> bool {
    match (left, right) {
        (Value::Number(a), Literal::Number(b)) => a.as_f64() == Some(*b),
        (Value::Number(a), Literal::String(s)) => {
            parse_number(s).is_some_and(|b| a.as_f64() == Some(b))
        }
        (Value::String(s), Literal::Number(b)) => parse_number(s) == Some(*b),
        (Value::String(a), Literal::String(b)) => a == b,
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        (Value::Null, Literal::Null) => true,
        _ => false,
    }
}

/// Whether a mismatch is a plain "different value" rather than "different type".
fn comparable_kinds(left: &Value, right: &Literal) -> bool {
    match (left, right) {
        (Value::Number(_), Literal::Number(_))
        | (Value::String(_), Literal::String(_))
        | (Value::Bool(_), Literal::Bool(_))
        | (Value::Null, Literal::Null) => true,
        (Value::Number(_), Literal::String(s)) => parse_number(s).is_some(),
        (Value::String(s), Literal::Number(_)) => parse_number(s).is_some(),
        _ => false,
    }
}

/// Ordering: numeric when both sides are numbers (or numeric strings),
/// lexicographic when both are non-numeric strings (ISO dates, versions of
/// equal shape); anything else is a type error.
fn order(label: &str, left: &Value, right: &Literal) -> Result<Option<std::cmp::Ordering>, String> {
    let left_num = match left {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s),
        _ => None,
    };
    match right {
        Literal::Number(b) => match left_num {
            Some(a) => Ok(a.partial_cmp(b)),
            None => Err(format!("{label} is {}, not a number", describe(left))),
        },
        Literal::String(s) => match (left_num, parse_number(s), left) {
            (Some(a), Some(b), _) => Ok(a.partial_cmp(&b)),
            (_, _, Value::String(l)) => Ok(Some(l.as_str().cmp(s.as_str()))),
            _ => Err(format!("{label} is {}, not a string", describe(left))),
        },
        other => Err(format!(
            "cannot order {label} against {}",
            literal_kind(other)
        )),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "a string ('x')", "a number (5)", "an array (3 items)", ...
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Array(a) => format!(
            "an array ({} item{})",
            a.len(),
            if a.len() == 1 { "" } else { "s" }
        ),
        Value::Object(o) => format!(
            "an object ({} key{})",
            o.len(),
            if o.len() == 1 { "" } else { "s" }
        ),
        other => format!("{} ({})", value_kind(other), show(other)),
    }
}

const SHOW_MAX: usize = 80;

/// A value as it appears after "actual": strings in single quotes, the rest as compact JSON.
fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    if s.chars().count() > SHOW_MAX {
        let cut: String = s.chars().take(SHOW_MAX - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `850ms`, `1.2s`, `2m 5s`.
fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        if d.as_nanos() > 0 && ms == 0 {
            return format!("{}µs", d.as_micros());
        }
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let s = format!("{:.1}", d.as_secs_f64());
        return format!("{}s", s.strip_suffix(".0").unwrap_or(&s));
    }
    let secs = d.as_secs();
    let (m, s) = (secs / 60, secs % 60);
    if s == 0 {
        format!("{m}m")
    } else {
        format!("{m}m {s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs() -> Observation {
        Observation {
            value: json!({
                "status": "ok",
                "count": 42,
                "count_str": "42",
                "ratio": 0.75,
                "name": "x",
                "ok": true,
                "nothing": null,
                "version": "1.4.2",
                "deployed_at": "2024-05-01T10:00:00Z",
                "tags": ["blue", "green", 3],
                "items": [{"ok": true, "id": 1}, {"ok": false, "id": 2}, {"ok": true, "id": 3}],
                "services": {"db": "up", "cache": "down"},
                "with-dash": "yes",
                "text": "héllo wörld",
            }),
            body_is_json: true,
            content_type: Some("application/json".into()),
            status: Some(200),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("x-version".into(), "1.4.2".into()),
                ("content-length".into(), "1234".into()),
            ],
            duration: Duration::from_millis(350),
        }
    }

    fn cond(src: &str) -> Condition {
        Condition::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e} ({e:?})"))
    }

    fn eval_on(src: &str, o: &Observation) -> Outcome {
        cond(src).eval(o)
    }

    #[track_caller]
    fn held(src: &str) {
        assert_eq!(eval_on(src, &obs()), Outcome::Held, "{src}");
    }

    #[track_caller]
    fn violated(src: &str) -> String {
        match eval_on(src, &obs()) {
            Outcome::Violated { actual } => actual,
            other => panic!("{src}: expected Violated, got {other:?}"),
        }
    }

    #[track_caller]
    fn eval_error(src: &str) -> String {
        match eval_on(src, &obs()) {
            Outcome::Error(e) => e,
            other => panic!("{src}: expected Error, got {other:?}"),
        }
    }

    #[track_caller]
    fn perr(src: &str) -> ConditionError {
        match Condition::parse(src) {
            Ok(c) => panic!("{src:?} should not parse, got {c:?}"),
            Err(e) => {
                assert!(
                    e.offset + e.len <= src.len(),
                    "{src}: span out of bounds {e:?}"
                );
                assert!(src.is_char_boundary(e.offset), "{src}: {e:?}");
                e
            }
        }
    }

    /// The text under the caret.
    fn under(src: &str, e: &ConditionError) -> String {
        src[e.offset..e.offset + e.len].to_string()
    }

    fn help(e: &ConditionError) -> &str {
        e.help.as_deref().unwrap_or("")
    }

    // ------------------------------------------------------------ operands

    #[test]
    fn status_operand() {
        held("status == 200");
        held("status != 500");
        held("status < 400");
        held("status <= 200");
        held("status >= 200");
        held("status > 199");
        held("status in [200, 204]");
        held("status matches '^2..$'");
        assert_eq!(violated("status == 503"), "actual 200");
        assert_eq!(violated("status in [500, 503]"), "actual 200");
        let mut o = obs();
        o.status = Some(503);
        assert_eq!(
            eval_on("status < 400", &o),
            Outcome::Violated {
                actual: "actual 503".into()
            }
        );
    }

    #[test]
    fn status_without_http_is_an_error() {
        let mut o = obs();
        o.status = None;
        let Outcome::Error(e) = eval_on("status == 200", &o) else {
            panic!()
        };
        assert!(e.contains("no HTTP status"), "{e}");
    }

    #[test]
    fn reads_status_only_for_status() {
        assert!(cond("status == 200").reads_status());
        assert!(cond("  status in [200, 301]").reads_status());
        assert!(!cond("$.status == 'ok'").reads_status());
        assert!(!cond("duration < 1s").reads_status());
        assert!(!cond("header.status == 'x'").reads_status());
    }

    #[test]
    fn duration_operand() {
        held("duration < 800ms");
        held("duration < 1s");
        held("duration < 1.5s");
        held("duration <= 350ms");
        held("duration >= 350ms");
        held("duration > 0.1s");
        held("duration == 350ms");
        held("duration != 2m");
        // A bare number means milliseconds.
        held("duration < 800");
        held("duration > 349.5");
        assert_eq!(violated("duration < 300"), "actual 350ms");
        let mut o = obs();
        o.duration = Duration::from_millis(1200);
        assert_eq!(
            eval_on("duration < 800ms", &o),
            Outcome::Violated {
                actual: "actual 1.2s".into()
            }
        );
        o.duration = Duration::from_secs(125);
        assert_eq!(
            eval_on("duration < 2m", &o),
            Outcome::Violated {
                actual: "actual 2m 5s".into()
            }
        );
    }

    #[test]
    fn header_operand() {
        held("header.content-type contains 'json'");
        held("header.Content-Type contains 'json'"); // case-insensitive
        held("header.x-version == '1.4.2'");
        held("header.x-version matches '^1\\.4'");
        held("header.x-version in ['1.4.2', '1.4.3']");
        held("header.content-length > 1000"); // numeric string coerced
        held("header.content-length == 1234");
        assert_eq!(violated("header.x-version == '2.0.0'"), "actual '1.4.2'");
        assert_eq!(violated("header.x-missing == 'a'"), "header absent");
        assert_eq!(violated("header.x-missing != 'a'"), "header absent");
        // Stored names may not be lower-cased by every probe.
        let mut o = obs();
        o.headers = vec![("X-Upper".into(), "v".into())];
        assert_eq!(eval_on("header.x-upper == 'v'", &o), Outcome::Held);
    }

    #[test]
    fn header_first_value_wins() {
        let mut o = obs();
        o.headers = vec![
            ("set-cookie".into(), "a=1".into()),
            ("set-cookie".into(), "b=2".into()),
        ];
        assert_eq!(eval_on("header.set-cookie == 'a=1'", &o), Outcome::Held);
    }

    #[test]
    fn path_operand() {
        held("$.status == 'ok'");
        held("$.status == \"ok\"");
        held("$.count == 42");
        held("$.ok == true");
        held("$.nothing == null");
        held("$.items[0].id == 1");
        held("$.items[-1].id == 3");
        held("$['with-dash'] == 'yes'");
        held("$.services.db == 'up'");
        // Filters with spaces and operators inside brackets.
        held("$.items[?(@.ok == true)].id == 1");
        held("$.items[?(@.ok == false)].id == 2");
        held("$.items[?(@.id >= 2 && @.ok == true)].id == 3");
        held("$.items[?(@.ok==true)].id==1");
        held("$.count==42");
        held("$.count!=41");
        held("$.count>=42");
        held("$ contains 'status'"); // root object keys
        assert_eq!(violated("$.status == 'degraded'"), "actual 'ok'");
        assert_eq!(violated("$.missing == 1"), "no value at $.missing");
        assert_eq!(
            violated("$.items[?(@.id == 9)].ok == true"),
            "no value at $.items[?(@.id == 9)].ok"
        );
    }

    #[test]
    fn path_first_match_is_the_value() {
        held("$.items[*].id == 1");
        held("$..id == 1");
    }

    #[test]
    fn len_operand() {
        held("len($.items) == 3");
        held("len($.tags) > 0");
        held("len($.text) == 11"); // characters, not bytes
        held("len($.services) == 2");
        held("len( $.items ) == 3");
        // Non-singular paths count their matches.
        held("len($.items[?(@.ok == true)]) == 2");
        held("len($.items[*]) == 3");
        held("len($..id) == 3");
        held("len($.items[?(@.id > 5)]) == 0");
        held("len($.items[0:2]) == 2");
        held("len($.items) in [1, 2, 3]");
        assert_eq!(violated("len($.items) == 0"), "actual 3");
        assert_eq!(violated("len($.none) == 0"), "no value at $.none");
        let e = eval_error("len($.count) > 0");
        assert_eq!(
            e,
            "len($.count): $.count is a number (42), not an array, string or object"
        );
    }

    // ------------------------------------------------------------ operators

    #[test]
    fn equality_and_inequality() {
        held("$.name == 'x'");
        held("$.name != 'y'");
        held("$.ratio == 0.75");
        held("$.ok != false");
        held("$.nothing != 'x'");
        assert_eq!(violated("$.name != 'x'"), "actual 'x'");
        assert_eq!(violated("$.ok == false"), "actual true");
    }

    #[test]
    fn equality_coerces_numeric_strings() {
        held("$.count_str == 42");
        held("$.count_str == 42.0");
        held("$.count == '42'");
        held("$.count_str != 43");
        assert_eq!(violated("$.count_str == 41"), "actual '42'");
    }

    #[test]
    fn equality_across_types_is_violated_with_the_type() {
        assert_eq!(
            violated("$.ok == 'true'"),
            "actual true (a boolean, not a string)"
        );
        assert_eq!(
            violated("$.name == 1"),
            "actual 'x' (a string, not a number)"
        );
        assert_eq!(
            violated("$.nothing == 'ok'"),
            "actual null (null, not a string)"
        );
        assert_eq!(
            violated("$.tags == 'blue'"),
            "actual [\"blue\",\"green\",3] (an array, not a string)"
        );
        // Different types are indeed different.
        held("$.ok != 'true'");
        held("$.name != 1");
    }

    #[test]
    fn ordering_numbers() {
        held("$.count > 41");
        held("$.count >= 42");
        held("$.count < 43");
        held("$.count <= 42");
        held("$.ratio < 1");
        held("$.count > -1");
        held("$.count < 1e3");
        assert_eq!(violated("$.count > 42"), "actual 42");
        assert_eq!(violated("$.count < 42"), "actual 42");
        assert_eq!(violated("$.count <= 41.5"), "actual 42");
        assert_eq!(violated("$.count >= 100"), "actual 42");
    }

    #[test]
    fn ordering_accepts_numeric_strings() {
        held("$.count_str > 41");
        held("$.count_str <= 42");
        held("$.count < '50'");
        assert_eq!(violated("$.count_str > 100"), "actual '42'");
    }

    #[test]
    fn ordering_strings_is_lexicographic() {
        held("$.deployed_at > '2024-01-01'");
        held("$.deployed_at < '2025'");
        assert_eq!(
            violated("$.deployed_at < '2024-01-01'"),
            "actual '2024-05-01T10:00:00Z'"
        );
    }

    #[test]
    fn ordering_type_errors() {
        assert_eq!(
            eval_error("$.name > 1"),
            "$.name is a string ('x'), not a number"
        );
        assert_eq!(
            eval_error("$.ok < 3"),
            "$.ok is a boolean (true), not a number"
        );
        assert_eq!(
            eval_error("$.nothing < 3"),
            "$.nothing is null, not a number"
        );
        assert_eq!(
            eval_error("$.tags > 1"),
            "$.tags is an array (3 items), not a number"
        );
        assert_eq!(
            eval_error("$.services >= 'a'"),
            "$.services is an object (2 keys), not a string"
        );
        assert_eq!(
            eval_error("header.x-version > 1"),
            "header.x-version is a string ('1.4.2'), not a number"
        );
    }

    #[test]
    fn contains_operator() {
        held("$.status contains 'o'");
        held("$.text contains 'wörld'");
        held("$.tags contains 'green'");
        held("$.tags contains 3");
        held("$.tags contains '3'"); // numeric coercion for elements
        held("$.services contains 'db'"); // object keys
        held("$.version contains 4"); // number as text
        assert_eq!(violated("$.status contains 'x'"), "actual 'ok'");
        assert_eq!(
            violated("$.tags contains 'red'"),
            "actual [\"blue\",\"green\",3]"
        );
        assert_eq!(
            violated("$.services contains 'queue'"),
            "actual {\"db\":\"up\",\"cache\":\"down\"}"
        );
        assert_eq!(
            eval_error("$.count contains 4"),
            "$.count is a number (42), not a string or an array"
        );
        assert_eq!(
            eval_error("$.status contains null"),
            "$.status is a string; it cannot contain null"
        );
        assert!(eval_error("$.services contains 1").contains("keys"));
    }

    #[test]
    fn matches_operator() {
        held("$.version matches '^1\\.\\d+\\.\\d+$'");
        held("$.version matches \"^1\"");
        held("$.count matches '^4'"); // numbers match as text
        held("$.ok matches 'true'");
        held("$.text matches 'w.rld'");
        assert_eq!(violated("$.version matches '^2'"), "actual '1.4.2'");
        assert_eq!(
            eval_error("$.tags matches 'blue'"),
            "$.tags is an array (3 items), not a string"
        );
        assert_eq!(
            eval_error("$.nothing matches 'x'"),
            "$.nothing is null, not a string"
        );
    }

    #[test]
    fn in_operator() {
        held("$.status in ['ok', 'degraded']");
        held("$.status in [\"ok\"]");
        held("$.count in [1, 42]");
        held("$.count_str in [42]");
        held("$.ok in [true]");
        held("$.nothing in [null, 'x']");
        held("$.status in ['a','ok',]"); // trailing comma
        held("$.status in ['a'  ,  'ok'  ]");
        assert_eq!(violated("$.status in ['down']"), "actual 'ok'");
        assert_eq!(violated("$.status in []"), "actual 'ok'");
        assert!(eval_error("$.tags in ['blue']").contains("use `contains`"));
    }

    // ------------------------------------------------------------ literals

    #[test]
    fn literals_parse() {
        assert_eq!(cond("$.a == 1").right(), &Literal::Number(1.0));
        assert_eq!(cond("$.a == -2.5").right(), &Literal::Number(-2.5));
        assert_eq!(cond("$.a == 1e3").right(), &Literal::Number(1000.0));
        assert_eq!(cond("$.a == .5").right(), &Literal::Number(0.5));
        assert_eq!(cond("$.a == 'x y'").right(), &Literal::String("x y".into()));
        assert_eq!(
            cond("$.a == \"x'y\"").right(),
            &Literal::String("x'y".into())
        );
        assert_eq!(
            cond("$.a == 'it\\'s'").right(),
            &Literal::String("it's".into())
        );
        assert_eq!(cond("$.a == ''").right(), &Literal::String(String::new()));
        assert_eq!(
            cond("$.a matches '^\\d+$'").right(),
            &Literal::String("^\\d+$".into())
        );
        assert_eq!(cond("$.a == true").right(), &Literal::Bool(true));
        assert_eq!(cond("$.a == false").right(), &Literal::Bool(false));
        assert_eq!(cond("$.a == null").right(), &Literal::Null);
        assert_eq!(
            cond("duration < 800ms").right(),
            &Literal::Duration(Duration::from_millis(800))
        );
        assert_eq!(
            cond("duration < 1.5s").right(),
            &Literal::Duration(Duration::from_millis(1500))
        );
        assert_eq!(
            cond("duration < 2m").right(),
            &Literal::Duration(Duration::from_secs(120))
        );
        assert_eq!(
            cond("$.a in ['a', 'b', 1, true, null]").right(),
            &Literal::List(vec![
                Literal::String("a".into()),
                Literal::String("b".into()),
                Literal::Number(1.0),
                Literal::Bool(true),
                Literal::Null,
            ])
        );
    }

    #[test]
    fn parsed_parts_are_exposed() {
        let c = cond("  $.items[?(@.ok == true)]  contains   'x'  ");
        assert!(matches!(c.left(), Operand::Path(p) if p.text() == "$.items[?(@.ok == true)]"));
        assert!(matches!(c.op(), Op::Contains));
        assert_eq!(
            c.to_string(),
            "  $.items[?(@.ok == true)]  contains   'x'  "
        );
        let c = cond("header.X-Request-Id != ''");
        assert!(matches!(c.left(), Operand::Header(n) if n == "x-request-id"));
        assert!(matches!(cond("len($.a) > 1").left(), Operand::Len(p) if p.text() == "$.a"));
        assert_eq!(cond("status in [200]").left().to_string(), "status");
        assert_eq!(cond("len($.a) > 1").left().to_string(), "len($.a)");
        assert_eq!(cond("$.a matches 'x'").op().to_string(), "matches");
        assert_eq!(
            Literal::List(vec![Literal::String("a".into()), Literal::Number(1.0)]).to_string(),
            "['a', 1]"
        );
    }

    #[test]
    fn brackets_and_quotes_in_paths_do_not_split() {
        held("$['status'] == 'ok'");
        held("$[\"with-dash\"] == 'yes'");
        let mut o = obs();
        o.value = json!({"a b": {"x == y": "]"}});
        assert_eq!(eval_on("$['a b']['x == y'] == ']'", &o), Outcome::Held);
        o.value = json!({"it's": 1});
        assert_eq!(eval_on("$[\"it's\"] == 1", &o), Outcome::Held);
    }

    // ------------------------------------------------------------ eval errors

    #[test]
    fn non_json_body() {
        let mut o = obs();
        o.body_is_json = false;
        o.value = Value::Null;
        o.content_type = Some("text/html; charset=utf-8".into());
        assert_eq!(
            eval_on("$.status == 'ok'", &o),
            Outcome::Error(
                "response body is not JSON (content-type text/html): cannot evaluate $.status"
                    .into()
            )
        );
        assert_eq!(
            eval_on("len($.items) > 0", &o),
            Outcome::Error(
                "response body is not JSON (content-type text/html): cannot evaluate $.items"
                    .into()
            )
        );
        o.content_type = None;
        assert_eq!(
            eval_on("$.a == 1", &o),
            Outcome::Error("response body is not JSON: cannot evaluate $.a".into())
        );
        // Non-JSON bodies don't affect status/header/duration.
        assert_eq!(eval_on("status == 200", &o), Outcome::Held);
        assert_eq!(eval_on("duration < 1s", &o), Outcome::Held);
    }

    #[test]
    fn long_actual_values_are_truncated() {
        let mut o = obs();
        o.value = json!({"s": "y".repeat(500)});
        let Outcome::Violated { actual } = eval_on("$.s == 'x'", &o) else {
            panic!()
        };
        assert!(actual.chars().count() < 100, "{actual}");
        assert!(actual.ends_with('…'));
    }

    // ------------------------------------------------------------ parse errors

    #[test]
    fn empty_condition() {
        let e = perr("");
        assert_eq!(e.message, "empty condition");
        let e = perr("   ");
        assert_eq!((e.offset, e.len), (0, 3));
    }

    #[test]
    fn single_equals_suggests_double() {
        let src = "status = 200";
        let e = perr(src);
        assert_eq!(e.message, "unknown operator `=`");
        assert_eq!((e.offset, e.len), (7, 1));
        assert_eq!(help(&e), "did you mean `==`?");
        let e = perr("$.a===1");
        assert_eq!(under("$.a===1", &e), "===");
        assert_eq!(help(&e), "did you mean `==`?");
    }

    #[test]
    fn regex_like_operators_suggest_matches() {
        for (src, op) in [("$.v ~= '^1'", "~="), ("$.v =~ '^1'", "=~")] {
            let e = perr(src);
            assert_eq!(e.message, format!("unknown operator `{op}`"));
            assert_eq!(under(src, &e), op);
            assert!(help(&e).contains("matches"), "{e:?}");
        }
    }

    #[test]
    fn other_symbolic_operator_mistakes() {
        assert_eq!(help(&perr("$.a <> 1")), "did you mean `!=`?");
        assert_eq!(help(&perr("$.a => 1")), "did you mean `>=`?");
        assert_eq!(help(&perr("$.a =< 1")), "did you mean `<=`?");
        assert_eq!(help(&perr("$.a ! 1")), "did you mean `!=`?");
        let e = perr("$.a >>= 1");
        assert!(help(&e).contains("operators:"), "{e:?}");
    }

    #[test]
    fn word_operator_mistakes() {
        let src = "$.a contain 'x'";
        let e = perr(src);
        assert_eq!(e.message, "unknown operator `contain`");
        assert_eq!(under(src, &e), "contain");
        assert_eq!(help(&e), "did you mean `contains`?");
        assert_eq!(help(&perr("$.a CONTAINS 'x'")), "did you mean `contains`?");
        assert_eq!(help(&perr("$.a match 'x'")), "did you mean `matches`?");
        assert_eq!(help(&perr("$.a matchs 'x'")), "did you mean `matches`?");
        assert_eq!(help(&perr("$.a IN [1]")), "did you mean `in`?");
        assert_eq!(help(&perr("$.a eq 1")), "did you mean `==`?");
        assert_eq!(help(&perr("$.a is 1")), "did you mean `==`?");
        assert!(help(&perr("$.a frobs 1")).contains("operators:"));
    }

    #[test]
    fn missing_operator() {
        let src = "status";
        let e = perr(src);
        assert_eq!(e.message, "missing operator after `status`");
        assert_eq!((e.offset, e.len), (6, 0));
        let src = "$.a 'x'";
        let e = perr(src);
        assert_eq!(e.message, "missing operator between `$.a` and `'x'`");
        assert_eq!(e.offset, 4);
    }

    #[test]
    fn missing_right_side() {
        let src = "status ==";
        let e = perr(src);
        assert_eq!(e.message, "missing value after `==`");
        assert_eq!((e.offset, e.len), (9, 0));
        assert_eq!(help(&e), "e.g. `status == 200`");
        let e = perr("$.a ==   ");
        assert_eq!(e.offset, 9);
        assert!(help(&perr("$.a matches")).contains("regular expression"));
        assert!(help(&perr("$.a in")).contains("list"));
        assert!(help(&perr("duration <")).contains("800ms"));
    }

    #[test]
    fn unterminated_string() {
        let src = "$.status == 'ok";
        let e = perr(src);
        assert_eq!(e.message, "unterminated string");
        assert_eq!((e.offset, e.len), (12, 3));
        assert_eq!(help(&e), "add the closing '");
        let src = "$.a in ['x', \"y]";
        let e = perr(src);
        assert_eq!(e.message, "unterminated string");
        assert_eq!(under(src, &e), "\"y]");
        // An escaped quote does not close the string.
        let e = perr("$.a == 'x\\'");
        assert_eq!(e.message, "unterminated string");
        // Unterminated quote inside a path.
        let src = "$['a == 1";
        let e = perr(src);
        assert_eq!(e.message, "unterminated string");
        assert_eq!(e.offset, 2);
    }

    #[test]
    fn invalid_jsonpath() {
        let src = "$. == 1";
        let e = perr(src);
        assert!(
            e.message
                .starts_with("invalid JSONPath `$.`: incomplete, expected `*` or a member name"),
            "{e:?}"
        );
        assert!(e.message.contains("at the end"), "{e:?}");
        assert_eq!((e.offset, e.len), (2, 0));
        assert!(help(&e).contains("member name"));
        // Cleaned up: no pest internals or multi-line art.
        assert!(!e.message.contains('\n'));
        assert!(!e.message.contains("-->"));
        assert!(!e.message.contains("ALPHA"));

        let src = "$.foo-bar == 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "-");
        assert_eq!(help(&e), "names with `-` need brackets: `$['foo-bar']`");
        assert_eq!(e.message, "invalid JSONPath `$.foo-bar`: unexpected `-`");
        let src = "$.a.foo-bar.b == 1";
        let e = perr(src);
        assert_eq!(help(&e), "names with `-` need brackets: `$.a['foo-bar'].b`");

        let src = "$.items[?(@.ok = true)] == 1";
        let e = perr(src);
        assert_eq!(e.offset, 15);
        assert_eq!(under(src, &e), "=");
        assert!(help(&e).contains("=="), "{e:?}");

        // Offsets account for leading whitespace and len(.
        let src = "  len(  $.a..) > 1";
        let e = perr(src);
        assert!(e.message.contains("`$.a..`"), "{e:?}");
        assert_eq!(e.offset, 13);
    }

    #[test]
    fn unbalanced_brackets() {
        let src = "$.items[0 == 1";
        let e = perr(src);
        assert_eq!(e.message, "unclosed `[`");
        assert_eq!((e.offset, e.len), (7, 1));
        assert_eq!(help(&e), "add the matching `]`");
        let src = "$.items[?(@.a == 1]) == 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "]");
        assert!(e.message.starts_with("`]` closes the `(`"), "{e:?}");
    }

    #[test]
    fn unknown_left_operand() {
        let src = "stauts == 200";
        let e = perr(src);
        assert_eq!(e.message, "unknown left side `stauts`");
        assert_eq!((e.offset, e.len), (0, 6));
        assert_eq!(help(&e), "did you mean `status`?");
        assert_eq!(help(&perr("Status == 200")), "did you mean `status`?");
        assert_eq!(help(&perr("duraton < 1s")), "did you mean `duration`?");
        assert_eq!(help(&perr("latency < 1s")), "did you mean `duration`?");
        assert_eq!(help(&perr("status_code == 200")), "did you mean `status`?");
        assert_eq!(
            help(&perr("headers.x-id == 'a'")),
            "did you mean `header.x-id`?"
        );
        assert_eq!(help(&perr("length($.a) > 1")), "did you mean `len($.a)`?");
        assert!(help(&perr("version == '1'")).contains("did you mean `$.version`?"));
        assert!(help(&perr("body.status == 'ok'")).contains("`$.status`"));
        assert!(help(&perr("@.status == 'ok'")).contains("`$.status`"));
        let src = "  'ok' == $.status";
        let e = perr(src);
        assert_eq!(under(src, &e), "'ok'");
        assert!(help(&e).contains("the value goes on the right"));
    }

    #[test]
    fn missing_left_side() {
        let src = "== 200";
        let e = perr(src);
        assert!(e.message.starts_with("missing left side"), "{e:?}");
        assert_eq!(e.offset, 0);
    }

    #[test]
    fn header_without_name() {
        let src = "header. == 'x'";
        let e = perr(src);
        assert_eq!(e.message, "`header.` needs a header name");
        assert_eq!(under(src, &e), "header.");
        assert!(help(&e).contains("header.content-type"));
    }

    #[test]
    fn len_errors() {
        let src = "len($.items > 0";
        let e = perr(src);
        assert_eq!(e.message, "`len(` is not closed");
        assert_eq!(e.offset, 0);
        assert_eq!(e.len, src.len());
        assert!(help(&e).contains(')'));
        let src = "x > 1 and len($.a[0 > 1";
        let e = perr(src); // left `x` is reported first
        assert_eq!(e.offset, 0);
        let e = perr("len() > 0");
        assert_eq!(e.message, "`len()` needs a JSONPath");
        let src = "len(items) > 0";
        let e = perr(src);
        assert_eq!(under(src, &e), "items");
        assert_eq!(help(&e), "did you mean `len($.items)`?");
        let src = "len($.a)x > 1";
        assert!(perr(src).message.contains("after `len(...)`"));
        assert!(help(&perr("len $.a > 1")).contains("len("));
    }

    #[test]
    fn bad_regex_points_at_the_regex() {
        let src = "$.v matches '(abc'";
        let e = perr(src);
        assert_eq!(e.message, "invalid regular expression: unclosed group");
        assert_eq!(under(src, &e), "(");
        let src = "$.v matches 'a{2,1}'";
        let e = perr(src);
        assert!(e.message.contains("repetition"), "{e:?}");
        assert_eq!(under(src, &e), "{2,1}");
        // With escapes the caret covers the whole literal.
        let src = "$.v matches '\\'(x'";
        let e = perr(src);
        assert_eq!(under(src, &e), "'\\'(x'");
    }

    #[test]
    fn literal_errors() {
        let src = "$.status == ok";
        let e = perr(src);
        assert_eq!(e.message, "unquoted string `ok`");
        assert_eq!(under(src, &e), "ok");
        assert_eq!(help(&e), "quote it: 'ok'");
        let e = perr("$.a == True");
        assert_eq!(help(&e), "did you mean `true`?");
        assert_eq!(help(&perr("$.a == NULL")), "did you mean `null`?");
        let src = "duration < 5x";
        let e = perr(src);
        assert!(
            e.message.starts_with("`5x` is not a number or a duration"),
            "{e:?}"
        );
        assert_eq!(under(src, &e), "5x");
        let src = "$.a == $.b";
        assert!(perr(src).message.contains("not the JSONPath"));
        let src = "$.a == 'x' && $.b == 1";
        let e = perr(src);
        assert_eq!(e.message, "unexpected `&& $.b == 1` after the value");
        assert_eq!(e.offset, 11);
        assert!(help(&e).contains("one comparison per condition"));
        let src = "$.a == 'x' y";
        let e = perr(src);
        assert_eq!(under(src, &e), "y");
        let src = "$.a == ,";
        assert!(perr(src).message.starts_with("expected a value"));
    }

    #[test]
    fn list_errors() {
        let src = "$.a in ['x', 'y'";
        let e = perr(src);
        assert_eq!(e.message, "list is not closed");
        assert_eq!((e.offset, e.len), (7, 1));
        let src = "$.a in ['x' 'y']";
        let e = perr(src);
        assert!(e.message.starts_with("expected `,` or `]`"), "{e:?}");
        assert_eq!(e.offset, 12);
        let src = "$.a in [[1]]";
        assert_eq!(perr(src).message, "lists cannot be nested");
        let src = "$.a in 'x'";
        let e = perr(src);
        assert_eq!(e.message, "`in` needs a list, not a string");
        assert_eq!(under(src, &e), "'x'");
        assert_eq!(help(&e), "write `in ['x']`");
        let src = "$.a == ['x']";
        assert_eq!(help(&perr(src)), "did you mean `in ['x']`?");
        assert_eq!(
            perr("$.a contains [1]").message,
            "a list only goes with `in`"
        );
    }

    #[test]
    fn type_errors_caught_at_parse_time() {
        let src = "$.uptime > 5m";
        let e = perr(src);
        assert!(e.message.contains("only compares with `duration`"), "{e:?}");
        assert_eq!(under(src, &e), "5m");
        assert!(
            perr("status in [200, 1s]")
                .message
                .contains("only compares with `duration`")
        );

        let src = "duration < '800ms'";
        let e = perr(src);
        assert_eq!(e.message, "durations are written without quotes");
        assert_eq!(help(&e), "write `duration < 800ms`");
        assert!(perr("duration == true").message.contains("not a boolean"));
        let src = "duration contains 5";
        let e = perr(src);
        assert_eq!(e.message, "`contains` does not apply to duration");
        assert_eq!(under(src, &e), "contains");
        assert!(
            perr("duration matches '1'")
                .message
                .contains("does not apply")
        );
        assert!(
            perr("duration in [1, 2]")
                .message
                .contains("does not apply")
        );

        let src = "status == '200'";
        let e = perr(src);
        assert_eq!(
            e.message,
            "status is a number; it cannot be compared with a string"
        );
        assert_eq!(help(&e), "drop the quotes: 200");
        assert!(perr("status == true").message.contains("a boolean"));
        assert!(perr("status in [200, 'x']").message.contains("a string"));
        assert_eq!(
            perr("status contains 2").message,
            "`contains` does not apply to status"
        );
        assert!(
            perr("len($.a) == 'x'")
                .message
                .starts_with("len(...) is a number")
        );
        assert!(
            perr("len($.a) contains 1")
                .message
                .contains("does not apply")
        );

        assert!(
            perr("header.x == true")
                .message
                .contains("header values are text")
        );
        assert!(perr("header.x in ['a', null]").message.contains("null"));

        let src = "$.a < true";
        let e = perr(src);
        assert_eq!(e.message, "`<` needs a number or a string, not a boolean");
        assert_eq!(under(src, &e), "true");
        assert!(perr("$.a >= null").message.contains("not null"));
        let src = "$.a matches 5";
        let e = perr(src);
        assert!(
            e.message
                .starts_with("`matches` needs a regular expression")
        );
        assert_eq!(help(&e), "write `matches '5'`");
    }

    #[test]
    fn error_is_a_diagnostic_with_help() {
        use miette::Diagnostic;
        let e = perr("status = 200");
        assert_eq!(e.to_string(), "unknown operator `=`");
        assert_eq!(
            Diagnostic::help(&e).map(|h| h.to_string()).as_deref(),
            Some("did you mean `==`?")
        );
        assert_eq!(e.clone().shifted(10).offset, 17);
    }

    #[test]
    fn error_offsets_are_byte_offsets_with_unicode() {
        let src = "$.text == 'é' ~ 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "~ 1");
        let src = "$.é-x == 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "-");
    }

    // ------------------------------------------------------------ compile_path

    #[test]
    fn compile_path_ok() {
        let p = compile_path("$.items[?(@.ok == true)].id").unwrap();
        assert_eq!(p.text(), "$.items[?(@.ok == true)].id");
        let o = obs();
        assert_eq!(p.query(&o.value), vec![&json!(1), &json!(3)]);
        assert!(
            compile_path("$.missing")
                .unwrap()
                .query(&o.value)
                .is_empty()
        );
        assert_eq!(compile_path("$").unwrap().query(&o.value), vec![&o.value]);
        assert_eq!(compile_path("$.version").unwrap().to_string(), "$.version");
    }

    #[test]
    fn singular_paths() {
        for p in ["$", "$.a", "$.a[0].b", "$['a-b'][-1]"] {
            assert!(compile_path(p).unwrap().is_singular(), "{p}");
        }
        for p in [
            "$.a[*]",
            "$..a",
            "$.a[?(@.x == 1)]",
            "$.a[0:2]",
            "$.a[0,1]",
            "$.*",
        ] {
            assert!(!compile_path(p).unwrap().is_singular(), "{p}");
        }
    }

    #[test]
    fn compile_path_errors() {
        let e = compile_path("").unwrap_err();
        assert_eq!(e.message, "empty JSONPath");
        let e = compile_path("version").unwrap_err();
        assert_eq!(e.message, "JSONPath `version` must start with `$`");
        assert_eq!((e.offset, e.len), (0, 1));
        assert_eq!(help(&e), "did you mean `$.version`?");
        let e = compile_path(".sha").unwrap_err();
        assert_eq!(help(&e), "did you mean `$.sha`?");
        let e = compile_path("$.a[").unwrap_err();
        assert_eq!(e.message, "unclosed `[`");
        assert_eq!(e.offset, 3);
        let e = compile_path("$.x-y").unwrap_err();
        assert_eq!(e.offset, 3);
        assert_eq!(help(&e), "names with `-` need brackets: `$['x-y']`");
        let e = compile_path("$..").unwrap_err();
        assert!(e.message.starts_with("invalid JSONPath `$..`"), "{e:?}");
    }

    #[test]
    fn describe_expected_is_readable() {
        assert_eq!(
            describe_expected("wildcard_selector or ALPHA"),
            "`*` or a member name"
        );
        assert_eq!(
            describe_expected("EOI, segment, or ALPHA"),
            "the end of the path, `.name` or `[...]` or a member name"
        );
        assert_eq!(describe_expected("weird_rule"), "weird_rule");
    }

    #[test]
    fn number_parsing_is_strict() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number(" 4.5 "), Some(4.5));
        assert_eq!(parse_number("-1e2"), Some(-100.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("0x10"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("1.2.3"), None);
    }

    #[test]
    fn types_can_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Condition>();
        send_sync::<CompiledPath>();
        send_sync::<Observation>();
        send_sync::<ConditionError>();
    }

    #[test]
    fn duration_formatting() {
        assert_eq!(fmt_duration(Duration::from_millis(0)), "0ms");
        assert_eq!(fmt_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(fmt_duration(Duration::from_millis(999)), "999ms");
        assert_eq!(fmt_duration(Duration::from_millis(1000)), "1s");
        assert_eq!(fmt_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(fmt_duration(Duration::from_secs(120)), "2m");
        assert_eq!(fmt_duration(Duration::from_secs(61)), "1m 1s");
    }
}
