//! Type checks at parse time: LEFT, OP and RIGHT must make sense together.

use regex::Regex;

use super::error::ConditionError;
use super::scan::{scan, skip_ws};
use super::syntax::{Literal, Op, OpKind, Operand, ParsedLiteral, literal_kind, parse_number};

/// Check that LEFT, OP and RIGHT make sense together; compile the regex.
pub(super) fn validate(
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
    lists_fit(op, lit, right_text, (r_off, r_len))?;
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
    left_fits(src, left, op, lit, &items, (r_off, r_len))?;
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
    compile(op, right, right_text, (r_off, r_len))
}

/// Lists only with `in`, and `in` only with lists.
fn lists_fit(
    op: OpKind,
    lit: &Literal,
    right_text: &str,
    (r_off, r_len): (usize, usize),
) -> Result<(), ConditionError> {
    let bad = |msg: String, help: String| Err(ConditionError::new(msg, r_off, r_len).help(help));
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
    Ok(())
}

/// What LEFT can be compared with: durations with durations, numbers with
/// numbers, headers with text.
fn left_fits(
    src: &str,
    left: &Operand,
    op: OpKind,
    lit: &Literal,
    items: &[&Literal],
    (r_off, r_len): (usize, usize),
) -> Result<(), ConditionError> {
    let bad = |msg: String, help: String| Err(ConditionError::new(msg, r_off, r_len).help(help));
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
    Ok(())
}

/// The operator, with `matches`' regular expression compiled.
fn compile(
    op: OpKind,
    right: &ParsedLiteral,
    right_text: &str,
    (r_off, r_len): (usize, usize),
) -> Result<Op, ConditionError> {
    let lit = &right.literal;
    let bad = |msg: String, help: String| Err(ConditionError::new(msg, r_off, r_len).help(help));
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

#[cfg(test)]
mod tests {
    use crate::condition::test_support::*;

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
}
