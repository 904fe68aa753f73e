//! Metric checks: one number read from a check's observation, with a unit and
//! warning / critical thresholds that set the check's status, and top-N
//! tables ([`table`]).
//!
//! Thresholds are conditions without a left side (`"> 800"`, `"< 99.5"`):
//! they are parsed by the condition parser with `$` (the value) in front, so
//! they take the same operators and numbers and give the same errors.

pub mod table;

use std::ops::Range;

use serde_json::Value;

use crate::condition::{CompiledPath, Condition, Literal, Op, Outcome, compile_path};
use crate::outcome::{ErrorKind, Observation, Problem, Verdict};

pub use crate::outcome::{Level, MetricResult, TableResult, Thresholds};
pub use table::TableSpec;

/// Panel that metric cards and tables without `panel = "..."` go to.
pub const DEFAULT_PANEL: &str = "Metrics";

/// `metric = { ... }` validated.
#[derive(Debug, Clone)]
pub struct MetricSpec {
    /// Where the number is (`$.value` for Prometheus).
    pub value: CompiledPath,
    /// Shown after the number: "ms", "%", "req/s", "$" (a currency goes first).
    pub unit: Option<String>,
    /// Breached => the check warns.
    pub warn: Option<Threshold>,
    /// Breached => the check fails.
    pub critical: Option<Threshold>,
}

/// One threshold: `> 800`, `<= 99.5`.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// As written, trimmed.
    pub source: String,
    condition: Condition,
}

/// A config problem, with its byte range inside the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// Where, in the file.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl SpecError {
    /// An error for the string value spanning `span` (quotes included), at
    /// `offset..offset+len` inside the string.
    pub(crate) fn inside(
        span: &Range<usize>,
        offset: usize,
        len: usize,
        message: String,
        help: Option<String>,
    ) -> Self {
        let start = (span.start + 1 + offset).min(span.end);
        SpecError {
            span: start..(start + len.max(1)).min(span.end.max(start + 1)),
            message,
            help,
        }
    }
}

impl Threshold {
    /// Parses `OP NUMBER` (`> 800`, `<= 99.5`); `span` is the TOML string's,
    /// for errors.
    pub fn parse(text: &str, span: &Range<usize>, key: &str) -> Result<Threshold, SpecError> {
        let trimmed = text.trim();
        let lead = text.len() - text.trim_start().len();
        let help = Some(format!(
            "write `{key} = \"> 800\"` (above) or `{key} = \"< 99.5\"` (below); operators: < <= > >= == !="
        ));
        if trimmed.is_empty() || trimmed.starts_with('$') {
            return Err(SpecError::inside(
                span,
                lead,
                trimmed.len(),
                format!("`{key}` needs an operator and a number, e.g. \"> 800\""),
                help,
            ));
        }
        // "$ " is two bytes in front of what the user wrote.
        let condition = Condition::parse(&format!("$ {trimmed}")).map_err(|e| {
            SpecError::inside(
                span,
                lead + e.offset.saturating_sub(2),
                e.len,
                format!("invalid `{key}` threshold: {}", e.message),
                help.clone(),
            )
        })?;
        let ordering = matches!(
            condition.op(),
            Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne
        );
        if !ordering || !matches!(condition.right(), Literal::Number(_)) {
            return Err(SpecError::inside(
                span,
                lead,
                trimmed.len(),
                format!("`{key}` compares the metric with a number; `{trimmed}` does not"),
                help,
            ));
        }
        Ok(Threshold {
            source: trimmed.to_owned(),
            condition,
        })
    }

    /// True when `value` is past this threshold.
    pub fn breached(&self, value: f64) -> bool {
        let obs = Observation {
            value: Value::from(value),
            body_is_json: true,
            ..Observation::default()
        };
        matches!(self.condition.eval(&obs), Outcome::Held)
    }
}

impl MetricSpec {
    /// Validates `metric = { value, unit, warn, critical }`.
    pub fn compile(
        value: (&str, Range<usize>),
        unit: Option<&str>,
        warn: Option<(&str, Range<usize>)>,
        critical: Option<(&str, Range<usize>)>,
    ) -> Result<MetricSpec, Vec<SpecError>> {
        let mut errors = Vec::new();
        let path = compile_path(value.0)
            .map_err(|e| {
                errors.push(SpecError::inside(
                    &value.1,
                    e.offset,
                    e.len,
                    format!("invalid JSONPath for the metric value: {}", e.message),
                    e.help.or(Some(
                        "e.g. value = \"$.value\" (Prometheus) or \"$.p95_ms\"".into(),
                    )),
                ));
            })
            .ok();
        let mut threshold = |t: Option<(&str, Range<usize>)>, key: &str| {
            t.and_then(|(text, span)| {
                Threshold::parse(text, &span, key)
                    .map_err(|e| errors.push(e))
                    .ok()
            })
        };
        let warn = threshold(warn, "warn");
        let critical = threshold(critical, "critical");
        match path {
            Some(value) if errors.is_empty() => Ok(MetricSpec {
                value,
                unit: unit
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
                warn,
                critical,
            }),
            _ => Err(errors),
        }
    }

    /// The metric of a check that has no value to show.
    pub fn unknown(&self) -> MetricResult {
        MetricResult {
            value: None,
            unit: self.unit.clone(),
            level: Level::Unknown,
            thresholds: Thresholds {
                warn: self.warn.as_ref().map(|t| t.source.clone()),
                critical: self.critical.as_ref().map(|t| t.source.clone()),
            },
            trend: Vec::new(),
        }
    }

    /// Reads the value from `obs`, rates it and says what that means for the
    /// check: `Fail` past `critical`, `Warn` past `warn`, `Error` when there
    /// is no number. `trend` is the history to show, oldest first.
    pub fn evaluate(&self, obs: &Observation, trend: Vec<f64>) -> (MetricResult, Verdict) {
        let mut result = MetricResult {
            trend,
            ..self.unknown()
        };
        let number = match self.value.try_query(&obs.value) {
            Err(e) => Err(Problem::new(ErrorKind::Config, e)),
            Ok(found) => match found.first() {
                None => Err(Problem::new(
                    ErrorKind::NoData,
                    format!("no metric value at {}", self.value.text()),
                )),
                Some(v) => as_number(v).ok_or_else(|| match v {
                    Value::Null => Problem::new(
                        ErrorKind::NoData,
                        format!(
                            "no data: {} is null (an empty query result, or several series: aggregate them or pick one)",
                            self.value.text()
                        ),
                    ),
                    other => Problem::new(
                        ErrorKind::BadResponse,
                        format!("metric value at {} is {other}, not a number", self.value.text()),
                    ),
                }),
            },
        };
        let value = match number {
            Ok(n) => n,
            Err(problem) => return (result, Verdict::Error(problem)),
        };
        result.value = Some(value);
        let shown = format_value(value, self.unit.as_deref());
        let (level, verdict) = if let Some(t) = self.critical.as_ref().filter(|t| t.breached(value))
        {
            (
                Level::Critical,
                Verdict::Fail(Problem::new(
                    ErrorKind::Threshold,
                    format!("{shown} is past the critical threshold ({})", t.source),
                )),
            )
        } else if let Some(t) = self.warn.as_ref().filter(|t| t.breached(value)) {
            (
                Level::Warning,
                Verdict::Warn(Some(Problem::new(
                    ErrorKind::Threshold,
                    format!("{shown} is past the warning threshold ({})", t.source),
                ))),
            )
        } else {
            (Level::Ok, Verdict::Pass)
        };
        result.level = level;
        (result, verdict)
    }
}

/// Numbers, and strings holding a finite number (Prometheus and many JSON
/// APIs send numbers as strings).
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// The numbers of a Prometheus range's only series, oldest first; empty
/// when the range has no series or several (a trend of one of them would
/// not match the value shown).
pub fn trend_of(range: &Value) -> Vec<f64> {
    match range.as_array().map(Vec::as_slice) {
        Some([only]) => only["values"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|p| p.get(1).and_then(as_number))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// "1,234", "0.42", "99.5 %", "812 ms", "$42.10": grouped thousands, at most
/// three significant decimals, a currency sign in front.
pub fn format_value(value: f64, unit: Option<&str>) -> String {
    let number = format_number(value, unit.is_some_and(is_currency));
    match unit {
        None => number,
        Some(u) if is_currency(u) => {
            if let Some(rest) = number.strip_prefix('-') {
                format!("-{u}{rest}")
            } else {
                format!("{u}{number}")
            }
        }
        Some(u) => format!("{number} {u}"),
    }
}

/// A currency unit is written before the number.
pub fn is_currency(unit: &str) -> bool {
    matches!(unit, "$" | "€" | "£" | "¥")
}

fn format_number(value: f64, money: bool) -> String {
    let abs = value.abs();
    let decimals = if money {
        2
    } else if abs >= 100.0 || abs == abs.trunc() {
        0
    } else if abs >= 10.0 {
        1
    } else if abs >= 1.0 {
        2
    } else {
        // Three significant digits for small values: 0.0042, 0.123.
        let leading = (-abs.log10()).floor() as usize;
        (leading + 3).min(9)
    };
    let text = format!("{value:.decimals$}");
    let text = if decimals > 0 && !money {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text.as_str()),
    };
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(warn: Option<&str>, critical: Option<&str>) -> MetricSpec {
        let span = |s: &str| 0..s.len() + 2;
        MetricSpec::compile(
            ("$.value", 0..9),
            Some("ms"),
            warn.map(|w| (w, span(w))),
            critical.map(|c| (c, span(c))),
        )
        .unwrap()
    }

    fn obs(v: Value) -> Observation {
        Observation {
            value: json!({ "value": v }),
            body_is_json: true,
            ..Observation::default()
        }
    }

    #[test]
    fn above_thresholds() {
        let s = spec(Some("> 800"), Some("> 1500"));
        assert_eq!(s.evaluate(&obs(json!(412)), vec![]).0.level, Level::Ok);
        let (m, v) = s.evaluate(&obs(json!("900")), vec![]);
        assert_eq!(m.level, Level::Warning);
        assert!(
            matches!(v, Verdict::Warn(Some(w)) if w.message.contains("900 ms") && w.message.contains("> 800") && w.kind == ErrorKind::Threshold)
        );
        let (m, v) = s.evaluate(&obs(json!(1620.5)), vec![]);
        assert_eq!((m.level, m.value), (Level::Critical, Some(1620.5)));
        assert!(matches!(v, Verdict::Fail(_)));
    }

    #[test]
    fn below_thresholds() {
        let s = spec(Some("< 99.5"), Some("< 99"));
        assert_eq!(s.evaluate(&obs(json!(99.9)), vec![]).0.level, Level::Ok);
        assert_eq!(
            s.evaluate(&obs(json!(99.2)), vec![]).0.level,
            Level::Warning
        );
        assert_eq!(s.evaluate(&obs(json!(98)), vec![]).0.level, Level::Critical);
    }

    #[test]
    fn no_number_is_an_error() {
        let s = spec(None, None);
        let (m, v) = s.evaluate(&obs(Value::Null), vec![]);
        assert_eq!(m.level, Level::Unknown);
        assert!(
            matches!(v, Verdict::Error(e) if e.message.contains("no data") && e.kind == ErrorKind::NoData)
        );
        let (_, v) = s.evaluate(&obs(json!("NaN")), vec![]);
        assert!(matches!(v, Verdict::Error(e) if e.message.contains("not a number")));
    }

    #[test]
    fn bad_thresholds_point_into_the_string() {
        let e = Threshold::parse("> fast", &(10..18), "warn").unwrap_err();
        assert!(e.message.contains("warn"), "{e:?}");
        assert!(e.span.start >= 11 && e.span.end <= 18, "{e:?}");
        let e = Threshold::parse("contains 'x'", &(0..14), "critical").unwrap_err();
        assert!(e.message.contains("critical"), "{e:?}");
        assert!(Threshold::parse(">= 1e3", &(0..8), "warn").is_ok());
    }

    #[test]
    fn formats_values() {
        assert_eq!(format_value(1234.0, None), "1,234");
        assert_eq!(format_value(0.0042, Some("%")), "0.0042 %");
        assert_eq!(format_value(812.4, Some("ms")), "812 ms");
        assert_eq!(format_value(42.1, Some("$")), "$42.10");
        assert_eq!(format_value(99.53, Some("%")), "99.5 %");
        assert_eq!(format_value(-1234567.0, None), "-1,234,567");
        assert_eq!(format_value(4.56789, None), "4.57");
    }

    #[test]
    fn trend_needs_exactly_one_series() {
        let one = json!([{ "labels": {}, "values": [[1, 2.0], [2, "3"]] }]);
        assert_eq!(trend_of(&one), vec![2.0, 3.0]);
        assert!(trend_of(&json!([])).is_empty());
    }
}
