//! `villa-telemetry run` end to end against loopback servers: upstream
//! faults stay in their own check, report semantics, exit codes, secrets,
//! ordering and parallelism. Assertions read `--format json`.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{GitRepo, Outcome, Project, Reply, Server, check, closed_port, error_of};

/// A config with one global healthy check `ok` and the given `[[checks]]`.
fn with_ok_check(server: &Server, head: &str, checks: &str) -> Project {
    server.route("/ok", Reply::json(200, json!({"status": "ok"})));
    Project::new(&format!(
        r#"{head}
[[checks]]
id = "ok"
http = {{ url = "{ok}" }}
expect = ["status == 200", "$.status == 'ok'"]

{checks}
"#,
        ok = server.url("/ok")
    ))
}

/// Runs a config whose check `bad` hits an upstream fault, and checks that
/// only `bad` is affected: it is `error`, `ok` still passes, the run fails.
fn fault(server: &Server, head: &str, bad: &str) -> (Outcome, Value) {
    let p = with_ok_check(server, head, bad);
    let out = p.run(&[]);
    let report = out.json();
    assert_eq!(
        check(&report, "ok", None)["status"],
        "pass",
        "the healthy check must not be affected: {report:#}"
    );
    assert_eq!(check(&report, "bad", None)["status"], "error", "{report:#}");
    assert_eq!(report["status"], "failing");
    assert_eq!(
        out.code, 2,
        "a failing report exits 2; stderr {}",
        out.stderr
    );
    (out, report)
}

fn assert_error_contains(report: &Value, id: &str, env: Option<&str>, text: &str) {
    let e = error_of(report, id, env);
    assert!(
        e.contains(text),
        "error of {id}: expected `{text}` in `{e}`"
    );
}

/// The check's `error_kind` is `kind`: advice and blame read it, not the text.
fn assert_kind(report: &Value, id: &str, kind: &str) {
    assert_eq!(
        check(report, id, None)["error_kind"],
        kind,
        "error_kind of {id}: {report:#}"
    );
}

// ------------------------------------------------------------ faults --

#[test]
fn connection_refused_is_that_checks_error() {
    let s = Server::start();
    let port = closed_port();
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"http://127.0.0.1:{port}/health\" }}\n"
        ),
    );
    assert_error_contains(
        &r,
        "bad",
        None,
        &format!("connection refused by http://127.0.0.1:{port}/health (is the service running?)"),
    );
    assert_kind(&r, "bad", "refused");
}

#[test]
fn dns_failure_is_that_checks_error() {
    let s = Server::start();
    let (_, r) = fault(
        &s,
        "",
        "[[checks]]\nid = \"bad\"\ntimeout = \"1500ms\"\nhttp = { url = \"http://villa-telemetry-test.invalid/health\" }\n",
    );
    assert_error_contains(
        &r,
        "bad",
        None,
        "DNS lookup failed for http://villa-telemetry-test.invalid/health",
    );
    assert_kind(&r, "bad", "dns");
}

#[test]
fn timeout_is_that_checks_error_and_bounds_the_run() {
    let s = Server::start();
    s.route(
        "/slow",
        Reply::json(200, json!({})).delayed(Duration::from_secs(5)),
    );
    let (out, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\ntimeout = \"300ms\"\nhttp = {{ url = \"{}\" }}\n",
            s.url("/slow")
        ),
    );
    assert_error_contains(&r, "bad", None, "timed out after 300ms");
    assert!(
        out.elapsed < Duration::from_millis(2000),
        "run took {:?} with a 300ms timeout",
        out.elapsed
    );
    assert_kind(&r, "bad", "timeout");
}

#[test]
fn run_timeout_is_the_default_per_check() {
    let s = Server::start();
    s.route(
        "/slow",
        Reply::json(200, json!({})).delayed(Duration::from_secs(5)),
    );
    let (out, r) = fault(
        &s,
        "[run]\ntimeout = \"250ms\"\n",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\n",
            s.url("/slow")
        ),
    );
    assert_error_contains(&r, "bad", None, "timed out after 250ms");
    assert!(
        out.elapsed < Duration::from_millis(2000),
        "{:?}",
        out.elapsed
    );
    assert_kind(&r, "bad", "timeout");
}

#[test]
fn tls_to_a_plain_http_port_is_that_checks_error() {
    let s = Server::start();
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"https://{}/health\" }}\n",
            s.addr
        ),
    );
    assert_error_contains(
        &r,
        "bad",
        None,
        &format!("TLS handshake with https://{}/health failed", s.addr),
    );
    assert_error_contains(&r, "bad", None, "does not speak TLS");
    assert_kind(&r, "bad", "tls");
}

#[test]
fn non_json_body_where_jsonpath_is_used() {
    let s = Server::start();
    s.route(
        "/html",
        Reply::text(200, "text/html; charset=utf-8", "<html>maintenance</html>"),
    );
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\nexpect = [\"$.status == 'ok'\"]\n",
            s.url("/html")
        ),
    );
    assert_error_contains(
        &r,
        "bad",
        None,
        "response body is not JSON (content-type text/html)",
    );
    assert_kind(&r, "bad", "not_json");
}

#[test]
fn body_over_the_cap_names_the_limit() {
    let s = Server::start();
    let big = "x".repeat(10 * 1024);
    s.route(
        "/big",
        Reply::json(200, json!({ "version": "1", "pad": big })),
    );
    let (_, r) = fault(
        &s,
        "[run]\nmax_body = \"1KiB\"\n",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\nextract = {{ version = \"$.version\" }}\n",
            s.url("/big")
        ),
    );
    assert_error_contains(&r, "bad", None, "larger than the 1 KiB limit");
    assert_error_contains(&r, "bad", None, "max_body");
    assert_kind(&r, "bad", "too_large");
}

#[test]
fn http_5xx_is_an_error() {
    let s = Server::start();
    s.route("/down", Reply::json(503, json!({"error": "db down"})));
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\n",
            s.url("/down")
        ),
    );
    assert_error_contains(&r, "bad", None, "HTTP 503 Service Unavailable");
    assert_error_contains(&r, "bad", None, "the service is up but failing");
    assert_kind(&r, "bad", "http_status");
}

#[test]
fn http_5xx_html_page_names_the_status_not_the_body() {
    // A proxy's 502 page is HTML: the shipped health check's JSONPath must
    // not hide the real cause behind "body is not JSON".
    let s = Server::start();
    s.route(
        "/gateway",
        Reply::text(502, "text/html", "<html>Bad Gateway</html>"),
    );
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\nexpect = [\"status == 200\", \"$.status == 'ok'\"]\n",
            s.url("/gateway")
        ),
    );
    assert_error_contains(&r, "bad", None, "HTTP 502 Bad Gateway");
    assert_kind(&r, "bad", "http_status");
}

#[test]
fn redirect_loop_is_an_error() {
    let s = Server::start();
    let target = s.url("/loop");
    s.route("/loop", Reply::redirect(&target));
    let (_, r) = fault(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\" }}\n",
            s.url("/loop")
        ),
    );
    assert_error_contains(&r, "bad", None, "too many redirects");
    assert_error_contains(&r, "bad", None, "redirect loop");
    assert_kind(&r, "bad", "redirect");
}

#[test]
fn git_path_that_is_not_a_repository() {
    let s = Server::start();
    let p = with_ok_check(
        &s,
        "",
        "[[checks]]\nid = \"bad\"\ngit = { path = \"plain\" }\n",
    );
    std::fs::create_dir(p.path().join("plain")).unwrap();
    let out = p.run(&[]);
    let r = out.json();
    assert_eq!(check(&r, "ok", None)["status"], "pass");
    assert_eq!(check(&r, "bad", None)["status"], "error");
    assert_error_contains(&r, "bad", None, "is not a git repository");
    assert_eq!(out.code, 2);
    assert_kind(&r, "bad", "git");
}

#[test]
fn git_not_installed() {
    let s = Server::start();
    let repo = GitRepo::new();
    repo.commit("first");
    let p = with_ok_check(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\ngit = {{ path = \"{}\" }}\n",
            repo.path().display()
        ),
    );
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = p.command();
    cmd.env("PATH", empty.path())
        .args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    let r = out.json();
    assert_eq!(check(&r, "ok", None)["status"], "pass");
    assert_eq!(check(&r, "bad", None)["status"], "error");
    assert_error_contains(&r, "bad", None, "git is not installed");
    assert_eq!(out.code, 2);
    assert_kind(&r, "bad", "git");
}

// --------------------------------------------------------- semantics --

#[test]
fn optional_environment_down_is_offline_not_failing() {
    let s = Server::start();
    s.route("/stg/health", Reply::json(200, json!({"status": "ok"})));
    let p = Project::new(&format!(
        r#"[[environments]]
id = "local"
url = "http://127.0.0.1:{port}"
optional = true

[[environments]]
id = "staging"
url = "{stg}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/health" }}
expect = ["status == 200"]
"#,
        port = closed_port(),
        stg = s.url("/stg")
    ));
    let out = p.run(&[]);
    let r = out.json();
    let local = &r["environments"]["local"];
    assert_eq!(local["status"], "unknown", "{r:#}");
    assert_eq!(local["offline"], true);
    assert_eq!(check(&r, "health", Some("local"))["status"], "error");
    assert_eq!(r["environments"]["staging"]["status"], "healthy");
    assert_eq!(
        r["status"], "healthy",
        "an offline optional env does not count"
    );
    assert!(
        r["summary"].as_str().unwrap().contains("1 offline"),
        "{}",
        r["summary"]
    );
    assert_eq!(out.code, 0);
}

#[test]
fn expect_false_fails_and_warn_unless_false_warns() {
    let s = Server::start();
    s.route(
        "/h",
        Reply::json(200, json!({"status": "degraded", "queue": 50})),
    );
    let p = Project::new(&format!(
        r#"[[checks]]
id = "strict"
http = {{ url = "{u}" }}
expect = ["$.status == 'ok'"]

[[checks]]
id = "soft"
http = {{ url = "{u}" }}
expect = ["status == 200"]
warn_unless = ["$.queue < 10"]
"#,
        u = s.url("/h")
    ));
    let out = p.run(&[]);
    let r = out.json();
    let strict = check(&r, "strict", None);
    assert_eq!(strict["status"], "fail");
    assert_eq!(
        strict["failed_conditions"][0],
        "$.status == 'ok' (actual 'degraded')"
    );
    let soft = check(&r, "soft", None);
    assert_eq!(soft["status"], "warn");
    assert!(
        soft["error"]
            .as_str()
            .unwrap()
            .contains("$.queue < 10 (actual 50)"),
        "{soft:#}"
    );
    assert_eq!(strict["error_kind"], "condition");
    assert_eq!(soft["error_kind"], "condition");
    assert_eq!(r["status"], "failing");
    assert_eq!(out.code, 2);
}

#[test]
fn http_client_errors_have_their_own_kinds_and_a_pass_has_none() {
    let s = Server::start();
    s.route("/private", Reply::json(401, json!({"message": "no"})));
    s.route("/gone", Reply::json(404, json!({"message": "no"})));
    s.route("/busy", Reply::json(429, json!({"message": "slow down"})));
    s.route("/h", Reply::json(200, json!({"status": "ok"})));
    let p = Project::new(&format!(
        r#"[[checks]]
id = "private"
http = {{ url = "{private}" }}

[[checks]]
id = "gone"
http = {{ url = "{gone}" }}

[[checks]]
id = "busy"
http = {{ url = "{busy}" }}

[[checks]]
id = "fine"
http = {{ url = "{fine}" }}
"#,
        private = s.url("/private"),
        gone = s.url("/gone"),
        busy = s.url("/busy"),
        fine = s.url("/h"),
    ));
    let r = p.run(&[]).json();
    for (id, kind) in [
        ("private", "unauthorized"),
        ("gone", "not_found"),
        ("busy", "rate_limited"),
    ] {
        assert_eq!(check(&r, id, None)["status"], "fail", "{id}: {r:#}");
        assert_kind(&r, id, kind);
    }
    let fine = check(&r, "fine", None);
    assert_eq!(fine["status"], "pass");
    assert!(fine.get("error").is_none_or(Value::is_null), "{fine:#}");
    assert!(fine.get("error_kind").is_none(), "{fine:#}");
}

#[test]
fn exit_codes_follow_the_report_status() {
    let s = Server::start();
    s.route("/h", Reply::json(200, json!({"queue": 50})));
    let warn = Project::new(&format!(
        "[[checks]]\nid = \"soft\"\nhttp = {{ url = \"{}\" }}\nwarn_unless = [\"$.queue < 10\"]\n",
        s.url("/h")
    ));
    let plain = warn.run(&[]);
    assert_eq!(plain.json()["status"], "warning");
    assert_eq!(plain.code, 0, "warnings exit 0 without --fail-on warning");
    assert_eq!(warn.run(&["--fail-on", "warning"]).code, 1);

    let healthy = Project::new(&format!(
        "[[checks]]\nid = \"ok\"\nhttp = {{ url = \"{}\" }}\nexpect = [\"$.queue == 50\"]\n",
        s.url("/h")
    ));
    let out = healthy.run(&["--fail-on", "warning"]);
    assert_eq!(out.json()["status"], "healthy");
    assert_eq!(out.code, 0);
}

#[test]
fn extracted_facts_become_environment_facts() {
    let s = Server::start();
    s.route(
        "/p/api/health",
        Reply::json(
            200,
            json!({"status": "ok", "version": "0.4.1", "commit": "53004a6", "uptime": "2h", "built": "x"}),
        ),
    );
    let p = Project::new(&format!(
        r#"[[environments]]
id = "production"
name = "Production"
url = "{u}"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/api/health" }}
expect = ["status == 200", "$.status == 'ok'"]
extract = {{ version = "$.version", sha = "$.commit", uptime = "$.uptime", built = "$.built" }}
"#,
        u = s.url("/p")
    ));
    let out = p.run(&[]);
    let r = out.json();
    let prod = &r["environments"]["production"];
    assert_eq!(prod["name"], "Production");
    assert_eq!(prod["status"], "healthy");
    assert_eq!(prod["version"], "0.4.1");
    assert_eq!(prod["sha"], "53004a6");
    assert_eq!(prod["uptime"], "2h");
    assert!(prod.get("built").is_none(), "only the four facts move up");
    assert_eq!(prod["checks"], json!(["health"]));
    assert_eq!(
        check(&r, "health", Some("production"))["fields"]["built"],
        "x"
    );
    assert_eq!(out.code, 0);
}

/// staging and production serving the given shas, tracked, with a git check
/// on `repo`.
fn tracking_project(s: &Server, repo: &GitRepo, staging_sha: &str, prod_sha: &str) -> Project {
    s.route(
        "/staging/health",
        Reply::json(200, json!({"status": "ok", "commit": staging_sha})),
    );
    s.route(
        "/production/health",
        Reply::json(200, json!({"status": "ok", "commit": prod_sha})),
    );
    Project::new(&format!(
        r#"[[environments]]
id = "staging"
url = "{stg}"

[[environments]]
id = "production"
url = "{prod}"
tracks = "staging"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/health" }}
expect = ["status == 200"]
extract = {{ sha = "$.commit" }}

[[checks]]
id = "git"
git = {{ path = "{repo}" }}
"#,
        stg = s.url("/staging"),
        prod = s.url("/production"),
        repo = repo.path().display()
    ))
}

#[test]
fn production_behind_staging_is_counted_with_local_git() {
    let repo = GitRepo::new();
    let prod = repo.commit("one");
    repo.commit("two");
    let staging = repo.commit("three");
    let s = Server::start();
    let p = tracking_project(&s, &repo, &staging[..7], &prod[..7]);
    let out = p.run(&[]);
    let r = out.json();
    let c = &r["comparison"]["staging_vs_production"];
    assert_eq!(c["in_sync"], false, "{r:#}");
    assert_eq!(c["commits_behind"], 2);
    assert_eq!(c["commits_ahead"], 0);
    assert_eq!(c["source"], "git");
    let p_env = &r["environments"]["production"];
    assert_eq!(p_env["status"], "warning");
    assert_eq!(p_env["warning"], "2 commits behind staging");
    assert_eq!(r["environments"]["staging"]["status"], "healthy");
    assert_eq!(r["status"], "warning");
    let summary = r["summary"].as_str().unwrap();
    assert!(
        summary.ends_with("(production 2 commits behind staging)"),
        "summary: {summary}"
    );
    assert!(
        summary.starts_with("1 healthy, 1 warning"),
        "summary: {summary}"
    );
    assert_eq!(r["git"]["branch"], "main");
    assert_eq!(r["git"]["sha_full"], staging);
    assert_eq!(
        r["git"]["deployed"],
        json!({"staging": true, "production": false}),
        "local HEAD is what staging runs, not production"
    );
    assert_eq!(out.code, 0, "a warning exits 0 by default");
    assert_eq!(p.run(&["--fail-on", "warning"]).code, 1);
}

#[test]
fn same_sha_is_in_sync() {
    let repo = GitRepo::new();
    repo.commit("one");
    let head = repo.commit("two");
    let s = Server::start();
    let p = tracking_project(&s, &repo, &head[..7], &head);
    let out = p.run(&[]);
    let r = out.json();
    let c = &r["comparison"]["staging_vs_production"];
    assert_eq!(c["in_sync"], true, "{r:#}");
    assert_eq!(c["commits_behind"], 0);
    assert_eq!(r["environments"]["production"]["status"], "healthy");
    assert!(r["environments"]["production"].get("warning").is_none());
    assert_eq!(r["status"], "healthy");
    assert_eq!(out.code, 0);
}

#[test]
fn tracks_with_shas_unknown_to_the_local_repo_still_reports_drift() {
    let repo = GitRepo::new();
    repo.commit("one");
    let s = Server::start();
    let p = tracking_project(&s, &repo, "cbefe7c", "53004a6");
    let out = p.run(&[]);
    let r = out.json();
    let c = &r["comparison"]["staging_vs_production"];
    assert_eq!(c["in_sync"], false, "{r:#}");
    assert!(c.get("commits_behind").is_none());
    assert!(
        c["error"]
            .as_str()
            .unwrap()
            .contains("is not in the local repository"),
        "{c:#}"
    );
    assert_eq!(r["environments"]["production"]["status"], "warning");
    assert_eq!(
        r["environments"]["production"]["warning"],
        "runs 53004a6, staging runs cbefe7c"
    );
    assert_eq!(out.code, 0);
}

#[test]
fn templated_dependency_runs_after_what_it_reads() {
    let s = Server::start();
    // A answers slowly: if B did not wait for it, B's request would come first.
    s.route(
        "/a",
        Reply::json(200, json!({"token": "tok-42"})).delayed(Duration::from_millis(200)),
    );
    s.route("/b", Reply::json(200, json!({"ok": true})));
    let p = Project::new(&format!(
        r#"[[checks]]
id = "b"
http = {{ url = "{b}?t={{{{checks.a.token}}}}" }}
expect = ["$.ok == true"]

[[checks]]
id = "a"
http = {{ url = "{a}" }}
extract = {{ token = "$.token" }}
"#,
        a = s.url("/a"),
        b = s.url("/b")
    ));
    let out = p.run(&[]);
    let r = out.json();
    let seen = s.seen();
    let paths: Vec<&str> = seen.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b"], "A must be requested before B");
    assert_eq!(seen[1].uri, "/b?t=tok-42");
    assert_eq!(check(&r, "a", None)["fields"]["token"], "tok-42");
    assert_eq!(check(&r, "b", None)["status"], "pass");
    let order: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["a", "b"],
        "checks are ordered by id, not by file order"
    );
    assert_eq!(out.code, 0);
}

#[test]
fn dashed_ids_resolve_in_templates_per_environment() {
    let s = Server::start();
    s.route("/token", Reply::json(200, json!({"token": "t-1"})));
    s.route("/stg/b", Reply::json(200, json!({})));
    s.route("/prod/b", Reply::json(200, json!({})));
    let p = Project::new(&format!(
        r#"[[environments]]
id = "staging"
url = "{stg}"

[[environments]]
id = "production"
url = "{prod}"

[[checks]]
id = "token-source"
http = {{ url = "{tok}" }}
extract = {{ token = "$.token" }}

[[checks]]
id = "user"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/b?t={{{{checks.token-source.token}}}}&e={{{{env.id}}}}" }}
"#,
        stg = s.url("/stg"),
        prod = s.url("/prod"),
        tok = s.url("/token"),
    ));
    let out = p.run(&[]);
    let r = out.json();
    assert_eq!(
        check(&r, "user", Some("staging"))["status"],
        "pass",
        "{r:#}"
    );
    assert_eq!(check(&r, "user", Some("production"))["status"], "pass");
    let mut uris: Vec<String> = s.seen().iter().map(|x| x.uri.clone()).collect();
    assert_eq!(uris.remove(0), "/token", "the source runs first");
    uris.sort();
    assert_eq!(
        uris,
        ["/prod/b?t=t-1&e=production", "/stg/b?t=t-1&e=staging"]
    );
    assert_eq!(out.code, 0);
}

#[test]
fn dependency_that_errored_skips_the_dependent() {
    let s = Server::start();
    s.route("/b", Reply::json(200, json!({"ok": true})));
    let p = Project::new(&format!(
        r#"[[checks]]
id = "a"
http = {{ url = "http://127.0.0.1:{port}/a" }}
extract = {{ token = "$.token" }}

[[checks]]
id = "b"
http = {{ url = "{b}?t={{{{checks.a.token}}}}" }}
"#,
        port = closed_port(),
        b = s.url("/b")
    ));
    let out = p.run(&[]);
    let r = out.json();
    assert_eq!(check(&r, "a", None)["status"], "error");
    let b = check(&r, "b", None);
    assert_eq!(b["status"], "skipped");
    assert!(
        b["summary"].as_str().unwrap().contains("depends on a"),
        "{b:#}"
    );
    // Nothing failed in b itself: the summary says why, `error` is empty.
    assert!(b["error"].is_null(), "{b:#}");
    assert_eq!(s.count(), 0, "a skipped check sends nothing");
}

const SECRET: &str = "s3cr3t-Villa-0xC0FFEE";

#[test]
fn secrets_never_appear_in_any_output() {
    let s = Server::start();
    let auth = |req: &support::Seen| req.header("authorization").unwrap_or("").to_owned();
    s.route_fn("/echo-error", move |req| {
        Reply::json(
            500,
            json!({"error": format!("invalid credentials: {}", auth(req))}),
        )
    });
    s.route_fn("/echo", move |req| {
        Reply::json(
            200,
            json!({"status": "ok", "who": auth(req), "nested": {"token": auth(req)}}),
        )
    });
    s.route_fn("/echo-header", move |req| {
        let mut r = Reply::json(200, json!({"status": "ok"}));
        r.headers.push(("x-echo".into(), auth(req)));
        r
    });
    let p = Project::new(&format!(
        r#"[[checks]]
id = "echo-error"
http = {{ url = "{e500}", headers = {{ Authorization = "Bearer ${{TEST_SECRET_X}}" }} }}
extract = {{ error = "$.error" }}

[[checks]]
id = "echo"
http = {{ url = "{echo}", headers = {{ Authorization = "Bearer ${{TEST_SECRET_X}}" }} }}
expect = ["$.who == 'someone else'"]
extract = {{ who = "$.who", nested = "$.nested" }}

[[checks]]
id = "echo-header"
http = {{ url = "{hdr}", headers = {{ Authorization = "Bearer ${{TEST_SECRET_X}}" }} }}
expect = ["header.x-echo == 'nope'"]
"#,
        e500 = s.url("/echo-error"),
        echo = s.url("/echo"),
        hdr = s.url("/echo-header"),
    ));
    for format in ["json", "text", "html", "markdown"] {
        let mut cmd = p.command();
        cmd.env("TEST_SECRET_X", SECRET)
            .args(["run", "--format", format]);
        let out = support::execute(cmd);
        assert_eq!(out.code, 2, "{format}: {}", out.stderr);
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(SECRET),
                "secret leaked to {name} with --format {format}:\n{text}"
            );
        }
        if format == "json" {
            let r = out.json();
            assert_eq!(check(&r, "echo", None)["status"], "fail");
            assert_eq!(check(&r, "echo-error", None)["status"], "error");
            assert_eq!(check(&r, "echo-header", None)["status"], "fail");
        }
    }
    // The test means something only if the secret really was sent.
    let sent = s.seen();
    assert!(
        sent.iter()
            .all(|x| x.header("authorization") == Some(&*format!("Bearer {SECRET}"))),
        "the secret must reach the upstream"
    );

    let file = p.path().join("report.json");
    let mut cmd = p.command();
    cmd.env("TEST_SECRET_X", SECRET)
        .args(["run", "--format", "json", "--output"])
        .arg(&file);
    support::execute(cmd);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(SECRET), "secret leaked to --output file");
}

#[test]
fn missing_secret_variable_is_that_checks_error() {
    let s = Server::start();
    let p = with_ok_check(
        &s,
        "",
        &format!(
            "[[checks]]\nid = \"bad\"\nhttp = {{ url = \"{}\", headers = {{ Authorization = \"Bearer ${{VILLA_TEST_UNSET_VAR}}\" }} }}\n",
            s.url("/secret")
        ),
    );
    let mut cmd = p.command();
    cmd.env_remove("VILLA_TEST_UNSET_VAR")
        .args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    let r = out.json();
    assert_eq!(check(&r, "ok", None)["status"], "pass");
    assert_eq!(check(&r, "bad", None)["status"], "error");
    assert_eq!(
        error_of(&r, "bad", None),
        "environment variable VILLA_TEST_UNSET_VAR is not set"
    );
    assert!(
        s.seen().iter().all(|x| x.path != "/secret"),
        "nothing is sent without the secret"
    );
    assert_eq!(out.code, 2);
    assert_kind(&r, "bad", "config");
}

#[test]
fn env_filter_runs_only_that_environment_and_global_checks() {
    let s = Server::start();
    s.route("/staging/health", Reply::json(200, json!({})));
    s.route("/production/health", Reply::json(200, json!({})));
    let p = with_ok_check(
        &s,
        &format!(
            "[[environments]]\nid = \"staging\"\nurl = \"{}\"\n\n[[environments]]\nid = \"production\"\nurl = \"{}\"\n",
            s.url("/staging"),
            s.url("/production")
        ),
        "[[checks]]\nid = \"health\"\nenvironments = [\"*\"]\nhttp = { url = \"{{env.url}}/health\" }\n",
    );
    let out = p.run(&["--env", "staging"]);
    let r = out.json();
    let envs: Vec<&String> = r["environments"].as_object().unwrap().keys().collect();
    assert_eq!(envs, ["staging"]);
    let ran: Vec<(String, Value)> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["environment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ran,
        [
            ("health".to_owned(), json!("staging")),
            ("ok".to_owned(), Value::Null)
        ]
    );
    assert!(
        s.seen().iter().all(|x| !x.path.starts_with("/production")),
        "production must not be probed"
    );
    assert_eq!(out.code, 0);
}

#[test]
fn output_file_receives_the_report() {
    let s = Server::start();
    let p = with_ok_check(&s, "", "");
    let file = p.path().join("out/report.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = p.run(&["--output", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.trim().is_empty(), "stdout: {}", out.stdout);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(r["schema_version"], 1);
    assert_eq!(check(&r, "ok", None)["status"], "pass");
}

#[test]
fn checks_run_in_parallel() {
    let s = Server::start();
    s.route(
        "/slow",
        Reply::json(200, json!({"status": "ok"})).delayed(Duration::from_millis(300)),
    );
    let checks: String = (0..20)
        .map(|i| {
            format!(
                "[[checks]]\nid = \"c{i:02}\"\nhttp = {{ url = \"{}?i={i}\" }}\nexpect = [\"$.status == 'ok'\"]\n\n",
                s.url("/slow")
            )
        })
        .collect();
    let p = Project::new(&checks);
    let out = p.run(&[]);
    let r = out.json();
    assert_eq!(s.count(), 20);
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass"),
        "{r:#}"
    );
    assert!(
        out.elapsed < Duration::from_secs(3),
        "20 checks of 300 ms took {:?}: not overlapping",
        out.elapsed
    );
}

#[test]
fn wildcard_check_covers_a_newly_added_environment() {
    let s = Server::start();
    let mut envs = String::new();
    for id in ["local", "staging", "production", "preview"] {
        s.route(
            &format!("/{id}/health"),
            Reply::json(200, json!({"status": "ok"})),
        );
        envs.push_str(&format!(
            "[[environments]]\nid = \"{id}\"\nurl = \"{}\"\n\n",
            s.url(&format!("/{id}"))
        ));
    }
    let p = Project::new(&format!(
        "{envs}[[checks]]\nid = \"health\"\nenvironments = [\"*\"]\nhttp = {{ url = \"{{{{env.url}}}}/health\" }}\nexpect = [\"$.status == 'ok'\"]\n"
    ));
    let out = p.run(&[]);
    let r = out.json();
    assert_eq!(
        r["environments"]["preview"]["checks"],
        json!(["health"]),
        "{r:#}"
    );
    assert_eq!(r["environments"]["preview"]["status"], "healthy");
    let instances: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["environment"].as_str().unwrap())
        .collect();
    assert_eq!(instances, ["local", "staging", "production", "preview"]);
    assert!(s.seen().iter().any(|x| x.path == "/preview/health"));
    assert_eq!(out.code, 0);
}

// ------------------------------------------------------ shipped config --

/// The README's first command on the shipped config. External hosts are sent
/// to a closed loopback proxy so the test never leaves the machine; they show
/// up as errors, which is what the shipped config promises.
#[test]
fn shipped_config_runs_and_reports_this_repository() {
    let root = env!("CARGO_MANIFEST_DIR");
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let mut cmd = assert_cmd::Command::cargo_bin("villa-telemetry").unwrap();
    support::clean_env(&mut cmd);
    cmd.current_dir(root)
        .env("HTTP_PROXY", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    assert!(
        out.code == 0 || out.code == 2,
        "exit {} (3 = config error, 4 = internal); stderr:\n{}",
        out.code,
        out.stderr
    );
    let r = out.json();
    let envs: Vec<&String> = r["environments"].as_object().unwrap().keys().collect();
    assert_eq!(envs, ["local", "staging", "production"]);
    assert_eq!(r["environments"]["local"]["name"], "Local");
    assert_eq!(r["environments"]["production"]["url"], "https://villa.cash");

    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"]).expect("the crate is in a git repository");
    assert_eq!(
        check(&r, "git", None)["status"],
        "pass",
        "{:#}",
        r["checks"]
    );
    assert_eq!(r["git"]["sha_full"], head.as_str());
    match git(&["symbolic-ref", "-q", "--short", "HEAD"]) {
        Some(branch) => assert_eq!(r["git"]["branch"], branch.as_str()),
        None => assert!(r["git"].get("branch").is_none(), "detached HEAD"),
    }
}
