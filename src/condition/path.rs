//! The JSONPath wrapper: compiling a path with readable errors, and querying with it.

use std::fmt;

use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;

use super::error::ConditionError;
use super::scan::scan;

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
pub(super) fn compile_at(text: &str, base: usize) -> Result<CompiledPath, ConditionError> {
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
pub(super) fn path_suggestion(word: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::condition::test_support::*;

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
}
