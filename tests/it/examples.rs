//! Every ready-made check in checks/examples validates against a config with
//! the usual environments, so users can copy them as they are.

use std::path::Path;

use assert_cmd::Command;

fn validate(example: &Path) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        r#"[project]
name = "Examples"
include = ["{}"]

[[environments]]
id = "staging"
url = "https://staging.example.com"

[[environments]]
id = "production"
url = "https://example.com"
tracks = "staging"
"#,
        example.display()
    );
    let path = dir.path().join("villa-telemetry.toml");
    std::fs::write(&path, config).expect("write config");
    Command::cargo_bin("villa-telemetry")
        .expect("binary")
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("runs")
}

#[test]
fn http_examples_are_valid_configs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        // Plugin examples need a built .wasm; the plugin tests cover them.
        if text.contains("[checks.plugin]") {
            continue;
        }
        let out = validate(&path);
        assert!(
            out.status.success(),
            "{} is not a valid check file:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the five HTTP examples, validated {seen}"
    );
}

#[test]
fn shipped_config_is_valid() {
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("check")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 environments"), "{stdout}");
}
