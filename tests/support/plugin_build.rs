//! Builds the plugin workspace for the tests that need `.wasm` files: one
//! nested `cargo build --release --target wasm32-wasip2` into
//! `target/plugin-build` per test binary (cargo's lock serializes binaries),
//! or prebuilt files from `$VILLA_PLUGIN_WASM_DIR`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs cargo for the wasm32-wasip2 target with a clean environment: the
/// outer test run's CARGO_TARGET_DIR / RUSTC_WRAPPER / RUSTFLAGS must not
/// leak in (they would send output elsewhere or break the wasm build).
pub fn nested_wasm_build(manifest: &Path, target_dir: &Path) {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTC_WRAPPER", "")
        .output()
        .expect("running cargo for the plugin build");
    assert!(
        output.status.success(),
        "building {} failed (is `rustup target add wasm32-wasip2` done?):\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Directory holding every built plugin `.wasm`.
pub fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("VILLA_PLUGIN_WASM_DIR") {
            return PathBuf::from(dir);
        }
        let target = manifest_dir().join("target/plugin-build");
        nested_wasm_build(&manifest_dir().join("plugins/Cargo.toml"), &target);
        target.join("wasm32-wasip2/release")
    })
}

pub fn wasm(name: &str) -> PathBuf {
    wasm_dir().join(format!("{}.wasm", name.replace('-', "_")))
}
