//! A production with a GitHub deployment history (on the fake GitHub,
//! from GitHub's documented fixtures) and rollback actions against it.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use villa_telemetry::demo::github::FakeGithub;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github");
pub const DEPLOYMENTS: &str = "repos/o/r/deployments";
/// A failed deploy of what staging runs (id 4).
pub const FAILED: &str = "aaa1111f00d5eed5a5e0c0ffee0ddba11ca7f00d";
/// What production runs (id 3, success).
pub const LIVE: &str = "bbb2222f00d5eed5a5e0c0ffee0ddba11ca7f00d";
/// What production ran before (id 2, inactive): the rollback target.
pub const BEFORE: &str = "ccc3333f00d5eed5a5e0c0ffee0ddba11ca7f00d";
/// A deploy that errored before that (id 1).
pub const ERRORED: &str = "ddd4444f00d5eed5a5e0c0ffee0ddba11ca7f00d";

/// A recorded GitHub answer from the shared fixtures.
pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// Production's history on the fake GitHub, newest first.
pub fn history(fake: &FakeGithub) {
    let rows = [
        (4, FAILED, "failure", "2026-01-22T14:00:00Z"),
        (3, LIVE, "success", "2026-01-21T10:00:00Z"),
        (2, BEFORE, "inactive", "2026-01-20T09:00:00Z"),
        (1, ERRORED, "error", "2026-01-19T09:00:00Z"),
    ];
    let list: Vec<Value> = rows
        .iter()
        .map(|&(id, sha, _, at)| {
            let mut d = fixture("official/deployments_list.json")[0].clone();
            d["id"] = json!(id);
            d["sha"] = json!(sha);
            d["ref"] = json!("main");
            d["created_at"] = json!(at);
            d["updated_at"] = json!(at);
            d
        })
        .collect();
    fake.set(DEPLOYMENTS, 200, json!(list), &[]);
    for (id, _, state, at) in rows {
        let mut s = fixture("official/deployment_statuses_list.json");
        s[0]["state"] = json!(state);
        s[0]["updated_at"] = json!(at);
        fake.set(&format!("{DEPLOYMENTS}/{id}/statuses"), 200, s, &[]);
    }
}

/// Production (running `bbb2222`) with its deployment history, a rollback
/// over HTTP, one by workflow dispatch, and an action that is no rollback.
pub fn config(dir: &Path, upstream: &str, github: &str, serve_actions: bool) -> PathBuf {
    let text = format!(
        r#"[project]
name = "Rollback Test"
repo = "o/r"

[github]
api_url = "{github}"
disk_cache = false
history = 5

[serve]
actions = {serve_actions}
refresh = "1h"

[act]
audit = "state/audit.jsonl"
timeout = "5s"

[[environments]]
id = "staging"
url = "{upstream}/staging"

[[environments]]
id = "production"
url = "{upstream}/production"
tracks = "staging"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/health" }}
extract = {{ sha = "$.sha" }}

[[checks]]
id = "deployment"
environments = ["production"]
github = {{ deployment = "{{{{env.id}}}}" }}

[[actions]]
id = "rollback"
name = "Roll back to this"
environments = ["production"]
target = "deployment"
confirm = "rollback"
http = {{ url = "{upstream}/rollback/{{{{deployment.sha}}}}", headers = {{ Authorization = "Bearer ${{TEST_DEPLOY_TOKEN}}" }}, body = '{{"sha": "{{{{deployment.sha}}}}", "id": "{{{{deployment.id}}}}", "ref": "{{{{deployment.ref}}}}", "env": "{{{{env.id}}}}"}}' }}

[[actions]]
id = "rollback-gh"
environments = ["production"]
target = "deployment"
github = {{ dispatch = "rollback.yml", ref = "main", inputs = {{ sha = "{{{{deployment.sha}}}}", deployment = "{{{{deployment.id}}}}" }} }}

[[actions]]
id = "redeploy"
environments = ["production"]
http = {{ url = "{upstream}/redeploy/{{{{env.id}}}}" }}
"#
    );
    let path = dir.join("villa-telemetry.toml");
    std::fs::write(&path, text).unwrap();
    path
}
