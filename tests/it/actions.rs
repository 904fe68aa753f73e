//! `villa-telemetry act`, `actions` and `audit` against a loopback upstream
//! that records what it receives, and the fake GitHub for workflow_dispatch.
//! Every refused case asserts that the upstream received nothing.

use crate::actions_support;

use std::time::{Duration, Instant};

use crate::support::BIN;
use actions_support::{SECRET, Upstream, audit_lines, config, text, villa, villa_umask};
use villa_telemetry::demo::github::{FakeGithub, Fixtures};

struct Setup {
    dir: tempfile::TempDir,
    upstream: Upstream,
    github: FakeGithub,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::with_fixtures(Fixtures::default())
        .await
        .unwrap();
    config(dir.path(), &upstream.url(), &github.url(), false);
    Setup {
        dir,
        upstream,
        github,
    }
}

fn assert_no_secret(s: &Setup, out: &str) {
    assert!(!out.contains(SECRET), "secret leaked into output:\n{out}");
    let audit = std::fs::read_to_string(s.dir.path().join("state/audit.jsonl")).unwrap_or_default();
    assert!(
        !audit.contains(SECRET),
        "secret leaked into the audit log:\n{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_exact_request_masked_and_sends_nothing() {
    let s = setup().await;
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production", "--dry-run"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("POST {}/deploy/aaa1111", s.upstream.url())),
        "{out}"
    );
    assert!(out.contains("Authorization: Bearer ••••"), "{out}");
    assert!(
        out.contains(r#"{"sha": "aaa1111", "env": "production"}"#),
        "{out}"
    );
    assert!(out.contains("confirm word: production"), "{out}");
    assert_no_secret(&s, &out);
    assert_eq!(s.upstream.received().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_sends_once_and_audits_before_and_after() {
    let s = setup().await;
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production", "--yes"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let got = s.upstream.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/deploy/aaa1111");
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(got[0].body, r#"{"sha": "aaa1111", "env": "production"}"#);
    // The upstream echoed the token back: masked in what we show.
    assert!(out.contains("200 ok"), "{out}");
    assert!(out.contains("Bearer ••••"), "{out}");
    assert_no_secret(&s, &out);

    let lines = audit_lines(s.dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "sending");
    assert_eq!(lines[1]["outcome"], "succeeded");
    assert_eq!(lines[1]["status"], 200);
    assert_eq!(lines[0]["attempt"], lines[1]["attempt"]);
    assert_eq!(lines[1]["from"], "cli");
    assert_eq!(lines[1]["environment"], "production");
    assert_eq!(
        lines[1]["who"]["user"],
        std::env::var("USER").map_or(serde_json::Value::Null, serde_json::Value::from)
    );
    assert!(lines[1]["request"].as_str().unwrap().starts_with("POST "));

    let o = villa(s.dir.path(), &["audit", "--limit", "5"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("promote --env production  succeeded 200"),
        "{out}"
    );
    assert_eq!(
        out.matches("succeeded").count(),
        1,
        "one entry per attempt:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_and_without_yes_it_refuses_with_3() {
    let s = setup().await;
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("no terminal to confirm on: pass --yes"),
        "{out}"
    );
    assert_eq!(s.upstream.received().len(), 0);
    let lines = audit_lines(s.dir.path());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "refused");
    assert_no_secret(&s, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_send_nothing_and_are_audited() {
    let s = setup().await;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["act", "promot", "--yes"],
            "no action `promot` (did you mean `promote`?)",
        ),
        (
            vec!["act", "promote", "--yes"],
            "runs per environment: pass --env",
        ),
        (
            vec!["act", "promote", "--env", "staging", "--yes"],
            "does not run for environment `staging`",
        ),
        (
            vec!["act", "needs-var", "--yes"],
            "environment variable VILLA_TEST_UNSET_VARIABLE is not set",
        ),
        (
            vec!["act", "needs-version", "--yes"],
            "`environments.staging.version` has no value in the current report",
        ),
        (
            vec!["act", "redeploy", "--env", "staging", "--yes"],
            "needs a GitHub token",
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let o = villa(s.dir.path(), args, &[]).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {out}");
        assert!(out.contains(want), "{args:?}: want {want:?} in:\n{out}");
        assert_eq!(
            audit_lines(s.dir.path()).len(),
            i + 1,
            "{args:?} is audited"
        );
        assert_no_secret(&s, &out);
    }
    assert_eq!(s.upstream.received().len(), 0);
    assert_eq!(s.github.total_requests(), 0);
    assert!(
        audit_lines(s.dir.path())
            .iter()
            .all(|l| l["outcome"] == "refused")
    );

    // `when` false: production caught up, promote is not enabled.
    s.upstream.in_sync();
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production", "--yes"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains(
            "not enabled now: `$.comparison.staging_vs_production.in_sync == false` does not hold"
        ),
        "{out}"
    );
    assert_eq!(s.upstream.received().len(), 0);
}

/// A health endpoint reporting `..` (or `.`, or nothing) as its commit must
/// not move the promote's POST to another path: refused, audited, nothing
/// sent; the dry run says the same (issue 17).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_would_move_the_url_path_is_refused() {
    let s = setup().await;
    for (n, sha) in ["..", ".", ""].iter().enumerate() {
        s.upstream.set_shas(sha, "bbb2222");
        for args in [
            ["act", "promote", "--env", "production", "--dry-run"],
            ["act", "promote", "--env", "production", "--yes"],
        ] {
            let o = villa(s.dir.path(), &args, &[]).await;
            let out = text(&o);
            assert_eq!(o.status.code(), Some(3), "{sha} {args:?}: {out}");
            assert!(
                out.contains("a value made empty, `.` or `..`"),
                "{sha} {args:?}: {out}"
            );
        }
        let lines = audit_lines(s.dir.path());
        assert_eq!(
            lines.len(),
            n + 1,
            "the --yes attempt is audited: {lines:?}"
        );
        assert_eq!(lines[n]["outcome"], "refused");
    }
    assert_eq!(s.upstream.received().len(), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_error_exits_2_with_its_answer_masked() {
    let s = setup().await;
    let o = villa(s.dir.path(), &["act", "fail", "--yes"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("500 failed"), "{out}");
    assert!(out.contains("deploy failed; you sent Bearer ••••"), "{out}");
    assert_eq!(s.upstream.received().len(), 1);
    assert_no_secret(&s, &out);
    assert_eq!(
        audit_lines(s.dir.path()).last().unwrap()["outcome"],
        "failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_costs_at_most_the_timeout() {
    let s = setup().await;
    let started = Instant::now();
    let o = villa(s.dir.path(), &["act", "hang", "--yes"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("no answer within 1s"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let last = audit_lines(s.dir.path()).last().cloned().unwrap();
    assert_eq!(last["outcome"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_log_stops_the_action_before_it_is_sent() {
    let s = setup().await;
    // `state` is a file, so state/audit.jsonl cannot be created.
    std::fs::write(s.dir.path().join("state"), "not a directory").unwrap();
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production", "--yes"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("cannot write the audit log"), "{out}");
    assert!(out.contains("the action was not sent"), "{out}");
    assert_eq!(s.upstream.received().len(), 0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_private_under_a_default_umask() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup().await;
    let o = villa_umask(
        s.dir.path(),
        "022",
        &["act", "promote", "--env", "production", "--yes"],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(s.upstream.received().len(), 1);
    let mode = |p: &str| {
        std::fs::metadata(s.dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("state/audit.jsonl"), 0o600);
    assert_eq!(mode("state"), 0o700);

    // A log left 0644 (by hand, or an older version) is narrowed on append.
    let log = s.dir.path().join("state/audit.jsonl");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = villa_umask(s.dir.path(), "022", &["act", "nope", "--yes"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(mode("state/audit.jsonl"), 0o600);
    assert_eq!(audit_lines(s.dir.path()).len(), 3);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_at_the_audit_path_is_refused_and_nothing_is_sent() {
    let s = setup().await;
    let target = s.dir.path().join("precious.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    std::fs::create_dir(s.dir.path().join("state")).unwrap();
    std::os::unix::fs::symlink(&target, s.dir.path().join("state/audit.jsonl")).unwrap();
    let o = villa(
        s.dir.path(),
        &["act", "promote", "--env", "production", "--yes"],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(
        out.contains("state/audit.jsonl: it is a symbolic link"),
        "names the path and why:\n{out}"
    );
    assert!(out.contains("the action was not sent"), "{out}");
    assert_eq!(s.upstream.received().len(), 0);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");

    // A refusal is still refused, and says the audit could not be written.
    let o = villa(s.dir.path(), &["act", "nope", "--yes"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("it is a symbolic link"), "{out}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_dispatch_reaches_the_fake_github_with_the_token() {
    let s = setup().await;
    let token = "ghp_villaTestToken0123456789";
    let o = villa(
        s.dir.path(),
        &["act", "redeploy", "--env", "staging", "--yes"],
        &[("GITHUB_TOKEN", token)],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("204 ok"), "{out}");
    assert!(!out.contains(token), "{out}");
    let log = s.github.log();
    let sent: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(sent.len(), 1, "{log:?}");
    assert_eq!(
        sent[0].path,
        "repos/o/r/actions/workflows/deploy.yml/dispatches"
    );
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(sent[0].api_version.as_deref(), Some("2022-11-28"));
    let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "ref": "main", "inputs": { "sha": "aaa1111", "environment": "staging" } })
    );
    let audit = std::fs::read_to_string(s.dir.path().join("state/audit.jsonl")).unwrap();
    assert!(!audit.contains(token), "{audit}");
    assert_eq!(s.upstream.received().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_lists_what_is_enabled_and_why_not() {
    let s = setup().await;
    let o = villa(s.dir.path(), &["actions"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let line = |needle: &str| {
        out.lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line for {needle}:\n{out}"))
            .to_owned()
    };
    assert!(
        line("promote --env production").contains("enabled"),
        "{out}"
    );
    assert!(
        line("promote --env production").contains("(confirm: production)"),
        "{out}"
    );
    assert!(
        line("needs-var")
            .contains("disabled  environment variable VILLA_TEST_UNSET_VARIABLE is not set"),
        "{out}"
    );
    assert!(
        line("redeploy --env staging").contains("needs a GitHub token"),
        "{out}"
    );
    assert!(out.contains("dashboard buttons are off"), "{out}");
    assert_eq!(s.upstream.received().len(), 0);
    assert_eq!(
        audit_lines(s.dir.path()).len(),
        0,
        "listing is not an attempt"
    );
    assert_no_secret(&s, &out);
}

#[test]
fn action_config_errors_point_at_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("villa-telemetry.toml");
    let cases = [
        (
            "[[actions]]\nid = \"a\"\nenvironments = [\"prod\"]\nhttp = { url = \"https://x.example/\" }\n",
            ":3:17",
            "unknown environment `prod`",
        ),
        (
            "[[actions]]\nid = \"a\"\nwhen = [\"$.x ==\"]\nhttp = { url = \"https://x.example/\" }\n",
            ":3:",
            "invalid condition",
        ),
        (
            "[[actions]]\nid = \"a\"\nwhen = [\"status == 200\"]\nhttp = { url = \"https://x.example/\" }\n",
            ":3:9",
            "`when` reads the report",
        ),
        (
            "[[actions]]\nid = \"a\"\nhttp = { url = \"https://x.example/${TOKEN}\" }\n",
            ":3:16",
            "is only read in header values and bodies",
        ),
        ("[[actions]]\nid = \"a\"\n", ":2:6", "has no request"),
        (
            "[[actions]]\nid = \"a\"\nhttp = { url = \"https://x.example/{{environments.stagin.sha}}\" }\n",
            ":3:16",
            "unknown environment `stagin`",
        ),
        (
            "[[actions]]\nid = \"a\"\ngithub = { dispatch = \"deploy.yml\", ref = \"main\" }\n",
            ":3:10",
            "needs a repository",
        ),
        (
            "[[actions]]\nid = \"a\"\nhttp = { url = \"https://x.example/\", metod = \"POST\" }\n",
            ":3:",
            "unknown field `metod`",
        ),
    ];
    for (actions, at, want) in cases {
        std::fs::write(
            &path,
            format!("[[environments]]\nid = \"production\"\n{actions}"),
        )
        .unwrap();
        let o = std::process::Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{actions}\n{err}");
        assert!(err.contains(want), "want {want:?}:\n{err}");
        // The environment lines come first: shift expected lines by 2.
        let (line, col) = at[1..].split_once(':').unwrap();
        let line: usize = line.parse::<usize>().unwrap() + 2;
        let loc = format!("villa-telemetry.toml:{line}:{col}");
        assert!(err.contains(&loc), "want {loc} in:\n{err}");
    }
}
