//! Evaluation: a parsed condition against what a probe observed.

use std::time::Duration;

use serde_json::Value;

use super::syntax::{Condition, Literal, Op, Operand, fmt_number, literal_kind, parse_number};
use crate::outcome::Observation;

/// The result of evaluating a condition against an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The condition is true.
    Held,
    /// The condition is false; `actual` says what was seen
    /// (`"actual 503"`, `"actual 'degraded'"`, `"actual 1.2 s"`, `"header absent"`,
    /// `"no value at $.x"`).
    Violated {
        /// What was actually observed, ready to show after the condition.
        actual: String,
    },
    /// The condition could not be evaluated: body not JSON, type mismatch
    /// (`"$.count is a string ('x'), not a number"`), no HTTP status, ...
    Error(String),
}

impl Condition {
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
                actual: format!("actual {}", crate::units::duration(took)),
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::condition::test_support::*;

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
        assert_eq!(violated("duration < 300"), "actual 350 ms");
        let mut o = obs();
        o.duration = Duration::from_millis(1200);
        assert_eq!(
            eval_on("duration < 800ms", &o),
            Outcome::Violated {
                actual: "actual 1.2 s".into()
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
}
