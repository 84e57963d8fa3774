//! The key sets' secrets, wherever each is kept: the OS keychain by default, the plaintext file
//! for key sets added with `--store file`. The token path reads them through [`SecretKeys`];
//! user commands write them.

use std::time::Duration;

use crate::aws::SecretKeys;
use crate::config::SecretLocation;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::keychain::{FileSecretStore, KeychainError, OsKeychain, SecretStore};
use crate::paths::Paths;
use crate::secret::Secret;

/// How long a `get` waits on the keychain: a locked keyring can block on an unlock prompt.
pub const GET_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Both places a key set's secret may live.
pub struct KeySetSecrets {
    keychain: OsKeychain,
    file: FileSecretStore,
}

impl KeySetSecrets {
    /// The user's stores; keychain calls bounded by `keychain_timeout`.
    pub fn new(paths: &Paths, keychain_timeout: Duration) -> KeySetSecrets {
        KeySetSecrets {
            keychain: OsKeychain::with_timeout(keychain_timeout),
            file: FileSecretStore::new(paths.file_secret_store()),
        }
    }

    /// Given stores: a test's mock keychain (`OsKeychain::with_store`) and key file.
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
}

impl SecretKeys for KeySetSecrets {
    fn secret_access_key(
        &self,
        name: &str,
        location: SecretLocation,
    ) -> Result<Secret, FetchError> {
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

/// Secret keys held in memory: verification of keys that are not saved yet.
pub struct InMemorySecret(pub Secret);

impl SecretKeys for InMemorySecret {
    fn secret_access_key(&self, _: &str, _: SecretLocation) -> Result<Secret, FetchError> {
        Ok(self.0.clone())
    }
}
