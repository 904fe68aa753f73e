//! The cache's files on disk: private modes, and no symbolic link followed.
//!
//! A cache file holds an answer from a possibly private repository, so it
//! is created 0600 and its directories 0700, whatever the umask. A link
//! planted where a file or the `github` directory should be would send
//! those answers (or a forged one) elsewhere: it is refused, the entry is
//! skipped, and the refusal is returned as a warning for the report.
//! `Err(None)` is any other failure: only a cache miss.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an entry was skipped, for the report; None for an ordinary miss.
type Skipped = Option<String>;

/// The bytes of `file`, at most `max` of them; not through a link, and not
/// from anything but a regular file (a FIFO would block the read).
pub(super) async fn read(file: &Path, max: usize) -> Result<Vec<u8>, Skipped> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        check_dir(file.parent().ok_or(None)?, false)?;
        let mut f = open_read(&file).map_err(|e| refused(&file, &e))?;
        let meta = f.metadata().map_err(|_| None)?;
        let cap = u64::try_from(max).unwrap_or(u64::MAX);
        if !meta.is_file() || meta.len() > cap {
            return Err(None);
        }
        narrow(&f, &meta);
        let mut bytes = Vec::new();
        (&mut f)
            .take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|_| None)?;
        if bytes.len() > max {
            return Err(None);
        }
        Ok(bytes)
    })
    .await
    .map_err(|_| None)?
}

/// Write to a temporary file in the same directory, then rename: a reader
/// (another process sharing the cache) sees the old file or the new one,
/// never half of one. A link at `file` is left alone and reported.
pub(super) async fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), Skipped> {
    let file = file.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        let dir = file.parent().ok_or(None)?;
        create_dir(dir).map_err(|_| None)?;
        check_dir(dir, true)?;
        // Unique per process and per write: two tasks may store the same URL at once.
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{}.{}.{}.tmp",
            file.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = create_new(&tmp).and_then(|mut f| f.write_all(&bytes));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return Err(None);
        }
        // rename(2) would replace a link, not follow it; still, a link there
        // is someone else's doing, so it stays and is reported.
        let link = std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink());
        let renamed = if link {
            Err(Some(link_warning(&file)))
        } else {
            std::fs::rename(&tmp, &file).map_err(|_| None)
        };
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed
    })
    .await
    .map_err(|_| None)?
}

fn link_warning(path: &Path) -> String {
    format!(
        "GitHub disk cache: {} is a symbolic link; it is neither read nor written",
        path.display()
    )
}

/// The warning for a failed open: a link refused (`ELOOP` under
/// `O_NOFOLLOW`) is one, anything else (no such file) is a plain miss.
fn refused(path: &Path, e: &io::Error) -> Skipped {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Some(link_warning(path));
    }
    let _ = (path, e);
    None
}

/// `dir` must be a real directory, not a link; on unix one of this user's,
/// and with `tighten` made 0700 when a group or others may read it (a cache
/// written before files were private).
fn check_dir(dir: &Path, tighten: bool) -> Result<(), Skipped> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(_) => return Err(None),
    };
    if meta.file_type().is_symlink() {
        return Err(Some(format!(
            "GitHub disk cache: {} is a symbolic link; the disk cache is not used",
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
                "GitHub disk cache: {} belongs to another user; the disk cache is not used",
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

/// A cache file a group or others may read (written before files were
/// private) is made 0600 through the open handle, not the path.
#[cfg(unix)]
fn narrow(f: &std::fs::File, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(not(unix))]
fn narrow(_: &std::fs::File, _: &std::fs::Metadata) {}

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
