//! Test plugin: allocates (and touches) memory until something stops it.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"membomb"}"#.into()
    }

    fn run(_input: CheckInput) -> Result<CheckOutput, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            if hoard.len() > 1 << 16 {
                return Ok(CheckOutput {
                    status: Status::Pass,
                    summary: String::new(),
                    fields_json: None,
                });
            }
        }
    }
}

export!(Plugin);
