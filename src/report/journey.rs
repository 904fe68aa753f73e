//! A commit's journey (issue 21): is it pushed, did its CI pass, which
//! environments run it and since when, and for the others the deploy that
//! will bring it with an expected arrival.
//!
//! Built without I/O from a finished [`Report`] (what each environment
//! runs, its deployment history) and the runner's [`JourneyFacts`] (which
//! of those commits contain the one asked about). Containment is ancestry,
//! not equal shas: an environment that runs a later commit has it.

use chrono::{DateTime, Duration, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CommitCi, DeploymentEntry, EnvironmentReport, Report};
use crate::outcome::{
    Containment, ContainmentSource, JourneyAsk, JourneyFacts, Slow, Whereabouts, deploy_durations,
    percentile, same_commit, short_sha,
};

/// Where one commit is: the top-level `journey` of a report made with
/// `run --journey`, what `where` prints and the `journey` MCP tool answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Journey {
    /// What was asked: "HEAD", "#812" or the sha as given.
    pub asked: String,
    /// The commit (full when git or GitHub resolved it); absent when it
    /// could not be resolved (see `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Whether GitHub has the commit; absent when GitHub is not used or
    /// could not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<bool>,
    /// The commit's CI (combined status and check runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CommitCi>,
    /// Per environment, in configured order.
    #[serde(default)]
    pub environments: IndexMap<String, JourneyStop>,
    /// Why there is no journey (the commit could not be resolved), or why
    /// `pushed` has no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The environments' lines joined: "staging: live since 14:02 (deploy
    /// #812) · production: not yet, expected ~14:20 (deploy #813)".
    pub summary: String,
}

/// Whether one environment has the commit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopState {
    /// What it runs contains the commit.
    Live,
    /// Not yet, but a deploy under way contains it.
    Arriving,
    /// Not yet, and nothing under way brings it.
    NotYet,
    /// Could not be told (see `error`).
    Unknown,
}

/// The commit in one environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct JourneyStop {
    /// Live, arriving, not yet or unknown.
    pub state: StopState,
    /// While live: when the first deployment in its history that contained
    /// the commit went live (its status time; an `inactive` one's creation
    /// time, as GitHub keeps no earlier status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// That deployment's GitHub id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
    /// While arriving: the deploy under way that brings it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Arriving>,
    /// Who said whether it has the commit: `git` or `github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ContainmentSource>,
    /// Why the state is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// "live since 14:02 (deploy #812)", "not yet, expected ~14:20 (deploy
    /// #813)" (times UTC).
    pub text: String,
}

/// A deploy under way whose commit contains the one asked about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Arriving {
    /// GitHub's deployment id.
    pub deployment: u64,
    /// Its commit (short).
    pub sha: String,
    /// GitHub's state for it (`in_progress`, `queued`, …).
    pub state: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its creation plus the median time the environment's recent
    /// successful deployments took to go live; absent without any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_at: Option<DateTime<Utc>>,
    /// That median, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usual_s: Option<u64>,
    /// Running past the p95 of those deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<Slow>,
    /// Its log, when its status names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What each environment of `report` runs and its deployment history: what
/// the journey lookup asks about (`runner::journey`).
pub fn whereabouts(report: &Report) -> Vec<Whereabouts> {
    report
        .environments
        .iter()
        .map(|(id, env)| Whereabouts {
            env: id.clone(),
            sha: running_sha(env).map(str::to_owned),
            deployments: env.deployments.clone(),
        })
        .collect()
}

/// What `env` runs: its sha, else the commit it last ran.
fn running_sha(env: &EnvironmentReport) -> Option<&str> {
    env.sha
        .as_deref()
        .or(env.last_known.as_ref().map(|l| l.sha.as_str()))
}

/// The journey of the commit in `facts` through `report`'s environments,
/// as of `now`.
pub fn journey(report: &Report, facts: &JourneyFacts, now: DateTime<Utc>) -> Journey {
    let asked = facts.asked.label();
    let sha = match &facts.sha {
        Ok(sha) => sha.clone(),
        Err(why) => {
            return Journey {
                asked: asked.clone(),
                sha: None,
                pushed: None,
                ci: None,
                environments: IndexMap::new(),
                error: Some(why.clone()),
                summary: format!("{asked}: {why}"),
            };
        }
    };
    let environments: IndexMap<String, JourneyStop> = report
        .environments
        .iter()
        .map(|(id, env)| (id.clone(), stop(env, facts, now)))
        .collect();
    let summary = environments
        .iter()
        .map(|(id, s)| format!("{id}: {}", s.text))
        .collect::<Vec<_>>()
        .join(" · ");
    Journey {
        asked,
        sha: Some(sha),
        pushed: facts.pushed.as_ref().and_then(|p| p.as_ref().ok().copied()),
        ci: facts.ci.clone(),
        environments,
        error: facts
            .pushed
            .as_ref()
            .and_then(|p| p.as_ref().err().cloned()),
        summary,
    }
}

fn answer<'f>(facts: &'f JourneyFacts, sha: &str) -> Option<&'f Containment> {
    facts
        .contains
        .iter()
        .find(|(k, _)| same_commit(k, sha))
        .map(|(_, c)| c)
}

fn stop(env: &EnvironmentReport, facts: &JourneyFacts, now: DateTime<Utc>) -> JourneyStop {
    let running = running_sha(env).or_else(|| {
        env.deployments
            .iter()
            .find(|d| d.went_live())
            .map(|d| d.sha.as_str())
    });
    let mut s = JourneyStop {
        state: StopState::Unknown,
        since: None,
        deployment: None,
        deploy: None,
        source: None,
        error: None,
        text: String::new(),
    };
    let here = running.and_then(|sha| answer(facts, sha));
    match here.map(|c| (&c.contained, c.source)) {
        Some((Ok(true), source)) => {
            s.state = StopState::Live;
            s.source = source;
            if let Some(first) = first_live_with(env, facts) {
                s.since = live_at(first);
                s.deployment = Some(first.id);
            }
        }
        Some((Ok(false), source)) => {
            s.source = source;
            s.deploy = arriving(env, facts, now);
            s.state = if s.deploy.is_some() {
                StopState::Arriving
            } else {
                StopState::NotYet
            };
        }
        Some((Err(why), _)) => s.error = Some(why.clone()),
        None => {
            s.error = Some(match running {
                Some(sha) => format!("whether {} contains it was not asked", short_sha(sha)),
                None => "it reports no commit and has no deployment that went live".to_owned(),
            });
        }
    }
    s.text = stop_text(&s, now);
    s
}

/// The oldest of the deployments that went live, from the newest back,
/// that all contain the commit: the first that brought it.
fn first_live_with<'e>(
    env: &'e EnvironmentReport,
    facts: &JourneyFacts,
) -> Option<&'e DeploymentEntry> {
    env.deployments
        .iter()
        .filter(|d| d.went_live())
        .take_while(|d| answer(facts, &d.sha).is_some_and(|c| c.contained == Ok(true)))
        .last()
}

/// When a deployment went live: a success's status time; an `inactive`
/// one's newest status is its replacement, so its creation is said.
fn live_at(d: &DeploymentEntry) -> Option<DateTime<Utc>> {
    let at = if d.succeeded() {
        &d.updated_at
    } else {
        &d.created_at
    };
    parse(at)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The newest deploy under way (never a superseded one) after the newest
/// that went live whose commit contains the one asked about.
fn arriving(env: &EnvironmentReport, facts: &JourneyFacts, now: DateTime<Utc>) -> Option<Arriving> {
    let d = env
        .deployments
        .iter()
        .take_while(|d| !d.went_live())
        .filter(|d| d.under_way())
        .find(|d| answer(facts, &d.sha).is_some_and(|c| c.contained == Ok(true)))?;
    let created_at = parse(&d.created_at)?;
    let mut durations = deploy_durations(&env.deployments);
    durations.retain(|s| (1..=crate::outcome::MAX_USUAL_S).contains(s));
    durations.sort_unstable();
    let usual_s = (!durations.is_empty()).then(|| percentile(&durations, 50));
    let running_s = u64::try_from((now - created_at).num_seconds()).unwrap_or(0);
    Some(Arriving {
        deployment: d.id,
        sha: short_sha(&d.sha).to_owned(),
        state: d.state.clone(),
        created_at,
        expected_at: usual_s.map(|u| created_at + Duration::seconds(u as i64)),
        usual_s,
        slow: Slow::of(&durations, running_s),
        url: d.log_url.clone(),
    })
}

/// "14:02" today, "2026-12-03 14:02" another day (UTC).
fn clock(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

fn stop_text(s: &JourneyStop, now: DateTime<Utc>) -> String {
    match s.state {
        StopState::Live => match (s.since, s.deployment) {
            (Some(at), Some(id)) => format!("live since {} (deploy #{id})", clock(at, now)),
            _ => "live".to_owned(),
        },
        StopState::Arriving => {
            let Some(d) = &s.deploy else {
                return "not yet".to_owned();
            };
            match (&d.slow, d.expected_at) {
                (Some(slow), _) => format!("not yet, deploy #{} {}", d.deployment, slow.text()),
                (None, Some(at)) if at >= now => {
                    format!(
                        "not yet, expected ~{} (deploy #{})",
                        clock(at, now),
                        d.deployment
                    )
                }
                (None, Some(at)) => format!(
                    "not yet, expected ~{} (deploy #{}, late)",
                    clock(at, now),
                    d.deployment
                ),
                (None, None) => format!("not yet, deploy #{} under way", d.deployment),
            }
        }
        StopState::NotYet => "not yet".to_owned(),
        StopState::Unknown => format!("unknown ({})", s.error.as_deref().unwrap_or("no answer")),
    }
}

/// What `where` prints: a line on the commit, then one line per
/// environment.
pub fn lines(j: &Journey) -> String {
    let Some(sha) = &j.sha else {
        return format!("{}\n", j.summary);
    };
    let mut head = format!("{} ({})", short_sha(sha), j.asked);
    match j.pushed {
        Some(true) => head.push_str(": pushed"),
        Some(false) => head.push_str(": not on GitHub (not pushed?)"),
        None => {}
    }
    if let Some(ci) = &j.ci {
        head.push_str(&format!(", CI {}", super::timeline::ci_word(ci.status)));
    }
    let mut out = format!("{head}\n");
    for (id, s) in &j.environments {
        out.push_str(&format!("{id}: {}\n", s.text));
    }
    out
}

/// Asks nothing: the journey an `asked` commit gets when it cannot be
/// looked up at all (e.g. the MCP tool with a bad argument).
pub fn unresolved(asked: &JourneyAsk, why: &str) -> Journey {
    Journey {
        asked: asked.label(),
        sha: None,
        pushed: None,
        ci: None,
        environments: IndexMap::new(),
        error: Some(why.to_owned()),
        summary: format!("{}: {why}", asked.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ContainmentSource::Git;
    use crate::report::fixtures::fixture;

    const NEW: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const OLD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const OLDER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn at(s: &str) -> DateTime<Utc> {
        parse(s).unwrap()
    }

    fn deploy(id: u64, sha: &str, state: &str, created: &str, took_s: i64) -> DeploymentEntry {
        DeploymentEntry {
            id,
            state: state.into(),
            sha: sha.into(),
            git_ref: "main".into(),
            creator: None,
            created_at: created.into(),
            updated_at: (at(created) + Duration::seconds(took_s))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            environment_url: None,
            log_url: None,
            current: None,
            superseded: false,
        }
    }

    fn facts(contains: &[(&str, bool)]) -> JourneyFacts {
        JourneyFacts {
            asked: JourneyAsk::Head,
            sha: Ok(OLD.into()),
            pushed: Some(Ok(true)),
            ci: None,
            contains: contains
                .iter()
                .map(|(s, c)| {
                    (
                        (*s).to_owned(),
                        Containment {
                            contained: Ok(*c),
                            source: Some(Git),
                        },
                    )
                })
                .collect(),
            github: None,
            duration_ms: 0,
        }
    }

    /// Staging runs a later commit that contains it (ancestry, not equal
    /// shas) since deploy #12; production runs an older one, and deploy
    /// #21, under way for 2 minutes, brings it in a usual 3m 10s.
    fn world() -> Report {
        let mut r = fixture("warning_drift_ci_failed");
        r.environments.shift_remove("local");
        let s = r.environments.get_mut("staging").unwrap();
        s.sha = Some(NEW[..7].into());
        s.last_known = None;
        s.deployments = vec![
            deploy(13, NEW, "success", "2026-12-04T14:30:00Z", 190),
            deploy(12, OLD, "inactive", "2026-12-04T14:00:00Z", 120),
            deploy(11, OLDER, "inactive", "2026-12-04T13:00:00Z", 120),
        ];
        let p = r.environments.get_mut("production").unwrap();
        p.sha = Some(OLDER.into());
        p.last_known = None;
        p.deployments = vec![
            deploy(21, NEW, "in_progress", "2026-12-04T15:00:00Z", 10),
            deploy(20, OLDER, "success", "2026-12-04T12:00:00Z", 190),
            deploy(19, OLDER, "success", "2026-12-04T11:00:00Z", 180),
            deploy(18, OLDER, "success", "2026-12-04T10:00:00Z", 200),
        ];
        r
    }

    #[test]
    fn live_since_the_first_deploy_that_contained_it_and_arriving_elsewhere() {
        let r = world();
        let f = facts(&[(NEW, true), (OLD, true), (OLDER, false)]);
        let j = journey(&r, &f, at("2026-12-04T15:02:00Z"));
        let stops: Vec<&JourneyStop> = j.environments.values().collect();
        assert_eq!(stops[0].state, StopState::Live);
        assert_eq!(
            stops[0].deployment,
            Some(12),
            "#13 and #12 have it, #11 not"
        );
        assert_eq!(stops[0].since, Some(at("2026-12-04T14:00:00Z")));
        assert_eq!(stops[0].text, "live since 14:00 (deploy #12)");
        assert_eq!(stops[1].state, StopState::Arriving);
        let d = stops[1].deploy.as_ref().unwrap();
        assert_eq!((d.deployment, d.usual_s), (21, Some(190)));
        assert_eq!(d.expected_at, Some(at("2026-12-04T15:03:10Z")));
        assert_eq!(stops[1].text, "not yet, expected ~15:03 (deploy #21)");
        assert!(j.summary.contains(" · "), "{}", j.summary);
        assert_eq!(j.pushed, Some(true));
    }

    #[test]
    fn a_deploy_at_three_times_its_usual_duration_is_slow() {
        let r = world();
        let f = facts(&[(NEW, true), (OLD, true), (OLDER, false)]);
        let j = journey(&r, &f, at("2026-12-04T15:09:30Z"));
        let p = j.environments.values().nth(1).unwrap();
        let slow = p.deploy.as_ref().unwrap().slow.unwrap();
        assert_eq!((slow.usual_s, slow.running_s), (190, 570));
        assert_eq!(
            p.text,
            "not yet, deploy #21 usually takes 3m 10s, running 9m 30s"
        );
    }

    #[test]
    fn a_superseded_deploy_brings_nothing() {
        let mut r = world();
        let p = r.environments.values_mut().nth(1).unwrap();
        // #21 is older than a later success, #22, of a commit without it.
        p.deployments
            .insert(0, deploy(22, OLDER, "success", "2026-12-04T15:01:00Z", 60));
        crate::outcome::mark_superseded(&mut p.deployments);
        let f = facts(&[(NEW, true), (OLD, true), (OLDER, false)]);
        let j = journey(&r, &f, at("2026-12-04T15:02:00Z"));
        let p = j.environments.values().nth(1).unwrap();
        assert_eq!((p.state, p.text.as_str()), (StopState::NotYet, "not yet"));
    }

    #[test]
    fn an_unanswered_lookup_is_unknown_and_an_unresolved_commit_says_why() {
        let r = world();
        let mut f = facts(&[(OLDER, false)]);
        f.contains.insert(
            NEW.into(),
            Containment {
                contained: Err("GitHub answered 404".into()),
                source: None,
            },
        );
        let j = journey(&r, &f, at("2026-12-04T15:02:00Z"));
        let s = j.environments.values().next().unwrap();
        assert_eq!(s.state, StopState::Unknown);
        assert_eq!(s.text, "unknown (GitHub answered 404)");
        f.sha = Err("no `git` check".into());
        let j = journey(&r, &f, at("2026-12-04T15:02:00Z"));
        assert!(j.environments.is_empty() && j.sha.is_none());
        assert_eq!(lines(&j), "HEAD: no `git` check\n");
    }
}
