//! `POST /api/actions/ID` on a real socket: same-origin only, CSRF token,
//! JSON body, the confirm word, one run at a time, nothing on GET — every
//! refusal audited and sending nothing upstream.

use crate::actions_support;

use std::path::Path;
use std::time::Duration;

use actions_support::{
    SECRET, Served, Upstream, add_echo, assert_no_secret_form, audit_lines, client, config,
    serve_config, set_secret, token_of,
};
use serde_json::{Value, json};
use villa_telemetry::demo::github::{FakeGithub, Fixtures};

async fn post(s: &Served, id: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}/api/actions/{id}", s.base))
        .header("origin", format!("http://{}", s.host))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.header("x-villa-csrf", t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "secret in the answer: {text}");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actions_endpoint_refuses_everything_but_a_confirmed_same_origin_request() {
    set_secret();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::with_fixtures(Fixtures::default())
        .await
        .unwrap();
    let path = config(dir.path(), &upstream.url(), &github.url(), true);
    let s = serve_config(&path).await;

    let page = client()
        .get(&s.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(SECRET));
    let token = token_of(&page);
    assert_eq!(token.len(), 64);
    assert!(
        page.contains(r#"data-testid="action-promote-production""#),
        "promote button beside the drift"
    );
    assert!(
        page.contains(r#"data-testid="action-redeploy-staging""#),
        "redeploy on the card"
    );
    assert!(
        page.contains("<noscript>"),
        "a no-JS page names the CLI command"
    );

    // Nothing is reachable with GET.
    let r = client()
        .get(format!("{}/api/actions/promote", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);

    let right = json!({ "env": "production", "confirm": "production" });
    // No token.
    let (st, j) = post(&s, "promote", None, right.clone()).await;
    assert_eq!(st, 403, "{j}");
    assert!(j["message"].as_str().unwrap().contains("CSRF token"), "{j}");
    // A wrong token.
    let (st, _) = post(&s, "promote", Some("0".repeat(64).as_str()), right.clone()).await;
    assert_eq!(st, 403);
    // A cross-site form POST.
    let r = client()
        .post(format!("{}/api/actions/promote", s.base))
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("env=production&confirm=production")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The right token from another origin (no Sec-Fetch-Site, as from a script).
    let r = client()
        .post(format!("{}/api/actions/promote", s.base))
        .header("origin", "http://evil.example")
        .header("x-villa-csrf", &token)
        .header("content-type", "application/json")
        .body(right.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Not JSON.
    let r = client()
        .post(format!("{}/api/actions/promote", s.base))
        .header("origin", format!("http://{}", s.host))
        .header("x-villa-csrf", &token)
        .header("content-type", "text/plain")
        .body(right.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The wrong word.
    let (st, j) = post(
        &s,
        "promote",
        Some(&token),
        json!({ "env": "production", "confirm": "prod" }),
    )
    .await;
    assert_eq!(st, 403, "{j}");
    assert!(
        j["message"].as_str().unwrap().contains("type `production`"),
        "{j}"
    );
    // Unknown action.
    let (st, _) = post(&s, "nope", Some(&token), json!({})).await;
    assert_eq!(st, 404);
    assert_eq!(
        upstream.received().len(),
        0,
        "no refused request reached the upstream"
    );
    let refused = audit_lines(dir.path());
    assert_eq!(refused.len(), 7, "{refused:#?}");
    assert!(
        refused
            .iter()
            .all(|l| l["outcome"] == "refused" && l["from"] == "dashboard")
    );

    // Confirmed.
    let (st, j) = post(&s, "promote", Some(&token), right.clone()).await;
    assert_eq!(st, 200, "{j}");
    assert_eq!(j["ok"], true);
    assert_eq!(j["outcome"], "succeeded");
    assert_eq!(j["status"], 200);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/deploy/aaa1111");

    // A second click while the first runs.
    let first = {
        let token = token.clone();
        let base = s.base.clone();
        let host = s.host.clone();
        tokio::spawn(async move {
            client()
                .post(format!("{base}/api/actions/slow"))
                .header("origin", format!("http://{host}"))
                .header("sec-fetch-site", "same-origin")
                .header("x-villa-csrf", token)
                .header("content-type", "application/json")
                .body(json!({ "confirm": "slow" }).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (st, j) = post(&s, "slow", Some(&token), json!({ "confirm": "slow" })).await;
    assert_eq!(st, 409, "{j}");
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(
        upstream
            .received()
            .iter()
            .filter(|r| r.path == "/slow")
            .count(),
        1
    );

    let lines = audit_lines(dir.path());
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "succeeded").count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "refused").count(),
        8,
        "{outcomes:?}"
    );
    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    assert!(!audit.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_off_by_default() {
    set_secret();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let path = config(dir.path(), &upstream.url(), "http://127.0.0.1:9", false);
    let s = serve_config(&path).await;
    let page = client()
        .get(&s.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"act-dialog\""));
    assert!(!page.contains("data-action="));
    let (st, _) = post(
        &s,
        "promote",
        Some("x"),
        json!({ "env": "production", "confirm": "production" }),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(upstream.received().len(), 0);
    assert_eq!(audit_lines(dir.path()).len(), 0);
}

/// Runs the CLI against `config` off the async runtime.
async fn cli(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env("TEST_DEPLOY_TOKEN", SECRET)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .stdin(std::process::Stdio::null());
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_and_hex_forms_of_a_secret_are_masked_in_dry_run_dashboard_and_audit() {
    set_secret();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let path = config(dir.path(), &upstream.url(), "http://127.0.0.1:9", true);
    add_echo(&path, &upstream.url());

    // A secret an action names is a secret of every run: the leaking
    // check's fields are masked in the report too.
    let (_, out) = cli(&path, &["run", "--format", "json"]).await;
    assert!(out.contains(r#""b64": "••••""#), "{out}");
    assert_no_secret_form("run output", &out);

    // Dry run: the body carries what the leaking check read; the URL
    // carries a branch, percent-encoded.
    let (code, out) = cli(&path, &["act", "echo", "--dry-run"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("POST {}/echo/feature%2Fx%20y\n", upstream.url())),
        "{out}"
    );
    assert!(out.contains(r#"{"b": "••••", "h": "••••"}"#), "{out}");
    assert_no_secret_form("dry-run output", &out);
    assert_eq!(upstream.received().len(), 0, "a dry run sends nothing");

    // The CLI: the upstream echoes the token in base64 and hex.
    let (code, out) = cli(&path, &["act", "echo", "--yes"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("token seen: •••• •••• ••••"), "{out}");
    assert_no_secret_form("act output", &out);

    // The dashboard's result.
    let s = serve_config(&path).await;
    let page = client()
        .get(&s.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_no_secret_form("the dashboard", &page);
    let (st, j) = post(
        &s,
        "echo",
        Some(&token_of(&page)),
        json!({ "confirm": "echo" }),
    )
    .await;
    assert_eq!(st, 200, "{j}");
    assert_eq!(j["answer"], "token seen: •••• •••• ••••", "{j}");
    assert_no_secret_form("the dashboard result", &j.to_string());

    let received = upstream.received();
    assert_eq!(
        received.len(),
        2,
        "the CLI and the dashboard each sent once"
    );
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    assert_eq!(
        audit.lines().count(),
        4,
        "sending + outcome, twice:\n{audit}"
    );
    assert!(audit.contains("••••"), "{audit}");
    assert_no_secret_form("audit.jsonl", &audit);
}

/// Issue 17: a cross-site page can POST text/plain without a preflight.
/// Refused, and each refusal adds one bounded line to the audit log, not the
/// body (30 POSTs of 1.9 MB once grew it by 58 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_huge_posts_add_small_audit_lines() {
    set_secret();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let path = config(dir.path(), &upstream.url(), "http://127.0.0.1:9", true);
    let s = serve_config(&path).await;
    let log = dir.path().join("state/audit.jsonl");
    // JSON in a text/plain body: its `env` is what the refusal records.
    let body = json!({ "env": "p".repeat(1_900_000), "confirm": "x".repeat(1000) }).to_string();
    let posts = 30;
    for i in 0..posts {
        let r = client()
            .post(format!("{}/api/actions/promote", s.base))
            .header("origin", "http://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "text/plain")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "post {i}");
    }
    let size = std::fs::metadata(&log).unwrap().len();
    eprintln!("audit.jsonl after {posts} refused 1.9 MB POSTs: {size} bytes");
    let lines = audit_lines(dir.path());
    assert_eq!(lines.len(), posts);
    assert!(
        size <= posts as u64 * 4096,
        "{size} bytes for {posts} refusals"
    );
    for l in &lines {
        assert_eq!(l["outcome"], "refused");
        assert!(
            l["detail"]
                .as_str()
                .unwrap()
                .contains("cross-site request refused"),
            "{l}"
        );
    }
    assert_eq!(upstream.received().len(), 0);
}
