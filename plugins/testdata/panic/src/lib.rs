//! Test plugin: panics; Rust std prints the message to stderr, then it traps.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"panic"}"#.into()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        if input.check_id != "never" {
            panic!("deliberate panic: the plugin gave up");
        }
        Ok(CheckOutput {
            status: Status::Pass,
            summary: String::new(),
            fields_json: None,
        })
    }
}

export!(Plugin);
