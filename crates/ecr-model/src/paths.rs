//! Where the product keeps its files: the token cache, the log and runtime state, the config.
//!
//! A user's files follow each OS's conventions through `directories` (on Linux the XDG base
//! directories, so `XDG_CACHE_HOME`, `XDG_STATE_HOME` and `XDG_CONFIG_HOME` are honoured). A
//! node (a kubelet's plugin runs as root, often with no `HOME`) keeps them in system
//! directories instead. What chooses them is explicit ([`Locations`]): the `--config-dir` and
//! `--cache-dir` options, then [`CONFIG_DIR_ENV`] and [`CACHE_DIR_ENV`], then `HOME`'s
//! presence. This module only computes paths; it creates nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use directories::{BaseDirs, ProjectDirs};

/// The application's name in every directory it owns.
pub const APP_NAME: &str = "docker-credential-ecr";

/// Environment variable naming the config directory (bindings, key sets, `keys.json`).
pub const CONFIG_DIR_ENV: &str = "DOCKER_CREDENTIAL_ECR_CONFIG_DIR";

/// Environment variable naming the cache directory (tokens, and the state beneath it).
pub const CACHE_DIR_ENV: &str = "DOCKER_CREDENTIAL_ECR_CACHE_DIR";

/// A node's config directory, used when there is no `HOME` and none is named.
pub const NODE_CONFIG_DIR: &str = "/etc/docker-credential-ecr";

/// A node's cache directory, used when there is no `HOME` and none is named.
pub const NODE_CACHE_DIR: &str = "/var/cache/docker-credential-ecr";

/// The current user's home directory (where docker, podman and helm keep their configs).
pub fn home_dir() -> Option<PathBuf> {
    BaseDirs::new().map(|dirs| dirs.home_dir().to_path_buf())
}

/// What chooses the directories: the command line's options, and the environment variables
/// read once (the process's, or a test's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    /// `--config-dir`, else [`CONFIG_DIR_ENV`].
    pub config_dir: Option<PathBuf>,
    /// `--cache-dir`, else [`CACHE_DIR_ENV`].
    pub cache_dir: Option<PathBuf>,
    /// Whether `HOME` is set (and not empty): without it the node's directories apply.
    pub has_home: bool,
}

impl Locations {
    /// The options given (`None` when absent), with `env` filling in what they leave out.
    pub fn new(
        config_dir: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Locations {
        let named = |name: &str| env(name).filter(|value| !value.is_empty());
        // A relative directory would make the current directory a hidden input (a shell, the
        // agent and the kubelet each start somewhere else): it is made absolute once, here.
        let absolute = |dir: PathBuf| std::path::absolute(&dir).unwrap_or(dir);
        Locations {
            config_dir: config_dir
                .or_else(|| named(CONFIG_DIR_ENV).map(PathBuf::from))
                .map(absolute),
            cache_dir: cache_dir
                .or_else(|| named(CACHE_DIR_ENV).map(PathBuf::from))
                .map(absolute),
            has_home: cfg!(not(unix)) || named("HOME").is_some(),
        }
    }

    /// What the process environment alone chooses.
    pub fn from_process_env() -> Locations {
        Locations::new(None, None, &|name| std::env::var_os(name))
    }
}

/// The directories of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    cache: PathBuf,
    state: PathBuf,
    config: PathBuf,
}

impl Paths {
    /// The directories the process environment chooses ([`Locations::from_process_env`]), or
    /// `None` when they depend on a home directory that cannot be found.
    pub fn for_current_user() -> Option<Paths> {
        Paths::at(&Locations::from_process_env())
    }

    /// The directories `locations` chooses: a named directory wins; without one, the user's
    /// directories, or the node's when there is no `HOME`. A named cache directory holds the
    /// state too (`DIR/state`), as the node's does. `None` when a user directory is needed and
    /// no home directory can be found.
    pub fn at(locations: &Locations) -> Option<Paths> {
        let user = || ProjectDirs::from("", "", APP_NAME);
        let config = match (&locations.config_dir, locations.has_home) {
            (Some(dir), _) => dir.clone(),
            (None, false) => PathBuf::from(NODE_CONFIG_DIR),
            (None, true) => user()?.config_dir().to_path_buf(),
        };
        let (cache, state) = match (&locations.cache_dir, locations.has_home) {
            (Some(dir), _) => (dir.clone(), dir.join("state")),
            (None, false) => {
                let dir = PathBuf::from(NODE_CACHE_DIR);
                (dir.clone(), dir.join("state"))
            }
            (None, true) => {
                let dirs = user()?;
                let state = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir());
                (dirs.cache_dir().to_path_buf(), state.to_path_buf())
            }
        };
        Some(Paths {
            cache,
            state,
            config,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn options_win_over_the_environment() {
        let env = env_of(&[
            ("HOME", "/home/u"),
            (CONFIG_DIR_ENV, "/env/config"),
            (CACHE_DIR_ENV, "/env/cache"),
        ]);
        let from_env = Paths::at(&Locations::new(None, None, &env)).unwrap();
        assert_eq!(from_env.config_file(), Path::new("/env/config/config.json"));
        assert_eq!(from_env.token_cache_dir(), Path::new("/env/cache/tokens"));
        assert_eq!(from_env.state_dir(), Path::new("/env/cache/state"));
        let options = Locations::new(Some("/opt/config".into()), Some("/opt/cache".into()), &env);
        let paths = Paths::at(&options).unwrap();
        assert_eq!(paths.config_dir(), Path::new("/opt/config"));
        assert_eq!(
            paths.file_secret_store(),
            Path::new("/opt/config/keys.json")
        );
        assert_eq!(paths.token_cache_dir(), Path::new("/opt/cache/tokens"));
        assert_eq!(
            paths.log_file(),
            Path::new("/opt/cache/state/docker-credential-ecr.log")
        );
    }

    #[test]
    fn relative_directories_are_made_absolute_once() {
        let env = env_of(&[("HOME", "/home/u"), (CACHE_DIR_ENV, "cache")]);
        let locations = Locations::new(Some("config".into()), None, &env);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(locations.config_dir, Some(cwd.join("config")));
        assert_eq!(locations.cache_dir, Some(cwd.join("cache")));
    }

    #[cfg(unix)]
    #[test]
    fn without_home_a_node_keeps_its_files_in_system_directories() {
        for env in [env_of(&[]), env_of(&[("HOME", ""), (CONFIG_DIR_ENV, "")])] {
            let locations = Locations::new(None, None, &env);
            assert!(!locations.has_home);
            let paths = Paths::at(&locations).unwrap();
            assert_eq!(paths.config_dir(), Path::new(NODE_CONFIG_DIR));
            assert_eq!(
                paths.token_cache_dir(),
                Path::new("/var/cache/docker-credential-ecr/tokens")
            );
            assert_eq!(
                paths.registry_state_dir(),
                Path::new("/var/cache/docker-credential-ecr/state/registries")
            );
        }
        let named = Locations::new(None, Some("/srv/cache".into()), &env_of(&[]));
        let paths = Paths::at(&named).unwrap();
        assert_eq!(paths.config_dir(), Path::new(NODE_CONFIG_DIR));
        assert_eq!(paths.token_cache_dir(), Path::new("/srv/cache/tokens"));
    }
}
