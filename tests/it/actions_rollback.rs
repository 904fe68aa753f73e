//! Rollback actions (`target = "deployment"`) against the deployment history
//! the fake GitHub serves (GitHub's documented deployment and status
//! fixtures), with a loopback upstream that records what it receives and
//! the fake GitHub for workflow_dispatch: the CLI (`act --deployment`,
//! `actions`, `audit`) and `POST /api/actions/ID` with a deployment id.
//! Every refused case asserts that nothing was sent.

use crate::actions_support;

use actions_support::rollback::{BEFORE, ERRORED, FAILED, FIXTURES, LIVE, config, history};
use actions_support::{
    SECRET, Served, Upstream, assert_no_secret_form, audit_lines, client, serve_config, text, villa,
};
use serde_json::{Value, json};
use villa_telemetry::demo::github::FakeGithub;

struct Setup {
    dir: tempfile::TempDir,
    upstream: Upstream,
    github: FakeGithub,
}

async fn setup(serve_actions: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::start(FIXTURES).await.expect("fake GitHub");
    history(&github);
    config(dir.path(), &upstream.url(), &github.url(), serve_actions);
    Setup {
        dir,
        upstream,
        github,
    }
}

fn no_secret(s: &Setup, out: &str) {
    assert_no_secret_form("output", out);
    let audit = std::fs::read_to_string(s.dir.path().join("state/audit.jsonl")).unwrap_or_default();
    assert_no_secret_form("the audit log", &audit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_request_with_the_chosen_deployments_sha() {
    let s = setup(false).await;
    for asked in ["2", "#2", "ccc3333", &BEFORE[..12]] {
        let o = villa(
            s.dir.path(),
            &[
                "act",
                "rollback",
                "--env",
                "production",
                "--deployment",
                asked,
                "--dry-run",
            ],
            &[],
        )
        .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{asked}: {out}");
        assert!(
            out.contains(&format!(
                "# rolls production back to deployment 2 (sha {BEFORE}, ref main, inactive"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("POST {}/rollback/{BEFORE}", s.upstream.url())),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                r#"{{"sha": "{BEFORE}", "id": "2", "ref": "main", "env": "production"}}"#
            )),
            "{out}"
        );
        assert!(out.contains("Authorization: Bearer ••••"), "{out}");
        assert!(out.contains("confirm word: rollback"), "{out}");
        no_secret(&s, &out);
    }
    // `--sha` is the same flag.
    let o = villa(
        s.dir.path(),
        &[
            "act",
            "rollback",
            "--env",
            "production",
            "--sha",
            "ccc3333",
            "--dry-run",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(s.upstream.received().len(), 0);
    assert_eq!(
        audit_lines(s.dir.path()).len(),
        0,
        "a dry run is no attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_sends_the_chosen_sha_and_audits_the_deployment() {
    let s = setup(false).await;
    let o = villa(
        s.dir.path(),
        &[
            "act",
            "rollback",
            "--env",
            "production",
            "--deployment",
            "2",
            "--yes",
        ],
        &[],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("→ deployment 2 ({BEFORE}): 200 ok")),
        "{out}"
    );
    let got = s.upstream.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, format!("/rollback/{BEFORE}"));
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["sha"], BEFORE);
    assert_eq!(body["id"], "2");
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let lines = audit_lines(s.dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l["deployment"], json!({ "id": 2, "sha": BEFORE }), "{l}");
    }
    assert_eq!(lines[1]["outcome"], "succeeded");
    no_secret(&s, &out);

    let o = villa(s.dir.path(), &["audit"], &[]).await;
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "rollback --env production --deployment 2 ({BEFORE})  succeeded 200"
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_a_failed_an_unknown_or_no_deployment_is_refused() {
    let s = setup(false).await;
    let act = |extra: &[&str]| {
        let mut a = vec!["act", "rollback", "--env", "production", "--yes"];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str, Value)> = vec![
        (
            act(&["--deployment", "3"]),
            "cannot roll production back to deployment 3 (bbb2222, success, main): it is the commit this environment runs now; it can go back to 2 (ccc3333, inactive, main)",
            json!({ "id": 3, "sha": LIVE }),
        ),
        (
            act(&["--deployment", "aaa1111"]),
            "its deployment ended in `failure`: it never went live",
            json!({ "id": 4, "sha": FAILED }),
        ),
        (
            act(&["--deployment", "1"]),
            "its deployment ended in `error`: it never went live",
            json!({ "id": 1, "sha": ERRORED }),
        ),
        (
            act(&["--deployment", "99"]),
            "no deployment `99` among the last 4 of production",
            Value::Null,
        ),
        (
            act(&["--deployment", "ccc"]),
            "no deployment `ccc` among the last 4 of production (give its id or at least 7 characters of its sha)",
            Value::Null,
        ),
        (
            act(&[]),
            "action `rollback` goes back to a deployment of production: name one with --deployment ID (or its sha): 2 (ccc3333, inactive, main)",
            Value::Null,
        ),
        (
            [
                "act",
                "redeploy",
                "--env",
                "production",
                "--deployment",
                "2",
                "--yes",
            ]
            .map(str::to_owned)
            .to_vec(),
            "action `redeploy` does not go back to a deployment (got `2`)",
            Value::Null,
        ),
    ];
    for (i, (args, want, audited)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = villa(s.dir.path(), &args, &[]).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {out}");
        assert!(out.contains(want), "{args:?}: want {want:?} in:\n{out}");
        let lines = audit_lines(s.dir.path());
        assert_eq!(lines.len(), i + 1, "{args:?} is audited");
        let last = lines.last().unwrap();
        assert_eq!(last["outcome"], "refused");
        assert_eq!(
            last.get("deployment").cloned().unwrap_or(Value::Null),
            *audited,
            "{last}"
        );
        no_secret(&s, &out);
    }
    assert_eq!(s.upstream.received().len(), 0);
    assert!(s.github.log().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_lists_one_line_per_deployment_it_can_go_back_to() {
    let s = setup(false).await;
    let o = villa(s.dir.path(), &["actions"], &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let rollbacks: Vec<&str> = out.lines().filter(|l| l.starts_with("rollback ")).collect();
    assert_eq!(rollbacks.len(), 1, "{out}");
    assert!(
        rollbacks[0].starts_with("rollback --env production --deployment 2"),
        "{out}"
    );
    assert!(rollbacks[0].contains("enabled"), "{out}");
    assert!(
        rollbacks[0].contains("[2 (ccc3333, inactive, main)]"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("rollback-gh --env production")
                && l.contains("needs a GitHub token")),
        "{out}"
    );
    no_secret(&s, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatched_rollback_reaches_the_fake_github_with_the_sha() {
    let s = setup(false).await;
    let token = "ghp_villaRollbackToken0123456789";
    let o = villa(
        s.dir.path(),
        &[
            "act",
            "rollback-gh",
            "--env",
            "production",
            "--deployment",
            "ccc3333",
            "--yes",
        ],
        &[("GITHUB_TOKEN", token)],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains(token), "{out}");
    let log = s.github.log();
    let sent: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(sent.len(), 1, "{log:?}");
    assert_eq!(
        sent[0].path,
        "repos/o/r/actions/workflows/rollback.yml/dispatches"
    );
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(
        body,
        json!({ "ref": "main", "inputs": { "sha": BEFORE, "deployment": "2" } })
    );
    let audit = std::fs::read_to_string(s.dir.path().join("state/audit.jsonl")).unwrap();
    assert!(!audit.contains(token), "{audit}");
    assert_eq!(s.upstream.received().len(), 0);
}

async fn post(s: &Served, id: &str, token: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/api/actions/{id}", s.base))
        .header("origin", format!("http://{}", s.host))
        .header("sec-fetch-site", "same-origin")
        .header("x-villa-csrf", token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_no_secret_form("the answer", &text);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_offers_a_button_per_target_and_the_server_re_checks_it() {
    let s = setup(true).await;
    let path = s.dir.path().join("villa-telemetry.toml");
    let served = serve_config(&path).await;
    let page = client()
        .get(&served.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_no_secret_form("the page", &page);
    let history = page
        .split(r#"data-testid="deployments-production""#)
        .nth(1)
        .and_then(|r| r.split("</ol>").next())
        .unwrap_or_else(|| panic!("the history under the production card:\n{page}"));
    assert!(
        history.contains(r#"data-testid="action-rollback-production-2""#),
        "a button beside deployment 2:\n{history}"
    );
    assert!(
        history.contains(r#"data-deployment="2" data-sha="ccc3333""#),
        "{history}"
    );
    assert!(
        history.contains("villa-telemetry act rollback --env production --deployment 2"),
        "without JavaScript the page names the command:\n{history}"
    );
    for not in ["-production-1\"", "-production-3\"", "-production-4\""] {
        assert!(!history.contains(not), "no button for {not}:\n{history}");
    }
    let token = page
        .split("data-token=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page embeds the token")
        .to_owned();

    // The running deployment, and one the history does not have.
    for (deployment, want) in [
        (json!(3), "runs now"),
        (json!("99"), "no deployment `99`"),
        (Value::Null, "name one with --deployment"),
    ] {
        let (st, j) = post(
            &served,
            "rollback",
            &token,
            json!({ "env": "production", "deployment": deployment, "confirm": "rollback" }),
        )
        .await;
        assert_eq!(st, 409, "{j}");
        assert_eq!(j["refusal"], "deployment", "{j}");
        assert!(j["message"].as_str().unwrap().contains(want), "{j}");
    }
    // The wrong word for the right deployment.
    let (st, _) = post(
        &served,
        "rollback",
        &token,
        json!({ "env": "production", "deployment": 2, "confirm": "production" }),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(s.upstream.received().len(), 0);

    // Confirmed: the deployment's sha reaches the upstream.
    let (st, j) = post(
        &served,
        "rollback",
        &token,
        json!({ "env": "production", "deployment": 2, "confirm": "rollback" }),
    )
    .await;
    assert_eq!(st, 200, "{j}");
    assert_eq!(j["outcome"], "succeeded");
    let got = s.upstream.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, format!("/rollback/{BEFORE}"));

    // Production now runs what it rolled back to: the page's button is stale.
    s.upstream.set_shas("aaa1111", "ccc3333");
    let (st, j) = post(
        &served,
        "rollback",
        &token,
        json!({ "env": "production", "deployment": "2", "confirm": "rollback" }),
    )
    .await;
    assert_eq!(st, 409, "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("it is the commit this environment runs now; it can go back to 3 (bbb2222, success, main)"),
        "{j}"
    );
    assert_eq!(s.upstream.received().len(), 1, "nothing more was sent");

    let lines = audit_lines(s.dir.path());
    let refused: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 5, "{lines:#?}");
    assert!(refused.iter().all(|l| l["from"] == "dashboard"));
    assert_eq!(refused[0]["deployment"], json!({ "id": 3, "sha": LIVE }));
    assert_eq!(
        refused[3]["deployment"],
        json!({ "id": 2, "sha": BEFORE }),
        "the wrong word"
    );
    assert_eq!(
        refused[4]["deployment"],
        json!({ "id": 2, "sha": BEFORE }),
        "the stale one"
    );
    let sent: Vec<&Value> = lines
        .iter()
        .filter(|l| l["outcome"] == "succeeded")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["deployment"], json!({ "id": 2, "sha": BEFORE }));
    let audit = std::fs::read_to_string(s.dir.path().join("state/audit.jsonl")).unwrap();
    assert_no_secret_form("the audit log", &audit);
}
