//! What metric checks put in the report: `metric: { value, unit, level,
//! thresholds, trend }` and `table: { columns, rows, total }` (computed by
//! the `metric` module).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a metric's value stands against its thresholds.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Within both thresholds.
    Ok,
    /// Past `warn`.
    Warning,
    /// Past `critical`.
    Critical,
    /// No value to compare (the check has an error).
    Unknown,
}

impl Level {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
            Level::Unknown => "unknown",
        }
    }
}

/// A check's metric in the report: `metric: { value, unit, level, thresholds }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct MetricResult {
    /// The number; null when it could not be read.
    pub value: Option<f64>,
    /// Unit as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Against the thresholds.
    pub level: Level,
    /// The thresholds as written.
    pub thresholds: Thresholds,
    /// History for a sparkline, oldest first (a Prometheus `range`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<f64>,
}

/// `warn` and `critical` as written, e.g. `"> 800"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Thresholds {
    /// Breached => warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    /// Breached => critical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical: Option<String>,
}

/// A table in the report: `table: { columns, rows, total }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TableResult {
    /// Column names in configured order.
    pub columns: Vec<String>,
    /// Cells by row then column; null where a row has no value.
    pub rows: Vec<Vec<Value>>,
    /// Rows before the limit.
    pub total: usize,
}
