//! Test plugin: spins forever, so the host's epoch timeout must stop it.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"loop"}"#.into()
    }

    fn run(_input: CheckInput) -> Result<CheckOutput, String> {
        let mut n = 0u64;
        loop {
            // black_box keeps the optimiser from proving the loop useless.
            n = std::hint::black_box(n.wrapping_add(1));
            if n == u64::MAX {
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
