//! `/metrics`: the report in Prometheus text exposition format — check
//! statuses and durations, what each environment runs, drift, metric check
//! values and levels (so Prometheus keeps the long history of what
//! villa-telemetry computed), DORA's four keys per environment, and the
//! server's run counter.

use std::fmt::Write;

use crate::metric::Level;
use crate::report::dora::Dora;
use crate::report::{CheckStatus, Report};

/// A label value escaped as the exposition format asks: backslash, double
/// quote and line feed. The one escaping every label here goes through.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends the `# HELP` and `# TYPE` lines of one metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The report in Prometheus text exposition format; `runs` is the server's
/// run counter.
pub fn prometheus_text(report: &Report, runs: u64) -> String {
    let mut out = String::new();
    check_lines(&mut out, report);
    environment_lines(&mut out, report);
    metric_lines(&mut out, report);
    dora_lines(&mut out, report);
    family(
        &mut out,
        "villa_report_timestamp_seconds",
        "gauge",
        "When the report was made.",
    );
    let _ = writeln!(
        out,
        "villa_report_timestamp_seconds {}",
        report.timestamp.timestamp()
    );
    family(
        &mut out,
        "villa_runs_total",
        "counter",
        "Check runs made by this server.",
    );
    let _ = writeln!(out, "villa_runs_total {runs}");
    out
}

/// `villa_check_status` (one line per status word) and
/// `villa_check_duration_seconds`.
fn check_lines(out: &mut String, report: &Report) {
    family(
        out,
        "villa_check_status",
        "gauge",
        "1 for the check's current status, 0 for the others.",
    );
    for c in &report.checks {
        let env = c.environment.as_deref().unwrap_or("");
        for st in ["pass", "warn", "fail", "error", "skipped"] {
            let v = u8::from(c.status.as_str() == st);
            let _ = writeln!(
                out,
                "villa_check_status{{check=\"{}\",environment=\"{}\",status=\"{st}\"}} {v}",
                esc(&c.id),
                esc(env)
            );
        }
    }
    family(
        out,
        "villa_check_duration_seconds",
        "gauge",
        "How long the check's probe took.",
    );
    for c in &report.checks {
        let env = c.environment.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "villa_check_duration_seconds{{check=\"{}\",environment=\"{}\"}} {}",
            esc(&c.id),
            esc(env),
            c.duration_ms as f64 / 1000.0
        );
    }
}

/// `villa_environment_info`, `villa_environment_status`,
/// `villa_environment_healthy` and `villa_commits_behind`.
fn environment_lines(out: &mut String, report: &Report) {
    family(
        out,
        "villa_environment_info",
        "gauge",
        "What each environment runs (value is always 1).",
    );
    for (id, e) in &report.environments {
        let _ = writeln!(
            out,
            "villa_environment_info{{environment=\"{}\",version=\"{}\",sha=\"{}\",status=\"{}\"}} 1",
            esc(id),
            esc(e.version.as_deref().unwrap_or("")),
            esc(e.sha.as_deref().unwrap_or("")),
            e.status.as_str()
        );
    }
    family(
        out,
        "villa_environment_status",
        "gauge",
        "The environment's status as a state set: 1 for the state it is in, 0 for the others (offline: an optional environment that is down).",
    );
    for (id, e) in &report.environments {
        let now = if e.offline {
            "offline"
        } else {
            e.status.as_str()
        };
        for state in ["healthy", "warning", "failing", "unknown", "offline"] {
            let _ = writeln!(
                out,
                "villa_environment_status{{environment=\"{}\",status=\"{state}\"}} {}",
                esc(id),
                u8::from(state == now)
            );
        }
    }
    family(
        out,
        "villa_environment_healthy",
        "gauge",
        "1 when every check of the environment passes or only warns (its health checks alone: drift and CI do not count; villa_environment_status has the whole status).",
    );
    for (id, _) in &report.environments {
        let mut own = report
            .checks
            .iter()
            .filter(|c| c.environment.as_deref() == Some(id.as_str()))
            .peekable();
        let healthy = own.peek().is_some()
            && own.all(|c| matches!(c.status, CheckStatus::Pass | CheckStatus::Warn));
        let _ = writeln!(
            out,
            "villa_environment_healthy{{environment=\"{}\"}} {}",
            esc(id),
            u8::from(healthy)
        );
    }
    family(
        out,
        "villa_commits_behind",
        "gauge",
        "Commits one environment is behind the one it tracks.",
    );
    for (key, c) in &report.comparison {
        if let Some(b) = c.commits_behind {
            let _ = writeln!(
                out,
                "villa_commits_behind{{comparison=\"{}\"}} {b}",
                esc(key)
            );
        }
    }
}

/// `villa_metric_value` and `villa_metric_level` for every metric check
/// that has a value.
fn metric_lines(out: &mut String, report: &Report) {
    let with_value: Vec<_> = report
        .checks
        .iter()
        .filter_map(|c| Some((c, c.metric.as_ref()?, c.metric.as_ref()?.value?)))
        .collect();
    family(
        out,
        "villa_metric_value",
        "gauge",
        "The value of each metric check, in its unit.",
    );
    for (c, m, value) in &with_value {
        let _ = writeln!(
            out,
            "villa_metric_value{{check=\"{}\",environment=\"{}\",unit=\"{}\"}} {value}",
            esc(&c.id),
            esc(c.environment.as_deref().unwrap_or("")),
            esc(m.unit.as_deref().unwrap_or(""))
        );
    }
    family(
        out,
        "villa_metric_level",
        "gauge",
        "Each metric check against its thresholds: 0 ok, 1 warning, 2 critical.",
    );
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
}

/// A DORA gauge family: its name, its help and how to read its value.
type DoraFamily = (&'static str, &'static str, fn(&Dora) -> Option<f64>);

/// One DORA gauge family: a line per environment that has the value.
fn dora_family(
    out: &mut String,
    report: &Report,
    (name, help): (&str, &str),
    value: impl Fn(&Dora) -> Option<f64>,
) {
    family(out, name, "gauge", help);
    for (id, e) in &report.environments {
        if let Some(v) = e.dora.as_ref().and_then(&value) {
            let _ = writeln!(out, "{name}{{environment=\"{}\"}} {v}", esc(id));
        }
    }
}

/// DORA's four keys of each environment over `[github] dora_window`
/// (issue 21); a key with no sample (no failure to restore from) has no line.
fn dora_lines(out: &mut String, report: &Report) {
    let families: [DoraFamily; 9] = [
        (
            "villa_dora_span_seconds",
            "What DORA's rates are over: [github] dora_window, or when the history is incomplete the span from its oldest deployment.",
            |d| Some(d.days * 86_400.0),
        ),
        (
            "villa_dora_history_complete",
            "1 when the fetched deployment history covers the whole window, 0 when it may miss older deployments in it.",
            |d| Some(f64::from(u8::from(d.complete))),
        ),
        (
            "villa_dora_deployments",
            "Deployments that went live in the window.",
            |d| Some(d.deployment_frequency.count as f64),
        ),
        (
            "villa_dora_deployment_frequency_per_day",
            "Deployments that went live per day of the window.",
            |d| d.deployment_frequency.per_day,
        ),
        (
            "villa_dora_lead_time_median_seconds",
            "Median time from a deployed commit's committer date to its deployment going live.",
            |d| d.lead_time.median_s.map(|s| s as f64),
        ),
        (
            "villa_dora_lead_time_p90_seconds",
            "90th percentile (nearest rank) of the lead time for changes.",
            |d| d.lead_time.p90_s.map(|s| s as f64),
        ),
        (
            "villa_dora_change_failure_ratio",
            "Failed and rolled-back deployments over all finished deployments in the window.",
            |d| d.change_failure_rate.rate,
        ),
        (
            "villa_dora_time_to_restore_median_seconds",
            "Median time from a failure to the next deployment that went live and stayed.",
            |d| d.time_to_restore.median_s.map(|s| s as f64),
        ),
        (
            "villa_dora_excluded_deployments",
            "Deployments or samples left out because GitHub's times cannot be right (future, unreadable, negative).",
            |d| Some(d.excluded.len() as f64),
        ),
    ];
    if report.environments.values().all(|e| e.dora.is_none()) {
        return;
    }
    for (name, help, value) in families {
        dora_family(out, report, (name, help), value);
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(esc(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(esc("line\nbreak"), "line\\nbreak");
        assert_eq!(esc("plain"), "plain");
    }

    /// `villa_environment_healthy{environment="production"} 0` while its
    /// health check passed and it only drifted (issue 19): `healthy` is the
    /// checks alone, and the whole status is a state set.
    #[test]
    fn healthy_is_the_checks_and_status_is_a_state_set() {
        let path = format!(
            "{}/tests/fixtures/reports/warning_drift_ci_failed.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let report: crate::report::Report =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let text = super::prometheus_text(&report, 1);
        let production = &report.environments["production"];
        assert_eq!(production.status.as_str(), "warning");
        assert!(
            report
                .checks
                .iter()
                .filter(|c| c.environment.as_deref() == Some("production"))
                .all(|c| c.status == crate::report::CheckStatus::Pass)
        );
        assert!(
            text.contains("villa_environment_healthy{environment=\"production\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "villa_environment_status{environment=\"production\",status=\"warning\"} 1"
            )
        );
        assert!(
            text.contains(
                "villa_environment_status{environment=\"production\",status=\"healthy\"} 0"
            )
        );
        let states = text
            .lines()
            .filter(|l| l.starts_with("villa_environment_status{environment=\"production\""))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            states.iter().filter(|v| **v == "1").count(),
            1,
            "{states:?}"
        );
    }
}
