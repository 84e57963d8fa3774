//! The key sets' secrets, wherever each is kept: the OS keychain by default, the plaintext file
//! for key sets added with `--store file`. The token path reads them through [`SecretKeys`],
//! off the async runtime; user commands write them.
//!
//! Whoever opens them says how the keychain is used ([`KeychainAccess`]): `get` and the
//! refresher never unlock a locked keychain, interactive commands may.

use crate::aws::{SecretKeys, SecretRead};
use crate::config::SecretLocation;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::keychain::{FileSecretStore, KeychainAccess, KeychainError, OsKeychain, SecretStore};
use crate::paths::Paths;
use crate::secret::Secret;

/// Both places a key set's secret may live.
#[derive(Clone)]
pub struct KeySetSecrets {
    keychain: OsKeychain,
    file: FileSecretStore,
}

impl KeySetSecrets {
    /// The user's stores, the keychain used as `access` says.
    pub fn new(paths: &Paths, access: KeychainAccess) -> KeySetSecrets {
        KeySetSecrets {
            keychain: OsKeychain::new(access),
            file: FileSecretStore::new(paths.file_secret_store()),
        }
    }

    /// The stores `keychain` and `file` (tests: a mock keychain).
    pub fn with_stores(keychain: OsKeychain, file: FileSecretStore) -> KeySetSecrets {
        KeySetSecrets { keychain, file }
    }

    /// The store for `location`.
    pub fn store(&self, location: SecretLocation) -> &dyn SecretStore {
        match location {
            SecretLocation::Keychain => &self.keychain,
            SecretLocation::File => &self.file,
        }
    }

    pub fn get(
        &self,
        name: &str,
        location: SecretLocation,
    ) -> Result<Option<Secret>, KeychainError> {
        self.store(location).get(name)
    }

    pub fn set(
        &self,
        name: &str,
        location: SecretLocation,
        secret: &Secret,
    ) -> Result<(), KeychainError> {
        self.store(location).set(name, secret)
    }

    pub fn delete(&self, name: &str, location: SecretLocation) -> Result<bool, KeychainError> {
        self.store(location).delete(name)
    }

    /// The secret of `name` at `location`, as the token path wants it: present, or why not.
    fn read_for_token(&self, name: &str, location: SecretLocation) -> Result<Secret, FetchError> {
        let store = self.store(location);
        match store.get(name) {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(FetchError::new(
                FetchErrorKind::KeychainUnavailable,
                format!(
                    "{} holds no secret key for key set {name}: run `docker-credential-ecr add` again",
                    store.describe()
                ),
            )),
            Err(e) => Err(FetchError::new(
                FetchErrorKind::KeychainUnavailable,
                e.to_string(),
            )),
        }
    }
}

impl SecretKeys for KeySetSecrets {
    /// Reads on tokio's blocking pool: the keychain's worker thread or the file read never holds
    /// the async runtime, whose timers keep running meanwhile.
    fn secret_access_key(&self, name: &str, location: SecretLocation) -> SecretRead {
        let (secrets, name) = (self.clone(), name.to_string());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || secrets.read_for_token(&name, location))
                .await
                .unwrap_or_else(|e| {
                    Err(FetchError::new(
                        FetchErrorKind::KeychainUnavailable,
                        format!("the secret key could not be read: {e}"),
                    ))
                })
        })
    }
}

/// Secret keys held in memory: verification of keys that are not saved yet.
pub struct InMemorySecret(pub Secret);

impl SecretKeys for InMemorySecret {
    fn secret_access_key(&self, _: &str, _: SecretLocation) -> SecretRead {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keychain::WhenLocked;
    use crate::keychain::fake_stores::{Blocking, HELD_SECRET};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_keychain_read_inside_a_fetch_leaves_the_async_runtime_running() {
        let hold = Duration::from_secs(1);
        let access = KeychainAccess {
            when_locked: WhenLocked::Fail,
            timeout: Duration::from_secs(2),
        };
        let dir = tempfile::tempdir().unwrap();
        let secrets = KeySetSecrets::with_stores(
            OsKeychain::with_store(Arc::new(Blocking::holding(hold)), access),
            FileSecretStore::new(dir.path().join("keys.json")),
        );
        // The runtime of a fetch: one thread. A timer shorter than the read must fire while
        // the read is under way, which it cannot if the read holds the runtime's thread.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (secret, timer_fired_first) = runtime.block_on(async {
            let started = Instant::now();
            let read = secrets.secret_access_key("acme", SecretLocation::Keychain);
            let timer = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                started.elapsed()
            };
            let (secret, timer_at) = tokio::join!(read, timer);
            (secret, timer_at < hold)
        });
        assert_eq!(secret.unwrap().expose(), HELD_SECRET);
        assert!(
            timer_fired_first,
            "the keychain read blocked the async runtime"
        );
    }
}
