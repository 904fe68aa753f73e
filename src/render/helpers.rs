//! Display helpers registered on every template registry.
//!
//! All helpers are lenient about missing values (a missing or null parameter
//! is treated as empty), so templates can pass optional report fields straight
//! through even in strict mode, and all of them work as sub-expressions.
//!
//! | helper | example | result |
//! |---|---|---|
//! | `status_icon S` | `{{status_icon status}}` | `●` healthy, `⚠` warning/warn/stalled, `✗` failing/fail/error/failure, `○` unknown/skipped, `✓` pass/success, `⏳` in_progress/queued, `⊘` cancelled |
//! | `status_label S` | `{{status_label "in_progress"}}` | `In progress` (`Healthy`, `Failed`, `Stalled`, …) |
//! | `env_label S OFFLINE` | `{{env_label status offline}}` | `Running` / `Warning` / `Error` / `Offline` / `Unknown` |
//! | `upper S`, `lower S` | `{{upper "warning"}}` | `WARNING` |
//! | `pad S N` | `{{pad "Local:" 12}}` | right-padded to N characters |
//! | `underline S CH` | `{{underline title "="}}` | CH repeated to S's length |
//! | `concat A B …` | `{{concat name ":"}}` | joined strings |
//! | `short_sha S` | `{{short_sha sha}}` | first 7 characters |
//! | `ver S` | `{{ver version}}` | `v0.4.1` (adds the `v` when missing) |
//! | `ago TS NOW` | `{{ago created_at @root.timestamp}}` | `5m ago` |
//! | `datetime TS`, `time TS` | `{{datetime timestamp}}` | `2026-01-22 14:34:00 UTC` / `14:34:00 UTC` |
//! | `ms N` | `{{ms duration_ms}}` | `95 ms`, `1.2 s` ([`crate::units::millis`]) |
//! | `span N` | `{{span lead_time.median_s}}` | seconds as `45s`, `5m 10s`, `3h 20m`, `2d 4h` ([`crate::units::span`]) |
//! | `percent X` | `{{percent rate}}` | a ratio as `20%`, `12.5%` |
//! | `plural N WORD` | `{{plural 2 "commit"}}` | `2 commits` |
//! | `str X` | `{{str this}}` | strings verbatim, other JSON compact, null empty |
//! | `fields MAP` | `{{fields fields}}` | `version=0.4.1 sha=53004a6` |
//! | `md S` | `{{md summary}}` | escapes `\|`, `<`, `>` and newlines for markdown tables |
//! | `mul A B` | `{{ms (mul duration_s 1000)}}` | product of two unsigned integers |
//! | `eq A B`, `ne A B`, `and …`, `or …`, `not A` | `{{#if (eq status "pass")}}` | booleans |
//! | `len X` | `{{len checks}}` | items in an array/object, characters in a string |
//! | `get OBJ KEY` | `{{#with (get @root.extras.trends @key)}}` | the member, or null |

use chrono::{DateTime, Utc};
use handlebars::{Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, ScopedJson};
use serde_json::{Map, Value};

type HelperFn = fn(&[Value], &Map<String, Value>) -> Value;

/// A helper that maps its (lenient) parameters to one JSON value.
struct Pure(HelperFn);

impl HelperDef for Pure {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let params: Vec<Value> = h.params().iter().map(|p| p.value().clone()).collect();
        let hash: Map<String, Value> = h
            .hash()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.value().clone()))
            .collect();
        Ok(ScopedJson::Derived((self.0)(&params, &hash)))
    }
}

/// Register every helper (overriding handlebars' built-in strict `eq`, `ne`, `and`, `or`, `not`, `len`).
pub(super) fn register(hb: &mut Handlebars<'static>) {
    for (name, f) in [TEXT, TIME, SHAPE, LOGIC].concat() {
        hb.register_helper(name, Box::new(Pure(f)));
    }
}

/// Words, icons and padding.
const TEXT: &[(&str, HelperFn)] = &[
    ("status_icon", |p, _| str_value(status_icon(&s(p, 0)))),
    ("status_label", |p, _| str_value(status_label(&s(p, 0)))),
    ("env_label", |p, _| {
        str_value(env_label(&s(p, 0), truthy(p.get(1))))
    }),
    ("upper", |p, _| Value::String(s(p, 0).to_uppercase())),
    ("lower", |p, _| Value::String(s(p, 0).to_lowercase())),
    ("pad", |p, _| {
        let text = s(p, 0);
        let width = n(p, 1) as usize;
        let len = text.chars().count();
        Value::String(format!("{text}{}", " ".repeat(width.saturating_sub(len))))
    }),
    ("underline", |p, _| {
        let ch = s(p, 1);
        let ch = if ch.is_empty() { "-".to_owned() } else { ch };
        Value::String(ch.repeat(s(p, 0).chars().count()))
    }),
    ("concat", |p, _| {
        Value::String((0..p.len()).map(|i| s(p, i)).collect())
    }),
    ("short_sha", |p, _| {
        Value::String(s(p, 0).chars().take(7).collect())
    }),
    ("ver", |p, _| {
        let v = s(p, 0);
        Value::String(if v.is_empty() || v.starts_with(['v', 'V']) {
            v
        } else {
            format!("v{v}")
        })
    }),
];

/// Times and counts for people.
const TIME: &[(&str, HelperFn)] = &[
    ("ago", |p, _| {
        let (Some(then), Some(now)) = (ts(&s(p, 0)), ts(&s(p, 1))) else {
            return Value::String(String::new());
        };
        Value::String(ago(then, now))
    }),
    ("datetime", |p, _| {
        Value::String(
            ts(&s(p, 0))
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
        )
    }),
    ("time", |p, _| {
        Value::String(
            ts(&s(p, 0))
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_default(),
        )
    }),
    ("ms", |p, _| match p.first().and_then(Value::as_u64) {
        Some(v) => Value::String(crate::units::millis(v)),
        None => Value::String(String::new()),
    }),
    ("span", |p, _| match p.first().and_then(Value::as_u64) {
        Some(v) => Value::String(crate::units::span(v)),
        None => Value::String(String::new()),
    }),
    ("percent", |p, _| match p.first().and_then(Value::as_f64) {
        // Tenths of a percent at most: "20%", "12.5%".
        Some(v) => Value::String(format!("{}%", (v * 1000.0).round() / 10.0)),
        None => Value::String(String::new()),
    }),
    ("plural", |p, _| {
        let count = n(p, 0);
        let word = s(p, 1);
        Value::String(if count == 1 {
            format!("1 {word}")
        } else {
            format!("{count} {word}s")
        })
    }),
];

/// Values as text: fields, markdown cells.
const SHAPE: &[(&str, HelperFn)] = &[
    ("str", |p, _| Value::String(s(p, 0))),
    ("fields", |p, _| {
        let Some(map) = p.first().and_then(Value::as_object) else {
            return Value::String(String::new());
        };
        Value::String(
            map.iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }),
    ("md", |p, _| {
        let mut out = String::new();
        for c in s(p, 0).chars() {
            match c {
                '|' => out.push_str("\\|"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\n' | '\r' => out.push(' '),
                c => out.push(c),
            }
        }
        Value::String(out)
    }),
];

/// Arithmetic, comparison and lookup.
const LOGIC: &[(&str, HelperFn)] = &[
    ("mul", |p, _| Value::from(n(p, 0).saturating_mul(n(p, 1)))),
    ("eq", |p, _| Value::Bool(arg(p, 0) == arg(p, 1))),
    ("ne", |p, _| Value::Bool(arg(p, 0) != arg(p, 1))),
    ("and", |p, _| {
        Value::Bool(!p.is_empty() && p.iter().all(|v| truthy(Some(v))))
    }),
    ("or", |p, _| Value::Bool(p.iter().any(|v| truthy(Some(v))))),
    ("not", |p, _| Value::Bool(!truthy(p.first()))),
    ("len", |p, _| {
        Value::from(match p.first() {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(o)) => o.len(),
            Some(Value::String(s)) => s.chars().count(),
            _ => 0,
        })
    }),
    ("get", |p, _| {
        let key = s(p, 1);
        match p.first() {
            Some(Value::Object(o)) => o.get(&key).cloned().unwrap_or(Value::Null),
            Some(Value::Array(a)) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }),
];

fn arg(p: &[Value], i: usize) -> &Value {
    p.get(i).unwrap_or(&Value::Null)
}

/// String form of a parameter; numbers and booleans are formatted, null is empty.
fn s(p: &[Value], i: usize) -> String {
    scalar(arg(p, i))
}

fn n(p: &[Value], i: usize) -> u64 {
    match arg(p, i) {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

fn str_value(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Icon for any status word of the report (environment, check or CI).
pub fn status_icon(status: &str) -> &'static str {
    match status {
        "healthy" => "●",
        "pass" | "success" => "✓",
        "warning" | "warn" | "stalled" => "⚠",
        "failing" | "fail" | "error" | "failure" => "✗",
        "in_progress" | "queued" => "⏳",
        "cancelled" => "⊘",
        _ => "○",
    }
}

/// Human word for any status word of the report.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "healthy" => "Healthy",
        "warning" => "Warning",
        "failing" => "Failing",
        "unknown" => "Unknown",
        "pass" => "Pass",
        "warn" => "Warn",
        "fail" => "Fail",
        "error" => "Error",
        "skipped" => "Skipped",
        "success" => "Success",
        "failure" => "Failed",
        "in_progress" => "In progress",
        "queued" => "Queued",
        "cancelled" => "Cancelled",
        "stalled" => "Stalled",
        _ => "Unknown",
    }
}

/// The word on an environment card: "Running" / "Warning" / "Error" /
/// "Offline" / "Unknown".
pub fn env_label(status: &str, offline: bool) -> &'static str {
    if offline {
        return "Offline";
    }
    match status {
        "healthy" => "Running",
        "warning" => "Warning",
        "failing" => "Error",
        _ => "Unknown",
    }
}

/// [`crate::units::ago`]: the one way outputs say how long ago.
pub use crate::units::ago;
