//! Where the tool keeps files of its own: the user's cache directory (the
//! GitHub disk cache) and state directory (the audit log), as the platform
//! names them (`$XDG_CACHE_HOME`, `$XDG_STATE_HOME` on Linux).

use std::path::PathBuf;

use directories::ProjectDirs;

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "villa-telemetry")
}

/// `$XDG_CACHE_HOME/villa-telemetry`, else `~/.cache/villa-telemetry`; None
/// without a home directory.
pub fn cache_dir() -> Option<PathBuf> {
    project().map(|p| p.cache_dir().to_path_buf())
}

/// `$XDG_STATE_HOME/villa-telemetry`, else `~/.local/state/villa-telemetry`
/// (the local data directory where the platform has no state directory);
/// None without a home directory.
pub fn state_dir() -> Option<PathBuf> {
    project().map(|p| {
        p.state_dir()
            .unwrap_or_else(|| p.data_local_dir())
            .to_path_buf()
    })
}
