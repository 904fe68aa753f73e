//! From check results to the report: environment facts, drift, CI, git,
//! links, summary.

use std::time::Instant;

use chrono::Utc;
use handlebars::Handlebars;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::{
    CheckResult, CheckStatus, CiRun, CiStatus, Comparison, EnvironmentReport, GitInfo, Health,
    Report, SCHEMA_VERSION,
};
use crate::plan::{FACTS, GithubKind, Plan, ProbeSpec};
use crate::probe::git;
use crate::probe::github::{Compare, GithubClient, GithubError};
use crate::runner::{NOT_FOUND_TTL, Services};

/// Assembles the report of one run. Async because drift is counted with
/// git or GitHub.
pub async fn build(
    plan: &Plan,
    results: Vec<CheckResult>,
    services: &Services,
    duration_ms: u64,
) -> Report {
    let mut environments: IndexMap<String, EnvironmentReport> = IndexMap::new();
    for (ei, env) in plan.environments.iter().enumerate() {
        if !plan.shows_env(&env.id) {
            continue;
        }
        let mine: Vec<(usize, &CheckResult)> = results
            .iter()
            .enumerate()
            .filter(|(i, _)| plan.jobs[*i].env == Some(ei))
            .collect();
        let fact = |name: &str| -> Option<String> {
            mine.iter()
                .filter(|(i, _)| plan.check_of(&plan.jobs[*i]).extracts(name))
                .find_map(|(_, r)| r.fields.get(name).and_then(value_text))
        };
        let latency_ms = mine
            .iter()
            .find(|(i, r)| {
                matches!(plan.check_of(&plan.jobs[*i]).probe, ProbeSpec::Http { .. })
                    && r.status != CheckStatus::Error
            })
            .map(|(_, r)| r.duration_ms);
        let considered: Vec<&CheckResult> = mine
            .iter()
            .map(|(_, r)| *r)
            .filter(|r| r.status != CheckStatus::Skipped)
            .collect();
        let offline = env.optional
            && !considered.is_empty()
            && considered.iter().all(|r| r.status == CheckStatus::Error);
        let worst = considered.iter().map(|r| r.status).max();
        let status = if offline {
            Health::Unknown
        } else {
            match worst {
                None | Some(CheckStatus::Skipped) => Health::Unknown,
                Some(CheckStatus::Pass) => Health::Healthy,
                Some(CheckStatus::Warn) => Health::Warning,
                Some(CheckStatus::Fail | CheckStatus::Error) => Health::Failing,
            }
        };
        let first_with = |s: &[CheckStatus]| {
            considered.iter().find(|r| s.contains(&r.status)).map(|r| {
                format!(
                    "{}: {}",
                    r.name,
                    r.error.clone().unwrap_or_else(|| r.summary.clone())
                )
            })
        };
        environments.insert(
            env.id.clone(),
            EnvironmentReport {
                name: env.name.clone(),
                status,
                url: env.url.clone(),
                optional: env.optional,
                offline,
                version: fact("version"),
                sha: fact("sha"),
                uptime: fact("uptime"),
                deployed_at: fact("deployed_at"),
                latency_ms,
                warning: if status == Health::Warning {
                    first_with(&[CheckStatus::Warn])
                } else {
                    None
                },
                error: if status == Health::Failing || offline {
                    first_with(&[CheckStatus::Fail, CheckStatus::Error])
                } else {
                    None
                },
                checks: mine.iter().map(|(_, r)| r.id.clone()).collect(),
                ci: None,
            },
        );
    }

    // CI runs and the local repository.
    let mut ci = IndexMap::new();
    let mut git_info: Option<GitInfo> = None;
    let mut git_dir = None;
    for (i, r) in results.iter().enumerate() {
        let check = plan.check_of(&plan.jobs[i]);
        match &check.probe {
            ProbeSpec::Github {
                kind: GithubKind::Workflow { .. },
                ..
            } => {
                ci.insert(r.id.clone(), ci_run(r));
            }
            ProbeSpec::Git { path } if git_info.is_none() && r.status != CheckStatus::Error => {
                git_info = Some(GitInfo {
                    branch: r.fields.get("branch").and_then(value_text),
                    sha: r.fields.get("sha").and_then(value_text).unwrap_or_default(),
                    sha_full: r
                        .fields
                        .get("sha_full")
                        .and_then(value_text)
                        .unwrap_or_default(),
                    message: r
                        .fields
                        .get("message")
                        .and_then(value_text)
                        .unwrap_or_default(),
                    uncommitted_changes: r
                        .fields
                        .get("uncommitted_changes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    upstream: r.fields.get("upstream").and_then(value_text),
                    ahead: r.fields.get("ahead").and_then(Value::as_u64),
                    behind: r.fields.get("behind").and_then(Value::as_u64),
                    deployed: IndexMap::new(),
                });
                git_dir = Some(path.clone());
            }
            _ => {}
        }
    }

    // Drift between each environment and the one it tracks.
    let mut comparison = IndexMap::new();
    for env in &plan.environments {
        let Some(tracked) = &env.tracks else { continue };
        if !plan.shows_env(&env.id) || !plan.shows_env(tracked) {
            continue;
        }
        let mine = environments[&env.id].sha.clone();
        let theirs = environments[tracked].sha.clone();
        let mut c = Comparison {
            tracked: tracked.clone(),
            environment: env.id.clone(),
            in_sync: None,
            commits_behind: None,
            commits_ahead: None,
            status: None,
            environment_sha: mine.clone(),
            tracked_sha: theirs.clone(),
            diff_url: None,
            commits: Vec::new(),
            source: None,
            error: None,
        };
        match (&mine, &theirs) {
            (Some(a), Some(b)) => {
                let same = same_commit(a, b);
                c.in_sync = Some(same);
                if same {
                    c.status = Some("identical".into());
                    c.commits_behind = Some(0);
                    c.commits_ahead = Some(0);
                } else {
                    if let Some(repo) = &plan.project.repo {
                        c.diff_url = Some(format!("https://github.com/{repo}/compare/{a}...{b}"));
                    }
                    let mut github_error = None;
                    if let (Some(gh), Some(repo)) = (&services.github, &plan.project.repo) {
                        // base = the environment, head = what it tracks: GitHub's
                        // ahead_by is then how far the environment is behind.
                        match compare_remembering_404(services, gh, repo, a, b).await {
                            Ok(cmp) => {
                                c.commits_behind = Some(cmp.ahead_by);
                                c.commits_ahead = Some(cmp.behind_by);
                                c.status = Some(cmp.status.clone());
                                c.diff_url = Some(cmp.html_url.clone());
                                c.commits = cmp.commits.clone();
                                c.source = Some("github".into());
                            }
                            Err(e) => github_error = Some(e.to_string()),
                        }
                    }
                    if c.source.is_some() {
                        // GitHub answered.
                    } else if let Some(dir) = &git_dir {
                        match git::count_between(dir, a, b).await {
                            Ok((behind, ahead)) => {
                                c.commits_behind = Some(behind);
                                c.commits_ahead = Some(ahead);
                                c.status = Some(tracked_side_status(behind, ahead).into());
                                c.source = Some("git".into());
                            }
                            Err(e) => c.error = Some(join_errors(github_error.take(), e)),
                        }
                    } else if let Some(e) = github_error {
                        c.error = Some(e);
                    }
                }
            }
            _ => {
                let missing = if mine.is_none() { &env.id } else { tracked };
                c.error = Some(
                    if environments[missing].status == Health::Failing
                        || environments[missing].offline
                    {
                        format!("cannot compare: {missing} is down, so its sha is unknown")
                    } else {
                        format!(
                            "{missing} reports no sha; add `extract = {{ sha = \"$.commit\" }}` to one of its checks"
                        )
                    },
                );
            }
        }
        if c.in_sync == Some(false) {
            let text = drift_text(&c);
            let e = environments.get_mut(&env.id).expect("shown");
            if e.status == Health::Healthy {
                e.status = Health::Warning;
            }
            if e.warning.is_none() {
                e.warning = Some(text);
            }
        }
        // GitHub's words reach the report here, outside any check result.
        for text in c.error.iter_mut().chain(c.diff_url.iter_mut()).chain(
            c.commits
                .iter_mut()
                .flat_map(|m| std::iter::once(&mut m.message).chain(m.author.iter_mut())),
        ) {
            services.redactor.redact_string(text);
        }
        comparison.insert(format!("{tracked}_vs_{}", env.id), c);
    }

    // Is local HEAD in what each environment runs?
    if let (Some(info), Some(dir)) = (&mut git_info, &git_dir)
        && !info.sha_full.is_empty()
    {
        for (id, e) in &environments {
            if let Some(sha) = &e.sha
                && let Ok(contained) = git::contains(dir, sha, &info.sha_full).await
            {
                info.deployed.insert(id.clone(), contained);
            }
        }
    }

    let mut github_info = None;
    if let Some(gh) = &services.github {
        if let Some(repo) = &plan.project.repo {
            let shas: Vec<(String, String)> = environments
                .iter()
                .filter_map(|(id, e)| e.sha.clone().map(|s| (id.clone(), s)))
                .collect();
            let verdicts =
                futures::future::join_all(shas.iter().map(|(_, sha)| gh.commit_ci(repo, sha)))
                    .await;
            for ((id, _), verdict) in shas.iter().zip(verdicts) {
                if let Ok(ci) = verdict {
                    environments.get_mut(id).expect("listed").ci = Some(ci);
                }
            }
            // Local HEAD in an environment whose sha git does not have: ask GitHub.
            if let Some(info) = &mut git_info
                && !info.sha_full.is_empty()
            {
                let missing: Vec<(String, String)> = shas
                    .iter()
                    .filter(|(id, _)| !info.deployed.contains_key(id))
                    .cloned()
                    .collect();
                let answers = futures::future::join_all(missing.iter().map(|(_, sha)| {
                    compare_remembering_404(services, gh, repo, &info.sha_full, sha)
                }))
                .await;
                for ((id, _), answer) in missing.iter().zip(answers) {
                    if let Ok(cmp) = answer {
                        info.deployed.insert(
                            id.clone(),
                            matches!(cmp.status.as_str(), "identical" | "ahead"),
                        );
                    }
                }
            }
        }
        let mut info = gh.stats();
        let mut counted = services.github_counted.lock().expect("not poisoned");
        let (requests, not_modified) = (info.requests, info.not_modified);
        info.requests -= counted.0.min(requests);
        info.not_modified -= counted.1.min(not_modified);
        *counted = (requests, not_modified);
        github_info = Some(info);
    }

    let actions = links(plan, &environments, &comparison);
    let global: Vec<&CheckResult> = results.iter().filter(|r| r.environment.is_none()).collect();
    let status = overall(&environments, &global);
    let summary = summarize(&environments, &global);
    let checks = results;
    Report {
        schema_version: SCHEMA_VERSION,
        timestamp: Utc::now(),
        project: plan.project.clone(),
        status,
        summary,
        environments,
        ci,
        git: git_info,
        comparison,
        actions,
        checks,
        github: github_info,
        duration_ms,
    }
}

/// `gh.compare`, but a 404 seen in an earlier run less than
/// [`NOT_FOUND_TTL`] ago is answered from memory: a 404 has no ETag, so
/// asking again (an unpushed local HEAD, on every `serve` refresh) would
/// spend a rate-limit point each time for the same answer.
async fn compare_remembering_404(
    services: &Services,
    gh: &GithubClient,
    repo: &str,
    base: &str,
    head: &str,
) -> Result<Compare, GithubError> {
    let path = format!("repos/{repo}/compare/{base}...{head}");
    {
        let mut seen = services.github_not_found.lock().expect("not poisoned");
        seen.retain(|_, at| at.elapsed() < NOT_FOUND_TTL);
        if seen.contains_key(&path) {
            return Err(GithubError::NotFound { path });
        }
    }
    let answer = gh.compare(repo, base, head).await;
    if matches!(answer, Err(GithubError::NotFound { .. })) {
        services
            .github_not_found
            .lock()
            .expect("not poisoned")
            .insert(path, Instant::now());
    }
    answer
}

fn ci_run(r: &CheckResult) -> CiRun {
    let text = |k: &str| r.fields.get(k).and_then(value_text);
    let status = r
        .fields
        .get("status")
        .and_then(|s| serde_json::from_value::<CiStatus>(s.clone()).ok())
        .unwrap_or(CiStatus::Unknown);
    CiRun {
        workflow: text("workflow").unwrap_or_else(|| r.name.clone()),
        status,
        sha: text("sha").map(|s| s.chars().take(7).collect()),
        url: text("url"),
        created_at: text("created_at"),
        branch: text("branch"),
        duration_s: r.fields.get("duration_s").and_then(Value::as_u64),
        error: (status == CiStatus::Unknown)
            .then(|| r.error.clone())
            .flatten(),
    }
}

/// Same commit, when one sha may be abbreviated.
pub fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let n = a.len().min(b.len());
    n >= 4 && a[..n] == b[..n]
}

/// GitHub's compare word for the tracked environment (head) against the
/// one that tracks it (base): the tracked side is "ahead" when the other is
/// behind.
fn tracked_side_status(behind: u64, ahead: u64) -> &'static str {
    match (behind, ahead) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    }
}

fn join_errors(github: Option<String>, git: String) -> String {
    match github {
        Some(g) => format!("{g}; and locally: {git}"),
        None => git,
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "commit" } else { "commits" }
}

/// "2 commits behind staging" and the like.
pub fn drift_text(c: &Comparison) -> String {
    let t = &c.tracked;
    match (c.commits_behind, c.commits_ahead) {
        (Some(b), Some(0)) if b > 0 => format!("{b} {} behind {t}", plural(b)),
        (Some(0), Some(a)) if a > 0 => format!("{a} {} ahead of {t}", plural(a)),
        (Some(b), Some(a)) if a > 0 && b > 0 => {
            format!("diverged from {t} ({b} behind, {a} ahead)")
        }
        _ => format!(
            "runs {}, {t} runs {}",
            c.environment_sha.as_deref().unwrap_or("?"),
            c.tracked_sha.as_deref().unwrap_or("?")
        ),
    }
}

fn links(
    plan: &Plan,
    environments: &IndexMap<String, EnvironmentReport>,
    comparison: &IndexMap<String, Comparison>,
) -> IndexMap<String, String> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    let envs: Map<String, Value> = environments
        .iter()
        .map(|(id, e)| {
            let mut v = json!({ "id": id, "name": e.name, "url": e.url });
            for f in FACTS {
                let val = match f {
                    "sha" => &e.sha,
                    "version" => &e.version,
                    "uptime" => &e.uptime,
                    _ => &e.deployed_at,
                };
                if let Some(x) = val {
                    v[f] = json!(x);
                }
            }
            (id.clone(), v)
        })
        .collect();
    let context = json!({ "project": plan.project, "environments": envs });
    let mut out = IndexMap::new();
    for (name, url) in &plan.links {
        // Non-strict: a link to a fact nobody reported is still a link.
        if let Ok(u) = hb.render_template(url, &context) {
            out.insert(name.clone(), u);
        }
    }
    if let Some(repo) = &plan.project.repo {
        let base = format!("https://github.com/{repo}");
        for (name, url) in [
            ("Actions", format!("{base}/actions")),
            ("Pull requests", format!("{base}/pulls")),
            ("Issues", format!("{base}/issues")),
        ] {
            if !out.values().any(|u| *u == url) {
                out.entry(name.to_owned()).or_insert(url);
            }
        }
        for c in comparison.values() {
            if let Some(url) = &c.diff_url {
                out.entry(format!("Compare {} with {}", c.environment, c.tracked))
                    .or_insert_with(|| url.clone());
            }
        }
    }
    out
}

fn overall(environments: &IndexMap<String, EnvironmentReport>, global: &[&CheckResult]) -> Health {
    let mut statuses: Vec<Health> = environments
        .values()
        .filter(|e| !e.offline)
        .map(|e| e.status)
        .filter(|s| *s != Health::Unknown)
        .collect();
    statuses.extend(global.iter().filter_map(|r| match r.status {
        CheckStatus::Pass => Some(Health::Healthy),
        CheckStatus::Warn => Some(Health::Warning),
        CheckStatus::Fail | CheckStatus::Error => Some(Health::Failing),
        CheckStatus::Skipped => None,
    }));
    statuses.into_iter().max().unwrap_or(Health::Unknown)
}

/// "2 healthy, 1 warning (production 2 commits behind staging)".
pub fn summarize(
    environments: &IndexMap<String, EnvironmentReport>,
    global: &[&CheckResult],
) -> String {
    let count = |h: Health| {
        environments
            .values()
            .filter(|e| !e.offline && e.status == h)
            .count()
    };
    let offline = environments.values().filter(|e| e.offline).count();
    let mut parts = Vec::new();
    for (h, word) in [
        (Health::Healthy, "healthy"),
        (Health::Warning, "warning"),
        (Health::Failing, "failing"),
        (Health::Unknown, "unknown"),
    ] {
        let n = count(h);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if offline > 0 {
        parts.push(format!("{offline} offline"));
    }
    let mut details = Vec::new();
    for (id, e) in environments {
        match e.status {
            Health::Warning => {
                details.push(format!(
                    "{id} {}",
                    e.warning.as_deref().unwrap_or("has warnings")
                ));
            }
            Health::Failing => details.push(format!(
                "{id} down: {}",
                e.error.as_deref().unwrap_or("check failed")
            )),
            _ => {}
        }
    }
    // Global checks that did not pass are named in the counts, so the line
    // agrees with the overall status.
    for r in global {
        if matches!(
            r.status,
            CheckStatus::Fail | CheckStatus::Error | CheckStatus::Warn
        ) {
            let word = match r.fields.get("status").and_then(Value::as_str) {
                Some("failure") => "failed",
                Some("in_progress") => "in progress",
                Some("queued") => "queued",
                Some("stalled") => "stalled",
                Some("cancelled") => "cancelled",
                _ => match r.status {
                    CheckStatus::Fail => "failing",
                    CheckStatus::Warn => "warning",
                    _ => "could not run",
                },
            };
            parts.push(format!("{} {word}", r.name));
        }
    }
    if parts.is_empty() {
        let pass = global
            .iter()
            .filter(|r| r.status == CheckStatus::Pass)
            .count();
        parts.push(format!("{pass} of {} checks passing", global.len()));
    }
    let mut s = parts.join(", ");
    if !details.is_empty() {
        s.push_str(&format!(" ({})", details.join("; ")));
    }
    s
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full_shas_match() {
        assert!(same_commit("cbefe7c", "cbefe7c1234567890"));
        assert!(!same_commit("cbefe7c", "53004a6"));
        assert!(!same_commit("", "53004a6"));
    }

    #[test]
    fn drift_wording() {
        let mut c = Comparison {
            tracked: "staging".into(),
            environment: "production".into(),
            in_sync: Some(false),
            commits_behind: Some(2),
            commits_ahead: Some(0),
            status: None,
            environment_sha: Some("53004a6".into()),
            tracked_sha: Some("cbefe7c".into()),
            diff_url: None,
            commits: vec![],
            source: None,
            error: None,
        };
        assert_eq!(drift_text(&c), "2 commits behind staging");
        c.commits_behind = Some(1);
        assert_eq!(drift_text(&c), "1 commit behind staging");
        c.commits_ahead = Some(3);
        assert_eq!(drift_text(&c), "diverged from staging (1 behind, 3 ahead)");
        c.commits_behind = None;
        assert_eq!(drift_text(&c), "runs 53004a6, staging runs cbefe7c");
    }
}
