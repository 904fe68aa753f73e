//! Plan step for metric checks: the `prometheus` probe and a check's
//! `metric`, `table` and `panel`.

use std::time::Duration;

use super::ProbeSpec;
use crate::config::{CheckConfig, PrometheusConfig};
use crate::metric::table::TableInput;
use crate::metric::{DEFAULT_PANEL, MetricSpec, SpecError, TableSpec};

/// Shortest `range` a trend may cover.
const MIN_RANGE: Duration = Duration::from_secs(60);
/// Longest `range`: more is a long-term report, not a sparkline.
const MAX_RANGE: Duration = Duration::from_secs(90 * 24 * 3600);

/// A check's metric card, table and panel, validated.
#[derive(Debug, Default)]
pub(super) struct Display {
    pub metric: Option<MetricSpec>,
    pub table: Option<TableSpec>,
    pub panel: Option<String>,
}

/// `prometheus = { url, query, range }`.
pub(super) fn prometheus_spec(p: &PrometheusConfig) -> Result<ProbeSpec, Vec<SpecError>> {
    let mut errors = Vec::new();
    let url = p.url.get_ref().trim();
    if !url.contains("{{") && reqwest::Url::parse(url).is_err() {
        errors.push(SpecError {
            span: p.url.span(),
            message: format!("`{url}` is not an absolute URL"),
            help: Some("give the Prometheus base URL, e.g. \"http://127.0.0.1:9090\"".into()),
        });
    }
    if p.query.get_ref().trim().is_empty() {
        errors.push(SpecError {
            span: p.query.span(),
            message: "`query` is empty".into(),
            help: Some("write PromQL, e.g. query = \"sum(rate(http_requests_total[5m]))\"".into()),
        });
    }
    let range =
        p.range
            .as_ref()
            .and_then(|r| match humantime::parse_duration(r.get_ref().trim()) {
                Ok(d) if (MIN_RANGE..=MAX_RANGE).contains(&d) => Some(d),
                Ok(_) => {
                    errors.push(SpecError {
                        span: r.span(),
                        message: format!(
                            "`range` must be between 1m and 90d, got `{}`",
                            r.get_ref()
                        ),
                        help: None,
                    });
                    None
                }
                Err(e) => {
                    errors.push(SpecError {
                        span: r.span(),
                        message: format!("invalid `range` `{}`: {e}", r.get_ref()),
                        help: Some("write a duration like \"1h\", \"30m\" or \"7d\"".into()),
                    });
                    None
                }
            });
    if errors.is_empty() {
        Ok(ProbeSpec::Prometheus {
            url: url.to_owned(),
            query: p.query.get_ref().clone(),
            range,
        })
    } else {
        Err(errors)
    }
}

/// A check's `metric`, `table` and `panel`. A metric or table without a
/// panel goes to [`DEFAULT_PANEL`].
pub(super) fn display(c: &CheckConfig) -> Result<Display, Vec<SpecError>> {
    let mut errors = Vec::new();
    let metric = c.metric.as_ref().and_then(|m| {
        let m = m.get_ref();
        fn spanned(s: &Option<toml::Spanned<String>>) -> Option<(&str, std::ops::Range<usize>)> {
            s.as_ref().map(|t| (t.get_ref().as_str(), t.span()))
        }
        MetricSpec::compile(
            (m.value.get_ref(), m.value.span()),
            m.unit.as_deref(),
            spanned(&m.warn),
            spanned(&m.critical),
        )
        .map_err(|e| errors.extend(e))
        .ok()
    });
    let table = c.table.as_ref().and_then(|t| {
        let span = t.span();
        let t = t.get_ref();
        let rows_span = t.rows.span();
        let columns: Vec<(&str, &str, std::ops::Range<usize>)> = t
            .columns
            .iter()
            .map(|(n, p)| (n.as_str(), p.get_ref().as_str(), p.span()))
            .collect();
        let sort_span = t.sort.as_ref().map(toml::Spanned::span);
        let limit_span = t.limit.as_ref().map(toml::Spanned::span);
        TableSpec::compile(TableInput {
            rows: (t.rows.get_ref(), &rows_span),
            columns: &columns,
            sort: t
                .sort
                .as_ref()
                .zip(sort_span.as_ref())
                .map(|(s, span)| (s.get_ref().as_str(), span)),
            limit: t
                .limit
                .as_ref()
                .zip(limit_span.as_ref())
                .map(|(l, span)| (*l.get_ref(), span)),
            span: &span,
        })
        .map_err(|e| errors.extend(e))
        .ok()
    });
    let panel = match &c.panel {
        Some(p) if p.get_ref().trim().is_empty() => {
            errors.push(SpecError {
                span: p.span(),
                message: "`panel` is empty".into(),
                help: Some("name the heading, e.g. panel = \"Performance\"".into()),
            });
            None
        }
        Some(p) => Some(p.get_ref().trim().to_owned()),
        None if c.metric.is_some() || c.table.is_some() => Some(DEFAULT_PANEL.to_owned()),
        None => None,
    };
    if errors.is_empty() {
        Ok(Display {
            metric,
            table,
            panel,
        })
    } else {
        Err(errors)
    }
}
