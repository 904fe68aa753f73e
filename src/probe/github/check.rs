//! Turns GitHub answers into probe observations for `github = { ... }` checks.

use crate::outcome::short_sha as short;
use crate::units::commits;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Compare, Deployment, GithubClient, WorkflowRun};
use crate::outcome::{CiStatus, Slow};
use crate::probe::{ErrorKind, Observation, Probed, Problem, Verdict};

/// What a `github` check asks for, with templates rendered.
#[derive(Debug, Clone)]
pub enum Request {
    /// Latest run of a workflow.
    Workflow {
        /// File name or id.
        workflow: String,
        /// Branch filter.
        branch: Option<String>,
        /// In progress longer than this is `stalled`.
        stalled_after: Option<Duration>,
        /// Display name of the check (GitHub's run name wins).
        name: String,
    },
    /// Latest deployment to a GitHub environment.
    Deployment {
        /// Environment name.
        environment: String,
    },
    /// Compare `base...head`.
    Compare {
        /// Base ref or sha.
        base: String,
        /// Head ref or sha.
        head: String,
    },
}

/// Observes one GitHub check. Upstream faults become [`Verdict::Error`].
pub async fn observe(client: &GithubClient, repo: &str, request: Request) -> Probed {
    let started = Instant::now();
    match request {
        Request::Workflow {
            workflow,
            branch,
            stalled_after,
            name,
        } => match client
            .latest_workflow_run(repo, &workflow, branch.as_deref(), stalled_after)
            .await
        {
            Ok(run) => workflow_probed(run, &name, started.elapsed()),
            Err(e) => Probed::error(e.kind(), e.to_string(), started.elapsed()),
        },
        Request::Deployment { environment } => {
            match client.latest_deployment(repo, &environment).await {
                Ok(d) => deployment_probed(d, &environment, started.elapsed()),
                Err(e) => Probed::error(e.kind(), e.to_string(), started.elapsed()),
            }
        }
        Request::Compare { base, head } => match client.compare(repo, &base, &head).await {
            Ok(c) => compare_probed(c, &base, &head, started.elapsed()),
            Err(e) => Probed::error(e.kind(), e.to_string(), started.elapsed()),
        },
    }
}

fn observed(value: Value, duration: Duration) -> Observation {
    Observation {
        value,
        body_is_json: true,
        duration,
        ..Observation::default()
    }
}

fn workflow_probed(run: WorkflowRun, name: &str, duration: Duration) -> Probed {
    let workflow = run.name.clone().unwrap_or_else(|| name.to_owned());
    let sha = short(&run.head_sha);
    let status_word = serde_json::to_value(run.status).unwrap_or(Value::Null);
    let mut fields = Map::new();
    fields.insert("workflow".into(), json!(workflow));
    fields.insert("status".into(), status_word);
    fields.insert("sha".into(), json!(sha));
    fields.insert("url".into(), json!(run.html_url));
    fields.insert("created_at".into(), json!(run.created_at));
    if let Some(b) = &run.head_branch {
        fields.insert("branch".into(), json!(b));
    }
    if let Some(d) = run.duration_s {
        fields.insert("duration_s".into(), json!(d));
    }
    // Slower than the workflow's recent runs, while it runs (issue 21).
    let slow = match (run.status, run.duration_s) {
        (CiStatus::InProgress | CiStatus::Queued | CiStatus::Stalled, Some(ran)) => {
            Slow::of(&run.recent_durations_s, ran)
        }
        _ => None,
    };
    if let Some(slow) = &slow {
        fields.insert("slow".into(), json!(slow));
    }
    let took = match (&slow, run.duration_s) {
        (Some(slow), _) => format!(" ({})", slow.text()),
        (None, Some(d)) => format!(" after {}", crate::units::duration(Duration::from_secs(d))),
        (None, None) => String::new(),
    };
    let (summary, verdict) = match run.status {
        CiStatus::Success => (format!("{workflow} passed on {sha}{took}"), Verdict::Pass),
        CiStatus::Failure => {
            let why = run.conclusion.as_deref().unwrap_or("failure");
            let s = format!("{workflow} failed on {sha} ({why}); logs: {}", run.html_url);
            (
                s.clone(),
                Verdict::Fail(Problem::new(ErrorKind::CiFailed, s)),
            )
        }
        CiStatus::Stalled => {
            let s = format!(
                "{workflow} STALLED on {sha}: still {}{took}",
                run.raw_status.replace('_', " ")
            );
            (
                s.clone(),
                Verdict::Fail(Problem::new(ErrorKind::CiFailed, s)),
            )
        }
        CiStatus::InProgress | CiStatus::Queued => {
            let s = format!(
                "{workflow} {} on {sha}{took}",
                run.raw_status.replace('_', " ")
            );
            (s, Verdict::Warn(None))
        }
        CiStatus::Cancelled => {
            let s = format!("{workflow} was cancelled on {sha}");
            (s, Verdict::Warn(None))
        }
        CiStatus::Unknown => {
            let s = format!("{workflow}: GitHub reports status `{}`", run.raw_status);
            (
                s.clone(),
                Verdict::Error(Problem::new(ErrorKind::BadResponse, s)),
            )
        }
    };
    Probed {
        observation: observed(run.json, duration),
        summary,
        fields,
        verdict,
        log: Vec::new(),
    }
}

fn deployment_probed(d: Deployment, environment: &str, duration: Duration) -> Probed {
    let sha = short(&d.sha);
    let state = d.state.clone().unwrap_or_else(|| "created".into());
    let mut fields = Map::new();
    // The runner reads the GitHub environment's history under this name.
    fields.insert("github_environment".into(), json!(environment));
    fields.insert("sha".into(), json!(sha));
    fields.insert("ref".into(), json!(d.r#ref));
    fields.insert("created_at".into(), json!(d.created_at));
    fields.insert("state".into(), json!(state));
    if let Some(c) = &d.creator {
        fields.insert("creator".into(), json!(c));
    }
    if let Some(u) = &d.environment_url {
        fields.insert("environment_url".into(), json!(u));
    }
    let by = d
        .creator
        .as_deref()
        .map(|c| format!(" by {c}"))
        .unwrap_or_default();
    let summary = format!("{environment}: {state} deploy of {sha} ({}){by}", d.r#ref);
    let verdict = match state.as_str() {
        "failure" | "error" => {
            Verdict::Fail(Problem::new(ErrorKind::DeployFailed, summary.clone()))
        }
        "in_progress" | "queued" | "pending" | "created" => Verdict::Warn(None),
        _ => Verdict::Pass,
    };
    Probed {
        observation: observed(d.json, duration),
        summary,
        fields,
        verdict,
        log: Vec::new(),
    }
}

fn compare_probed(c: Compare, base: &str, head: &str, duration: Duration) -> Probed {
    let mut fields = Map::new();
    fields.insert("status".into(), json!(c.status));
    fields.insert("ahead_by".into(), json!(c.ahead_by));
    fields.insert("behind_by".into(), json!(c.behind_by));
    fields.insert("html_url".into(), json!(c.html_url));
    fields.insert(
        "commits".into(),
        serde_json::to_value(&c.commits).unwrap_or(Value::Null),
    );
    let (b, h) = (short(base), short(head));
    let summary = match c.status.as_str() {
        "identical" => format!("{h} is identical to {b}"),
        "ahead" => format!("{h} is {} ahead of {b}", commits(c.ahead_by)),
        "behind" => format!("{h} is {} behind {b}", commits(c.behind_by)),
        _ => format!(
            "{h} and {b} diverged ({} ahead, {} behind)",
            c.ahead_by, c.behind_by
        ),
    };
    Probed {
        observation: observed(c.json, duration),
        summary,
        fields,
        verdict: Verdict::Pass,
        log: Vec::new(),
    }
}
