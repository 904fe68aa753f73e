//! Compiled plugins on disk, so only the first run after a plugin changes
//! pays Cranelift (seconds for a Python component, see BENCHMARKS.md).
//!
//! An entry is `<key>.cwasm` in the cache directory, where the key is the
//! SHA-256 of the component's bytes and of everything the engine's output
//! depends on (wasmtime's own compatibility hash: target, flags, tunables,
//! features, wasmtime version). Deserializing compiled code runs it
//! unchecked, so an entry is never trusted as it stands: it must name the
//! key it is read for and carry the SHA-256 of its payload, and it is read
//! whole into memory and checked there (no window between check and use).
//! Anything else (a corrupt, truncated or foreign file, a link, a file of
//! another user) is ignored, and the component is compiled and the entry
//! written anew. Files are 0600 in a 0700 directory, written to a temporary
//! file and renamed, so a reader sees the old entry or the new one.

use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::api::{Pruned, Usage};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every entry; bump the digit when the layout changes.
const MAGIC: &[u8; 8] = b"VTPLUGC1";
/// Magic, key, payload length, payload digest.
const HEADER_LEN: usize = 8 + 32 + 8 + 32;
/// Larger entries are not read: a compiled plugin is tens of MB at most.
const MAX_ENTRY: u64 = 1 << 30;
/// An entry no run has loaded for this long is removed.
pub(super) const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Past this total, the least recently used entries are removed.
pub(super) const MAX_TOTAL: u64 = 2 << 30;
/// A hit refreshes its entry's time when the time is older than this.
const TOUCH_AFTER: Duration = Duration::from_secs(24 * 3600);
/// A temporary file this old is a writer's that died: removed.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// The on-disk cache of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub(super) struct DiskCache {
    dir: PathBuf,
    engine_key: [u8; 32],
}

/// What a lookup found.
pub(super) enum Lookup {
    /// A verified entry, deserialized; its size in bytes.
    Hit(Component, u64),
    /// No entry for this key.
    Miss,
    /// An entry that was not used, and why.
    Rejected(String),
}

impl DiskCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub(super) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = ShaHasher(Sha256::new());
        hasher.0.update(b"villa-telemetry plugin cache\0");
        hasher.0.update(std::env::consts::ARCH.as_bytes());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        Self {
            dir,
            engine_key: hasher.0.finalize().into(),
        }
    }

    /// The directory entries live in.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry's key for a component whose bytes hash to `digest`.
    pub(super) fn key(&self, digest: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.engine_key);
        h.update(digest);
        h.finalize().into()
    }

    /// Where the entry for `key` lives.
    pub(super) fn path(&self, key: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.cwasm", hex(key)))
    }

    /// Reads and verifies the entry for `key`, and deserializes it.
    pub(super) fn lookup(&self, engine: &Engine, key: &[u8; 32]) -> Lookup {
        let path = self.path(key);
        if let Err(why) = check_dir(&self.dir, false) {
            return why.map_or(Lookup::Miss, Lookup::Rejected);
        }
        let bytes = match read_entry(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Rejected(format!("cannot read it: {e}")),
        };
        let payload = match verify(&bytes, key) {
            Ok(payload) => payload,
            Err(why) => return Lookup::Rejected(why.into()),
        };
        // SAFETY: `payload` is exactly the bytes `Component::serialize`
        // wrote for this key: the key covers the component and wasmtime's
        // compatibility hash of this engine's configuration, and the
        // payload's SHA-256 was checked above on this very buffer, which
        // nothing else can change. The directory is this user's own and
        // 0700, so only someone who can already run code as this user
        // could have forged an entry. wasmtime checks its own header too.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(component) => Lookup::Hit(component, bytes.len() as u64),
            Err(e) => Lookup::Rejected(format!("wasmtime refused it: {e}")),
        }
    }

    /// Serializes `component` and writes it as the entry for `key`; the
    /// entry's size in bytes.
    pub(super) fn store(&self, key: &[u8; 32], component: &Component) -> Result<u64, String> {
        let payload = component
            .serialize()
            .map_err(|e| format!("cannot serialize: {e}"))?;
        let mut entry = Vec::with_capacity(HEADER_LEN + payload.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(key);
        entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        entry.extend_from_slice(&Sha256::digest(&payload));
        entry.extend_from_slice(&payload);
        create_dir(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        check_dir(&self.dir, true).map_err(|why| {
            why.unwrap_or_else(|| format!("{} is not a directory", self.dir.display()))
        })?;
        let path = self.path(key);
        write_atomically(&path, &entry)?;
        Ok(entry.len() as u64)
    }

    /// Removes entries unused for [`UNUSED_FOR`], then the least recently
    /// used past [`MAX_TOTAL`]; never `keep` (the entry just written). Only
    /// files this cache could have written are touched: `<hex>.cwasm` and
    /// its temporary files, regular, not links.
    pub(super) fn prune(&self, keep: &[u8; 32], now: SystemTime) -> Pruned {
        let keep = self.path(keep);
        let mut pruned = Pruned::default();
        let mut live = Vec::new();
        for (path, kind, len, modified) in self.files() {
            let age = now.duration_since(modified).unwrap_or_default();
            let stale = match kind {
                FileKind::Entry => age > UNUSED_FOR && path != keep,
                FileKind::Temp => age > STALE_TMP,
            };
            if stale {
                if std::fs::remove_file(&path).is_ok() {
                    pruned.entries += 1;
                    pruned.bytes += len;
                }
            } else if kind == FileKind::Entry {
                live.push((modified, len, path));
            }
        }
        let mut total: u64 = live.iter().map(|(_, len, _)| len).sum();
        live.sort_by_key(|(modified, _, _)| *modified);
        for (_, len, path) in live {
            if total <= MAX_TOTAL {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                pruned.entries += 1;
                pruned.bytes += len;
                total -= len;
            }
        }
        pruned
    }

    /// How many entries the directory holds, and their size.
    pub(super) fn usage(&self) -> Usage {
        self.files()
            .filter(|(_, kind, _, _)| *kind == FileKind::Entry)
            .fold(Usage::default(), |u, (_, _, len, _)| Usage {
                entries: u.entries + 1,
                bytes: u.bytes + len,
            })
    }

    /// The cache's own files in the directory (nothing when it is a link or
    /// another user's): path, kind, size, modification time.
    fn files(&self) -> impl Iterator<Item = (PathBuf, FileKind, u64, SystemTime)> {
        let entries = match check_dir(&self.dir, false) {
            Ok(()) => std::fs::read_dir(&self.dir).ok(),
            Err(_) => None,
        };
        entries.into_iter().flatten().filter_map(|entry| {
            let entry = entry.ok()?;
            let kind = FileKind::of(entry.file_name().to_str()?)?;
            let meta = std::fs::symlink_metadata(entry.path()).ok()?;
            if !meta.file_type().is_file() {
                return None;
            }
            Some((entry.path(), kind, meta.len(), meta.modified().ok()?))
        })
    }
}

/// The two kinds of file the cache writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// `<64 hex digits>.cwasm`.
    Entry,
    /// `.<entry name>.<pid>.<seq>.tmp`, while it is written.
    Temp,
}

impl FileKind {
    fn of(name: &str) -> Option<Self> {
        let is_entry = |n: &str| {
            n.strip_suffix(".cwasm")
                .is_some_and(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        if is_entry(name) {
            return Some(Self::Entry);
        }
        let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
        let mut parts = inner.rsplitn(3, '.');
        let (seq, pid, entry) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits(seq) && digits(pid) && is_entry(entry)).then_some(Self::Temp)
    }
}

/// The payload of a well-formed entry for `key`, or what is wrong with it.
fn verify<'a>(bytes: &'a [u8], key: &[u8; 32]) -> Result<&'a [u8], &'static str> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a cache entry of this version");
    }
    if &bytes[8..40] != key {
        return Err("it was written for another component or engine configuration");
    }
    let len = u64::from_le_bytes(bytes[40..48].try_into().unwrap_or_default());
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err("it is truncated or has trailing bytes");
    }
    if Sha256::digest(payload).as_slice() != &bytes[48..80] {
        return Err("its checksum does not match (corrupt)");
    }
    Ok(payload)
}

/// Lowercase hex of a digest.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `Hash` impls into SHA-256, so wasmtime's compatibility hash gives
/// a stable, collision-resistant key (std's hashers are 64-bit).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Only the SHA-256 state is used; `finish` is never called for keys.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The whole entry: not through a link, only a regular file (a FIFO would
/// block), of a sane size.
fn read_entry(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_read(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_ENTRY {
        return Err(io::Error::other("larger than 1 GiB"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    (&mut f).take(MAX_ENTRY + 1).read_to_end(&mut bytes)?;
    // Marks it used, for pruning; a failure only makes it look older.
    let now = SystemTime::now();
    if meta
        .modified()
        .is_ok_and(|m| now.duration_since(m).unwrap_or_default() > TOUCH_AFTER)
    {
        let _ = f.set_modified(now);
    }
    Ok(bytes)
}

/// Temporary file in the same directory, then rename. A link where the
/// entry should be is someone else's doing: left alone and reported.
fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = create_new(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", tmp.display()));
    }
    if std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "{} is a symbolic link; it is neither read nor written",
            file.display()
        ));
    }
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename into {}: {e}", file.display())
    })
}

/// `dir` must be a real directory of this user's, not a link; with
/// `tighten`, one a group or others may read is made 0700. `Err(None)`:
/// no such directory (a plain miss).
fn check_dir(dir: &Path, tighten: bool) -> Result<(), Option<String>> {
    let meta = std::fs::symlink_metadata(dir).map_err(|_| None)?;
    if meta.file_type().is_symlink() {
        return Err(Some(format!(
            "{} is a symbolic link; the plugin cache is not used",
            dir.display()
        )));
    }
    if !meta.is_dir() {
        return Err(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(Some(format!(
                "{} belongs to another user; the plugin cache is not used",
                dir.display()
            )));
        }
        if tighten && meta.mode() & 0o077 != 0 {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let _ = tighten;
    Ok(())
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_read(file: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file)
}

#[cfg(not(unix))]
fn open_read(file: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(file)
}

/// A new file (never an existing one, never through a link), 0600.
#[cfg(unix)]
fn create_new(file: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
}

#[cfg(not(unix))]
fn create_new(file: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component there is: the preamble of an empty one.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine(epochs: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        // Changes the generated code, so it is part of the compatibility hash.
        config.epoch_interruption(epochs);
        Engine::new(&config).unwrap()
    }

    fn digest() -> [u8; 32] {
        Sha256::digest(EMPTY_COMPONENT).into()
    }

    #[test]
    fn a_stored_entry_is_a_hit_for_its_engine_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = engine(true);
        let cache_a = DiskCache::new(dir.path().join("plugins"), &a);
        let key = cache_a.key(&digest());
        assert!(matches!(cache_a.lookup(&a, &key), Lookup::Miss));
        let component = Component::new(&a, EMPTY_COMPONENT).unwrap();
        cache_a.store(&key, &component).unwrap();
        assert!(matches!(cache_a.lookup(&a, &key), Lookup::Hit(..)));

        // Another configuration (no epoch checks) has other keys...
        let b = engine(false);
        let cache_b = DiskCache::new(dir.path().join("plugins"), &b);
        let key_b = cache_b.key(&digest());
        assert_ne!(key, key_b);
        assert!(matches!(cache_b.lookup(&b, &key_b), Lookup::Miss));
        // ...and an entry of A's copied to B's name is refused, not loaded.
        std::fs::copy(cache_a.path(&key), cache_b.path(&key_b)).unwrap();
        match cache_b.lookup(&b, &key_b) {
            Lookup::Rejected(why) => assert!(why.contains("another component or engine"), "{why}"),
            _ => panic!("a foreign entry was not rejected"),
        }
    }

    #[test]
    fn verify_rejects_every_kind_of_damage() {
        let key = [7u8; 32];
        let payload = b"compiled code";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&key);
        entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        entry.extend_from_slice(&Sha256::digest(payload));
        entry.extend_from_slice(payload);
        assert_eq!(verify(&entry, &key), Ok(&payload[..]));

        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify(&flipped, &key),
            Err("its checksum does not match (corrupt)")
        );
        assert_eq!(
            verify(&entry[..entry.len() - 1], &key),
            Err("it is truncated or has trailing bytes")
        );
        assert!(verify(&entry, &[8u8; 32]).is_err());
        assert!(verify(b"VTPLUGC1", &key).is_err());
        assert!(verify(&[], &key).is_err());
    }

    const DAY: Duration = Duration::from_secs(86_400);

    /// A file of `len` bytes (sparse: no disk used) last modified `age` ago.
    fn aged(path: &Path, len: u64, age: Duration) {
        let f = std::fs::File::create(path).unwrap();
        f.set_len(len).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
    }

    fn entry_name(n: u8) -> String {
        format!("{}.cwasm", hex(&[n; 32]))
    }

    #[test]
    fn prune_removes_entries_unused_for_30_days_and_dead_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_owned(), &engine(true));
        let d = dir.path();
        aged(&d.join(entry_name(1)), 10, 31 * DAY); // unused: goes
        aged(&d.join(entry_name(2)), 20, 29 * DAY); // used lately: stays
        aged(&d.join(entry_name(3)), 40, 90 * DAY); // old, but just written: stays
        let tmp = format!(".{}.123.0.tmp", entry_name(4));
        aged(&d.join(&tmp), 5, Duration::from_secs(2 * 3600)); // a dead writer's
        let fresh_tmp = format!(".{}.124.0.tmp", entry_name(5));
        aged(&d.join(&fresh_tmp), 5, Duration::ZERO); // a live writer's
        aged(&d.join("notes.txt"), 7, 400 * DAY); // not the cache's
        aged(&d.join("ab.cwasm"), 7, 400 * DAY); // not a key
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("notes.txt"), d.join(entry_name(6))).unwrap();

        let pruned = cache.prune(&[3; 32], SystemTime::now());
        assert_eq!(
            pruned,
            Pruned {
                entries: 2,
                bytes: 15
            }
        );
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            entry_name(2),
            entry_name(3),
            fresh_tmp,
            "ab.cwasm".to_owned(),
            "notes.txt".to_owned(),
        ];
        #[cfg(unix)]
        want.push(entry_name(6));
        want.sort();
        assert_eq!(left, want);
        assert_eq!(
            cache.usage(),
            Usage {
                entries: 2,
                bytes: 60
            }
        );
    }

    #[test]
    fn prune_keeps_the_total_under_2_gib_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_owned(), &engine(true));
        let d = dir.path();
        let gib = 1u64 << 30;
        aged(&d.join(entry_name(1)), gib, 3 * DAY);
        aged(&d.join(entry_name(2)), gib, 2 * DAY);
        aged(&d.join(entry_name(3)), gib, DAY);
        aged(&d.join(entry_name(4)), 1, 10 * DAY); // the one just written
        let pruned = cache.prune(&[4; 32], SystemTime::now());
        // 3 GiB + 1 B: the two oldest others go (the kept one is never dropped).
        assert_eq!(
            pruned,
            Pruned {
                entries: 2,
                bytes: 2 * gib
            }
        );
        assert!(d.join(entry_name(3)).exists() && d.join(entry_name(4)).exists());
        assert_eq!(
            cache.usage(),
            Usage {
                entries: 2,
                bytes: gib + 1
            }
        );
    }

    #[test]
    fn a_hit_marks_an_old_entry_used() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(true);
        let cache = DiskCache::new(dir.path().join("plugins"), &e);
        let key = cache.key(&digest());
        cache
            .store(&key, &Component::new(&e, EMPTY_COMPONENT).unwrap())
            .unwrap();
        let path = cache.path(&key);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - 40 * DAY)
            .unwrap();
        assert!(matches!(cache.lookup(&e, &key), Lookup::Hit(..)));
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(SystemTime::now().duration_since(modified).unwrap() < DAY);
        // So pruning now keeps it, even when it is not the entry just written.
        assert_eq!(cache.prune(&[0; 32], SystemTime::now()), Pruned::default());
    }
}
