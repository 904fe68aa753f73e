//! Test plugin: the cheapest possible check, for overhead measurements.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"noop","version":"0.1.0","config":{}}"#.into()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        Ok(CheckOutput {
            status: Status::Pass,
            summary: format!("ok {}", input.check_id),
            fields_json: Some(r#"{"noop":true}"#.into()),
        })
    }
}

export!(Plugin);
