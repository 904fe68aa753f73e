//! The disk cache of compiled plugins: a second process (here: a second
//! host) loads from it; a corrupt, foreign or linked entry is never trusted
//! but ignored and rebuilt; files are private; `plugin info` shows it all.
//! Every test uses its own temporary directory, never the user's cache.
#![cfg(feature = "plugins")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use villa_telemetry::probe::plugin::{CacheCounts, CacheStatus, PluginHost};

use crate::support::plugin_build::wasm;

fn host(dir: &Path) -> PluginHost {
    PluginHost::with_cache_dir(Some(dir.to_path_buf())).expect("plugin host")
}

fn entry_of(status: &CacheStatus) -> PathBuf {
    match status {
        CacheStatus::Hit { entry, .. } | CacheStatus::Miss { entry, .. } => entry.clone(),
        CacheStatus::Off { .. } => panic!("the cache is off"),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_second_host_loads_from_the_cache_and_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache/plugins");
    let first = host(&dir);
    let loaded = first.load(&wasm("testdata-noop")).unwrap();
    let CacheStatus::Miss {
        entry,
        rejected: None,
        stored: Ok(size),
        ..
    } = loaded.cache().clone()
    else {
        panic!("first load: {:?}", loaded.cache())
    };
    assert_eq!(std::fs::metadata(&entry).unwrap().len(), size);
    assert_eq!(entry.parent(), Some(dir.as_path()));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&entry), 0o600);
    }
    // Same process, same file: the in-memory copy, no disk look-up.
    first.load(&wasm("testdata-noop")).unwrap();
    assert_eq!(
        first.cache_counts(),
        CacheCounts {
            hits: 0,
            misses: 1,
            rejected: 0
        }
    );

    let second = host(&dir);
    let again = second.load(&wasm("testdata-noop")).unwrap();
    assert_eq!(
        again.cache(),
        &CacheStatus::Hit {
            entry: entry.clone(),
            bytes: size
        }
    );
    assert_eq!(second.cache_counts().hits, 1);
    // What came from disk runs like what was compiled.
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(second.describe(&again)).unwrap()["name"],
        "noop"
    );
    // A directory someone made readable to others is narrowed on write.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        host(&dir).load(&wasm("testdata-panic")).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }
}

#[test]
fn a_corrupt_entry_is_ignored_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = entry_of(
        host(tmp.path())
            .load(&wasm("testdata-noop"))
            .unwrap()
            .cache(),
    );
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&entry, &bytes).unwrap();

    let rebuilt = host(tmp.path());
    let loaded = rebuilt.load(&wasm("testdata-noop")).unwrap();
    match loaded.cache() {
        CacheStatus::Miss {
            rejected: Some(why),
            stored: Ok(_),
            ..
        } => assert_eq!(why, "its checksum does not match (corrupt)"),
        other => panic!("a corrupt entry was used: {other:?}"),
    }
    assert_eq!(rebuilt.cache_counts().rejected, 1);
    assert!(
        host(tmp.path())
            .load(&wasm("testdata-noop"))
            .unwrap()
            .cache()
            .is_hit()
    );

    // Cut short (a crash mid-write without the rename would leave only a
    // temporary file; a truncated entry must still not be trusted).
    std::fs::write(&entry, &bytes[..100]).unwrap();
    let loaded = host(tmp.path()).load(&wasm("testdata-noop")).unwrap();
    assert!(
        matches!(loaded.cache(), CacheStatus::Miss { rejected: Some(why), .. } if why.contains("truncated")),
        "{:?}",
        loaded.cache()
    );
}

#[test]
fn a_foreign_entry_is_ignored_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let noop = entry_of(
        host(tmp.path())
            .load(&wasm("testdata-noop"))
            .unwrap()
            .cache(),
    );
    let panic = entry_of(
        host(tmp.path())
            .load(&wasm("testdata-panic"))
            .unwrap()
            .cache(),
    );
    // A valid entry, but for another component (or, alike, for another
    // engine configuration: the key covers both), under this one's name.
    std::fs::copy(&panic, &noop).unwrap();
    let loaded = host(tmp.path()).load(&wasm("testdata-noop")).unwrap();
    match loaded.cache() {
        CacheStatus::Miss {
            rejected: Some(why),
            ..
        } => assert!(why.contains("another component or engine"), "{why}"),
        other => panic!("a foreign entry was used: {other:?}"),
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = host(tmp.path());
    let again = h.load(&wasm("testdata-noop")).unwrap();
    assert!(again.cache().is_hit());
    assert_eq!(rt.block_on(h.describe(&again)).unwrap()["name"], "noop");
}

#[cfg(unix)]
#[test]
fn links_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let entry = entry_of(host(&dir).load(&wasm("testdata-noop")).unwrap().cache());
    // An entry replaced by a link to a (valid) entry elsewhere.
    let elsewhere = tmp.path().join("elsewhere.cwasm");
    std::fs::rename(&entry, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let loaded = host(&dir).load(&wasm("testdata-noop")).unwrap();
    match loaded.cache() {
        CacheStatus::Miss {
            rejected: Some(_),
            stored: Err(why),
            ..
        } => assert!(why.contains("symbolic link"), "{why}"),
        other => panic!("a linked entry was used or replaced: {other:?}"),
    }
    assert!(
        std::fs::symlink_metadata(&entry)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A cache directory that is a link is not used at all.
    let linked = tmp.path().join("linked");
    std::os::unix::fs::symlink(&dir, &linked).unwrap();
    let loaded = host(&linked).load(&wasm("testdata-panic")).unwrap();
    match loaded.cache() {
        CacheStatus::Miss {
            rejected: Some(why),
            stored: Err(_),
            ..
        } => assert!(why.contains("symbolic link"), "{why}"),
        other => panic!("a linked cache directory was used: {other:?}"),
    }
}

fn info(cache: &str) -> String {
    let out = Command::cargo_bin("villa-telemetry")
        .expect("binary")
        .args(["plugin", "info"])
        .arg(wasm("heartbeat"))
        .env("VILLA_PLUGIN_CACHE_DIR", cache)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a terminal: no progress line.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn plugin_info_shows_the_cache_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let first = info(dir);
    let line = first.lines().find(|l| l.starts_with("cache: ")).unwrap();
    assert!(
        line.starts_with("cache: miss, compiled in ") && line.contains(&format!("; stored {dir}/")),
        "{line}"
    );
    let second = info(dir);
    let line = second.lines().find(|l| l.starts_with("cache: ")).unwrap();
    assert!(
        line.starts_with(&format!("cache: hit, {dir}/")) && line.ends_with(" MiB)"),
        "{line}"
    );
    let off = info("off");
    assert!(off.contains("cache: off (compiled in "), "{off}");
}

/// On a terminal a cold compile says so on stderr, and a cache hit says
/// nothing. `script` (util-linux) gives the binary a pseudo-terminal.
#[cfg(unix)]
#[test]
fn a_cold_compile_says_so_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
        assert!(
            !in_ci,
            "cannot run under CI: `script` (util-linux) is missing"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIP: a_cold_compile_says_so_on_a_terminal: no `script` (util-linux)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("villa-telemetry");
    let on_a_tty = || {
        let inner = format!(
            "{} plugin info {} >/dev/null",
            bin.display(),
            wasm("testdata-noop").display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env("VILLA_PLUGIN_CACHE_DIR", tmp.path())
            .output()
            .expect("script runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cold = on_a_tty();
    assert!(
        cold.starts_with("compiling plugin testdata_noop.wasm (",)
            && cold.contains(" KiB), once: later runs load it from the cache... "),
        "{cold:?}"
    );
    assert!(cold.trim_end().ends_with(" s"), "{cold:?}");
    let warm = on_a_tty();
    assert_eq!(warm, "", "a cache hit printed something");
}
