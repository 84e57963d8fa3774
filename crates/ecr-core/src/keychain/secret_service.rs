//! Reading a key set's secret from the Secret Service without ever unlocking anything: what a
//! `get` under docker and the refresher do, where nobody may be there to answer a prompt.
//!
//! The keyring store (`zbus-secret-service-keyring-store`) unlocks before every read: its search
//! calls `org.freedesktop.Secret.Service.Unlock` on any locked match, and on a desktop that
//! opens the unlock dialog and blocks until someone answers. This module asks the same service
//! through the same client (`secret-service` over zbus) but only:
//!
//! 1. `SearchItems` for the entry's attributes (`service`, `username`), which answers locked
//!    and unlocked items apart and unlocks nothing;
//! 2. the item's `Locked` property: when locked, [`KeychainError::Locked`] at once;
//! 3. otherwise `GetSecret` through the session opened on connecting.
//!
//! It never calls `Unlock` and never runs a prompt. Every D-Bus call on its connection is bounded
//! by the caller's limit, so a Secret Service that does not answer leaves no thread behind.
//! Interactive commands (`add`, `remove`, `doctor`) read through the keyring store and may unlock.

use std::collections::HashMap;
use std::time::Duration;

use secret_service::EncryptionType;
use secret_service::blocking::SecretService;

use super::{KeychainError, entry_label, unavailable};
use crate::secret::Secret;

/// The secret of the entry with attributes `service` and `username` = `key_set`, or `None`
/// when there is none; [`KeychainError::Locked`] when it is locked. Each D-Bus call waits at
/// most `limit`.
pub(super) fn read_without_unlocking(
    service: &str,
    key_set: &str,
    limit: Duration,
) -> Result<Option<Secret>, KeychainError> {
    let connection = zbus5::blocking::connection::Builder::session()
        .and_then(|builder| builder.method_timeout(limit).build())
        .map_err(|e| unavailable(&e.to_string()))?;
    let ss = SecretService::connect_with_existing(EncryptionType::Dh, connection)
        .map_err(|e| connect_error(&e))?;
    let attributes = HashMap::from([("service", service), ("username", key_set)]);
    let found = ss
        .search_items(attributes)
        .map_err(|e| call_error(e, key_set))?;
    let mut matches = found.unlocked.iter().chain(found.locked.iter());
    let (Some(item), None) = (matches.next(), matches.next()) else {
        let count = found.unlocked.len() + found.locked.len();
        return match count {
            0 => Ok(None),
            _ => Err(KeychainError::Platform(format!(
                "{count} keychain entries match service `{service}` and user `{key_set}`; \
                 remove the extra ones in the keychain's UI"
            ))),
        };
    };
    if item.is_locked().map_err(|e| call_error(e, key_set))? {
        return Err(locked(key_set));
    }
    let bytes = item.get_secret().map_err(|e| call_error(e, key_set))?;
    String::from_utf8(bytes)
        .map(|text| Some(Secret::new(text)))
        .map_err(|_| {
            KeychainError::Platform(format!(
                "keychain entry `{}`: the stored value is not UTF-8 text",
                entry_label(key_set)
            ))
        })
}

fn locked(key_set: &str) -> KeychainError {
    KeychainError::Locked(format!(
        "`{}` is in a locked keyring, which `get` and the refresher never unlock",
        entry_label(key_set)
    ))
}

/// Opening the session failed: no Secret Service, or it refused.
fn connect_error(err: &secret_service::Error) -> KeychainError {
    match err {
        secret_service::Error::Unavailable
        | secret_service::Error::Zbus(_)
        | secret_service::Error::ZbusFdo(_) => unavailable(&err.to_string()),
        other => KeychainError::Platform(format!("the Secret Service: {other}")),
    }
}

/// A call on the item failed; a collection locked between the search and the read is locked.
fn call_error(err: secret_service::Error, key_set: &str) -> KeychainError {
    let words = err.to_string();
    if matches!(err, secret_service::Error::Locked) || words.contains("IsLocked") {
        return locked(key_set);
    }
    if words.contains("TimedOut") || words.contains("timed out") {
        return KeychainError::Platform(format!("the Secret Service did not answer: {words}"));
    }
    KeychainError::Platform(format!(
        "keychain entry `{}`: {words}",
        entry_label(key_set)
    ))
}
