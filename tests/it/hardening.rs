//! Hostile configs (issue 9, "Crashes and unbounded work" and `${VAR}`):
//! each ends in exit 3 with a message, in bounded time and output, before
//! anything is sent.

use crate::support;

use std::time::Duration;

use support::{Outcome, Project, Reply, Server};

/// Output a config error may print, however large the file.
const MAX_STDERR: usize = 16 * 1024;

/// A project whose main file is `main` with `{URL}` replaced by the
/// server's address.
fn project(server: &Server, main: &str) -> Project {
    Project::new(&main.replace("{URL}", &server.url("")))
}

/// Both `check` and `run` refuse the project: exit 3, a message naming
/// `expected`, bounded output, nothing sent.
fn refused(p: &Project, server: &Server, expected: &str) -> Outcome {
    let mut last = None;
    for out in [p.check(), p.run(&[])] {
        assert_eq!(out.code, 3, "exit code; stderr:\n{}", head(&out.stderr));
        assert!(
            out.stderr.contains(expected),
            "expected `{expected}` in:\n{}",
            head(&out.stderr)
        );
        assert!(
            out.stderr.len() <= MAX_STDERR,
            "{} bytes of stderr:\n{}",
            out.stderr.len(),
            head(&out.stderr)
        );
        assert!(
            out.stdout.is_empty() || out.stdout.len() < 100,
            "stdout: {}",
            head(&out.stdout)
        );
        last = Some(out);
    }
    assert_eq!(server.count(), 0, "nothing may run on a config error");
    last.expect("ran")
}

fn head(text: &str) -> &str {
    let mut end = text.len().min(3000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[test]
fn an_error_past_column_65535_is_a_message_not_a_panic() {
    let server = Server::start();
    let name = "a".repeat(65_530);
    let p = project(&server, &format!("[project]\nname = \"{name}\" junk\n"));
    let out = refused(&p, &server, "villa-telemetry.toml:2:");
    assert!(out.stderr.contains("junk"), "{}", head(&out.stderr));
    assert!(!out.stderr.contains("panicked"), "{}", head(&out.stderr));
}

#[test]
fn a_bad_method_on_a_70000_character_url() {
    let server = Server::start();
    let url = format!("{{URL}}/{}", "u".repeat(70_000));
    let p = project(
        &server,
        &format!("[[checks]]\nid = \"a\"\nhttp = {{ url = \"{url}\", method = \"G T\" }}\n"),
    );
    let out = refused(&p, &server, "invalid HTTP method `G T`");
    // The caret sits past column 70,000; the line is cut around it.
    assert!(
        out.stderr.contains("villa-telemetry.toml:3:700"),
        "{}",
        head(&out.stderr)
    );
    assert!(out.stderr.contains('…'), "{}", head(&out.stderr));
}

#[test]
fn an_error_on_a_10_mb_line_shows_a_window() {
    let server = Server::start();
    let name = "n".repeat(10 << 20);
    let p = project(&server, &format!("[project]\nname = \"{name}\" = 1\n"));
    let out = refused(&p, &server, "villa-telemetry.toml:2:10485");
    assert!(out.stderr.contains("…nnnn"), "{}", out.stderr);
    // Generous: a debug build on a shared machine; the bug was unbounded output.
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
}

#[test]
fn a_recursive_inline_partial_is_a_config_error() {
    let server = Server::start();
    let p = project(
        &server,
        r#"[[checks]]
id = "a"
http = { url = "{URL}/{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}" }
"#,
    );
    let out = refused(&p, &server, "templates cannot use decorators");
    assert!(
        out.stderr.contains("villa-telemetry.toml:3:"),
        "{}",
        out.stderr
    );
}

#[test]
fn partials_and_unknown_helpers_are_config_errors() {
    let server = Server::start();
    for (template, expected) in [
        ("{{> p}}", "templates cannot use partials"),
        (
            "{{shout env.url}}",
            "template helper `shout` is not offered",
        ),
        (
            "{{#shout}}x{{/shout}}",
            "template block `{{#shout}}` is not offered",
        ),
        (
            &format!("{}x{}", "{{#if a}}".repeat(50), "{{/if}}".repeat(50)),
            "levels deep",
        ),
    ] {
        let p = project(
            &server,
            &format!(
                "[[checks]]\nid = \"a\"\nhttp = {{ url = \"{{URL}}/?q={}\" }}\n",
                template.replace('"', "\\\"")
            ),
        );
        refused(&p, &server, expected);
    }
}

#[test]
fn a_link_that_recurses_is_a_config_error() {
    let server = Server::start();
    let p = project(
        &server,
        r#"[[links]]
name = "x"
url = "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}"
"#,
    );
    refused(&p, &server, "templates cannot use decorators");
}

#[test]
fn thousands_of_duplicate_ids_cost_linear_time_and_a_screenful() {
    let server = Server::start();
    let check = "[[checks]]\nid = \"same\"\nhttp = { url = \"{URL}/a\" }\n";
    let p = project(&server, &check.repeat(4_000));
    let out = refused(&p, &server, "duplicate check id `same`");
    assert!(
        out.stderr
            .contains("already defined at villa-telemetry.toml:2:6")
    );
    assert!(
        out.stderr.contains("… and 3,989 more not shown."),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("3,999 problems; nothing was run."),
        "{}",
        out.stderr
    );
    // Generous for a debug build on a shared machine: the quadratic version
    // took 3.4 s and 1.1 GB in release.
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn thousands_of_unknown_references_stay_fast() {
    let server = Server::start();
    let mut main = String::new();
    for i in 0..3_000 {
        main.push_str(&format!(
            "[[checks]]\nid = \"c{i}\"\nhttp = {{ url = \"{{URL}}/{{{{checks.nope{i}.x}}}}\" }}\n"
        ));
    }
    let p = project(&server, &main);
    let out = refused(&p, &server, "template references unknown check `nope");
    assert!(
        out.stderr.contains("… and 2,990 more not shown."),
        "{}",
        head(&out.stderr)
    );
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[cfg(unix)]
#[test]
fn includes_read_regular_files_only() {
    let server = Server::start();
    for device in ["/dev/zero", "/dev/urandom"] {
        let p = project(&server, &format!("[project]\ninclude = [\"{device}\"]\n"));
        let out = refused(
            &p,
            &server,
            &format!("cannot include {device}: not a regular file"),
        );
        assert!(
            out.stderr.contains("villa-telemetry.toml:2:"),
            "{}",
            out.stderr
        );
        assert!(
            out.elapsed < Duration::from_secs(2),
            "{device}: {:?}",
            out.elapsed
        );
    }
}

#[test]
fn an_include_larger_than_the_cap_is_refused() {
    let server = Server::start();
    let p = project(&server, "[project]\ninclude = [\"big.toml\"]\n");
    p.write("big.toml", &format!("# {}\n", "x".repeat(17 << 20)));
    refused(&p, &server, "cannot include");
    let out = p.check();
    assert!(out.stderr.contains("larger than 16 MiB"), "{}", out.stderr);
}

#[test]
fn a_glob_that_looks_through_too_much_is_an_error_that_says_so() {
    let server = Server::start();
    let p = project(&server, "[project]\ninclude = [\"/usr/**/*.toml\"]\n");
    let out = refused(
        &p,
        &server,
        "include `/usr/**/*.toml` looks through more than",
    );
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);

    // Matching too many files is its own message.
    let p = project(&server, "[project]\ninclude = [\"many/*.toml\"]\n");
    for i in 0..300 {
        p.write(&format!("many/{i}.toml"), "");
    }
    refused(&p, &server, "matches too many files");
}

#[test]
fn includes_still_work_for_a_normal_glob() {
    let server = Server::start();
    server.route("/a", Reply::json(200, serde_json::json!({})));
    let p = project(&server, "[project]\ninclude = [\"checks/*.toml\"]\n");
    p.write(
        "checks/a.toml",
        &"[[checks]]\nid = \"a\"\nhttp = { url = \"{URL}/a\" }\n".replace("{URL}", &server.url("")),
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(server.count(), 1);
}

#[test]
fn a_secret_reference_outside_a_header_is_a_config_error() {
    let server = Server::start();
    for (field, line) in [
        ("url = \"{URL}/?key=${API_KEY}\"", 3),
        (
            "url = \"{URL}/\", body = \"{\\\"key\\\": \\\"${API_KEY}\\\"}\"",
            3,
        ),
    ] {
        let p = project(
            &server,
            &format!("[[checks]]\nid = \"a\"\nhttp = {{ {field} }}\n"),
        );
        let out = refused(&p, &server, "`${API_KEY}` is only read in header values");
        assert!(
            out.stderr
                .contains(&format!("villa-telemetry.toml:{line}:")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("put the secret in a header"),
            "{}",
            out.stderr
        );
    }
    let p = project(
        &server,
        "[[environments]]\nid = \"p\"\nurl = \"https://${HOST}/\"\n",
    );
    refused(&p, &server, "`${HOST}` is only read in header values");

    // In a header value it is read, as before.
    server.route("/h", Reply::json(200, serde_json::json!({})));
    let p = project(
        &server,
        "[[checks]]\nid = \"a\"\nhttp = { url = \"{URL}/h\", headers = { X-Key = \"${API_KEY}\" } }\n",
    );
    let mut cmd = p.command();
    cmd.args(["run", "--format", "json"]).env("API_KEY", "k");
    let out = support::execute(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn rendering_has_a_size_bound() {
    let server = Server::start();
    let big = "b".repeat(600 * 1024);
    server.route("/big", Reply::json(200, serde_json::json!({ "v": big })));
    server.route("/use", Reply::json(200, serde_json::json!({})));
    let p = project(
        &server,
        r#"[[checks]]
id = "big"
http = { url = "{URL}/big" }
extract = { v = "$.v" }

[[checks]]
id = "use"
http = { url = "{URL}/use", body = "{{checks.big.v}}{{checks.big.v}}" }
"#,
    );
    let out = p.run(&[]);
    let report = out.json();
    let error = support::error_of(&report, "use", None);
    assert!(error.contains("larger than 1024 KiB"), "{error}");
    assert_eq!(server.seen().iter().filter(|s| s.path == "/use").count(), 0);
}

/// Durations and counts a config may hold are range-checked (issue 17):
/// each of these once crashed the process (an overflow adding durations,
/// tokio's semaphore limit, a zero-length interval) or spun a core. Each is
/// now a config error that names its place: exit 3, never 101.
#[test]
fn out_of_range_durations_and_counts_are_config_errors() {
    let server = Server::start();
    let check = "[[checks]]\nid = \"a\"\nhttp = { url = \"{URL}/a\" }\n";
    for (config, expected, place) in [
        (
            "[[checks]]\nid = \"p\"\nplugin = { wasm = \"x.wasm\", timeout = \"18446744073709551615s\" }\n".to_owned(),
            "a timeout must be between 1ms and 1h",
            "villa-telemetry.toml:3:",
        ),
        (
            format!("[run]\nconcurrency = 2305843009213693952\n{check}"),
            "`concurrency` is at most 4096",
            "villa-telemetry.toml:2:",
        ),
        (
            format!("[serve]\nrefresh = \"0s\"\n{check}"),
            "`refresh` (below 1s serve would spend a core re-running checks) must be between 1s and 1day",
            "villa-telemetry.toml:2:",
        ),
        (
            format!("[serve]\nrefresh = \"1ms\"\n{check}"),
            "got 1ms",
            "villa-telemetry.toml:2:",
        ),
        (
            format!("[serve]\nrefresh = \"1ns\"\n{check}"),
            "got 1ns",
            "villa-telemetry.toml:2:",
        ),
        (
            format!("[run]\ntimeout = \"0s\"\n{check}"),
            "a timeout must be between 1ms and 1h, got 0s",
            "villa-telemetry.toml:2:",
        ),
        (
            "[[checks]]\nid = \"w\"\ngithub = { workflow = \"ci.yml\", repo = \"o/r\", stalled_after = \"999999999999d\" }\n".to_owned(),
            "`stalled_after` must be between 1s and 30days",
            "villa-telemetry.toml:3:",
        ),
    ] {
        let p = project(&server, &config);
        let out = refused(&p, &server, expected);
        assert!(out.stderr.contains(place), "{config}\n{}", head(&out.stderr));
        assert!(!out.stderr.contains("panicked"), "{}", head(&out.stderr));
    }
    // `serve` reads the same plan: it refuses before binding.
    let p = project(&server, &format!("[serve]\nrefresh = \"0s\"\n{check}"));
    let mut cmd = p.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let out = support::execute(cmd);
    assert_eq!(out.code, 3, "{}", head(&out.stderr));
}
