//! `[mcp] actions = true` (issue 21, item 6) with the Python `mcp` client
//! (tests/mcp/act_client.py) against a loopback upstream: the action tools
//! are listed as destructive, the confirm word is asked of the user (an
//! `input_required` round at 2026-07-28, `elicitation/create` at 2025-11-25),
//! a wrong word or a decline sends nothing, and every attempt is audited as
//! `from: "agent"` with no secret in any answer or question.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use villa_telemetry::demo::github::{FakeGithub, Fixtures};

use crate::actions_support::{
    SECRET, Upstream, assert_no_secret_form, audit_lines, config, serve_config, set_secret,
};
use crate::mcp::python_or_skip;
use crate::support::BIN;

/// The actions test config with `[mcp] actions = true` appended.
fn mcp_config(dir: &Path, upstream: &str, github: &str) -> std::path::PathBuf {
    let path = config(dir, upstream, github, false);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[mcp]\nactions = true\n");
    std::fs::write(&path, text).unwrap();
    path
}

async fn act_client(python: &Path, args: &[&str], revision: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/act_client.py");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(&script)
            .args(args)
            .env("MCP_REVISION", revision)
            .env("TEST_DEPLOY_TOKEN", SECRET)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes within 2 min")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "act_client.py {args:?} failed:\n{stderr}\n{stdout}"
    );
    assert_no_secret_form("the MCP answers", &stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("act_client.py printed no JSON line ({e}):\n{stdout}\n{stderr}"))
}

fn result(seen: &Value) -> &Value {
    &seen["result"]["structuredContent"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_an_action_only_with_the_word_its_user_typed() {
    let Some(python) = python_or_skip("an_agent_runs_an_action_only_with_the_word_its_user_typed")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::with_fixtures(Fixtures::default())
        .await
        .unwrap();
    let path = mcp_config(dir.path(), &upstream.url(), &github.url());
    let config = path.to_str().unwrap();
    let args = json!({ "env": "production" }).to_string();
    let stdio =
        |word: &'static str| ["stdio", BIN, config, "act_promote", &args, word].map(str::to_owned);
    let run = |word: &'static str, revision: &'static str| {
        let a = stdio(word);
        let python = python.clone();
        async move {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            act_client(&python, &a, revision).await
        }
    };

    // 2025-11-25 over stdio: the server asks with elicitation/create.
    let seen = run("production", "2025-11-25").await;
    assert_eq!(seen["protocol_version"], "2025-11-25");
    let tool = &seen["tools"]["act_promote"];
    assert_eq!(tool["annotations"]["destructiveHint"], true, "{tool}");
    assert_eq!(tool["annotations"]["readOnlyHint"], false, "{tool}");
    assert_eq!(
        tool["inputSchema"]["properties"]["env"]["enum"],
        json!(["production"])
    );
    assert!(
        seen["tools"]["status"].is_object(),
        "the read-only tools stay"
    );
    let asked = seen["asked"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{seen}");
    let question = asked[0]["message"].as_str().unwrap();
    assert!(question.contains("`promote` for production"), "{question}");
    assert!(
        question.contains("/deploy/aaa1111"),
        "says what is sent: {question}"
    );
    assert!(question.contains("Type `production`"), "{question}");
    assert_eq!(result(&seen)["ok"], true, "{seen}");
    assert_eq!(result(&seen)["outcome"], "succeeded", "{seen}");
    let sent = upstream.received();
    assert_eq!(sent.len(), 1, "one request sent");
    assert_eq!(sent[0].path, "/deploy/aaa1111");
    let lines = audit_lines(dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["from"] == "agent"), "{lines:?}");
    assert_eq!(lines[0]["outcome"], "sending");
    assert_eq!(lines[1]["outcome"], "succeeded");

    // 2026-07-28: an input_required round; a wrong word sends nothing.
    let seen = run("prod", "2026-07-28").await;
    assert_eq!(seen["protocol_version"], "2026-07-28");
    assert_eq!(seen["rounds"], 1, "{seen}");
    assert_eq!(seen["result"]["isError"], true, "{seen}");
    assert_eq!(result(&seen)["refusal"], "forbidden", "{seen}");
    assert!(
        result(&seen)["message"]
            .as_str()
            .unwrap()
            .contains("type `production`"),
        "{seen}"
    );
    assert_eq!(upstream.received().len(), 1, "a wrong word sends nothing");

    // The right word, at 2026-07-28: sent.
    let seen = run("production", "2026-07-28").await;
    assert_eq!(seen["rounds"], 1, "{seen}");
    assert_eq!(result(&seen)["ok"], true, "{seen}");
    assert_eq!(upstream.received().len(), 2);

    // Declined: refused and audited, nothing sent.
    let seen = run("!decline", "2025-11-25").await;
    assert_eq!(result(&seen)["refusal"], "forbidden", "{seen}");
    assert!(
        result(&seen)["message"]
            .as_str()
            .unwrap()
            .contains("did not confirm"),
        "{seen}"
    );
    assert_eq!(upstream.received().len(), 2);

    let lines = audit_lines(dir.path());
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "sending",
            "succeeded",
            "refused",
            "sending",
            "succeeded",
            "refused"
        ],
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l["from"] == "agent"), "{lines:?}");
    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    assert_no_secret_form("the audit log", &audit);
}

/// Over `serve`'s stateless HTTP a 2025-11-25 client cannot be asked (no
/// stream to carry `elicitation/create`): refused, pointing to `act`. A
/// 2026-07-28 client is asked in the call's own answer and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_only_a_client_that_can_be_asked_runs_an_action() {
    let Some(python) = python_or_skip("over_http_only_a_client_that_can_be_asked") else {
        return;
    };
    set_secret();
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::with_fixtures(Fixtures::default())
        .await
        .unwrap();
    let path = mcp_config(dir.path(), &upstream.url(), &github.url());
    let served = serve_config(&path).await;
    let url = format!("{}/mcp", served.base);
    let args = json!({ "env": "production" }).to_string();
    let call = [
        "http",
        url.as_str(),
        "act_promote",
        args.as_str(),
        "production",
    ];

    let seen = act_client(&python, &call, "2025-11-25").await;
    assert_eq!(result(&seen)["refusal"], "forbidden", "{seen}");
    assert!(
        result(&seen)["message"]
            .as_str()
            .unwrap()
            .contains("villa-telemetry act promote --env production"),
        "{seen}"
    );
    assert!(upstream.received().is_empty());

    let seen = act_client(&python, &call, "2026-07-28").await;
    assert_eq!(result(&seen)["ok"], true, "{seen}");
    assert_eq!(upstream.received().len(), 1);
    let lines = audit_lines(dir.path());
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "sending", "succeeded"], "{lines:?}");
}

/// Off by default: no action tool is listed and `act_promote` is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mcp_actions_no_action_tool_exists() {
    let Some(python) = python_or_skip("without_mcp_actions_no_action_tool_exists") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let github = FakeGithub::with_fixtures(Fixtures::default())
        .await
        .unwrap();
    let path = config(dir.path(), &upstream.url(), &github.url(), true);
    let args = json!({ "env": "production" }).to_string();
    let call = [
        "stdio",
        BIN,
        path.to_str().unwrap(),
        "act_promote",
        &args,
        "production",
    ];
    let seen = act_client(&python, &call, "2025-11-25").await;
    let tools = seen["tools"].as_object().unwrap();
    assert!(tools.keys().all(|t| !t.starts_with("act_")), "{tools:?}");
    let unknown = seen["error"].as_str().unwrap_or_default().to_owned()
        + seen["result"]["content"].to_string().as_str();
    assert!(
        unknown.contains(
            "`act_promote` is not a tool: actions are MCP tools only with `[mcp] actions = true`"
        ),
        "says how to turn them on: {seen}"
    );
    assert!(upstream.received().is_empty());
    assert!(audit_lines(dir.path()).is_empty());
}
