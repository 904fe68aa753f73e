//! ETag cache: remembers the last 200 body per URL so a 304 can reuse it.
//!
//! In memory always; on disk when a cache directory is given, so a fresh
//! `villa-telemetry run` also makes only conditional requests (a 304 costs no
//! rate-limit point). Only successful bodies are stored: an error is never
//! replayed.
//!
//! The files hold answers from private repositories, so they are created
//! 0600 in directories created 0700 (whatever the umask), and a symbolic
//! link where a cache file or the cache directory should be is neither read
//! nor written through: that entry is skipped, with a warning.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod disk;

/// Bound on URLs kept in memory (disk entries stay and reload on demand).
const MAX_MEM_ENTRIES: usize = 1024;

/// One remembered answer.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Sent back byte for byte (weak `W/"…"` included) in `If-None-Match`.
    pub etag: String,
    /// The parsed body of the 200 that carried `etag`.
    pub body: Arc<Value>,
    /// Its `Link: <…>; rel="next"`, if any: a 304 does not repeat it, and a
    /// list read page by page needs it as much as the body.
    pub next: Option<String>,
}

/// On-disk form; the URL is kept to detect (unlikely) hash collisions.
#[derive(Serialize, Deserialize)]
struct DiskEntry {
    url: String,
    etag: String,
    body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

pub(crate) struct EtagCache {
    mem: Mutex<HashMap<String, Entry>>,
    /// `<cache_dir>/github`, when disk caching is on.
    dir: Option<PathBuf>,
    /// Hash of the token (never the token): answers differ per identity
    /// (`Vary: Authorization`), so one identity must not reuse another's.
    identity: String,
}

impl EtagCache {
    pub(crate) fn new(cache_dir: Option<PathBuf>, token: Option<&str>) -> Self {
        let identity = match token {
            Some(t) => hex(&Sha256::digest(
                format!("villa-telemetry token:{t}").as_bytes(),
            )),
            None => "anonymous".to_string(),
        };
        EtagCache {
            mem: Mutex::new(HashMap::new()),
            dir: cache_dir.map(|d| d.join("github")),
            identity,
        }
    }

    /// The remembered answer for `url`, from memory, else from disk (a
    /// file of at most `max` bytes); the warning says why a file was not read.
    pub(crate) async fn get(&self, url: &str, max: usize) -> (Option<Entry>, Option<String>) {
        if let Some(e) = self.mem.lock().expect("cache lock").get(url) {
            return (Some(e.clone()), None);
        }
        let Some(file) = self.file_for(url) else {
            return (None, None);
        };
        let bytes = match disk::read(&file, max).await {
            Ok(bytes) => bytes,
            Err(warning) => return (None, warning),
        };
        // A corrupt or foreign file is only a cache miss.
        let Some(disk) = serde_json::from_slice::<DiskEntry>(&bytes)
            .ok()
            .filter(|d| d.url == url)
        else {
            return (None, None);
        };
        let entry = Entry {
            etag: disk.etag,
            body: Arc::new(disk.body),
            next: disk.next,
        };
        self.mem
            .lock()
            .expect("cache lock")
            .insert(url.to_string(), entry.clone());
        (Some(entry), None)
    }

    /// Remember a 200 answer. Disk errors are ignored (the cache is an
    /// optimisation); a refusal to write through a link is returned.
    pub(crate) async fn put(&self, url: &str, entry: Entry) -> Option<String> {
        {
            let mut mem = self.mem.lock().expect("cache lock");
            // `serve` runs for days and every new sha adds URLs; a run needs
            // a handful, so starting over past the cap costs one cold run.
            if mem.len() >= MAX_MEM_ENTRIES && !mem.contains_key(url) {
                mem.clear();
            }
            mem.insert(url.to_string(), entry.clone());
        }
        let file = self.file_for(url)?;
        let disk = DiskEntry {
            url: url.to_string(),
            etag: entry.etag,
            body: (*entry.body).clone(),
            next: entry.next,
        };
        let bytes = serde_json::to_vec(&disk).ok()?;
        disk::write_atomically(&file, &bytes).await.err().flatten()
    }

    fn file_for(&self, url: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let key = hex(&Sha256::digest(
            format!("{}\n{}", self.identity, url).as_bytes(),
        ));
        Some(dir.join(format!("{key}.json")))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
