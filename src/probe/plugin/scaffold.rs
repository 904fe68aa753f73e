//! `plugin new NAME [--lang rust|python|js]`: writes a plugin that builds
//! as is with one command (cargo, componentize-py or componentize-js).

use std::path::{Path, PathBuf};

/// The WIT the host is built against; new plugins get their own copy so
/// they build outside this repository.
const WIT: &str = include_str!("../../../plugins/wit/check.wit");

pub use super::scaffold_langs::Lang;

/// Why a plugin crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a crate name.
    #[error(
        "plugin name {0:?} is not valid: use lowercase letters, digits and '-', starting with a letter"
    )]
    InvalidName(String),
    /// Refusing to overwrite someone's work.
    #[error("{} already exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Creates a new Rust plugin crate named `name` in directory `dir` (created
/// if missing, must be empty otherwise): `Cargo.toml`, `wit/check.wit`,
/// `src/lib.rs` (a check that passes) and a `README.md` saying how to build.
pub fn scaffold(name: &str, dir: &Path) -> Result<(), ScaffoldError> {
    scaffold_lang(name, dir, Lang::Rust)
}

/// Creates a new plugin named `name` in `dir` in `lang`: its own copy of
/// the WIT, a README with the one build command, and a sample check that
/// fetches its configured `url` through `http-fetch` and returns fields.
pub fn scaffold_lang(name: &str, dir: &Path, lang: Lang) -> Result<(), ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ScaffoldError::Io { path, source }
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(ScaffoldError::NotEmpty(dir.to_owned()));
    }
    let wasm_name = name.replace('-', "_");
    let files = match lang {
        Lang::Rust => vec![
            ("Cargo.toml", cargo_toml(name)),
            ("wit/check.wit", WIT.to_owned()),
            ("src/lib.rs", lib_rs(name)),
            ("README.md", readme(name, &wasm_name)),
            (".gitignore", "/target\n".to_owned()),
        ],
        Lang::Python => vec![
            ("app.py", super::scaffold_langs::app_py(name)),
            ("wit/check.wit", WIT.to_owned()),
            ("README.md", super::scaffold_langs::readme(name, lang)),
            (
                ".gitignore",
                "*.wasm\n__pycache__/\n/wit_world/\n".to_owned(),
            ),
        ],
        Lang::Js => vec![
            ("app.js", super::scaffold_langs::app_js(name)),
            ("package.json", super::scaffold_langs::package_json(name)),
            ("wit/check.wit", WIT.to_owned()),
            ("README.md", super::scaffold_langs::readme(name, lang)),
            (".gitignore", "*.wasm\nnode_modules/\n".to_owned()),
        ],
    };
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, contents).map_err(io(&path))?;
    }
    Ok(())
}

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = {{ version = "0.61", default-features = false, features = ["macros", "realloc"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"

# A plugin builds on its own, never as part of an enclosing workspace.
[workspace]
"#
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! villa-telemetry check plugin `{name}`.
wit_bindgen::generate!({{ path: "wit", world: "check-plugin" }});

use villa::telemetry::host::{{self, LogLevel}};
use villa::telemetry::types::Status;

struct Plugin;

impl Guest for Plugin {{
    /// Shown by `villa-telemetry plugin info`.
    fn describe() -> String {{
        serde_json::json!({{
            "name": "{name}",
            "version": env!("CARGO_PKG_VERSION"),
            "config": {{}}
        }})
        .to_string()
    }}

    fn run(input: CheckInput) -> Result<CheckOutput, String> {{
        // The check's [checks.plugin] config table, as JSON.
        let config: serde_json::Value =
            serde_json::from_str(&input.config_json).map_err(|e| format!("bad config: {{e}}"))?;
        host::log(LogLevel::Info, &format!("running {{}} with {{config}}", input.check_id));
        Ok(CheckOutput {{
            status: Status::Pass,
            summary: "all good".into(),
            fields_json: Some(serde_json::json!({{ "check_id": input.check_id }}).to_string()),
        }})
    }}
}}

export!(Plugin);
"#
    )
}

fn readme(name: &str, wasm_name: &str) -> String {
    format!(
        r#"# {name}

A villa-telemetry check plugin (WIT `villa:telemetry@0.1.0`, world `check-plugin`).

Build (once: `rustup target add wasm32-wasip2`):

    cargo build --release --target wasm32-wasip2

The plugin is `target/wasm32-wasip2/release/{wasm_name}.wasm`. Use it from a check:

```toml
[[checks]]
id = "{name}"
[checks.plugin]
wasm = "path/to/{wasm_name}.wasm"
config = {{}}
```
"#
    )
}
