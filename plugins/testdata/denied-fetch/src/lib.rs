//! Test plugin: calls http-fetch / github-get for each configured target and
//! reports exactly what the host answered, so tests can assert on it.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

use villa::telemetry::host::{self, HttpError, HttpRequest};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"denied-fetch"}"#.into()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        let config: serde_json::Value =
            serde_json::from_str(&input.config_json).map_err(|e| e.to_string())?;
        let strings = |key: &str| -> Vec<String> {
            config
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let mut http = Vec::new();
        for url in strings("urls") {
            let req = HttpRequest {
                method: "GET".into(),
                url: url.clone(),
                headers: vec![("x-test".into(), "1".into())],
                body: None,
            };
            let outcome = match host::http_fetch(&req) {
                Ok(resp) => format!("ok {} {}", resp.status, String::from_utf8_lossy(&resp.body)),
                Err(HttpError::Denied(why)) => format!("denied: {why}"),
                Err(HttpError::Timeout) => "timeout".into(),
                Err(HttpError::TooLarge) => "too-large".into(),
                Err(HttpError::Transport(why)) => format!("transport: {why}"),
            };
            http.push(serde_json::json!({ "url": url, "outcome": outcome }));
        }
        let mut github = Vec::new();
        for path in strings("github") {
            let outcome = match host::github_get(&path) {
                Ok(body) => format!("ok {body}"),
                Err(why) => format!("err: {why}"),
            };
            github.push(serde_json::json!({ "path": path, "outcome": outcome }));
        }
        let fields = serde_json::json!({ "http": http, "github": github });
        Ok(CheckOutput {
            status: Status::Pass,
            summary: "fetched".into(),
            fields_json: Some(fields.to_string()),
        })
    }
}

export!(Plugin);
