//! Metric panels for templates (`view.panels`): the checks with a `metric`,
//! `table` or `panel`, grouped by panel, ready to show as cards, tables and
//! aligned text rows.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::metric::{Level, format_value, is_currency};
use crate::report::{CheckResult, CheckStatus, Report};

/// Width and height of a card's sparkline viewBox.
const SPARK_W: f64 = 160.0;
const SPARK_H: f64 = 36.0;

/// One heading with its metric cards and tables, in report order.
#[derive(Debug, Serialize)]
pub struct PanelView<'a> {
    /// Heading, e.g. "Performance".
    pub name: &'a str,
    /// Lower-case, dash-separated name for ids and test hooks.
    pub slug: String,
    /// Metric (or status) cards.
    pub cards: Vec<CardView<'a>>,
    /// Top-N tables.
    pub tables: Vec<TableView<'a>>,
    /// Widest card label, for text alignment.
    pub label_width: usize,
    /// Widest card value with its unit, for text alignment.
    pub value_width: usize,
}

/// One metric card.
#[derive(Debug, Serialize)]
pub struct CardView<'a> {
    /// `ID` or `ID-ENV`, for test hooks.
    pub key: String,
    /// Check name.
    pub name: &'a str,
    /// Environment id, for per-environment checks.
    pub environment: Option<&'a str>,
    /// "Name" or "Name [env]", for text rows.
    pub label: String,
    /// The number without its unit ("1,234"), empty when there is none.
    pub value: String,
    /// Currency sign in front of the number.
    pub prefix: Option<&'a str>,
    /// Unit after the number.
    pub suffix: Option<&'a str>,
    /// Number with its unit ("812 ms", "$42.10"), or the check status word.
    pub display: String,
    /// ok | warning | critical | unknown.
    pub level: &'static str,
    /// CSS state: healthy | warning | failing | unknown.
    pub state: &'static str,
    /// ✓ ⚠ ✗ ○.
    pub icon: &'static str,
    /// "warn > 800 · critical > 1500".
    pub thresholds: String,
    /// Why there is no value, or which threshold is breached.
    pub error: Option<&'a str>,
    /// History, when there is some.
    pub spark: Option<Spark>,
}

/// A sparkline in a `0 0 160 36` viewBox.
#[derive(Debug, Serialize)]
pub struct Spark {
    /// `points` of the line.
    pub points: String,
    /// `points` of the filled area under it.
    pub area: String,
    /// Smallest value, formatted.
    pub min: String,
    /// Largest value, formatted.
    pub max: String,
    /// Number of samples.
    pub samples: usize,
}

/// One top-N table.
#[derive(Debug, Serialize)]
pub struct TableView<'a> {
    /// `ID` or `ID-ENV`, for test hooks.
    pub key: String,
    /// Check name.
    pub name: &'a str,
    /// "Name" or "Name [env]".
    pub label: String,
    /// Column names.
    pub columns: &'a [String],
    /// True for columns whose values are all numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Cells formatted for display; "—" where a row has no value.
    pub rows: Vec<Vec<String>>,
    /// Rows before the limit.
    pub total: usize,
    /// Header and rows as aligned text lines.
    pub text_lines: Vec<String>,
    /// Markdown delimiter row, e.g. `|---|---:|`.
    pub md_align: String,
    /// Why there is no table.
    pub error: Option<&'a str>,
    /// CSS state of the check.
    pub state: &'static str,
}

/// The panels of `report` in config order, their cards and tables in the
/// config order of their checks (each check's instances in report order).
/// A check naming a panel that `report.panels` lacks (a report built
/// elsewhere) comes after, in report order.
pub fn panels<'a>(report: &'a Report, history: &IndexMap<String, Vec<f64>>) -> Vec<PanelView<'a>> {
    let mut position: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for ids in report.panels.values() {
        for id in ids {
            let next = position.len();
            position.entry(id.as_str()).or_insert(next);
        }
    }
    let mut ordered: Vec<(usize, &'a CheckResult)> = report
        .checks
        .iter()
        .filter(|c| c.panel.is_some())
        .map(|c| {
            (
                position.get(c.id.as_str()).copied().unwrap_or(usize::MAX),
                c,
            )
        })
        .collect();
    // Stable: instances of one check keep their report (environment) order.
    ordered.sort_by_key(|(p, _)| *p);
    let mut out: IndexMap<&'a str, PanelView<'a>> = IndexMap::new();
    for (_, check) in ordered {
        let Some(name) = check.panel.as_deref() else {
            continue;
        };
        let panel = out.entry(name).or_insert_with(|| PanelView {
            name,
            slug: slug(name),
            cards: Vec::new(),
            tables: Vec::new(),
            label_width: 0,
            value_width: 0,
        });
        if check.table.is_some() {
            panel.tables.push(table_view(check));
        }
        if check.metric.is_some() || check.table.is_none() {
            let trend = check
                .metric
                .as_ref()
                .map(|m| m.trend.as_slice())
                .filter(|t| !t.is_empty())
                .or_else(|| history.get(&key(check)).map(Vec::as_slice));
            panel.cards.push(card_view(check, trend.unwrap_or(&[])));
        }
    }
    let mut panels: Vec<PanelView<'a>> = out.into_values().collect();
    for p in &mut panels {
        p.label_width = p
            .cards
            .iter()
            .map(|c| c.label.chars().count())
            .max()
            .unwrap_or(0);
        p.value_width = p
            .cards
            .iter()
            .map(|c| c.display.chars().count())
            .max()
            .unwrap_or(0);
    }
    panels
}

/// Each metric check's values over `reports` (oldest first), keyed like
/// [`key`]; only checks of the newest report are kept. One pass per report.
pub fn history_trends<'a>(
    reports: impl DoubleEndedIterator<Item = &'a Report>,
) -> IndexMap<String, Vec<f64>> {
    let mut reports = reports.rev();
    let Some(newest) = reports.next() else {
        return IndexMap::new();
    };
    let mut out: IndexMap<String, Vec<f64>> = newest
        .checks
        .iter()
        .filter_map(|c| Some((key(c), vec![c.metric.as_ref()?.value?])))
        .collect();
    for report in reports {
        for c in &report.checks {
            if let Some(v) = c.metric.as_ref().and_then(|m| m.value)
                && let Some(series) = out.get_mut(&key(c))
            {
                series.push(v);
            }
        }
    }
    for series in out.values_mut() {
        series.reverse();
    }
    out
}

/// `ID` or `ID-ENV`: how serve's history and test hooks name a check instance.
pub fn key(check: &CheckResult) -> String {
    match &check.environment {
        Some(env) => format!("{}-{env}", check.id),
        None => check.id.clone(),
    }
}

fn label(check: &CheckResult) -> String {
    match &check.environment {
        Some(env) => format!("{} [{env}]", check.name),
        None => check.name.clone(),
    }
}

fn state_of(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "healthy",
        CheckStatus::Warn => "warning",
        CheckStatus::Fail | CheckStatus::Error => "failing",
        CheckStatus::Skipped => "unknown",
    }
}

fn card_view<'a>(check: &'a CheckResult, trend: &[f64]) -> CardView<'a> {
    let state = state_of(check.status);
    let icon = match check.status {
        CheckStatus::Pass => "✓",
        CheckStatus::Warn => "⚠",
        CheckStatus::Fail | CheckStatus::Error => "✗",
        CheckStatus::Skipped => "○",
    };
    let (value, display, prefix, suffix, level, thresholds) = match &check.metric {
        Some(m) => {
            let unit = m.unit.as_deref();
            let (value, display) = match m.value {
                Some(v) => (format_value(v, None), format_value(v, unit)),
                None => (String::new(), "—".to_owned()),
            };
            let money = unit.filter(|u| is_currency(u));
            let thresholds = [
                m.thresholds.warn.as_ref().map(|t| format!("warn {t}")),
                m.thresholds
                    .critical
                    .as_ref()
                    .map(|t| format!("critical {t}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            (
                value,
                display,
                money,
                unit.filter(|u| !is_currency(u)),
                m.level.as_str(),
                thresholds,
            )
        }
        // A panel check without a metric shows its status.
        None => {
            let word = crate::render::helpers::status_label(check.status.as_str()).to_owned();
            (
                word.clone(),
                word,
                None,
                None,
                level_of(check.status).as_str(),
                String::new(),
            )
        }
    };
    CardView {
        key: key(check),
        name: &check.name,
        environment: check.environment.as_deref(),
        label: label(check),
        value,
        prefix,
        suffix,
        display,
        level,
        state,
        icon,
        thresholds,
        error: check.error.as_deref(),
        spark: spark(trend, check.metric.as_ref().and_then(|m| m.unit.as_deref())),
    }
}

fn level_of(status: CheckStatus) -> Level {
    match status {
        CheckStatus::Pass => Level::Ok,
        CheckStatus::Warn => Level::Warning,
        CheckStatus::Fail => Level::Critical,
        CheckStatus::Error | CheckStatus::Skipped => Level::Unknown,
    }
}

fn spark(values: &[f64], unit: Option<&str>) -> Option<Spark> {
    if values.len() < 2 {
        return None;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if max > min { max - min } else { 1.0 };
    let pad = 3.0;
    let step = SPARK_W / (values.len() - 1) as f64;
    let coords: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * step;
            let y = pad + (SPARK_H - 2.0 * pad) * (1.0 - (v - min) / span);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let points = coords.join(" ");
    Some(Spark {
        area: format!("0,{SPARK_H} {points} {SPARK_W},{SPARK_H}"),
        points,
        min: format_value(min, unit),
        max: format_value(max, unit),
        samples: values.len(),
    })
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), |f| format_value(f, None)),
        other => other.to_string(),
    }
}

fn table_view(check: &CheckResult) -> TableView<'_> {
    static NONE: [String; 0] = [];
    let (columns, rows, total) = match &check.table {
        Some(t) => (t.columns.as_slice(), t.rows.as_slice(), t.total),
        None => (&NONE[..], &[][..], 0),
    };
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| {
            rows.iter().any(|r| !r[i].is_null())
                && rows
                    .iter()
                    .all(|r| r[i].is_null() || crate::metric::as_number(&r[i]).is_some())
        })
        .collect();
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |texts: &[String]| {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let fill = " ".repeat(widths[i].saturating_sub(t.chars().count()));
                if numeric[i] {
                    format!("{fill}{t}")
                } else {
                    format!("{t}{fill}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut text_lines = vec![line(columns)];
    text_lines.extend(cells.iter().map(|r| line(r)));
    let md_align = format!(
        "|{}",
        numeric
            .iter()
            .map(|n| if *n { "---:|" } else { "---|" })
            .collect::<String>()
    );
    TableView {
        key: key(check),
        name: &check.name,
        label: label(check),
        columns,
        numeric,
        rows: cells,
        total,
        text_lines,
        md_align,
        error: check.error.as_deref(),
        state: state_of(check.status),
    }
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}
