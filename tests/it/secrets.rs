//! Secrets never reach an output in any form: loopback upstreams echo a
//! header secret literally, URL-encoded (in a redirect's query and a
//! header), base64 (alone and as `Basic user:secret`) and hex, and put it
//! where a failed condition cuts its value at 80 characters. The secret and
//! its encodings must appear in no `run` format and in no endpoint or SSE
//! event of `serve`. Property tests cover the redactor itself.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{Project, Reply, Seen, Server, check};
use tower::ServiceExt;
use villa_telemetry::cli::load_plan;
use villa_telemetry::probe::github::TokenSource;
use villa_telemetry::redact::{MASK, Redactor};
use villa_telemetry::render::Renderer;
use villa_telemetry::runner::Services;
use villa_telemetry::serve::{self, AppState};

/// Needs URL-encoding (`/`, `+`, space, `=`) and has no 3-byte alignment luck.
const SECRET: &str = "Vt9/s3cr3t+Villa 0xC0FFEE=";
const VAR: &str = "VILLA_SECRETS_TEST_TOKEN";
/// The address the router believes it serves (its Host guard checks it).
const LISTEN: &str = "127.0.0.1:3003";
/// Characters before the secret in the straddling value: `show()` quotes
/// the string and cuts it at 80 characters, so cutting before redacting
/// would show the secret's first 12 characters (as the issue found).
const STRADDLE_PAD: usize = 66;

/// Every byte but letters and digits as `%XX`, in upper- or lower-case hex.
fn url_encoded(s: &str, lower: bool) -> String {
    let e =
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    if !lower {
        return e;
    }
    let mut out = String::new();
    let mut rest = e.as_str();
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        out.push_str(&rest[i..i + 3].to_ascii_lowercase());
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Every form the outputs must not contain, as (name, text) pairs. Base64
/// inside a longer text is checked by its middle, the characters that
/// depend on the secret alone.
fn forbidden() -> Vec<(String, String)> {
    let basic = STANDARD.encode(format!("user:{SECRET}"));
    let mut forms = vec![
        ("literal".to_owned(), SECRET.to_owned()),
        ("url-encoded".to_owned(), url_encoded(SECRET, false)),
        ("url-encoded lower".to_owned(), url_encoded(SECRET, true)),
        (
            "form-encoded".to_owned(),
            SECRET
                .replace('/', "%2F")
                .replace('+', "%2B")
                .replace(' ', "+")
                .replace('=', "%3D"),
        ),
        ("base64".to_owned(), STANDARD.encode(SECRET)),
        ("base64url".to_owned(), URL_SAFE_NO_PAD.encode(SECRET)),
        ("basic".to_owned(), basic[8..basic.len() - 4].to_owned()),
        ("hex".to_owned(), hex::encode(SECRET)),
        ("HEX".to_owned(), hex::encode_upper(SECRET)),
    ];
    // The cut-before-redaction leak showed a prefix of the secret.
    forms.push(("prefix".to_owned(), SECRET[..10].to_owned()));
    forms
}

/// Panics naming the form and the place when `text` holds any of them; a
/// form counts as present when any 10 consecutive characters of it are.
fn assert_clean(place: &str, text: &str) {
    for (name, form) in forbidden() {
        let chars: Vec<char> = form.chars().collect();
        for w in chars.windows(10.min(chars.len())) {
            let w: String = w.iter().collect();
            assert!(
                !text.contains(&w),
                "{name} form of the secret ({w:?}) leaked to {place}:\n{text}"
            );
        }
    }
}

/// Routes on `s` that each echo the secret (as the upstream received it, or
/// as the test knows it) in one form.
fn echo_routes(s: &Server) {
    let sent = |req: &Seen| req.header("x-api-key").unwrap_or(SECRET).to_owned();
    s.route_fn("/literal", move |req| {
        Reply::json(200, json!({"status": "ok", "echo": sent(req)}))
    });
    let target = format!("/landing?token={}&next=1", url_encoded(SECRET, false));
    s.route("/redirect", Reply::redirect(&target));
    s.route_fn("/landing", |req| {
        let mut r = Reply::json(200, json!({"status": "ok", "uri": req.uri}));
        r.headers.push((
            "x-next".into(),
            format!("/again?t={}", url_encoded(SECRET, true)),
        ));
        r
    });
    s.route_fn("/encoded", move |req| {
        let key = sent(req);
        Reply::json(
            200,
            json!({
                "status": "ok",
                "b64": STANDARD.encode(&key),
                "b64url": URL_SAFE_NO_PAD.encode(&key),
                "basic": format!("Basic {}", STANDARD.encode(format!("user:{key}"))),
                "hex": hex::encode(&key),
                "HEX": hex::encode_upper(&key),
            }),
        )
    });
    s.route_fn("/straddle", move |req| {
        let key = sent(req);
        Reply::json(
            200,
            json!({"status": "ok", "v": format!("{}{key} and more after it", "x".repeat(STRADDLE_PAD))}),
        )
    });
    s.route_fn("/error", move |req| {
        Reply::text(
            500,
            "text/plain",
            &format!("denied {}", url_encoded(&sent(req), true)),
        )
    });
}

/// Checks that fail on purpose so each echoed value is shown (conditions
/// print the actual value) and extracted.
fn config(s: &Server) -> String {
    let header = format!("headers = {{ X-Api-Key = \"${{{VAR}}}\" }}");
    let mut text = String::new();
    for (id, path, expect, extract) in [
        (
            "literal",
            "/literal",
            "$.echo == 'nope'",
            "echo = \"$.echo\"",
        ),
        (
            "redirect",
            "/redirect",
            "$.uri == 'nope'",
            "uri = \"$.uri\"",
        ),
        (
            "encoded",
            "/encoded",
            "$.basic == 'nope'",
            "b64 = \"$.b64\", b64url = \"$.b64url\", basic = \"$.basic\", hex = \"$.hex\", HEX = \"$.HEX\"",
        ),
        ("straddle", "/straddle", "$.v == 'nope'", "v = \"$.v\""),
        ("error", "/error", "status == 200", "status = \"$.status\""),
    ] {
        text.push_str(&format!(
            "[[checks]]\nid = \"{id}\"\nhttp = {{ url = \"{}\", {header} }}\nexpect = [\"{expect}\"]\nextract = {{ {extract} }}\n\n",
            s.url(path)
        ));
    }
    // The header straight back as a response header.
    text.push_str(&format!(
        "[[checks]]\nid = \"header\"\nhttp = {{ url = \"{}\", {header} }}\nexpect = [\"header.x-next == 'nope'\"]\n",
        s.url("/landing")
    ));
    text
}

#[test]
fn no_form_of_a_secret_reaches_any_run_output() {
    let s = Server::start();
    echo_routes(&s);
    let p = Project::new(&config(&s));
    for format in ["json", "text", "markdown", "html"] {
        let mut cmd = p.command();
        cmd.env(VAR, SECRET).args(["run", "--format", format]);
        let out = support::execute(cmd);
        assert_eq!(out.code, 2, "{format}: {}", out.stderr);
        assert_clean(&format!("run --format {format} (stdout)"), &out.stdout);
        assert_clean(&format!("run --format {format} (stderr)"), &out.stderr);
        if format == "json" {
            let r = out.json();
            for id in ["literal", "redirect", "encoded", "straddle", "header"] {
                let c = check(&r, id, None);
                assert_eq!(c["status"], "fail", "{c:#}");
                assert!(c.to_string().contains(MASK), "{id} shows the mask: {c:#}");
            }
            assert_eq!(check(&r, "error", None)["status"], "error");
            // The straddling value is cut after the mask, not inside the secret.
            let shown = check(&r, "straddle", None)["failed_conditions"][0]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(shown.contains(&format!("x{MASK}")), "{shown}");
        }
    }
    // Meaningful only if the upstream really received the secret.
    let seen = s.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|x| x.header("x-api-key") == Some(SECRET)),
        "the secret must reach the upstream"
    );
}

/// An upstream's answer is data: a `${VAR}` in it is never expanded, wherever
/// a template puts it (a header, the URL, the body), so no answer can read
/// the user's environment and send it to an address it chooses (issue 17).
#[test]
fn an_upstream_value_cannot_name_a_secret() {
    const CANARY: &str = "VILLA_CANARY_TOKEN";
    const CANARY_VALUE: &str = "ghp_canary_must_never_arrive_4711";
    let a = Server::start();
    let thief = Server::start();
    a.route(
        "/a",
        Reply::json(
            200,
            json!({
                "status": "ok",
                "x": format!("${{{CANARY}}}"),
                "next": thief.url("/steal"),
                "path": format!("${{{CANARY}}}"),
            }),
        ),
    );
    thief.route("/steal", Reply::json(200, json!({"status": "ok"})));
    let p = Project::new(&format!(
        r#"[[checks]]
id = "a"
http = {{ url = "{}" }}
extract = {{ x = "$.x", next = "$.next", path = "$.path" }}

[[checks]]
id = "b"
http = {{ url = "{{{{checks.a.next}}}}", headers = {{ X-Trace = "{{{{checks.a.x}}}}", X-Mixed = "pre-{{{{checks.a.x}}}}-${{{VAR}}}-post" }}, method = "POST", body = "{{{{checks.a.x}}}}" }}

[[checks]]
id = "c"
http = {{ url = "{{{{checks.a.next}}}}/{{{{checks.a.path}}}}" }}
"#,
        a.url("/a")
    ));
    let mut cmd = p.command();
    cmd.env(CANARY, CANARY_VALUE)
        .env(VAR, SECRET)
        .args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    assert!(
        !out.stdout.contains(CANARY_VALUE) && !out.stderr.contains(CANARY_VALUE),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let seen = thief.seen();
    assert!(!seen.is_empty(), "the checks reached the second server");
    for req in &seen {
        let all = format!("{req:?}");
        assert!(!all.contains(CANARY_VALUE), "the canary arrived: {all}");
        assert!(
            !all.contains("ghp_canary"),
            "a part of the canary arrived: {all}"
        );
    }
    let b = seen
        .iter()
        .find(|r| r.header("x-trace").is_some())
        .expect("check b sent");
    // The upstream's text arrives as the text it was, not as a secret.
    assert_eq!(b.header("x-trace"), Some(format!("${{{CANARY}}}").as_str()));
    // A secret the config wrote still fills in beside a template value.
    assert_eq!(
        b.header("x-mixed"),
        Some(format!("pre-${{{CANARY}}}-{SECRET}-post").as_str())
    );
}

#[test]
fn a_redirect_to_another_origin_carries_no_secret_header() {
    let a = Server::start();
    let b = Server::start();
    b.route("/landing", Reply::json(200, json!({"status": "ok"})));
    a.route("/same", Reply::redirect("/final"));
    a.route("/final", Reply::redirect(&b.url("/landing")));
    let p = Project::new(&format!(
        "[[checks]]\nid = \"hop\"\nhttp = {{ url = \"{}\", headers = {{ X-Api-Key = \"${{{VAR}}}\", Authorization = \"Bearer ${{{VAR}}}\", Accept = \"application/json\" }} }}\nexpect = [\"status == 200\"]\n",
        a.url("/same")
    ));
    let mut cmd = p.command();
    cmd.env(VAR, SECRET).args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let first = a.seen();
    assert_eq!(first.len(), 2, "same-origin hop followed");
    assert!(
        first.iter().all(|x| x.header("x-api-key") == Some(SECRET)),
        "the secret goes to its own origin"
    );
    let other = b.seen();
    assert_eq!(other.len(), 1, "the cross-origin hop is followed");
    assert_eq!(other[0].header("x-api-key"), None);
    assert_eq!(other[0].header("authorization"), None);
    assert_eq!(other[0].header("accept"), Some("application/json"));
}

/// The serve router (no socket): every endpoint, and the SSE event a
/// forced refresh sends, with the secret known to the run as the GitHub
/// token (an upstream or proxy echoing it).
#[tokio::test]
async fn no_form_of_a_secret_reaches_any_serve_endpoint_or_sse() {
    let s = tokio::task::spawn_blocking(|| {
        let s = Server::start();
        echo_routes(&s);
        s
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = config(&s).replace(
        &format!("headers = {{ X-Api-Key = \"${{{VAR}}}\" }}"),
        "headers = { X-Test = \"1\" }",
    );
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, format!("[project]\nname = \"Secrets\"\n\n{text}")).unwrap();
    let plan = load_plan(&path).expect("valid config");
    let services = Services::with_token(
        &plan,
        Some((SECRET.to_owned(), TokenSource::Env("GITHUB_TOKEN"))),
    );
    let renderer = Renderer::new(None).expect("templates load");
    let state = AppState::new(plan, services, renderer, LISTEN);

    let get = |uri: &'static str| {
        let state = Arc::clone(&state);
        async move {
            let resp = serve::app(state)
                .oneshot(
                    Request::get(uri)
                        .header(header::HOST, LISTEN)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status();
            let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };

    let events = serve::app(Arc::clone(&state))
        .oneshot(
            Request::get("/api/telemetry/events")
                .header(header::HOST, LISTEN)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut stream = events.into_body().into_data_stream();

    let (status, json_text) = get("/api/telemetry/status?refresh=1").await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c.to_string().contains(MASK)),
        "the echoed secret was seen and masked: {report:#}"
    );
    assert_clean("/api/telemetry/status", &json_text);
    for uri in [
        "/api/telemetry/status.json",
        "/api/telemetry/status.txt",
        "/",
        "/metrics",
    ] {
        let (status, body) = get(uri).await;
        assert_eq!(status, 200, "{uri}: {body}");
        assert_clean(uri, &body);
    }

    let mut buf = String::new();
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let chunk = stream.next().await.expect("stream open").unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                if event.lines().any(|l| l == "event: report") {
                    return event;
                }
            }
        }
    })
    .await
    .expect("an SSE report after ?refresh=1");
    assert!(event.contains(MASK), "{event}");
    assert_clean("/api/telemetry/events", &event);
    tokio::task::spawn_blocking(move || drop(s)).await.unwrap();
}

// ------------------------------------------------------------- properties --

/// Secrets from printable ASCII and some non-ASCII letters (not `•`: a
/// secret made of the mask's own character cannot be told from the mask).
fn secret() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ -~éß中]{6,40}").unwrap()
}

fn filler() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ -~é\\n]{0,60}").unwrap()
}

/// Encoded texts holding the secret, each with the part of it that must be
/// gone after redaction.
fn encodings(secret: &str) -> Vec<(String, String)> {
    let b = secret.as_bytes();
    let mut out: Vec<(String, String)> = [
        secret.to_owned(),
        url_encoded(secret, false),
        url_encoded(secret, true),
        STANDARD.encode(b),
        URL_SAFE_NO_PAD.encode(b),
        hex::encode(b),
        hex::encode_upper(b),
    ]
    .into_iter()
    .map(|f| (f.clone(), f))
    .collect();
    // Other encoders' habits: every character as a JSON `\uXXXX` escape or
    // an HTML character reference, `/` as PHP's `\/`, base64 wrapped as MIME
    // wraps it.
    let unicode: String = secret
        .encode_utf16()
        .map(|u| format!("\\u{u:04x}"))
        .collect();
    out.push((unicode.clone(), unicode));
    let entities: String = secret
        .chars()
        .map(|c| format!("&#{};", u32::from(c)))
        .collect();
    out.push((entities.clone(), entities));
    let hex_entities: String = secret
        .chars()
        .map(|c| format!("&#x{:X};", u32::from(c)))
        .collect();
    out.push((hex_entities.clone(), hex_entities));
    if secret.contains('/') {
        let php = secret.replace('/', "\\/");
        out.push((php.clone(), php));
    }
    let b64 = STANDARD.encode(b);
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let wrapped = wrapped.join("\r\n");
    out.push((wrapped.clone(), wrapped));
    // Base64 of the secret after 1 and 2 bytes of something else (`Basic
    // u:secret`): the middle characters depend on the secret alone.
    for prefix in ["u", "us"] {
        let e = STANDARD.encode(format!("{prefix}{secret}"));
        if e.len() > 8 {
            let middle = e[3..e.len() - 4].to_owned();
            out.push((format!("Basic {e}"), middle));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_encoding_survives_redaction(
        secret in secret(),
        before in filler(),
        after in filler(),
        which in 0usize..16,
    ) {
        let r = Redactor::new([secret.as_str()]);
        let forms = encodings(&secret);
        let (embedded, gone) = &forms[which % forms.len()];
        let text = format!("{before}{embedded}{after}");
        let clean = r.redact(&text);
        prop_assert!(!clean.contains(gone.as_str()), "{gone:?} left in {clean:?}");
        prop_assert!(!clean.contains(secret.as_str()));
    }

    #[test]
    fn redacting_is_idempotent(
        secret in secret(),
        parts in proptest::collection::vec(filler(), 1..5),
    ) {
        let r = Redactor::new([secret.as_str()]);
        let forms = encodings(&secret);
        let text: String = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{p}{}", forms[i % forms.len()].0))
            .collect();
        let once = r.redact(&text).into_owned();
        let twice = r.redact(&once).into_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn cutting_after_redaction_never_shows_a_prefix(
        secret in "[a-zA-Z0-9]{12,30}",
        pad in 0usize..100,
        max in 10usize..120,
    ) {
        let r = Redactor::new([secret.as_str()]);
        let text = format!("{}{secret}{}", "x".repeat(pad), "y".repeat(pad));
        let shown = r.redact_then_cut(&text, max);
        prop_assert!(shown.chars().count() <= max);
        prop_assert!(!shown.contains(&secret[..6]), "{shown}");
    }
}
