//! The product's own settings: the config file (`config.json` in the config dir) and the
//! environment variables that override it.
//!
//! Read on every `get`, so it stays cheap: one small file, no AWS configuration. A missing file
//! means defaults; an unreadable or invalid one is an error that names the file, never a silent
//! fallback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Environment variable overriding the refresh margin (`30m`, `1h`, `900s` or plain seconds).
pub const REFRESH_MARGIN_ENV: &str = "DOCKER_CREDENTIAL_ECR_REFRESH_MARGIN";

/// The default refresh margin: a `get` refreshes a token with less than this left.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(3600);

/// Effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A token with less than this much life left is refreshed by `get` (capped by the policy at
    /// a quarter of the token's lifetime).
    pub refresh_margin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "invalid refresh margin {value:?} in {origin}: expected a duration such as 30m, 1h or 900s"
    )]
    Margin { origin: String, value: String },
}

/// The config file's shape; unknown keys are kept for later versions and ignored here.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    refresh_margin: Option<String>,
}

impl Settings {
    /// Reads `config_file` (absent is fine) and applies the environment on top.
    pub fn load(config_file: &Path) -> Result<Settings, SettingsError> {
        let env_margin = std::env::var(REFRESH_MARGIN_ENV).ok();
        Self::load_with(config_file, env_margin.as_deref())
    }

    /// [`Settings::load`] with the environment's value passed in.
    pub fn load_with(
        config_file: &Path,
        env_margin: Option<&str>,
    ) -> Result<Settings, SettingsError> {
        let file = read_config_file(config_file)?;
        let mut settings = Settings::default();
        if let Some(value) = file.refresh_margin {
            settings.refresh_margin =
                parse_duration(&value).ok_or_else(|| SettingsError::Margin {
                    origin: config_file.display().to_string(),
                    value,
                })?;
        }
        if let Some(value) = env_margin.filter(|v| !v.trim().is_empty()) {
            settings.refresh_margin =
                parse_duration(value).ok_or_else(|| SettingsError::Margin {
                    origin: REFRESH_MARGIN_ENV.to_string(),
                    value: value.to_string(),
                })?;
        }
        Ok(settings)
    }
}

fn read_config_file(path: &Path) -> Result<ConfigFile, SettingsError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(source) => {
            return Err(SettingsError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| SettingsError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// `30m`, `1h 30m`, `900s`, or a plain number of seconds.
fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &tempfile::TempDir, body: &str) -> PathBuf {
        let path = dir.path().join("config.json");
        std::fs::write(&path, body).unwrap();
        path
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load_with(&dir.path().join("absent.json"), None).unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(&dir, r#"{"refresh_margin": "30m", "future_key": 1}"#);
        let from_file = Settings::load_with(&path, None).unwrap();
        assert_eq!(from_file.refresh_margin, Duration::from_secs(1800));
        let from_env = Settings::load_with(&path, Some("600")).unwrap();
        assert_eq!(from_env.refresh_margin, Duration::from_secs(600));
        let human = Settings::load_with(&path, Some("2h")).unwrap();
        assert_eq!(human.refresh_margin, Duration::from_secs(7200));
    }

    #[test]
    fn invalid_values_are_errors_naming_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(&dir, r#"{"refresh_margin": "soon"}"#);
        let err = Settings::load_with(&path, None).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("soon"), "{err}");
        let ok = config(&dir, "{}");
        let err = Settings::load_with(&ok, Some("-5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(REFRESH_MARGIN_ENV), "{err}");
        let broken = config(&dir, "{not json");
        assert!(matches!(
            Settings::load_with(&broken, None),
            Err(SettingsError::Parse { .. })
        ));
    }
}
