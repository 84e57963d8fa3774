//! Where the product keeps its files: the token cache, the log and runtime state, the config.
//!
//! Follows each OS's conventions through `directories` (on Linux the XDG base directories, so
//! `XDG_CACHE_HOME`, `XDG_STATE_HOME` and `XDG_CONFIG_HOME` are honoured). This module only
//! computes paths; it creates nothing.

use std::path::{Path, PathBuf};

use directories::{BaseDirs, ProjectDirs};

/// The application's name in every directory it owns.
pub const APP_NAME: &str = "docker-credential-ecr";

/// The current user's home directory (where docker, podman and helm keep their configs).
pub fn home_dir() -> Option<PathBuf> {
    BaseDirs::new().map(|dirs| dirs.home_dir().to_path_buf())
}

/// The directories of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    cache: PathBuf,
    state: PathBuf,
    config: PathBuf,
}

impl Paths {
    /// The current user's directories, or `None` when no home directory can be found.
    pub fn for_current_user() -> Option<Paths> {
        let dirs = ProjectDirs::from("", "", APP_NAME)?;
        let state = dirs
            .state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf();
        Some(Paths {
            cache: dirs.cache_dir().to_path_buf(),
            state,
            config: dirs.config_dir().to_path_buf(),
        })
    }

    /// The directories `cache`, `state` and `config` under `root` (tests, and hosts that keep
    /// the product's files in one place).
    pub fn under(root: &Path) -> Paths {
        Paths {
            cache: root.join("cache"),
            state: root.join("state"),
            config: root.join("config"),
        }
    }

    /// The token cache's directory (0700).
    pub fn token_cache_dir(&self) -> PathBuf {
        self.cache.join("tokens")
    }

    /// Runtime state: the log lives here.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Runtime state of each registry (last refresh, last error).
    pub fn registry_state_dir(&self) -> PathBuf {
        self.state.join("registries")
    }

    /// The helper's log file.
    pub fn log_file(&self) -> PathBuf {
        self.state.join(format!("{APP_NAME}.log"))
    }

    /// The user's configuration directory.
    pub fn config_dir(&self) -> &Path {
        &self.config
    }

    /// The product's own configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.json")
    }

    /// Secrets of key sets kept in a file (`add --store file`, for hosts without a keychain).
    pub fn file_secret_store(&self) -> PathBuf {
        self.config.join("keys.json")
    }
}
