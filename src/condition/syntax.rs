//! The parsed form of a condition: its three parts and how each is written back.

use std::fmt;
use std::time::Duration;

use regex::Regex;

use super::path::CompiledPath;

/// A parsed condition: `LEFT OP RIGHT`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The condition as written in the config.
    pub source: String,
    pub(super) left: Operand,
    pub(super) op: Op,
    pub(super) right: Literal,
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

/// The operator before validation (regex not compiled yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OpKind {
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

/// A literal with the facts validation needs about how it was written.
pub(super) struct ParsedLiteral {
    pub(super) literal: Literal,
    /// For strings: byte offset of the content's first byte, and whether the
    /// content appears verbatim in the source (no escapes), for regex carets.
    pub(super) string_content: Option<(usize, bool)>,
}

impl Condition {
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
            Literal::Duration(d) => f.write_str(&duration_literal(*d)),
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

/// A finite number written in plain decimal/exponent notation (no `inf`, `nan`, hex).
pub(super) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s.chars().any(|c| c.is_ascii_digit())
        || !s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

pub(super) fn literal_kind(l: &Literal) -> &'static str {
    match l {
        Literal::Number(_) => "a number",
        Literal::String(_) => "a string",
        Literal::Bool(_) => "a boolean",
        Literal::Null => "null",
        Literal::Duration(_) => "a duration",
        Literal::List(_) => "a list",
    }
}

pub(super) fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A duration as condition syntax (`850ms`, `1.2s`, `2m 5s`), so a message
/// can quote a literal the parser reads back. Measured durations are shown
/// with [`crate::units::duration`].
pub(super) fn duration_literal(d: Duration) -> String {
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
    use crate::condition::test_support::*;

    #[test]
    fn reads_status_only_for_status() {
        assert!(cond("status == 200").reads_status());
        assert!(cond("  status in [200, 301]").reads_status());
        assert!(!cond("$.status == 'ok'").reads_status());
        assert!(!cond("duration < 1s").reads_status());
        assert!(!cond("header.status == 'x'").reads_status());
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
    fn duration_literals_are_condition_syntax() {
        assert_eq!(duration_literal(Duration::from_millis(0)), "0ms");
        assert_eq!(duration_literal(Duration::from_micros(250)), "250µs");
        assert_eq!(duration_literal(Duration::from_millis(999)), "999ms");
        assert_eq!(duration_literal(Duration::from_millis(1000)), "1s");
        assert_eq!(duration_literal(Duration::from_millis(1234)), "1.2s");
        assert_eq!(duration_literal(Duration::from_secs(120)), "2m");
        assert_eq!(duration_literal(Duration::from_secs(61)), "1m 1s");
    }
}
