//! Check instances (check × environment) and the dependencies their
//! templates create, with cycle detection.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::builder::{Builder, quote};
use super::checks::Checks;
use super::environments::Environments;
use super::templates::Reference;
use super::{FACTS, Job};

/// Most check runs (check × environment) one config may make.
pub const MAX_JOBS: usize = 100_000;

/// Jobs ordered by check id then environment order, with dependencies.
pub(super) fn jobs(b: &mut Builder<'_>, checks: &Checks, envs: &Environments) -> Vec<Job> {
    let runs: usize = (0..checks.plans.len())
        .map(|ci| {
            if checks.plans[ci].per_env {
                checks.envs[ci].len()
            } else {
                1
            }
        })
        .sum();
    if runs > MAX_JOBS {
        b.error(
            0,
            0..0,
            format!("{runs} checks × environments to run; at most {MAX_JOBS} are supported"),
        );
        b.help("split the configuration, or limit `environments` of the per-environment checks");
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..checks.plans.len()).collect();
    order.sort_by(|x, y| checks.plans[*x].id.cmp(&checks.plans[*y].id));
    let mut jobs = Vec::new();
    let mut job_of: HashMap<(usize, Option<usize>), usize> = HashMap::new();
    for &ci in &order {
        if checks.plans[ci].per_env {
            for &e in &checks.envs[ci] {
                job_of.insert((ci, Some(e)), jobs.len());
                jobs.push(Job {
                    check: ci,
                    env: Some(e),
                    deps: Vec::new(),
                });
            }
        } else {
            job_of.insert((ci, None), jobs.len());
            jobs.push(Job {
                check: ci,
                env: None,
                deps: Vec::new(),
            });
        }
    }

    // Which jobs extract a fact for an environment, so a lookup is not a scan.
    let mut providers: HashMap<(usize, &str), Vec<usize>> = HashMap::new();
    for (ji, job) in jobs.iter().enumerate() {
        if let Some(e) = job.env {
            for (name, _) in &checks.plans[job.check].extract {
                providers.entry((e, name.as_str())).or_default().push(ji);
            }
        }
    }

    let refs = resolve_names(b, checks, envs);
    let mut all_deps = Vec::with_capacity(jobs.len());
    for (ji, job) in jobs.iter().enumerate() {
        let mut deps = BTreeSet::new();
        for (r, file, span) in &refs[job.check] {
            match *r {
                Resolved::Check(target) => {
                    if checks.plans[target].per_env {
                        match job.env {
                            Some(e) if job_of.contains_key(&(target, Some(e))) => {
                                deps.insert(job_of[&(target, Some(e))]);
                            }
                            _ => {
                                for &e in &checks.envs[target] {
                                    deps.insert(job_of[&(target, Some(e))]);
                                }
                            }
                        }
                    } else {
                        deps.insert(job_of[&(target, None)]);
                    }
                }
                Resolved::Fact(env, fact) => {
                    let Some(env) = env.or(job.env) else { continue };
                    fact_deps(
                        b,
                        &providers,
                        envs,
                        (env, ji),
                        fact,
                        (*file, span),
                        &mut deps,
                    );
                }
            }
        }
        deps.remove(&ji);
        all_deps.push(deps.into_iter().collect());
    }
    for (job, deps) in jobs.iter_mut().zip(all_deps) {
        job.deps = deps;
    }
    if let Some(cycle) = find_cycle(&jobs) {
        cycle_error(b, checks, envs, &jobs, &cycle);
    }
    jobs
}

/// A template reference whose names exist.
enum Resolved<'a> {
    /// Another check's output (index into the checks).
    Check(usize),
    /// A fact of an environment (index; `None`: the job's own), when the
    /// reference names one.
    Fact(Option<usize>, Option<&'a str>),
}

/// Each check's distinct references with their names looked up. Unknown
/// names are reported here, once per place they are written, not once per
/// environment the check runs in.
fn resolve_names<'c>(
    b: &mut Builder<'_>,
    checks: &'c Checks,
    envs: &Environments,
) -> Vec<Vec<(Resolved<'c>, usize, Range<usize>)>> {
    let check_ids: Vec<&str> = checks.plans.iter().map(|c| c.id.as_str()).collect();
    let mut out = Vec::with_capacity(checks.refs.len());
    for (ci, refs) in checks.refs.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        let mut resolved = Vec::new();
        for (r, file, span) in refs {
            if !seen.insert((r, span.start)) {
                continue;
            }
            let found = match r {
                Reference::Check(id) => match checks.index.get(id) {
                    Some(&target) => Some(Resolved::Check(target)),
                    None => {
                        b.unknown_reference(
                            *file,
                            span.clone(),
                            "check",
                            id,
                            check_ids.iter().copied(),
                        );
                        None
                    }
                },
                Reference::Environment(env, fact) => match envs.index.get(env) {
                    Some(&e) => Some(Resolved::Fact(Some(e), fact.as_deref())),
                    None => {
                        b.unknown_reference(
                            *file,
                            span.clone(),
                            "environment",
                            env,
                            envs.ids.iter().map(String::as_str),
                        );
                        None
                    }
                },
                Reference::CurrentEnv(fact) => {
                    if checks.plans[ci].per_env {
                        Some(Resolved::Fact(None, fact.as_deref()))
                    } else {
                        b.error(
                            *file,
                            span.clone(),
                            "`env` is only defined in per-environment checks",
                        );
                        b.help("add `environments = [\"*\"]` to the check, or use environments.ID.FIELD");
                        None
                    }
                }
            };
            if let Some(found) = found {
                resolved.push((found, *file, span.clone()));
            }
        }
        out.push(resolved);
    }
    out
}

/// Adds the jobs that extract `fact` for environment `env`, or reports that
/// none but job `me` itself does.
fn fact_deps(
    b: &mut Builder<'_>,
    providers: &HashMap<(usize, &str), Vec<usize>>,
    envs: &Environments,
    (env, me): (usize, usize),
    fact: Option<&str>,
    (file, span): (usize, &Range<usize>),
    deps: &mut BTreeSet<usize>,
) {
    let Some(fact) = fact else { return };
    if matches!(fact, "id" | "name" | "url") {
        return;
    }
    match providers.get(&(env, fact)) {
        Some(jobs) if jobs.iter().any(|&j| j != me) => {
            deps.extend(jobs.iter().copied().filter(|&j| j != me));
        }
        _ => {
            let env_id = quote(&envs.list[env].id);
            let fact = quote(fact);
            b.error(
                file,
                span.clone(),
                format!("nothing extracts `{fact}` for environment `{env_id}`"),
            );
            b.help(format!(
                "add `extract = {{ {fact} = \"$.path\" }}` to a check that runs for `{env_id}`; known fields: id, name, url, {}",
                FACTS.join(", ")
            ));
        }
    }
}

fn cycle_error(
    b: &mut Builder<'_>,
    checks: &Checks,
    envs: &Environments,
    jobs: &[Job],
    cycle: &[usize],
) {
    let names: Vec<String> = cycle
        .iter()
        .map(|&j| {
            let c = &checks.plans[jobs[j].check].id;
            match jobs[j].env {
                Some(e) => format!("{c}[{}]", envs.list[e].id),
                None => c.clone(),
            }
        })
        .collect();
    let first = &checks.plans[jobs[cycle[0]].check].id;
    let located = b
        .config
        .checks
        .iter()
        .find(|c| c.value.id.get_ref() == first)
        .expect("check exists");
    b.error(
        located.file,
        located.value.id.span(),
        format!("dependency cycle: {}", names.join(" → ")),
    );
    b.help("a check cannot read (directly or through others) its own output; remove one of the template references");
}

/// The first dependency cycle, as job indices from a job back to itself.
/// Iterative, so a chain of 100,000 checks needs no deep stack.
fn find_cycle(jobs: &[Job]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; jobs.len()];
    for root in 0..jobs.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // The path from `root`, each job with the next dependency to visit.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Active;
        while let Some(top) = path.last_mut() {
            let (j, next) = *top;
            top.1 += 1;
            let Some(&d) = jobs[j].deps.get(next) else {
                marks[j] = Mark::Done;
                path.pop();
                continue;
            };
            match marks[d] {
                Mark::Active => {
                    let start = path.iter().position(|&(x, _)| x == d).expect("on path");
                    let mut cycle: Vec<usize> = path[start..].iter().map(|&(x, _)| x).collect();
                    cycle.push(d);
                    return Some(cycle);
                }
                Mark::New => {
                    marks[d] = Mark::Active;
                    path.push((d, 0));
                }
                Mark::Done => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(deps: &[&[usize]]) -> Vec<Job> {
        deps.iter()
            .map(|d| Job {
                check: 0,
                env: None,
                deps: d.to_vec(),
            })
            .collect()
    }

    #[test]
    fn finds_a_cycle_and_names_it_in_order() {
        assert_eq!(find_cycle(&chain(&[&[1], &[2], &[]])), None);
        assert_eq!(
            find_cycle(&chain(&[&[1], &[2], &[0]])),
            Some(vec![0, 1, 2, 0])
        );
        assert_eq!(find_cycle(&chain(&[&[], &[1]])), Some(vec![1, 1]));
    }

    #[test]
    fn a_long_chain_needs_no_deep_stack() {
        let n = 200_000;
        let mut jobs: Vec<Job> = (0..n)
            .map(|i| Job {
                check: 0,
                env: None,
                deps: if i + 1 < n { vec![i + 1] } else { vec![] },
            })
            .collect();
        assert_eq!(find_cycle(&jobs), None);
        jobs[n - 1].deps = vec![0];
        assert_eq!(find_cycle(&jobs).map(|c| c.len()), Some(n + 1));
    }
}
