//! Values derived from a [`Report`] for templates, available as `view`.
//!
//! Only what a template cannot compute comfortably lives here; everything else
//! is read from the report itself.

use indexmap::IndexMap;
use serde::Serialize;

use super::RenderExtras;
use super::helpers::{env_label, status_label};
use crate::report::timeline::EventKind;
use crate::report::{
    CheckResult, CheckStatus, CiStatus, CommitBrief, EnvironmentReport, ErrorKind, Health,
    PullRequestBrief, Report,
};

/// Derived values, under `view` in the template context.
#[derive(Debug, Serialize)]
pub struct View<'a> {
    /// "All systems operational" when healthy, else the report summary.
    pub headline: String,
    /// The page title's words: "Healthy" when healthy, else what fails
    /// first, from the assessment ("CI Pipeline failed on cbefe7c"), so a
    /// tab never says "Failing" when no environment fails.
    pub title: String,
    /// Width of the widest "Name:" label of environments (text alignment).
    pub env_width: usize,
    /// Width of the widest version string, with its `v`.
    pub version_width: usize,
    /// Width of the widest "Workflow:" label of CI runs.
    pub ci_width: usize,
    /// Width of the widest CI status word, e.g. "IN PROGRESS".
    pub ci_status_width: usize,
    /// Per environment id, in report order: the environment's fields plus derived ones.
    pub envs: IndexMap<&'a str, EnvView<'a>>,
    /// Every comparison, with display names and a sentence.
    pub comparisons: Vec<ComparisonView<'a>>,
    /// Comparisons that are not in sync (or could not be measured).
    pub drift: Vec<ComparisonView<'a>>,
    /// Checks whose status is not `pass`, worst first (stable within a status).
    pub problems: Vec<&'a CheckResult>,
    /// Count of checks per status word, plus `total`.
    pub check_counts: IndexMap<&'static str, usize>,
    /// Links for whoever has to act: failing/running CI, drift diffs, then configured actions.
    pub quick_actions: Vec<Link>,
    /// Environments whose `status` counts (offline optional ones excluded), per status word.
    pub env_counts: IndexMap<&'static str, usize>,
    /// Metric cards and tables grouped by panel (see [`super::panels`]).
    pub panels: Vec<super::panels::PanelView<'a>>,
    /// Whether any environment has DORA's keys (its panel and section show).
    pub dora: bool,
}

/// Derived values for one environment.
#[derive(Debug, Serialize)]
pub struct EnvView<'a> {
    /// Environment id.
    pub id: &'a str,
    /// Every field of the environment's report, flattened.
    #[serde(flatten)]
    pub env: &'a EnvironmentReport,
    /// "Running" / "Warning" / "Error" / "Offline" / "Unknown".
    pub label: &'static str,
    /// `offline` when the optional environment is down, else the status word; used for CSS classes.
    pub state: &'static str,
    /// The comparison where this environment is the one that should match another.
    pub comparison: Option<ComparisonView<'a>>,
    /// Latency history from `serve`.
    pub trend: Option<TrendView>,
    /// What a person can do about `error`.
    pub advice: Option<String>,
    /// "1 of 4 check runs and statuses on cbefe7c passed; failed: build,
    /// test (+1 more)": the GitHub checks and statuses of its commit, from
    /// the same `counts` and `failing` the JSON carries, so card and JSON agree.
    pub ci_tally: Option<String>,
    /// Checks that ran for it.
    pub checks_total: usize,
    /// Of which passed.
    pub checks_passed: usize,
    /// The card's timeline strip: its newest [`STRIP_EVENTS`] deployments,
    /// observed transitions and service start, newest first.
    pub strip: Vec<StripEvent<'a>>,
    /// On a broken environment's card: the verdict on its first broken
    /// check.
    pub verdict: Option<VerdictLine<'a>>,
}

/// Events a card's timeline strip shows.
pub const STRIP_EVENTS: usize = 5;

/// One event of a card's timeline strip.
#[derive(Debug, Serialize)]
pub struct StripEvent<'a> {
    /// The event kind's JSON word (`deployment`, `started`, `became_failing`, …).
    pub kind: &'static str,
    /// "deploy #814", "started", "became failing (observed)".
    pub label: String,
    /// The commit it concerns.
    pub sha: Option<&'a str>,
    /// Its state in the source's words (a deployment's, or the health seen).
    pub state: Option<&'a str>,
    /// The CSS class of `state`: `dep-success` for a deployment's, `st-failing` for a health.
    pub state_class: Option<String>,
    /// When, RFC 3339 (the `ago` helper reads it).
    pub at: String,
    /// The deployment's log.
    pub url: Option<&'a str>,
}

/// A verdict in one line: "[code, high]" and the evidence that says most.
#[derive(Debug, Serialize)]
pub struct VerdictLine<'a> {
    /// `code`, `infrastructure`, `config` or `unknown`.
    pub cause: &'static str,
    /// `high`, `medium` or `low`.
    pub confidence: &'static str,
    /// The evidence that says most ([`crate::report::verdict::telling`]):
    /// the first sentence past the restated error the card shows already.
    pub evidence: Option<&'a str>,
}

/// A sparkline, ready for an inline SVG.
#[derive(Debug, Serialize)]
pub struct TrendView {
    /// `points` attribute of a polyline in a `0 0 120 28` viewBox.
    pub points: String,
    /// Smallest latency shown.
    pub min: u64,
    /// Largest latency shown.
    pub max: u64,
    /// Number of samples.
    pub samples: usize,
    /// "healthy since 14:02".
    pub since: Option<String>,
}

/// One comparison with names resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonView<'a> {
    /// Key in `report.comparison`, e.g. `staging_vs_production`.
    pub key: &'a str,
    /// Id of the environment that should match.
    pub environment: &'a str,
    /// Its display name.
    pub environment_name: &'a str,
    /// Id of the tracked environment.
    pub tracked: &'a str,
    /// Its display name.
    pub tracked_name: &'a str,
    /// Same commit.
    pub in_sync: bool,
    /// Not in sync, or not measurable.
    pub drifted: bool,
    /// "Production is 2 commits behind staging".
    pub sentence: String,
    /// Sha of `environment`.
    pub environment_sha: Option<&'a str>,
    /// Sha of `tracked`.
    pub tracked_sha: Option<&'a str>,
    /// Compare page.
    pub diff_url: Option<&'a str>,
    /// Commits in between.
    pub commits: &'a [CommitBrief],
    /// How many commits behind are not in `commits` (the list was cut).
    pub more_commits: Option<u64>,
    /// The pull requests those commits came from.
    pub pull_requests: &'a [PullRequestBrief],
    /// Why drift could not be measured.
    pub error: Option<&'a str>,
}

/// A labelled URL.
#[derive(Debug, Serialize)]
pub struct Link {
    /// What clicking does.
    pub label: String,
    /// Where.
    pub url: String,
}

impl<'a> View<'a> {
    /// Derive the view of `report`.
    pub fn new(report: &'a Report, extras: &RenderExtras) -> Self {
        let comparisons = comparison_views(report);
        let envs = env_views(report, extras, &comparisons);
        let mut problems: Vec<&CheckResult> = report
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Pass)
            .collect();
        // Worst first; sort is stable so report order holds within a status.
        problems.sort_by_key(|c| std::cmp::Reverse(c.status));
        let (check_counts, env_counts) = counts(report);
        let quick_actions = quick_actions(report, &comparisons);
        let width = |labels: &mut dyn Iterator<Item = usize>| labels.max().unwrap_or(0) + 1;
        View {
            headline: if report.status == Health::Healthy {
                "All systems operational".to_owned()
            } else {
                report.summary.clone()
            },
            title: title(report),
            env_width: width(&mut report.environments.values().map(|e| e.name.chars().count())),
            version_width: report
                .environments
                .values()
                .filter_map(|e| e.version.as_deref())
                .map(|v| v.chars().count() + usize::from(!v.starts_with(['v', 'V'])))
                .max()
                .unwrap_or(0),
            ci_width: width(&mut report.ci.values().map(|r| r.workflow.chars().count())),
            ci_status_width: report
                .ci
                .values()
                .map(|r| ci_word(r.status).chars().count())
                .max()
                .unwrap_or(0),
            drift: comparisons.iter().filter(|c| c.drifted).cloned().collect(),
            comparisons,
            envs,
            problems,
            check_counts,
            quick_actions,
            env_counts,
            panels: super::panels::panels(report, &extras.metric_trends),
            dora: report.environments.values().any(|e| e.dora.is_some()),
        }
    }
}

/// Each comparison with its names and sentence.
fn comparison_views<'a>(report: &'a Report) -> Vec<ComparisonView<'a>> {
    report
        .comparison
        .iter()
        .map(|(key, c)| {
            let name = |id: &'a str| report.environments.get(id).map_or(id, |e| e.name.as_str());
            let environment_name = name(&c.environment);
            let mut sentence = drift_sentence(
                environment_name,
                &c.tracked,
                c.in_sync,
                c.commits_behind,
                c.commits_ahead,
                c.error.as_deref(),
            );
            if c.last_known_at.is_some() && c.in_sync.is_some() {
                sentence.push_str(", by the commits they last ran (a side is down)");
            }
            let in_sync = c.in_sync == Some(true);
            ComparisonView {
                key,
                environment: &c.environment,
                environment_name,
                tracked: &c.tracked,
                tracked_name: name(&c.tracked),
                in_sync,
                drifted: !in_sync,
                sentence,
                environment_sha: c.environment_sha.as_deref(),
                tracked_sha: c.tracked_sha.as_deref(),
                diff_url: c.diff_url.as_deref(),
                commits: &c.commits,
                more_commits: c
                    .commits_behind
                    .map(|n| n.saturating_sub(c.commits.len() as u64))
                    .filter(|&n| c.commits_truncated && n > 0),
                pull_requests: &c.pull_requests,
                error: c.error.as_deref(),
            }
        })
        .collect()
}

/// Each environment's card: label, state, comparison, trend, advice, tallies.
fn env_views<'a>(
    report: &'a Report,
    extras: &RenderExtras,
    comparisons: &[ComparisonView<'a>],
) -> IndexMap<&'a str, EnvView<'a>> {
    report
        .environments
        .iter()
        .map(|(id, env)| {
            let checks: Vec<&CheckResult> = report
                .checks
                .iter()
                .filter(|c| c.environment.as_deref() == Some(id.as_str()))
                .collect();
            let view = EnvView {
                id,
                env,
                label: env_label(env.status.as_str(), env.offline),
                state: if env.offline {
                    "offline"
                } else {
                    env.status.as_str()
                },
                comparison: comparisons
                    .iter()
                    .find(|c| c.environment == id.as_str())
                    .cloned(),
                trend: extras.trends.get(id).and_then(trend_view),
                advice: (env.status == Health::Failing && env.error.is_some())
                    .then(|| advice(env.error_kind, env.url.as_deref())),
                // Say what is counted, on which commit, and which failed: a
                // tally beside a panel of two workflows must not read as
                // "of 4 workflows" (issue 19).
                ci_tally: env.ci.as_ref().and_then(|ci| {
                    let on = env
                        .sha
                        .as_deref()
                        .map_or("this commit", |s| s.get(..7).unwrap_or(s));
                    ci.tally(on)
                }),
                checks_total: checks.len(),
                checks_passed: checks
                    .iter()
                    .filter(|c| c.status == CheckStatus::Pass)
                    .count(),
                strip: strip(env),
                verdict: verdict_line(report, id),
            };
            (id.as_str(), view)
        })
        .collect()
}

/// The newest deployments, observed transitions and service start of
/// `env`'s timeline (CI runs are on the CI panel already).
fn strip(env: &EnvironmentReport) -> Vec<StripEvent<'_>> {
    env.timeline
        .iter()
        .filter(|e| e.kind != EventKind::Ci)
        .take(STRIP_EVENTS)
        .map(|e| {
            let (kind, label, class) = match e.kind {
                EventKind::Deployment => (
                    "deployment",
                    e.deployment
                        .map_or_else(|| "deploy".to_owned(), |id| format!("deploy #{id}")),
                    "dep",
                ),
                EventKind::Started => ("started", "started".to_owned(), "st"),
                EventKind::BecameFailing => (
                    "became_failing",
                    "began failing (observed)".to_owned(),
                    "st",
                ),
                EventKind::BecameHealthy => {
                    ("became_healthy", "recovered (observed)".to_owned(), "st")
                }
                EventKind::Ci => ("ci", "CI".to_owned(), "st"),
            };
            StripEvent {
                kind,
                label,
                sha: e.sha.as_deref(),
                state: e.state.as_deref(),
                state_class: e.state.as_deref().map(|s| format!("{class}-{s}")),
                at: e.at.to_rfc3339(),
                url: e.url.as_deref(),
            }
        })
        .collect()
}

/// The verdict on environment `id`'s first broken check that has one.
fn verdict_line<'a>(report: &'a Report, id: &str) -> Option<VerdictLine<'a>> {
    let b = report
        .assessment
        .broken
        .iter()
        .find(|b| b.environment.as_deref() == Some(id) && b.confidence.is_some())?;
    Some(VerdictLine {
        cause: b.cause.as_str(),
        confidence: b.confidence?.as_str(),
        evidence: crate::report::verdict::telling(b).map(|e| e.text.as_str()),
    })
}

/// [`View::title`]: the assessment's first clause, cut at a word.
fn title(report: &Report) -> String {
    if report.status == Health::Healthy {
        return "Healthy".to_owned();
    }
    let first = report
        .assessment
        .headline
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if first.is_empty() {
        return crate::render::helpers::status_label(report.status.as_str()).to_owned();
    }
    let mut out = String::new();
    for word in first.split(' ') {
        if out.len() + word.len() > 80 {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Checks by status and environments by health (offline apart, plus
/// `total`), as the banner counts them.
fn counts(report: &Report) -> (IndexMap<&'static str, usize>, IndexMap<&'static str, usize>) {
    let mut check_counts = IndexMap::new();
    for status in [
        CheckStatus::Pass,
        CheckStatus::Warn,
        CheckStatus::Fail,
        CheckStatus::Error,
        CheckStatus::Skipped,
    ] {
        check_counts.insert(
            status.as_str(),
            report.checks.iter().filter(|c| c.status == status).count(),
        );
    }
    check_counts.insert("total", report.checks.len());

    let mut env_counts = IndexMap::new();
    for health in [
        Health::Healthy,
        Health::Warning,
        Health::Failing,
        Health::Unknown,
    ] {
        env_counts.insert(
            health.as_str(),
            report
                .environments
                .values()
                .filter(|e| !e.offline && e.status == health)
                .count(),
        );
    }
    env_counts.insert(
        "offline",
        report.environments.values().filter(|e| e.offline).count(),
    );
    env_counts.insert("total", report.environments.len());
    (check_counts, env_counts)
}

/// Links to what needs a look: failing or running CI, drift diffs, the
/// project's links.
fn quick_actions(report: &Report, comparisons: &[ComparisonView<'_>]) -> Vec<Link> {
    let mut quick_actions = Vec::new();
    for run in report.ci.values() {
        let Some(url) = &run.url else { continue };
        let label = match run.status {
            CiStatus::Success => continue,
            CiStatus::Failure => format!("View failing {}", run.workflow),
            CiStatus::Stalled => format!("View stalled {}", run.workflow),
            CiStatus::InProgress | CiStatus::Queued => format!("Watch {}", run.workflow),
            CiStatus::Cancelled => format!("View cancelled {}", run.workflow),
            CiStatus::Unknown => format!("View {}", run.workflow),
        };
        quick_actions.push(Link {
            label,
            url: url.clone(),
        });
    }
    for c in comparisons.iter().filter(|c| c.drifted) {
        if let Some(url) = c.diff_url {
            quick_actions.push(Link {
                label: format!("Compare {} with {}", c.environment, c.tracked),
                url: url.to_owned(),
            });
        }
    }
    for (name, url) in &report.actions {
        // The drift's compare link is already listed above.
        if quick_actions.iter().any(|l| &l.url == url) {
            continue;
        }
        quick_actions.push(Link {
            label: name.clone(),
            url: url.clone(),
        });
    }
    quick_actions
}

fn ci_word(status: CiStatus) -> &'static str {
    let word = serde_json::to_value(status).ok();
    status_label(word.as_ref().and_then(|w| w.as_str()).unwrap_or("unknown"))
}

fn drift_sentence(
    env: &str,
    tracked: &str,
    in_sync: Option<bool>,
    behind: Option<u64>,
    ahead: Option<u64>,
    error: Option<&str>,
) -> String {
    let commits = |n: u64| {
        if n == 1 {
            "1 commit".to_owned()
        } else {
            format!("{n} commits")
        }
    };
    match (in_sync, behind.unwrap_or(0), ahead.unwrap_or(0), error) {
        (Some(true), ..) => format!("{env} runs the same commit as {tracked}"),
        (_, 0, 0, Some(e)) => format!("Could not compare {env} with {tracked}: {e}"),
        (_, b, 0, _) if b > 0 => format!("{env} is {} behind {tracked}", commits(b)),
        (_, 0, a, _) if a > 0 => format!("{env} is {} ahead of {tracked}", commits(a)),
        (_, b, a, _) if b > 0 => format!(
            "{env} has diverged from {tracked}: {} behind, {} ahead",
            commits(b),
            commits(a)
        ),
        _ => format!("{env} runs a different commit than {tracked}"),
    }
}

fn trend_view(trend: &super::EnvTrend) -> Option<TrendView> {
    let samples = &trend.latency_ms;
    if samples.len() < 2 {
        return trend.since.as_ref().map(|since| TrendView {
            points: String::new(),
            min: samples.first().copied().unwrap_or(0),
            max: samples.first().copied().unwrap_or(0),
            samples: samples.len(),
            since: Some(since.clone()),
        });
    }
    let (min, max) = (
        *samples.iter().min().expect("non-empty"),
        *samples.iter().max().expect("non-empty"),
    );
    let (w, h, pad) = (120.0, 28.0, 2.0);
    let span = (max - min).max(1) as f64;
    let step = w / (samples.len() - 1) as f64;
    let points = samples
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * step;
            let y = pad + (h - 2.0 * pad) * (1.0 - (v - min) as f64 / span);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    Some(TrendView {
        points,
        min,
        max,
        samples: samples.len(),
        since: trend.since.clone(),
    })
}

/// What a person can do about a failing environment, from its error kind.
fn advice(kind: Option<ErrorKind>, url: Option<&str>) -> String {
    let target = url.unwrap_or("the service");
    match kind {
        Some(ErrorKind::Refused) => format!(
            "Nothing is listening at {target}. Is the service running? Check its process or deploy logs."
        ),
        Some(ErrorKind::Connection) => format!(
            "The connection to {target} failed. Check that the service is up and reachable from here."
        ),
        Some(ErrorKind::Timeout) => {
            "The service did not answer in time. Check its load, or raise the check's timeout."
                .to_owned()
        }
        Some(ErrorKind::Dns) => {
            format!("The host name of {target} does not resolve. Check the URL and DNS.")
        }
        Some(ErrorKind::Tls) => {
            "The TLS handshake failed. Check the certificate (expiry, host name).".to_owned()
        }
        Some(ErrorKind::Unauthorized) => {
            "The request was not authorized. Check the token the check reads from the environment."
                .to_owned()
        }
        Some(ErrorKind::NotFound) => {
            format!("{target} answered 404. Check the path in the config, or whether the deploy removed it.")
        }
        Some(ErrorKind::HttpStatus) => {
            "The service answered with a server error. Check its logs.".to_owned()
        }
        Some(ErrorKind::RateLimited) => {
            "The upstream is rate limiting these requests. Wait for the reset, or set a token."
                .to_owned()
        }
        Some(ErrorKind::CiFailed) => {
            "CI failed on the commit it runs: this is the code. Open the failing run.".to_owned()
        }
        Some(ErrorKind::DeployFailed) => {
            "The latest deploy failed. Open its logs, then redeploy.".to_owned()
        }
        Some(ErrorKind::Condition | ErrorKind::Threshold) => {
            "The service answers, but not as expected. Compare the failing check below with the last deploy."
                .to_owned()
        }
        Some(ErrorKind::Config | ErrorKind::Query | ErrorKind::Redirect) => {
            "The check itself is set up wrong. Fix the config entry named below.".to_owned()
        }
        _ => "Open the failing check below for the details, then the service's logs.".to_owned(),
    }
}
