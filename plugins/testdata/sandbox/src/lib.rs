//! Test plugin: probes what the sandbox lets it see (files, env, stdio) and
//! reports it, so tests can assert the host grants nothing by default.
wit_bindgen::generate!({ path: "../../wit", world: "check-plugin" });

use villa::telemetry::types::Status;

use std::io::Write;

struct Plugin;

fn probe<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("err: {e}"),
    }
}

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"sandbox"}"#.into()
    }

    fn run(_input: CheckInput) -> Result<CheckOutput, String> {
        let fs_root = probe(std::fs::read_dir("/"));
        let fs_cwd = probe(std::fs::read_dir("."));
        let passwd = probe(std::fs::read("/etc/passwd"));
        let env: serde_json::Map<String, serde_json::Value> =
            std::env::vars().map(|(k, v)| (k, v.into())).collect();
        println!("hello from stdout");
        eprintln!("hello from stderr");
        // Far more than the host keeps: output past the cap must be dropped
        // quietly, not fail the guest's write.
        let line = "z".repeat(1023);
        let mut out = std::io::stdout();
        let mut flood = "ok";
        for _ in 0..200 {
            if writeln!(out, "{line}").is_err() {
                flood = "write failed";
            }
        }
        let fields = serde_json::json!({ "fs_root": fs_root, "fs_cwd": fs_cwd, "passwd": passwd, "env": env, "flood": flood });
        Ok(CheckOutput {
            status: Status::Pass,
            summary: "probed".into(),
            fields_json: Some(fields.to_string()),
        })
    }
}

export!(Plugin);
