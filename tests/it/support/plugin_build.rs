//! Builds the plugin workspace for the tests that need `.wasm` files: one
//! nested `cargo build --release --target wasm32-wasip2` into
//! `target/plugin-build` per test binary (cargo's lock serializes binaries),
//! or prebuilt files from `$VILLA_PLUGIN_WASM_DIR`. A rustup toolchain
//! without the wasm32-wasip2 target gets it added first, so `cargo test`
//! passes on a fresh machine with no manual step.
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
    ensure_wasm_target();
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
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Rust target plugins are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Adds the wasm target to the rustup toolchain running the tests, once per
/// process. A `rust-toolchain.toml` lists it too, but rustup only installs
/// listed targets together with a missing toolchain, not into one already
/// installed. The toolchain is the one this test run uses: rustup passes
/// `RUSTUP_TOOLCHAIN` down to the test process. Without rustup (a distro
/// toolchain) there is nothing to add; the build then says what is missing.
pub fn ensure_wasm_target() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(listed) = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(manifest_dir())
            .output()
        else {
            eprintln!("rustup not found: assuming the toolchain has the {WASM_TARGET} target");
            return;
        };
        let installed = String::from_utf8_lossy(&listed.stdout);
        if listed.status.success() && installed.lines().any(|l| l.trim() == WASM_TARGET) {
            return;
        }
        eprintln!("adding the {WASM_TARGET} target for the plugin tests (rustup target add)");
        let added = Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .current_dir(manifest_dir())
            .output()
            .expect("running rustup target add");
        assert!(
            added.status.success(),
            "`rustup target add {WASM_TARGET}` failed; the plugin tests need it:\n{}",
            String::from_utf8_lossy(&added.stderr)
        );
    });
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
