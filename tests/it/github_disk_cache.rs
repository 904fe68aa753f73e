//! The on-disk ETag cache across processes: an agent calling `run` again and
//! again spends no rate limit while nothing changed. It sets XDG_CACHE_HOME, which is only
//! sound while no other thread runs: it runs alone in a child process.

use villa_telemetry::cli::{load_plan, run_with};
use villa_telemetry::demo::world::{Scenario, World};
use villa_telemetry::probe::github::TokenSource;
use villa_telemetry::runner::Services;

#[test]
fn second_process_worth_of_services_makes_only_304s() {
    if !crate::support::isolated(
        "github_disk_cache::second_process_worth_of_services_makes_only_304s",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // SAFETY: alone in its own process (support::isolated) and no runtime
    // started yet, so no other thread reads the environment.
    unsafe { std::env::set_var("XDG_CACHE_HOME", &cache) };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Without a local git check: its "is HEAD deployed" compares answer
        // 404 here (the checkout is not in the simulated repo), and a 404 has
        // no ETag to cache. Everything else is the Villa shape.
        let world = World::start(Scenario::Drift, &tmp.path().join("world"), tmp.path())
            .await
            .unwrap();
        let text = std::fs::read_to_string(&world.config_path).unwrap();
        let git_check = text.find("[[checks]]\nid = \"git\"").expect("git check");
        let text = text[..git_check].replace("disk_cache = false", "disk_cache = true");
        std::fs::write(&world.config_path, text).unwrap();
        let plan = load_plan(&world.config_path).unwrap();
        let token = || Some(("ghp_fake".to_string(), TokenSource::Env("GITHUB_TOKEN")));

        // Two Services: nothing in memory is shared, as between two processes.
        let first = run_with(&plan, &Services::with_token(&plan, token())).await;
        let cold = first.github.clone().unwrap();
        let after_first = world.github.total_requests();
        let second = run_with(&plan, &Services::with_token(&plan, token())).await;
        let warm = second.github.clone().unwrap();
        eprintln!(
            "disk cache: first process {} requests / {} x 304; second {} requests / {} x 304",
            cold.requests, cold.not_modified, warm.requests, warm.not_modified
        );

        // 2 runs + 1 drift compare + the pull request of the 1 commit it
        // lists + commit CI of 2 distinct shas x 2. Points, not requests: on
        // loopback a shared call can finish before its twin is first polled,
        // and the twin asks again (a free 304).
        let urls = 2 + 1 + 1 + 2 * 2;
        assert_eq!(cold.requests - cold.not_modified, urls);
        assert_eq!(warm.not_modified, warm.requests, "all 304");
        assert_eq!(warm.rate_limit_points, 0, "a repeated run spends nothing");
        let log = world.github.log();
        assert!(
            log[after_first..]
                .iter()
                .all(|r| r.status == 304 && r.if_none_match.is_some()),
            "{:#?}",
            &log[after_first..]
        );
        // Same answers; only how long the lookups took may differ.
        let answers = |r: &villa_telemetry::report::Report| {
            let mut c = r.comparison.clone();
            c.values_mut().for_each(|c| c.duration_ms = None);
            c
        };
        assert_eq!(answers(&second), answers(&first));
        assert_eq!(second.summary, first.summary);

        let stored = std::fs::read_dir(cache.join("villa-telemetry/github"))
            .expect("cache dir under XDG_CACHE_HOME")
            .count();
        assert_eq!(stored as u64, urls, "one file per answered URL");
        let asked: std::collections::BTreeSet<&str> =
            log[after_first..].iter().map(|r| r.path.as_str()).collect();
        assert_eq!(asked.len() as u64, urls);
    });
}
