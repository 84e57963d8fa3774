//! Runtime state of each registry: when its token was last fetched and the last failure, in
//! the state directory (`registries/<host>.json`).
//!
//! Written by whoever fetches (`get` on a cold or due token, `refresh`), never by hand and
//! never into the config file, so fetching and `add` never race on one file. Writes are
//! best-effort and atomic: losing a state update never fails a `get`.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What is known about one registry's recent fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryState {
    /// The last successful fetch (milliseconds since the epoch).
    #[serde(default)]
    pub last_refresh_ms: Option<u64>,
    /// The last failure, as shown to the user, and when it happened.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at_ms: Option<u64>,
}

impl RegistryState {
    /// Whether the last attempt failed.
    pub fn in_error(&self) -> bool {
        match (self.last_error_at_ms, self.last_refresh_ms) {
            (Some(failed), Some(refreshed)) => failed >= refreshed,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// The state files of one user.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> StateStore {
        StateStore { dir: dir.into() }
    }

    /// The state of `host` (default when unknown or unreadable).
    pub fn load(&self, host: &str) -> RegistryState {
        fs::read(self.path(host))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Records a successful fetch for `host`.
    pub fn record_success(&self, host: &str, at: SystemTime) {
        let mut state = self.load(host);
        state.last_refresh_ms = Some(millis(at));
        self.save(host, &state);
    }

    /// Records a failed fetch for `host`.
    pub fn record_failure(&self, host: &str, error: &str, at: SystemTime) {
        let mut state = self.load(host);
        state.last_error = Some(error.to_string());
        state.last_error_at_ms = Some(millis(at));
        self.save(host, &state);
    }

    fn path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.json"))
    }

    fn save(&self, host: &str, state: &RegistryState) {
        if let Err(e) = self.try_save(host, state) {
            tracing::debug!(host, error = %e, "cannot record the registry's state");
        }
    }

    fn try_save(&self, host: &str, state: &RegistryState) -> std::io::Result<()> {
        crate::private_fs::create_private_dir(&self.dir)?;
        crate::private_fs::write_atomically_unsynced(
            &self.path(host),
            &serde_json::to_vec(state)?,
        )?;
        Ok(())
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `t` (milliseconds since the epoch) as a `SystemTime`.
pub fn at_millis(t: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes_and_failures_are_recorded_per_registry() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("registries"));
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert_eq!(store.load(host), RegistryState::default());
        store.record_success(host, at_millis(100));
        assert!(!store.load(host).in_error());
        store.record_failure(host, "keys rejected", at_millis(200));
        let state = store.load(host);
        assert!(state.in_error());
        assert_eq!(state.last_error.as_deref(), Some("keys rejected"));
        store.record_success(host, at_millis(300));
        assert!(!store.load(host).in_error());
        assert_eq!(store.load("other.host"), RegistryState::default());
    }
}
