//! The `/metrics` lines for metric checks: their values, so Prometheus keeps
//! the long history of what villa-telemetry computed, and their levels.

use std::fmt::Write;

use crate::metric::Level;
use crate::report::Report;

/// `villa_metric_value` and `villa_metric_level`, with HELP and TYPE, for
/// every metric check that has a value.
pub(super) fn metric_lines(report: &Report) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let with_value: Vec<_> = report
        .checks
        .iter()
        .filter_map(|c| Some((c, c.metric.as_ref()?, c.metric.as_ref()?.value?)))
        .collect();
    let mut out = String::new();
    out.push_str("# HELP villa_metric_value The value of each metric check, in its unit.\n");
    out.push_str("# TYPE villa_metric_value gauge\n");
    for (c, m, value) in &with_value {
        let _ = writeln!(
            out,
            "villa_metric_value{{check=\"{}\",environment=\"{}\",unit=\"{}\"}} {value}",
            esc(&c.id),
            esc(c.environment.as_deref().unwrap_or("")),
            esc(m.unit.as_deref().unwrap_or(""))
        );
    }
    out.push_str(
        "# HELP villa_metric_level Each metric check against its thresholds: 0 ok, 1 warning, 2 critical.\n",
    );
    out.push_str("# TYPE villa_metric_level gauge\n");
    for (c, m, _) in &with_value {
        let level = match m.level {
            Level::Ok => 0,
            Level::Warning => 1,
            Level::Critical => 2,
            Level::Unknown => continue,
        };
        let _ = writeln!(
            out,
            "villa_metric_level{{check=\"{}\",environment=\"{}\"}} {level}",
            esc(&c.id),
            esc(c.environment.as_deref().unwrap_or(""))
        );
    }
    out
}
