//! The product's own settings: the config file (`config.json` in the config dir) and the
//! environment variables that override it.
//!
//! Read on every `get`, so it stays cheap: one small file, no AWS configuration. A missing file
//! means defaults; an unreadable or invalid one is an error that names the file, never a silent
//! fallback.

use std::path::Path;
use std::time::Duration;

use crate::config::{ConfigError, ProductConfig};

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

/// Why the settings are invalid.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "invalid refresh margin {value:?} in {origin}: expected a duration such as 30m, 1h or 900s"
    )]
    Margin { origin: String, value: String },
}

impl Settings {
    /// The settings of `config` (read from `origin`) with the process environment on top.
    pub fn from_config_and_env(
        config: &ProductConfig,
        origin: &Path,
    ) -> Result<Settings, SettingsError> {
        let env_margin = std::env::var(REFRESH_MARGIN_ENV).ok();
        Self::from_config(config, origin, env_margin.as_deref())
    }

    /// The settings of `config` (read from `origin`) with the environment's margin on top.
    pub fn from_config(
        config: &ProductConfig,
        origin: &Path,
        env_margin: Option<&str>,
    ) -> Result<Settings, SettingsError> {
        let mut settings = Settings::default();
        if let Some(value) = &config.refresh_margin {
            settings.refresh_margin =
                parse_duration(value).ok_or_else(|| SettingsError::Margin {
                    origin: origin.display().to_string(),
                    value: value.clone(),
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
    use crate::config::ConfigFile;

    fn config(dir: &tempfile::TempDir, body: &str) -> ConfigFile {
        let path = dir.path().join("config.json");
        std::fs::write(&path, body).unwrap();
        ConfigFile::new(path)
    }

    fn load(file: &ConfigFile, env: Option<&str>) -> Result<Settings, SettingsError> {
        Settings::from_config(&file.load()?, file.path(), env)
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("absent.json"));
        assert_eq!(load(&file, None).unwrap(), Settings::default());
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(&dir, r#"{"refresh_margin": "30m", "future_key": 1}"#);
        assert_eq!(
            load(&file, None).unwrap().refresh_margin,
            Duration::from_secs(1800)
        );
        assert_eq!(
            load(&file, Some("600")).unwrap().refresh_margin,
            Duration::from_secs(600)
        );
        assert_eq!(
            load(&file, Some("2h")).unwrap().refresh_margin,
            Duration::from_secs(7200)
        );
    }

    #[test]
    fn invalid_values_are_errors_naming_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(&dir, r#"{"refresh_margin": "soon"}"#);
        let err = load(&file, None).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("soon"), "{err}");
        let ok = config(&dir, "{}");
        let err = load(&ok, Some("-5")).unwrap_err().to_string();
        assert!(err.contains(REFRESH_MARGIN_ENV), "{err}");
        let broken = config(&dir, "{not json");
        assert!(matches!(load(&broken, None), Err(SettingsError::Config(_))));
    }
}
