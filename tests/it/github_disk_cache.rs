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
        let world = World::start(Scenario::Drift, &tmp.path().join("world"))
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

        // 2 runs + 1 drift compare + the pull requests of the 2 commits it
        // lists + commit CI of 2 distinct shas x 2 + each environment's
        // deployments (latest and history lists, a status per deployment:
        // staging 3, production 2). Points, not requests: on loopback a
        // shared call can finish before its twin is first polled, and the
        // twin asks again (a free 304). Without a clone, the suspect
        // commits (issue 20) are GitHub's too: one compare per environment
        // (staging MID...NEW, production OLD...NEW, by their deployments'
        // full shas, so not the drift's path); the commits they list are the
        // drift's, whose pull requests are already asked for.
        // DORA's lead times (issue 21): the committer date of each commit
        // that went live in the window, NEW, MID and OLD.
        let urls = 2 + 1 + 2 + 2 * 2 + (2 + 3) + (2 + 2) + 2 + 3;
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
        // The four deployment lists differ by query only (the log keys paths).
        assert_eq!(asked.len() as u64, urls - 3);
    });
}

/// What the disk cache holds comes from private repositories: after a run
/// under the usual umask its files are 0600 and its directories 0700, and
/// a symbolic link planted where a file or the directory goes is neither
/// read nor written through.
#[cfg(unix)]
mod on_disk {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use villa_telemetry::demo::github::FakeGithub;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
    const RUNS: &str = "repos/octo/villa/actions/workflows/ci.yml/runs";

    fn config(api_url: &str) -> String {
        format!(
            r#"[project]
name = "Villa"
repo = "octo/villa"

[github]
api_url = "{api_url}"
disk_cache = true

[[checks]]
id = "ci"
github = {{ workflow = "ci.yml" }}

[[checks]]
id = "deploy"
github = {{ workflow = "deploy.yml" }}
"#
        )
    }

    /// `villa-telemetry run --format json` under `umask 022`, caching in `cache`.
    async fn run(config: &Path, cache: &Path) -> Value {
        let out = tokio::process::Command::new("sh")
            .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
            .arg(crate::support::BIN)
            .args(["run", "--format", "json", "--config"])
            .arg(config)
            .env("XDG_CACHE_HOME", cache)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env("NO_COLOR", "1")
            .output()
            .await
            .expect("run the binary");
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json report")
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    fn warnings(report: &Value) -> Vec<String> {
        report["github"]["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache_files_are_0600_in_0700_directories_under_umask_022() {
        let fake = FakeGithub::start(FIXTURES).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("villa-telemetry.toml");
        std::fs::write(&path, config(&fake.url())).unwrap();
        let cache = tmp.path().join("cache");
        let report = run(&path, &cache).await;
        assert_eq!(warnings(&report), Vec::<String>::new());
        assert_eq!(check_status(&report, "ci"), "pass");

        let dir = cache.join("villa-telemetry/github");
        for d in [&cache, &cache.join("villa-telemetry"), &dir] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        let stored = files(&dir);
        assert_eq!(stored.len(), 2, "{stored:?}");
        for f in &stored {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }

        // A cache written before files were private: its directory is
        // narrowed, and each file rewritten private.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for f in &stored {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut runs = fake
            .fixtures()
            .workflow_runs_with("completed", Some("failure"), None);
        runs["total_count"] = 7.into();
        fake.set(RUNS, 200, runs, &[]);
        assert_eq!(check_status(&run(&path, &cache).await, "ci"), "fail");
        assert_eq!(mode(&dir), 0o700);
        let modes: Vec<String> = files(&dir)
            .iter()
            .map(|f| format!("{:o}", mode(f)))
            .collect();
        assert_eq!(modes, ["600", "600"], "the one rewritten and the one read");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_at_a_cache_file_is_neither_read_nor_written_through() {
        let fake = FakeGithub::start(FIXTURES).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("villa-telemetry.toml");
        std::fs::write(&path, config(&fake.url())).unwrap();
        let cache = tmp.path().join("cache");
        let _ = run(&path, &cache).await;
        let dir = cache.join("villa-telemetry/github");

        // Each cache file becomes a link to a file elsewhere that holds a
        // forged entry (as someone planting the links would write it).
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let mut targets = Vec::new();
        for (i, f) in files(&dir).iter().enumerate() {
            let target = elsewhere.join(format!("target{i}"));
            std::fs::copy(f, &target).unwrap();
            std::fs::remove_file(f).unwrap();
            std::os::unix::fs::symlink(&target, f).unwrap();
            targets.push((target.clone(), std::fs::read(&target).unwrap()));
        }
        let before = fake.log().len();
        // New answers (a new ETag each), so the run wants to store them.
        for workflow in ["ci.yml", "deploy.yml"] {
            let mut runs = fake
                .fixtures()
                .workflow_runs_with("completed", Some("failure"), None);
            runs["total_count"] = 9.into();
            fake.set(
                &format!("repos/octo/villa/actions/workflows/{workflow}/runs"),
                200,
                runs,
                &[],
            );
        }
        let report = run(&path, &cache).await;

        let log = fake.log();
        assert!(
            log[before..].iter().all(|r| r.if_none_match.is_none()),
            "no ETag was read through a link: {:#?}",
            &log[before..]
        );
        for (target, bytes) in &targets {
            assert_eq!(
                &std::fs::read(target).unwrap(),
                bytes,
                "{}",
                target.display()
            );
        }
        for f in files(&dir) {
            assert!(
                std::fs::symlink_metadata(&f)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(files(&elsewhere).len(), 2, "nothing new written there");
        let w = warnings(&report);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w.iter()
                .all(|w| w.ends_with("is a symbolic link; it is neither read nor written")),
            "{w:#?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_at_the_cache_directory_is_not_followed() {
        let fake = FakeGithub::start(FIXTURES).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("villa-telemetry.toml");
        std::fs::write(&path, config(&fake.url())).unwrap();
        let cache = tmp.path().join("cache");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(cache.join("villa-telemetry")).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.join("villa-telemetry/github")).unwrap();
        let report = run(&path, &cache).await;
        assert_eq!(check_status(&report, "ci"), "pass");
        assert!(files(&elsewhere).is_empty(), "{:?}", files(&elsewhere));
        let w = warnings(&report);
        assert!(
            w.iter()
                .any(|w| w.ends_with("github is a symbolic link; the disk cache is not used")),
            "{w:#?}"
        );
    }

    fn check_status<'a>(report: &'a Value, id: &str) -> &'a str {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default()
    }
}
