//! Test plugin: returns malformed output, chosen by config.mode.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        // Not JSON at all: describe() callers must cope.
        "this is not json".into()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        let config: serde_json::Value =
            serde_json::from_str(&input.config_json).map_err(|e| e.to_string())?;
        let mode = config.get("mode").and_then(|m| m.as_str()).unwrap_or("");
        let (summary, fields) = match mode {
            "array" => (
                "fields are an array".to_string(),
                Some("[1, 2, 3]".to_string()),
            ),
            "invalid" => (
                "fields are not JSON".to_string(),
                Some("{\"unterminated\": ".to_string()),
            ),
            "huge-summary" => ("x".repeat(100 * 1024), None),
            "huge-fields" => {
                let big = format!("{{\"blob\":\"{}\"}}", "y".repeat(200 * 1024));
                ("big fields".to_string(), Some(big))
            }
            "err" => return Err("config says no".into()),
            other => return Err(format!("unknown mode {other:?}")),
        };
        Ok(CheckOutput {
            status: Status::Pass,
            summary,
            fields_json: fields,
        })
    }
}

export!(Plugin);
