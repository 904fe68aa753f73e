//! Top-N tables: rows read from a check's observation, one JSONPath per
//! column (relative to the row), sorted by a column and cut to a limit.

use std::cmp::Ordering;
use std::ops::Range;

use serde_json::Value;

use super::{SpecError, TableResult, as_number};
use crate::condition::{CompiledPath, compile_path};
use crate::outcome::Observation;

/// Rows shown when `limit` is not set.
pub const DEFAULT_LIMIT: usize = 10;
/// Most rows a table may show, so a large answer keeps the page light.
pub const MAX_LIMIT: usize = 100;

/// `table = { rows, columns, sort, limit }` validated.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The rows: a path to an array (`$.series`) or to each row (`$.series[*]`).
    pub rows: CompiledPath,
    /// Column name and its path inside a row (`$` is the row).
    pub columns: Vec<(String, CompiledPath)>,
    /// Column index and descending (`"-cost"`).
    pub sort: Option<(usize, bool)>,
    /// Rows kept after sorting.
    pub limit: usize,
}

/// The config as written, with spans: what [`TableSpec::compile`] reads.
#[derive(Debug, Clone, Copy)]
pub struct TableInput<'a> {
    /// `rows` and its span.
    pub rows: (&'a str, &'a Range<usize>),
    /// Column name, path and the path's span.
    pub columns: &'a [(&'a str, &'a str, Range<usize>)],
    /// `sort` and its span.
    pub sort: Option<(&'a str, &'a Range<usize>)>,
    /// `limit` and its span.
    pub limit: Option<(usize, &'a Range<usize>)>,
    /// The whole table's span, for "needs columns".
    pub span: &'a Range<usize>,
}

impl TableSpec {
    /// Validates the table config.
    pub fn compile(input: TableInput<'_>) -> Result<TableSpec, Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut path = |text: &str, span: &Range<usize>, what: String| {
            compile_path(text)
                .map_err(|e| {
                    errors.push(SpecError::inside(
                        span,
                        e.offset,
                        e.len,
                        format!("invalid JSONPath for {what}: {}", e.message),
                        e.help,
                    ));
                })
                .ok()
        };
        let rows = path(input.rows.0, input.rows.1, "the table rows".into());
        let columns: Vec<(String, Option<CompiledPath>)> = input
            .columns
            .iter()
            .map(|(name, text, span)| {
                (
                    (*name).to_owned(),
                    path(text, span, format!("column `{name}`")),
                )
            })
            .collect();
        if input.columns.is_empty() {
            errors.push(SpecError {
                span: input.span.clone(),
                message: "a table needs at least one column".into(),
                help: Some(
                    "e.g. columns = { model = \"$.labels.model\", cost = \"$.value\" }".into(),
                ),
            });
        }
        let sort = input.sort.and_then(|(text, span)| {
            let t = text.trim();
            let (name, descending) = match t.strip_prefix('-') {
                Some(n) => (n.trim(), true),
                None => (t.strip_prefix('+').unwrap_or(t).trim(), false),
            };
            match columns.iter().position(|(c, _)| c == name) {
                Some(i) => Some((i, descending)),
                None => {
                    let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
                    let help = match crate::error::did_you_mean(name, names.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!(
                            "sort by a column: {} (\"-name\" sorts descending)",
                            names.join(", ")
                        ),
                    };
                    errors.push(SpecError::inside(
                        span,
                        0,
                        text.len(),
                        format!("`sort` names unknown column `{name}`"),
                        Some(help),
                    ));
                    None
                }
            }
        });
        let limit = match input.limit {
            None => DEFAULT_LIMIT,
            Some((n, span)) if n == 0 || n > MAX_LIMIT => {
                errors.push(SpecError {
                    span: span.clone(),
                    message: format!("`limit` must be between 1 and {MAX_LIMIT}, got {n}"),
                    help: None,
                });
                DEFAULT_LIMIT
            }
            Some((n, _)) => n,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TableSpec {
            rows: rows.expect("no errors"),
            columns: columns
                .into_iter()
                .map(|(n, p)| (n, p.expect("no errors")))
                .collect(),
            sort,
            limit,
        })
    }

    /// Builds the table from `obs`, or says why it cannot.
    pub fn evaluate(&self, obs: &Observation) -> Result<TableResult, String> {
        let found = self.rows.try_query(&obs.value)?;
        let rows: Vec<&Value> = match found.as_slice() {
            [] => return Err(format!("no table rows at {}", self.rows.text())),
            [Value::Array(items)] => items.iter().collect(),
            [Value::Null] => Vec::new(),
            many => many.to_vec(),
        };
        let mut cells: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .map(|(_, p)| p.query(row).first().map_or(Value::Null, |v| (*v).clone()))
                    .collect()
            })
            .collect();
        if let Some((col, descending)) = self.sort {
            cells.sort_by(|a, b| {
                let ord = compare(&a[col], &b[col]);
                // Missing values go last either way.
                match (a[col].is_null(), b[col].is_null()) {
                    (false, false) if descending => ord.reverse(),
                    _ => ord,
                }
            });
        }
        let total = cells.len();
        cells.truncate(self.limit);
        Ok(TableResult {
            columns: self.columns.iter().map(|(n, _)| n.clone()).collect(),
            rows: cells,
            total,
        })
    }
}

/// Numbers (and numeric strings) by value, then text; nulls last.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => text(a).cmp(&text(b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(sort: Option<&str>, limit: Option<usize>) -> TableSpec {
        let span = 0..10;
        let columns = [
            ("model", "$.labels.model", 0..10),
            ("cost", "$.value", 0..10),
        ];
        TableSpec::compile(TableInput {
            rows: ("$.series", &span),
            columns: &columns,
            sort: sort.map(|s| (s, &span)),
            limit: limit.map(|l| (l, &span)),
            span: &span,
        })
        .unwrap()
    }

    fn series() -> Observation {
        Observation {
            value: json!({ "series": [
                { "labels": { "model": "haiku" }, "value": 0.5 },
                { "labels": { "model": "opus" }, "value": 12.0 },
                { "labels": {}, "value": "3" },
                { "labels": { "model": "sonnet" }, "value": null },
            ]}),
            body_is_json: true,
            ..Observation::default()
        }
    }

    #[test]
    fn top_n_descending_with_missing_values_last() {
        let t = spec(Some("-cost"), Some(2)).evaluate(&series()).unwrap();
        assert_eq!(t.columns, ["model", "cost"]);
        assert_eq!(
            t.rows,
            vec![
                vec![json!("opus"), json!(12.0)],
                vec![Value::Null, json!("3")]
            ]
        );
        assert_eq!(t.total, 4);
        let all = spec(Some("cost"), None).evaluate(&series()).unwrap();
        assert_eq!(all.rows[0][1], json!(0.5));
        assert_eq!(all.rows[3][1], Value::Null);
    }

    #[test]
    fn unknown_sort_column_suggests_one() {
        let span = 0..10;
        let columns = [("cost", "$.value", 0..10)];
        let e = TableSpec::compile(TableInput {
            rows: ("$.series", &span),
            columns: &columns,
            sort: Some(("-costs", &span)),
            limit: None,
            span: &span,
        })
        .unwrap_err();
        assert_eq!(e[0].help.as_deref(), Some("did you mean `cost`?"));
    }

    #[test]
    fn missing_rows_is_an_error() {
        let obs = Observation {
            value: json!({}),
            body_is_json: true,
            ..Observation::default()
        };
        assert!(spec(None, None).evaluate(&obs).is_err());
    }
}
