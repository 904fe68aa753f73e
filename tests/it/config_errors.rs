//! Bad configuration: exit 3, a message with file:line:column, the offending
//! line with a marker, a suggestion where one fits, and no probe sent.

use crate::support;

use support::{Outcome, Project, Server};

/// A main file with two environments on `url`, including `checks.toml`.
fn main_file(url: &str) -> String {
    format!(
        r#"[project]
name = "Test"
include = ["checks.toml"]

[[environments]]
id = "production"
url = "{url}"

[[environments]]
id = "staging"
url = "{url}"
"#
    )
}

/// A healthy check that would hit the server if anything ran.
fn healthy(url: &str) -> String {
    format!(
        r#"
[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{url}/health" }}
extract = {{ token = "$.token" }}
"#
    )
}

/// Writes `checks` (followed by a healthy check) next to the main file, runs
/// `run`, and checks the common contract of every config error.
fn config_error(checks: &str) -> (Outcome, Server) {
    let server = Server::start();
    server.route(
        "/health",
        support::Reply::json(200, serde_json::json!({"token": "t"})),
    );
    let base = server.url("");
    let p = Project::new(&main_file(&base));
    p.write(
        "checks.toml",
        &format!("{}{}", checks.replace("{URL}", &base), healthy(&base)),
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 3, "exit code; stderr:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "no report on stdout: {}", out.stdout);
    assert_eq!(server.count(), 0, "nothing may run on a config error");
    (out, server)
}

/// `stderr` shows `location`, the source `line` and a marker under it.
fn assert_points_at(out: &Outcome, location: &str, line: &str) {
    let err = &out.stderr;
    assert!(
        err.contains(location),
        "expected location {location} in:\n{err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(line))
        .unwrap_or_else(|| panic!("source line `{line}` not shown in:\n{err}"));
    let marker = lines
        .get(at + 1)
        .is_some_and(|l| l.contains('┬') || l.contains('^') || l.contains('─'));
    assert!(marker, "no marker under `{line}` in:\n{err}");
}

fn assert_mentions(out: &Outcome, text: &str) {
    assert!(
        out.stderr.contains(text),
        "expected `{text}` in stderr:\n{}",
        out.stderr
    );
}

#[test]
fn unknown_key_suggests_the_close_one() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { urll = "{URL}/a" }
"#,
    );
    assert_mentions(&out, "unknown field `urll`");
    assert_points_at(&out, "checks.toml:3:10", r#"http = { urll = "#);
    assert_mentions(&out, "did you mean `url`?");
}

#[test]
fn wrong_type_points_at_the_value() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
expect = "status == 200"
"#,
    );
    assert_mentions(&out, "invalid type: string");
    assert_mentions(&out, "expected a sequence");
    assert_points_at(&out, "checks.toml:4:10", r#"expect = "status == 200""#);
}

#[test]
fn wrong_type_in_main_file() {
    let server = Server::start();
    let p = Project::new(&format!(
        "[run]\nconcurrency = \"many\"\n\n[[environments]]\nid = \"production\"\nurl = \"{}\"\n",
        server.url("")
    ));
    let out = p.run(&[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_mentions(&out, "invalid type: string \"many\"");
    assert_points_at(&out, "villa-telemetry.toml:2:15", r#"concurrency = "many""#);
    assert_eq!(server.count(), 0);
}

#[test]
fn duplicate_check_id_names_the_first_definition() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }

[[checks]]
id = "a"
http = { url = "{URL}/b" }
"#,
    );
    assert_mentions(&out, "duplicate check id `a`");
    assert_points_at(&out, "checks.toml:6:6", r#"id = "a""#);
    assert_mentions(&out, "already defined at checks.toml:2:6");
}

#[test]
fn duplicate_check_id_across_files_names_the_other_file() {
    let server = Server::start();
    let url = server.url("");
    let p = Project::new(&format!(
        "{}\n[[checks]]\nid = \"health\"\nhttp = {{ url = \"{url}/x\" }}\n",
        main_file(&url)
    ));
    p.write("checks.toml", &healthy(&url));
    let out = p.run(&[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_mentions(&out, "duplicate check id `health`");
    assert_points_at(&out, "checks.toml:3:6", r#"id = "health""#);
    assert_mentions(&out, "already defined at villa-telemetry.toml:14:6");
    assert_eq!(server.count(), 0);
}

#[test]
fn unknown_environment_in_environments_list() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
environments = ["staging", "prodution"]
http = { url = "{{env.url}}/a" }
"#,
    );
    assert_mentions(&out, "unknown environment `prodution`");
    assert_points_at(
        &out,
        "checks.toml:3:28",
        r#"environments = ["staging", "prodution"]"#,
    );
    assert_mentions(&out, "did you mean `production`?");
}

#[test]
fn unknown_environment_in_template() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a?sha={{environments.prodution.sha}}" }
"#,
    );
    assert_mentions(&out, "unknown environment `prodution`");
    assert_points_at(&out, "checks.toml:3:16", "environments.prodution.sha");
    assert_mentions(&out, "did you mean `production`?");
}

#[test]
fn unknown_check_in_template() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a?t={{checks.helth.token}}" }
"#,
    );
    assert_mentions(&out, "unknown check `helth`");
    assert_points_at(&out, "checks.toml:3:16", "checks.helth.token");
    assert_mentions(&out, "did you mean `health`?");
}

#[test]
fn dependency_cycle_is_named() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a?x={{checks.b.x}}" }
extract = { x = "$.x" }

[[checks]]
id = "b"
http = { url = "{URL}/b?x={{checks.a.x}}" }
extract = { x = "$.x" }
"#,
    );
    assert_mentions(&out, "dependency cycle: a → b → a");
    assert_points_at(&out, "checks.toml:2:6", r#"id = "a""#);
}

#[test]
fn invalid_jsonpath_in_extract() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
extract = { sha = "version" }
"#,
    );
    assert_mentions(&out, "invalid JSONPath for `sha`");
    assert_points_at(&out, "checks.toml:4:20", r#"extract = { sha = "version" }"#);
    assert_mentions(&out, "did you mean `$.version`?");
}

#[test]
fn invalid_jsonpath_in_expect() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
expect = ["$.items[abc] == 1"]
"#,
    );
    assert_mentions(&out, "invalid JSONPath `$.items[abc]`");
    assert_points_at(
        &out,
        "checks.toml:4:20",
        r#"expect = ["$.items[abc] == 1"]"#,
    );
}

#[test]
fn invalid_condition_suggests_double_equals() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
expect = ["status = 200"]
"#,
    );
    assert_mentions(&out, "invalid condition: unknown operator `=`");
    assert_points_at(&out, "checks.toml:4:19", r#"expect = ["status = 200"]"#);
    assert_mentions(&out, "did you mean `==`?");
}

#[test]
fn missing_probe_table() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
expect = ["status == 200"]
"#,
    );
    assert_mentions(&out, "check `a` has no probe");
    assert_points_at(&out, "checks.toml:2:6", r#"id = "a""#);
    assert_mentions(&out, "add exactly one of `http");
}

#[test]
fn two_probe_tables() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
git = { path = "." }
"#,
    );
    assert_mentions(&out, "check `a` has two probes, `http` and `git`");
    assert_points_at(&out, "checks.toml:4:7", r#"git = { path = "." }"#);
    assert_mentions(&out, "exactly one probe table");
}

#[test]
fn tracks_unknown_environment() {
    let server = Server::start();
    let p = Project::new(&format!(
        r#"[[environments]]
id = "staging"
url = "{url}"

[[environments]]
id = "production"
url = "{url}"
tracks = "stagin"

[[checks]]
id = "health"
environments = ["*"]
http = {{ url = "{{{{env.url}}}}/health" }}
"#,
        url = server.url("")
    ));
    let out = p.run(&[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_mentions(&out, "`tracks` names unknown environment `stagin`");
    assert_points_at(&out, "villa-telemetry.toml:8:10", r#"tracks = "stagin""#);
    assert_mentions(&out, "did you mean `staging`?");
    assert_eq!(server.count(), 0);
}

#[test]
fn toml_syntax_error() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = a
http = { url = "{URL}/a" }
"#,
    );
    assert_points_at(&out, "checks.toml:2:6", "id = a");
    assert_mentions(&out, "string values must be quoted");
}

#[test]
fn every_problem_is_reported_at_once() {
    let (out, _s) = config_error(
        r#"[[checks]]
id = "a"
http = { url = "{URL}/a" }
expect = ["status = 200"]

[[checks]]
id = "b"
environments = ["prodution"]
http = { url = "{URL}/b" }
"#,
    );
    assert_mentions(&out, "checks.toml:4:19");
    assert_mentions(&out, "checks.toml:8:17");
    assert_mentions(&out, "2 problems; nothing was run.");
}

#[test]
fn check_command_accepts_a_valid_config() {
    let server = Server::start();
    let p = Project::new(&main_file(&server.url("")));
    p.write("checks.toml", &healthy(&server.url("")));
    let out = p.check();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("ok — 2 environments, 1 check (2 to run)"),
        "{}",
        out.stdout
    );
    assert_eq!(server.count(), 0, "`check` runs nothing");
}

#[test]
fn check_command_rejects_an_invalid_config() {
    let server = Server::start();
    let p = Project::new(&main_file(&server.url("")));
    p.write(
        "checks.toml",
        &format!(
            "[[checks]]\nid = \"a\"\nhttp = {{ urll = \"{}/a\" }}\n{}",
            server.url(""),
            healthy(&server.url(""))
        ),
    );
    let out = p.check();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_points_at(&out, "checks.toml:3:10", "http = { urll = ");
    assert_mentions(&out, "did you mean `url`?");
    assert_eq!(server.count(), 0);
}
