//! "Is it my code or the infrastructure?" (issue 20): a verdict per broken
//! environment from what changed and when, not from the error kind alone.
//!
//! The facts come from the report (the failing check, the timeline, the
//! last good commit, other environments, local HEAD); the verdict comes from
//! [`RULES`], a table read top to bottom: the first matching rule with an
//! `Outcome::Verdict` (or `ByKind`) sets cause and confidence, the matching
//! rules after it adjust the confidence, and every matching rule adds its
//! evidence. docs/verdict.md mirrors the table (a test keeps them together).
//! Pure: no I/O.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assess::{Broken, Cause, NextStep};
use super::timeline::{
    self, RECENT_MINUTES, Source, ci_of, ci_word, created, short, under_way, went_live,
};
use super::{CiRun, CiStatus, DeploymentEntry, EnvironmentReport, ErrorKind, Health, Report};
use crate::outcome::{Blame, same_commit};

/// How sure a verdict is.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A guess from the error kind, or signals that disagree.
    Low,
    /// One signal points there, or a running deploy may still change it.
    Medium,
    /// Independent signals agree.
    High,
}

impl Confidence {
    /// Lower-case word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    fn lower(self) -> Self {
        match self {
            Confidence::High => Confidence::Medium,
            _ => Confidence::Low,
        }
    }

    fn raise(self) -> Self {
        match self {
            Confidence::Low => Confidence::Medium,
            _ => Confidence::High,
        }
    }
}

/// One fact a verdict rests on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Evidence {
    /// One sentence, ending with its source in parentheses.
    pub text: String,
    /// Where it is known from.
    pub source: Source,
    /// Where to look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a matching rule does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sets cause and confidence, when no rule above did.
    Verdict(Cause, Confidence),
    /// Sets the cause from the error kind, with this confidence.
    ByKind(Confidence),
    /// Caps the confidence.
    AtMost(Confidence),
    /// One step less sure, when the cause is code.
    LowerCode,
    /// One step surer, when the cause is code.
    RaiseCode,
    /// Adds evidence only.
    Note,
}

/// One row of the rule table.
pub struct Rule {
    /// Its name, listed in `broken[].rules` when it matched.
    pub name: &'static str,
    /// Its condition in words (docs/verdict.md).
    pub when: &'static str,
    /// Its condition.
    pub test: fn(&Facts) -> bool,
    /// What it does.
    pub outcome: Outcome,
    /// The evidence it adds.
    pub says: fn(&Facts) -> Vec<Evidence>,
}

/// A deploy to the environment that has not finished.
pub struct Running {
    /// "deploy #814 of 0b67ce8 to staging".
    what: String,
    /// "deploy #814 of 0b67ce8 to staging is in progress".
    text: String,
    url: Option<String>,
    /// The commit it deploys.
    sha: Option<String>,
}

/// What the rules look at, gathered from the report once per broken entry.
pub struct Facts<'a> {
    env_id: &'a str,
    env: &'a EnvironmentReport,
    kind: Option<ErrorKind>,
    why: &'a str,
    /// The body names a dependency: (the word, what the body says).
    dependency: Option<(&'static str, String)>,
    /// A deployment of a new commit around the onset.
    recent: Option<&'a DeploymentEntry>,
    recent_ci: Option<(CiStatus, Option<String>)>,
    /// The newest deployment.
    last_deploy: Option<&'a DeploymentEntry>,
    running: Option<Running>,
    previous_healthy: bool,
    healthy_elsewhere: Vec<&'a str>,
    failing_elsewhere: Vec<&'a str>,
    commit: Option<&'a str>,
    head: Option<Evidence>,
    now: DateTime<Utc>,
}

fn ev(text: String, source: Source, url: Option<String>) -> Evidence {
    Evidence {
        text: format!("{text} ({})", source.label()),
        source,
        url,
    }
}

fn server_error(f: &Facts) -> bool {
    f.kind == Some(ErrorKind::HttpStatus) && f.why.contains("HTTP 5")
}

fn unreachable(f: &Facts) -> bool {
    matches!(
        f.kind,
        Some(ErrorKind::Refused | ErrorKind::Dns | ErrorKind::Tls)
    )
}

fn ci_failed(f: &Facts) -> bool {
    f.recent_ci
        .as_ref()
        .is_some_and(|(s, _)| *s == CiStatus::Failure)
}

/// The rule table, read top to bottom (see the module docs).
pub const RULES: &[Rule] = &[
    Rule {
        name: "dependency_after_deploy",
        when: "a 5xx whose body names a dependency (database, pool, upstream, timeout, …) and a deployment of a new commit around the onset",
        test: |f| server_error(f) && f.dependency.is_some() && f.recent.is_some(),
        outcome: Outcome::Verdict(Cause::Unknown, Confidence::Low),
        says: |f| [says_dependency(f), says_recent(f)].concat(),
    },
    Rule {
        name: "dependency_no_deploy",
        when: "a 5xx whose body names a dependency, no deployment around the onset",
        test: |f| server_error(f) && f.dependency.is_some() && f.recent.is_none(),
        outcome: Outcome::Verdict(Cause::Infrastructure, Confidence::Medium),
        says: |f| [says_dependency(f), says_last_deploy(f)].concat(),
    },
    Rule {
        name: "deploy_of_ci_failed_commit",
        when: "broke within 30 minutes after a deployment of a new commit whose CI failed; the commit before was healthy",
        test: |f| f.recent.is_some() && ci_failed(f) && f.previous_healthy,
        outcome: Outcome::Verdict(Cause::Code, Confidence::High),
        says: says_recent,
    },
    Rule {
        name: "deploy_of_new_commit",
        when: "broke within 30 minutes after a deployment of a new commit; the commit before was healthy",
        test: |f| f.recent.is_some() && f.previous_healthy,
        outcome: Outcome::Verdict(Cause::Code, Confidence::Medium),
        says: says_recent,
    },
    Rule {
        name: "unreachable_no_deploy",
        when: "connection refused, DNS or TLS failure with no deployment around the onset",
        test: |f| unreachable(f) && f.recent.is_none() && f.running.is_none(),
        outcome: Outcome::Verdict(Cause::Infrastructure, Confidence::High),
        says: says_last_deploy,
    },
    Rule {
        name: "unreachable_after_deploy",
        when: "connection refused, DNS or TLS failure with a deployment around the onset or under way",
        test: |f| unreachable(f),
        outcome: Outcome::Verdict(Cause::Unknown, Confidence::Medium),
        says: says_recent,
    },
    Rule {
        name: "error_kind",
        when: "otherwise: the failing check's error kind (5xx, timeout: infrastructure; an `expect` that failed: code; 401/403: config)",
        test: |_| true,
        outcome: Outcome::ByKind(Confidence::Low),
        says: says_last_deploy,
    },
    Rule {
        name: "deploy_in_progress",
        when: "a deploy to this environment is in progress or stalled: the verdict waits on it",
        test: |f| f.running.is_some(),
        outcome: Outcome::AtMost(Confidence::Medium),
        says: |f| {
            f.running
                .iter()
                .map(|r| ev(r.text.clone(), Source::Deployments, r.url.clone()))
                .collect()
        },
    },
    Rule {
        name: "same_commit_healthy_elsewhere",
        when: "another environment runs the same commit and is healthy: lowers code",
        test: |f| !f.healthy_elsewhere.is_empty(),
        outcome: Outcome::LowerCode,
        says: |f| says_elsewhere(f, &f.healthy_elsewhere, "healthy"),
    },
    Rule {
        name: "same_commit_failing_elsewhere",
        when: "another environment runs the same commit and fails too: raises code",
        test: |f| !f.failing_elsewhere.is_empty(),
        outcome: Outcome::RaiseCode,
        says: |f| says_elsewhere(f, &f.failing_elsewhere, "failing too"),
    },
    Rule {
        name: "local_head",
        when: "the report has local HEAD: whether it is deployed here and among the suspect commits",
        test: |f| f.head.is_some(),
        outcome: Outcome::Note,
        says: |f| f.head.iter().cloned().collect(),
    },
];

/// "3d ago", as the dashboard and the text say it ([`crate::units::ago`]);
/// a time after the report's (clock skew) reads "just now", not "in 1m".
fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::units::ago(at.min(now), now)
}

fn deploy_text(f: &Facts, d: &DeploymentEntry) -> String {
    let when = created(d).map(|t| ago(f.now, t)).unwrap_or_default();
    format!(
        "deployment #{} of {} to {} ({}) was created {when}",
        d.id,
        short(&d.sha),
        f.env_id,
        d.state
    )
}

fn says_recent(f: &Facts) -> Vec<Evidence> {
    let Some(d) = f.recent else {
        return says_last_deploy(f);
    };
    // A deployment still under way is said once, by `deploy_in_progress`.
    let mut out = if d.under_way() && f.running.is_some() {
        Vec::new()
    } else {
        vec![ev(
            deploy_text(f, d),
            Source::Deployments,
            d.log_url.clone(),
        )]
    };
    match &f.recent_ci {
        Some((s, url)) => out.push(ev(
            format!("CI on {} is {}", short(&d.sha), ci_word(*s)),
            Source::Ci,
            url.clone(),
        )),
        None => out.push(ev(
            format!("the report has no CI result for {}", short(&d.sha)),
            Source::Ci,
            None,
        )),
    }
    if let Some(g) = &f.env.last_good {
        out.push(ev(
            format!(
                "before it, {} ran {} while healthy",
                f.env_id,
                short(&g.sha)
            ),
            g.source,
            None,
        ));
    }
    if let Some(s) = &f.env.suspect_commits {
        let text = match &s.commits {
            Some(c) => super::suspects::sentence(s, c),
            None => format!(
                "the commits between {} and {} are unknown: {}",
                s.from,
                s.to,
                s.unknown.as_deref().unwrap_or("no comparison")
            ),
        };
        out.push(ev(text, Source::Compare, s.diff_url.clone()));
    }
    out
}

fn says_last_deploy(f: &Facts) -> Vec<Evidence> {
    match f.last_deploy {
        Some(d) => vec![ev(
            format!("the last {}", deploy_text(f, d)),
            Source::Deployments,
            d.log_url.clone(),
        )],
        None if f.env.deployments_error.is_some() => vec![ev(
            format!("the deployment history of {} could not be read", f.env_id),
            Source::Deployments,
            None,
        )],
        None => Vec::new(),
    }
}

fn says_dependency(f: &Facts) -> Vec<Evidence> {
    f.dependency
        .iter()
        .map(|(word, said)| {
            ev(
                format!(
                    "{} answers a server error whose body names a dependency ({word}): \"{said}\"",
                    f.env_id
                ),
                Source::Health,
                None,
            )
        })
        .collect()
}

fn says_elsewhere(f: &Facts, envs: &[&str], state: &str) -> Vec<Evidence> {
    let sha = f.commit.map(short).unwrap_or("the same commit");
    vec![ev(
        format!(
            "{} run(s) {sha} and {} {state}",
            envs.join(" and "),
            if envs.len() == 1 { "is" } else { "are" }
        ),
        Source::Health,
        None,
    )]
}

/// What the body of a failing answer says, when the error quotes it
/// (`…; body: {…}`): its `error`/`message`/`detail` string, else the body.
fn body_says(why: &str) -> Option<String> {
    let body = why.split_once("body: ")?.1.trim();
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["error", "message", "detail", "reason"]
                .iter()
                .find_map(|k| v.get(k).and_then(|s| s.as_str()).map(str::to_owned))
        })
        .unwrap_or_else(|| body.to_owned());
    Some(said.chars().take(200).collect())
}

const DEPENDENCIES: &[&str] = &[
    "database",
    "postgres",
    "mysql",
    "redis",
    "pool",
    "upstream",
    "timeout",
    "timed out",
    "connection",
];

fn dependency(why: &str) -> Option<(&'static str, String)> {
    let said = body_says(why)?;
    let lower = said.to_lowercase();
    DEPENDENCIES
        .iter()
        .find(|w| lower.contains(*w))
        .map(|w| (*w, said))
}

fn running(report: &Report, env_id: &str, env: &EnvironmentReport) -> Option<Running> {
    if let Some(d) = env.deployments.first().filter(|d| under_way(d)) {
        let word = if d.state == "in_progress" {
            "in progress".to_owned()
        } else {
            d.state.clone()
        };
        let what = format!("deploy #{} of {} to {env_id}", d.id, short(&d.sha));
        return Some(Running {
            text: format!("{what} is {word}"),
            what,
            url: d.log_url.clone(),
            sha: Some(d.sha.clone()),
        });
    }
    report
        .ci
        .values()
        .filter(|r| r.environment.as_deref() == Some(env_id))
        .find(|r| {
            matches!(
                r.status,
                CiStatus::InProgress | CiStatus::Queued | CiStatus::Stalled
            )
        })
        .map(|r| {
            let what = format!(
                "{} to {env_id}{}",
                r.workflow,
                r.sha
                    .as_deref()
                    .map(|s| format!(" of {s}"))
                    .unwrap_or_default()
            );
            Running {
                text: format!("{what} is {}", ci_word(r.status).replace('_', " ")),
                what,
                url: r.url.clone(),
                sha: r.sha.clone(),
            }
        })
}

/// The evidence that says most in one line (a dashboard card's verdict):
/// the first sentence past the restated error, which the card shows
/// already; the error's own when there is no other.
pub fn telling(b: &Broken) -> Option<&Evidence> {
    let restated = b
        .environment
        .as_deref()
        .map(|env| format!("{env} {}: ", b.check));
    b.evidence
        .iter()
        .find(|e| restated.as_deref().is_none_or(|r| !e.text.starts_with(r)))
        .or(b.evidence.first())
}

/// Whether the verdict on `b` already waits on workflow run `run`: its
/// "Wait for deploy #814 …" step names the deployment, so the run's own
/// generic "Wait for Deploy to finish" would say the same thing twice. The
/// same run is the one the verdict took (same page), or a run under way on
/// the commit the deployment carries that names no other environment.
pub fn waits_on(report: &Report, b: &Broken, run: &CiRun) -> bool {
    let Some(env_id) = b.environment.as_deref().filter(|_| b.confidence.is_some()) else {
        return false;
    };
    let Some(r) = report
        .environments
        .get(env_id)
        .and_then(|env| running(report, env_id, env))
    else {
        return false;
    };
    let same_page = r.url.is_some() && r.url == run.url;
    let same_commit_here = run.environment.as_deref().is_none_or(|e| e == env_id)
        && matches!(
            (r.sha.as_deref(), run.sha.as_deref()),
            (Some(a), Some(b)) if same_commit(a, b) || same_commit(b, a)
        );
    same_page || same_commit_here
}

/// The environments other than `env_id` (deployed ones, not optional) that
/// run `sha`, healthy and failing.
fn elsewhere<'a>(
    report: &'a Report,
    env_id: &str,
    sha: Option<&str>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut healthy, mut failing) = (Vec::new(), Vec::new());
    let Some(sha) = sha else {
        return (healthy, failing);
    };
    for (id, e) in &report.environments {
        let runs = e
            .sha
            .as_deref()
            .or(e.last_known.as_ref().map(|k| k.sha.as_str()));
        if id == env_id
            || e.optional
            || e.offline
            || !runs.is_some_and(|s| same_commit(s, sha) || same_commit(sha, s))
        {
            continue;
        }
        match e.status {
            Health::Healthy => healthy.push(id.as_str()),
            Health::Failing => failing.push(id.as_str()),
            _ => {}
        }
    }
    (healthy, failing)
}

fn head_evidence(report: &Report, env_id: &str, env: &EnvironmentReport) -> Option<Evidence> {
    let git = report.git.as_ref()?;
    let deployed = match git.deployed.get(env_id) {
        Some(true) => format!("is deployed to {env_id}"),
        Some(false) => format!("is not deployed to {env_id}"),
        None => format!("may or may not be deployed to {env_id} (unknown)"),
    };
    let suspect = match env
        .suspect_commits
        .as_ref()
        .and_then(|s| s.commits.as_ref())
    {
        Some(c)
            if c.iter().any(|b| {
                same_commit(&b.sha, &git.sha_full) || same_commit(&git.sha_full, &b.sha)
            }) =>
        {
            "; it is one of the suspect commits".to_owned()
        }
        Some(c) if c.is_empty() => "; no commit changed since the last good one".to_owned(),
        Some(c) if c.len() == 1 => "; it is not the suspect commit".to_owned(),
        Some(c) => format!("; it is none of the {} suspect commits", c.len()),
        None => "; whether it holds the suspect commits is unknown".to_owned(),
    };
    Some(ev(
        format!("local HEAD {} {deployed}{suspect}", git.sha),
        Source::Git,
        None,
    ))
}

fn facts<'a>(report: &'a Report, env_id: &'a str, b: &'a Broken) -> Option<Facts<'a>> {
    let env = report.environments.get(env_id)?;
    let onset = env
        .failing_since
        .as_ref()
        .filter(|s| s.precision == timeline::Precision::Observed)
        .map_or(report.timestamp, |s| s.at);
    let last_deploy = env.deployments.first();
    let good = env.last_good.as_ref();
    let recent = last_deploy.filter(|d| {
        (went_live(d) || under_way(d))
            && good.is_none_or(|g| !same_commit(&g.sha, &d.sha) && !same_commit(&d.sha, &g.sha))
            && created(d).is_some_and(|t| {
                t <= onset + Duration::minutes(1) && onset - t <= Duration::minutes(RECENT_MINUTES)
            })
    });
    let commit = env
        .sha
        .as_deref()
        .or(recent.map(|d| d.sha.as_str()))
        .or(env.last_known.as_ref().map(|k| k.sha.as_str()));
    let (healthy_elsewhere, failing_elsewhere) = elsewhere(report, env_id, commit);
    Some(Facts {
        env_id,
        env,
        kind: b.kind,
        why: &b.why,
        dependency: dependency(&b.why),
        recent,
        recent_ci: recent.and_then(|d| ci_of(report, &d.sha)),
        last_deploy,
        running: running(report, env_id, env),
        previous_healthy: recent.is_some() && good.is_some(),
        healthy_elsewhere,
        failing_elsewhere,
        commit,
        head: head_evidence(report, env_id, env),
        now: report.timestamp,
    })
}

fn by_kind(kind: Option<ErrorKind>, fallback: Cause) -> Cause {
    match kind.map(ErrorKind::blame) {
        Some(Blame::Infrastructure) => Cause::Infrastructure,
        Some(Blame::Code) => Cause::Code,
        Some(Blame::Config) => Cause::Config,
        None => fallback,
    }
}

/// Sets the verdict (cause, confidence, evidence, the rules that matched)
/// on `b`, a broken check of an environment, from the report.
pub fn judge(report: &Report, b: &mut Broken) {
    let Some(env_id) = b.environment.clone() else {
        return;
    };
    let Some(f) = facts(report, &env_id, b) else {
        return;
    };
    let mut verdict: Option<(Cause, Confidence)> = None;
    let mut evidence: Vec<Evidence> = vec![ev(
        format!(
            "{} {}: {}",
            env_id,
            b.check,
            b.why.split("; body: ").next().unwrap_or(&b.why)
        ),
        Source::Health,
        None,
    )];
    if let Some(s) = &f.env.failing_since {
        let how = match s.precision {
            timeline::Precision::Observed => "failing since",
            timeline::Precision::Deployment => "failing since the deployment created",
            timeline::Precision::AtMost => "failing, at most since",
        };
        evidence.push(ev(
            format!("{env_id} {how} {}", ago(f.now, s.at)),
            s.source,
            None,
        ));
    }
    let mut rules = Vec::new();
    for rule in RULES.iter().filter(|r| (r.test)(&f)) {
        let applies = match (rule.outcome, verdict) {
            (Outcome::Verdict(..) | Outcome::ByKind(_), Some(_)) => false,
            (Outcome::Verdict(c, k), None) => {
                verdict = Some((c, k));
                true
            }
            (Outcome::ByKind(k), None) => {
                verdict = Some((by_kind(b.kind, b.cause), k));
                true
            }
            (Outcome::AtMost(cap), Some((c, k))) => {
                verdict = Some((c, k.min(cap)));
                true
            }
            (Outcome::LowerCode, Some((Cause::Code, k))) => {
                verdict = Some((Cause::Code, k.lower()));
                true
            }
            (Outcome::RaiseCode, Some((Cause::Code, k))) => {
                verdict = Some((Cause::Code, k.raise()));
                true
            }
            (Outcome::Note, _) => true,
            _ => false,
        };
        if applies {
            rules.push(rule.name.to_owned());
            for e in (rule.says)(&f) {
                if !evidence.iter().any(|x| x.text == e.text) {
                    evidence.push(e);
                }
            }
        }
    }
    if let Some((cause, confidence)) = verdict {
        b.cause = cause;
        b.confidence = Some(confidence);
    }
    b.evidence = evidence;
    b.rules = rules;
}

/// The next steps a verdict calls for, most useful first: wait for the
/// running deploy, roll back to the last good deployment (with the `act`
/// command when a rollback action is configured), open the failing CI run,
/// check the dependency the body names. Empty when the verdict has none
/// of its own (the error kind's step stands).
pub fn steps(report: &Report, b: &Broken) -> Vec<NextStep> {
    let Some(env_id) = b.environment.as_deref() else {
        return Vec::new();
    };
    let Some(f) = facts(report, env_id, b) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(r) = &f.running {
        out.push(NextStep {
            action: format!(
                "Wait for {} to finish, then look again: the verdict waits on it",
                r.what
            ),
            reason: format!("{}, while {env_id} fails", r.text),
            url: r.url.clone(),
        });
    }
    if b.cause == Cause::Code
        && let Some(g) = f.env.last_good.as_ref().filter(|g| !g.current)
        && let Some(id) = g.deployment
    {
        let act = f
            .env
            .rollback_actions
            .first()
            .map(|a| format!(": `villa-telemetry act {a} --env {env_id} --deployment {id}`"))
            .unwrap_or_default();
        out.push(NextStep {
            action: format!(
                "Roll back {env_id} to deployment #{id} ({}){act}",
                short(&g.sha)
            ),
            reason: format!("{} last ran {} while healthy", env_id, short(&g.sha)),
            url: None,
        });
    }
    // A failed workflow run on that commit has its own step already.
    let run_failed = |sha: &str| {
        report.ci.values().any(|r| {
            r.status == CiStatus::Failure && r.sha.as_deref().is_some_and(|s| same_commit(s, sha))
        })
    };
    if let (Some(d), Some((CiStatus::Failure, url))) = (f.recent, &f.recent_ci)
        && !run_failed(&d.sha)
    {
        out.push(NextStep {
            action: format!("Open the failing CI run for {}", short(&d.sha)),
            reason: format!(
                "CI failed on {}, deployed to {env_id} {}",
                short(&d.sha),
                created(d).map(|t| ago(f.now, t)).unwrap_or_default()
            ),
            url: url.clone(),
        });
    }
    if let Some((word, said)) = f.dependency.as_ref().filter(|_| server_error(&f)) {
        out.push(NextStep {
            action: format!("Check {env_id}'s {word}: its health answer says \"{said}\""),
            reason: format!("{env_id} answers a server error naming a dependency"),
            url: f.env.url.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckStatus, assess, fixtures::fixture, timeline::annotate};

    const NEW: &str = "cbefe7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7";
    const OLD: &str = "53004a6aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn deploy(r: &Report, id: u64, sha: &str, state: &str, min_ago: i64) -> DeploymentEntry {
        let at = (r.timestamp - Duration::minutes(min_ago)).to_rfc3339();
        DeploymentEntry {
            id,
            state: state.to_owned(),
            sha: sha.to_owned(),
            git_ref: "main".to_owned(),
            creator: None,
            created_at: at.clone(),
            updated_at: at,
            environment_url: None,
            log_url: Some(format!("https://github.com/o/r/actions/runs/{id}")),
            current: None,
            superseded: false,
        }
    }

    /// All green, then `env`'s health check fails with `kind` and `error`,
    /// its deployments `history` (newest first), CI failed on NEW.
    fn world(
        env: &str,
        kind: ErrorKind,
        error: &str,
        history: &[(u64, &str, &str, i64)],
    ) -> Report {
        let mut r = fixture("all_green");
        r.environments["production"].sha = Some(OLD[..7].to_owned());
        let ci = r.ci.get_mut("ci").unwrap();
        ci.sha = Some(NEW[..7].to_owned());
        ci.status = CiStatus::Failure;
        let c = r
            .checks
            .iter_mut()
            .find(|c| c.id == "health" && c.environment.as_deref() == Some(env))
            .unwrap();
        c.status = CheckStatus::Error;
        c.error_kind = Some(kind);
        c.error = Some(error.to_owned());
        let deployments: Vec<DeploymentEntry> = history
            .iter()
            .map(|(id, sha, state, ago)| deploy(&r, *id, sha, state, *ago))
            .collect();
        let e = &mut r.environments[env];
        e.status = Health::Failing;
        e.sha = None;
        e.uptime = None;
        e.deployments = deployments;
        e.rollback_actions = vec!["rollback".to_owned()];
        r
    }

    fn verdict(mut r: Report, env: &str) -> (Broken, Vec<NextStep>) {
        annotate(&mut r);
        let a = assess(&r);
        let b = a
            .broken
            .iter()
            .find(|b| b.environment.as_deref() == Some(env) && b.check == "health")
            .cloned()
            .unwrap_or_else(|| panic!("{:#?}", a.broken));
        (b, a.next_steps)
    }

    fn says(b: &Broken, part: &str) -> bool {
        b.evidence.iter().any(|e| e.text.contains(part))
    }

    const E500: &str = "HTTP 500 Internal Server Error from http://s/api/health: the service is up but failing; body: {\"error\":\"NullPointerException in checkout\"}";
    const POOL: &str = "HTTP 500 Internal Server Error from http://s/api/health: the service is up but failing; body: {\"status\":\"error\",\"error\":\"database connection pool exhausted\"}";
    const REFUSED: &str = "connection refused by http://p/api/health (is the service running?)";

    #[test]
    fn a_deploy_of_a_ci_failed_commit_then_failing_is_code_high() {
        let r = world(
            "staging",
            ErrorKind::HttpStatus,
            E500,
            &[(12, NEW, "success", 2), (11, OLD, "inactive", 2 * 24 * 60)],
        );
        let (b, steps) = verdict(r, "staging");
        assert_eq!(
            (b.cause, b.confidence),
            (Cause::Code, Some(Confidence::High)),
            "{b:#?}"
        );
        assert_eq!(b.rules[0], "deploy_of_ci_failed_commit");
        assert!(says(&b, "deployment #12 of cbefe7c to staging"), "{b:#?}");
        assert!(says(&b, "CI on cbefe7c is failure"), "{b:#?}");
        assert!(says(&b, "ran 53004a6 while healthy"), "{b:#?}");
        let rollback = steps
            .iter()
            .find(|s| s.action.starts_with("Roll back staging"))
            .unwrap_or_else(|| panic!("{steps:#?}"));
        assert_eq!(
            rollback.action,
            "Roll back staging to deployment #11 (53004a6): `villa-telemetry act rollback --env staging --deployment 11`"
        );
    }

    #[test]
    fn refused_with_the_last_deployment_days_ago_is_infrastructure_high() {
        let r = world(
            "production",
            ErrorKind::Refused,
            REFUSED,
            &[(2, OLD, "success", 3 * 24 * 60)],
        );
        let (b, _) = verdict(r, "production");
        assert_eq!(
            (b.cause, b.confidence),
            (Cause::Infrastructure, Some(Confidence::High)),
            "{b:#?}"
        );
        // "3d ago" as the dashboard says it, never "72h0m ago" (issue 20).
        assert!(
            b.evidence.iter().any(|e| e.text
                == "the last deployment #2 of 53004a6 to production (success) was created 3d ago (GitHub deployments)"),
            "{b:#?}"
        );
    }

    #[test]
    fn a_dependency_in_the_body_without_a_deploy_is_infrastructure_medium() {
        let r = world(
            "staging",
            ErrorKind::HttpStatus,
            POOL,
            &[(12, NEW, "success", 2 * 24 * 60)],
        );
        let (b, steps) = verdict(r, "staging");
        assert_eq!(
            (b.cause, b.confidence),
            (Cause::Infrastructure, Some(Confidence::Medium)),
            "{b:#?}"
        );
        assert!(says(&b, "\"database connection pool exhausted\""), "{b:#?}");
        assert!(
            steps
                .iter()
                .any(|s| s.action.starts_with("Check staging's database")),
            "{steps:#?}"
        );
    }

    #[test]
    fn a_dependency_in_the_body_just_after_a_deploy_is_unknown_naming_both() {
        let r = world(
            "staging",
            ErrorKind::HttpStatus,
            POOL,
            &[(12, NEW, "success", 3), (11, OLD, "inactive", 2 * 24 * 60)],
        );
        let (b, _) = verdict(r, "staging");
        assert_eq!(b.cause, Cause::Unknown, "{b:#?}");
        assert!(says(&b, "database connection pool exhausted"), "{b:#?}");
        assert!(says(&b, "deployment #12 of cbefe7c to staging"), "{b:#?}");
    }

    #[test]
    fn a_deploy_in_progress_is_said_and_caps_the_confidence() {
        let r = world(
            "staging",
            ErrorKind::Refused,
            REFUSED,
            &[
                (12, NEW, "in_progress", 2),
                (11, OLD, "success", 2 * 24 * 60),
            ],
        );
        let (b, steps) = verdict(r, "staging");
        assert!(b.confidence <= Some(Confidence::Medium), "{b:#?}");
        assert!(b.rules.contains(&"deploy_in_progress".to_owned()));
        assert!(
            says(&b, "deploy #12 of cbefe7c to staging is in progress"),
            "{b:#?}"
        );
        assert!(
            steps[0]
                .action
                .starts_with("Wait for deploy #12 of cbefe7c to staging"),
            "{steps:#?}"
        );
    }

    /// The Deploy workflow run carrying deploy #12's commit is the same
    /// run the verdict waits on: one "Wait for" step, the verdict's, which
    /// names the deployment; the run still reads in the headline.
    #[test]
    fn the_running_deploy_gets_one_wait_step_the_verdicts() {
        let mut r = world(
            "staging",
            ErrorKind::Refused,
            REFUSED,
            &[
                (12, NEW, "in_progress", 2),
                (11, OLD, "success", 2 * 24 * 60),
            ],
        );
        let run = r.ci.get_mut("deploy").unwrap();
        run.status = CiStatus::InProgress;
        run.sha = Some(NEW[..7].to_owned());
        annotate(&mut r);
        let a = assess(&r);
        let waits: Vec<&str> = a
            .next_steps
            .iter()
            .map(|s| s.action.as_str())
            .filter(|s| s.starts_with("Wait for"))
            .collect();
        assert_eq!(
            waits,
            [
                "Wait for deploy #12 of cbefe7c to staging to finish, then look again: the verdict waits on it"
            ],
            "{:#?}",
            a.next_steps
        );
        assert!(a.headline.contains("Deploy is running"), "{}", a.headline);
        // A run on another commit is another run: its own step stays.
        let mut other = r.clone();
        other.ci["deploy"].sha = Some(OLD[..7].to_owned());
        let a = assess(&other);
        assert!(
            a.next_steps
                .iter()
                .any(|s| s.action == "Wait for Deploy to finish, or watch its log"),
            "{:#?}",
            a.next_steps
        );
    }

    #[test]
    fn the_same_commit_healthy_elsewhere_is_not_code_high() {
        let mut r = world(
            "staging",
            ErrorKind::HttpStatus,
            E500,
            &[(12, NEW, "success", 2), (11, OLD, "inactive", 2 * 24 * 60)],
        );
        r.environments["production"].sha = Some(NEW[..7].to_owned());
        let (b, _) = verdict(r, "staging");
        assert_ne!(
            (b.cause, b.confidence),
            (Cause::Code, Some(Confidence::High)),
            "{b:#?}"
        );
        assert!(
            b.rules
                .contains(&"same_commit_healthy_elsewhere".to_owned())
        );
        assert!(
            says(&b, "production run(s) cbefe7c and is healthy"),
            "{b:#?}"
        );
    }

    /// docs/verdict.md mirrors the rule table: every rule, in order.
    #[test]
    fn the_docs_list_every_rule_in_order() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verdict.md"))
            .unwrap();
        let mut at = 0;
        for rule in RULES {
            let found = doc[at..].find(&format!("| `{}` |", rule.name));
            at += found.unwrap_or_else(|| {
                panic!("{} missing or out of order in docs/verdict.md", rule.name)
            });
        }
    }
}
