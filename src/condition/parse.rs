//! The parser: `LEFT OP RIGHT` from text, with a caret and a hint for every mistake.

use super::check::validate;
use super::error::ConditionError;
use super::path::{compile_at, path_suggestion};
use super::scan::{scan, skip_ws};
use super::syntax::{Condition, Literal, OpKind, Operand, ParsedLiteral, parse_number};

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
}

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

fn parse_literal(src: &str, start: usize) -> Result<(ParsedLiteral, usize), ConditionError> {
    match src[start..].chars().next().unwrap_or(' ') {
        quote @ ('\'' | '"') => parse_string(src, start, quote),
        '[' => parse_list(src, start),
        _ => parse_word(src, start),
    }
}

/// A quoted string starting at `start`; `\` escapes the quote.
fn parse_string(
    src: &str,
    start: usize,
    first: char,
) -> Result<(ParsedLiteral, usize), ConditionError> {
    let rest = &src[start..];
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
    Err(
        ConditionError::new("unterminated string", start, rest.len())
            .help(format!("add the closing {first}")),
    )
}

/// A `[a, b, 1]` list starting at `start`; items are plain values.
fn parse_list(src: &str, start: usize) -> Result<(ParsedLiteral, usize), ConditionError> {
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

/// A bare value: true, false, null, a number or a duration.
fn parse_word(src: &str, start: usize) -> Result<(ParsedLiteral, usize), ConditionError> {
    let rest = &src[start..];
    let first = rest.chars().next().unwrap_or(' ');
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::condition::test_support::*;
    use crate::condition::*;

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
    fn error_offsets_are_byte_offsets_with_unicode() {
        let src = "$.text == 'é' ~ 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "~ 1");
        let src = "$.é-x == 1";
        let e = perr(src);
        assert_eq!(under(src, &e), "-");
    }
}
