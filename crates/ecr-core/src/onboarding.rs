//! Adding and removing bindings and key sets: what `add`, `remove` and `store` (with an access
//! key id) do to the keychain and the config file.
//!
//! The order of steps is what keeps users' pulls working:
//! - new keys are verified (a real token fetch) before anything is saved, and a failed
//!   verification saves nothing;
//! - the secret and the config change under the config file's lock, held from before the
//!   secret is read until after the config is written (and, for `remove` and a re-bound
//!   registry, until the secrets nothing uses any more are deleted): a concurrent `add` or
//!   `remove` of the same key set waits, and never finds a secret without its config entry or
//!   has its secret deleted by the other's clean-up;
//! - re-adding a key set replaces its secret only once the new keys have verified, and the
//!   config is updated right after; if that update fails, the previous secret is put back;
//! - a secret that may be working is never deleted or overwritten because reading it failed
//!   or timed out: when the key set is configured and its current secret cannot be read,
//!   `add` changes nothing and says why; when it is not configured, a failed config write
//!   leaves the new secret in place rather than delete what might have been there;
//! - removing a binding deletes a key set's secret only when no other binding uses it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::{SdkTokenSource, SecretKeys};
use crate::bindings::{Binding, BoundSource, RegistryMatch};
use crate::cache::{CacheError, TokenCache};
use crate::clock::{Deadline, SystemClock};
use crate::config::{
    ConfigError, ConfigFile, KeySetConfig, ProductConfig, RoleConfig, SecretLocation,
};
use crate::fetch::{FetchError, TokenSource};
use crate::key_store::{InMemorySecret, KeySetSecrets};
use crate::keychain::KeychainError;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::source::{CredentialSource, TokenScope};
use crate::token::Token;

/// How long verifying new keys may take.
pub const VERIFY_BUDGET: Duration = Duration::from_secs(20);

/// New keys to keep.
pub struct NewKeySet {
    pub name: String,
    pub access_key_id: String,
    pub secret: Secret,
    pub role: Option<RoleConfig>,
    pub location: SecretLocation,
}

/// What a registry is to be bound to.
pub enum NewSource {
    KeySet(NewKeySet),
    Profile(String),
    DefaultChain,
}

/// Why `add` saved nothing.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{0}")]
    InvalidKeyId(String),
    #[error("{0:?} is not a valid key-set name: use 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidName(String),
    #[error("cannot verify {registry}: {reason}")]
    NoSampleRegistry { registry: String, reason: String },
    #[error("the keys did not verify against {registry}, so nothing was saved: {error}")]
    Verification { registry: String, error: FetchError },
    #[error("cannot save the secret key: {0}")]
    Keychain(#[from] KeychainError),
    #[error(
        "cannot read the current secret key of {name} from {store} ({error}); it may still be \
         in use, so nothing was changed: retry once the keychain answers"
    )]
    CurrentSecretUnreadable {
        name: String,
        store: String,
        error: KeychainError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    /// The registry (or pattern) now bound, and to what.
    pub registry: RegistryMatch,
    pub bound: BoundSource,
    /// An earlier binding of the same registry that was replaced.
    pub replaced_binding: Option<BoundSource>,
    /// Whether an existing key set's keys were replaced (rotation).
    pub rotated_key_set: bool,
    /// Key sets whose secrets were deleted because the re-bound registry was their last use.
    pub deleted_key_sets: Vec<String>,
    /// Whether the keys were verified.
    pub verified: bool,
    /// The token the verification fetched, and the scope it was fetched for: worth caching
    /// (see [`crate::service::CredentialService::adopt`]), so the first pull makes no call.
    pub verification: Option<(TokenScope, Token)>,
}

/// Checks an access key id: long-term keys only (`AKIA` + 16 upper-case letters or digits).
pub fn check_access_key_id(key_id: &str) -> Result<(), AddError> {
    let key_id = key_id.trim();
    if key_id.starts_with("ASIA") {
        return Err(AddError::InvalidKeyId(format!(
            "{} is a temporary access key id (ASIA...): it needs a session token that cannot be stored; use long-term keys (AKIA...) or an AWS profile (--profile)",
            mask_key_id(key_id)
        )));
    }
    let well_formed = key_id.len() == 20
        && key_id.starts_with("AKIA")
        && key_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if well_formed {
        Ok(())
    } else {
        Err(AddError::InvalidKeyId(format!(
            "{:?} is not an AWS access key id (expected AKIA followed by 16 letters or digits)",
            mask_key_id(key_id)
        )))
    }
}

/// `AKIA…MPLE`: enough to recognise a key, not enough to use it.
pub fn mask_key_id(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    if chars.len() <= 8 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The key-set name used when none is given: the registry's account id.
pub fn default_key_set_name(registry: &RegistryMatch) -> String {
    registry
        .as_str()
        .split('.')
        .next()
        .unwrap_or("keys")
        .to_string()
}

fn check_name(name: &str) -> Result<(), AddError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(AddError::InvalidName(name.to_string()))
    }
}

/// Binds `registry` to `source`, verifying first unless `verify` is `None` (`Some(region)`
/// chooses the region a pattern is verified in).
pub fn add(
    config_file: &ConfigFile,
    secrets: &KeySetSecrets,
    registry: RegistryMatch,
    source: NewSource,
    verify: Option<Option<&str>>,
) -> Result<AddOutcome, AddError> {
    if let NewSource::KeySet(keys) = &source {
        check_name(&keys.name)?;
        check_access_key_id(&keys.access_key_id)?;
    }
    let verification = match verify {
        Some(region) => Some(verify_source(&registry, &source, region)?),
        None => None,
    };
    // Held until the end: see the module docs.
    let locked = config_file.lock()?;
    let mut config = locked.load()?;
    let (bound, key_set, restore) = match source {
        NewSource::Profile(name) => (BoundSource::Profile(name), None, None),
        NewSource::DefaultChain => (BoundSource::DefaultChain, None, None),
        NewSource::KeySet(keys) => {
            // The new secret goes in first (it verified); the previous one is kept in memory to
            // be put back should the config not follow.
            let previous = previous_secret(secrets, &config, &keys)?;
            secrets.set(&keys.name, keys.location, &keys.secret)?;
            let key_set = KeySetConfig {
                access_key_id: keys.access_key_id.trim().to_string(),
                secret_location: keys.location,
                role: keys.role,
                created: now_secs(),
            };
            (
                BoundSource::KeySet(keys.name.clone()),
                Some((keys.name.clone(), key_set)),
                Some((keys.name, keys.location, previous)),
            )
        }
    };
    let (replaced_binding, rotated_key_set, orphaned) =
        bind(&mut config, &registry, &bound, key_set);
    if let Err(e) = locked.save(&config) {
        restore_secret(secrets, restore);
        return Err(e.into());
    }
    let mut deleted_key_sets = Vec::new();
    if let Some((name, location)) = orphaned {
        match secrets.delete(&name, location) {
            Ok(_) => deleted_key_sets.push(name),
            Err(e) => {
                tracing::warn!(key_set = %name, error = %e, "the key set is no longer used, but its secret could not be deleted")
            }
        }
    }
    drop(locked);
    Ok(AddOutcome {
        registry,
        bound,
        replaced_binding,
        rotated_key_set,
        deleted_key_sets,
        verified: verify.is_some(),
        verification,
    })
}

/// What a key set's store held before `add` replaced its secret.
enum PreviousSecret {
    /// Read: the secret, or `None` when there was none.
    Known(Option<Secret>),
    /// The read failed, and no configured key set uses that entry: nothing working to lose.
    Unknown,
}

/// The secret `keys` are about to replace. A read that fails for a key set the config uses is
/// an error: its secret may be working, and could neither be put back nor told apart.
fn previous_secret(
    secrets: &KeySetSecrets,
    config: &ProductConfig,
    keys: &NewKeySet,
) -> Result<PreviousSecret, AddError> {
    match secrets.get(&keys.name, keys.location) {
        Ok(previous) => Ok(PreviousSecret::Known(previous)),
        Err(error)
            if config
                .key_sets
                .get(&keys.name)
                .is_some_and(|k| k.secret_location == keys.location) =>
        {
            Err(AddError::CurrentSecretUnreadable {
                name: keys.name.clone(),
                store: secrets.store(keys.location).describe(),
                error,
            })
        }
        Err(error) => {
            tracing::warn!(key_set = %keys.name, %error, "cannot read the key set's secret; no configured key set uses it");
            Ok(PreviousSecret::Unknown)
        }
    }
}

/// Binds `registry` to `bound` in `config`, with `key_set` added (or replaced); returns the
/// binding replaced, whether a key set was replaced, and the key set (with where its secret
/// is) that nothing uses any more.
fn bind(
    config: &mut ProductConfig,
    registry: &RegistryMatch,
    bound: &BoundSource,
    key_set: Option<(String, KeySetConfig)>,
) -> (Option<BoundSource>, bool, Option<(String, SecretLocation)>) {
    let rotated = match key_set {
        Some((name, key_set)) => config.key_sets.insert(name, key_set).is_some(),
        None => false,
    };
    let replaced = config
        .bindings
        .iter()
        .position(|b| &b.registry == registry)
        .map(|i| config.bindings.remove(i).source);
    config.bindings.push(Binding {
        registry: registry.clone(),
        source: bound.clone(),
    });
    // Re-bound to other keys: the previous key set goes once nothing uses it.
    let orphaned = match &replaced {
        Some(BoundSource::KeySet(old)) if !config.key_set_in_use(old) => config
            .key_sets
            .remove(old)
            .map(|k| (old.clone(), k.secret_location)),
        _ => None,
    };
    (replaced, rotated, orphaned)
}

/// Puts back what the store held before a failed `add`; a secret that could not be read is
/// left as it is now (see the module docs).
fn restore_secret(
    secrets: &KeySetSecrets,
    restore: Option<(String, SecretLocation, PreviousSecret)>,
) {
    if let Some((name, location, previous)) = restore {
        let _ = match previous {
            PreviousSecret::Known(Some(old)) => secrets.set(&name, location, &old),
            PreviousSecret::Known(None) => secrets.delete(&name, location).map(|_| ()),
            PreviousSecret::Unknown => Ok(()),
        };
    }
}

/// Fetches a token with `source` for (a sample of) `registry`; returns it with the scope it
/// was fetched for (this process's environment's endpoints).
pub fn verify_source(
    registry: &RegistryMatch,
    source: &NewSource,
    region: Option<&str>,
) -> Result<(TokenScope, Token), AddError> {
    let sample = registry
        .sample(region)
        .ok_or_else(|| AddError::NoSampleRegistry {
            registry: registry.to_string(),
            reason: "no region of its partition gives a valid registry host".into(),
        })?;
    let env = |name: &str| std::env::var(name).ok();
    let (credential_source, secrets): (CredentialSource, Box<dyn SecretKeys>) = match source {
        NewSource::KeySet(keys) => (
            CredentialSource::KeySet {
                name: keys.name.clone(),
                access_key_id: keys.access_key_id.trim().to_string(),
                secret_location: keys.location,
                role: keys.role.clone(),
            },
            Box::new(InMemorySecret(keys.secret.clone())),
        ),
        NewSource::Profile(name) => (
            CredentialSource::profile_from(name, &env),
            Box::new(crate::aws::NoSecretKeys),
        ),
        NewSource::DefaultChain => (
            CredentialSource::default_chain_from(&env),
            Box::new(crate::aws::NoSecretKeys),
        ),
    };
    let scope = TokenScope::for_source(sample.clone(), credential_source, &env);
    let token = fetch_once(&sample, &scope, SdkTokenSource::new(secrets))?;
    Ok((scope, token))
}

fn fetch_once(
    sample: &Registry,
    scope: &TokenScope,
    source: SdkTokenSource,
) -> Result<Token, AddError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AddError::NoSampleRegistry {
            registry: sample.to_string(),
            reason: format!("cannot start the async runtime: {e}"),
        })?;
    let deadline = Deadline::after(VERIFY_BUDGET);
    runtime
        .block_on(source.fetch(scope, deadline))
        .map(crate::service::token_of)
        .map_err(|error| AddError::Verification {
            registry: sample.to_string(),
            error,
        })
}

/// What `remove` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveOutcome {
    pub removed_bindings: Vec<Binding>,
    /// Key sets whose secrets were deleted because nothing uses them any more.
    pub deleted_key_sets: Vec<String>,
}

/// Why `remove` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("nothing is bound to {0:?}: `docker-credential-ecr status` lists the bindings")]
    NotFound(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "the binding was removed, but the secret key of {name} could not be deleted from {store}: {error}"
    )]
    Keychain {
        name: String,
        store: String,
        error: KeychainError,
    },
}

/// Removes the binding of `target` (a registry or pattern), or every binding of the key set
/// named `target`, then the secrets no binding uses any more.
pub fn remove(
    config_file: &ConfigFile,
    secrets: &KeySetSecrets,
    target: &str,
) -> Result<RemoveOutcome, RemoveError> {
    let as_registry = RegistryMatch::parse(target).ok();
    // Held until the secrets are deleted: a concurrent `add` of a key set of the same name
    // then comes after, and its new secret is not deleted by this clean-up.
    let locked = config_file.lock()?;
    let mut c = locked.load()?;
    let (removed, kept): (Vec<Binding>, Vec<Binding>) = c.bindings.drain(..).partition(|b| {
        Some(&b.registry) == as_registry.as_ref()
            || b.source == BoundSource::KeySet(target.to_string())
    });
    c.bindings = kept;
    let named_key_set = c.key_sets.contains_key(target) && as_registry.is_none();
    if removed.is_empty() && !named_key_set {
        return Err(RemoveError::NotFound(target.to_string()));
    }
    let mut orphaned: Vec<(String, SecretLocation)> = Vec::new();
    let candidates: Vec<String> = removed
        .iter()
        .filter_map(|b| match &b.source {
            BoundSource::KeySet(name) => Some(name.clone()),
            _ => None,
        })
        .chain(named_key_set.then(|| target.to_string()))
        .collect();
    for name in candidates {
        if !c.key_set_in_use(&name)
            && let Some(key_set) = c.key_sets.remove(&name)
        {
            orphaned.push((name, key_set.secret_location));
        }
    }
    locked.save(&c)?;
    let mut deleted_key_sets = Vec::new();
    for (name, location) in orphaned {
        secrets
            .delete(&name, location)
            .map_err(|error| RemoveError::Keychain {
                name: name.clone(),
                store: secrets.store(location).describe(),
                error,
            })?;
        deleted_key_sets.push(name);
    }
    drop(locked);
    Ok(RemoveOutcome {
        removed_bindings: removed,
        deleted_key_sets,
    })
}

impl AddOutcome {
    /// Erases the cached tokens this change made stale: the replaced binding's, and every token
    /// of a key set that was deleted or given new keys. Returns how many.
    pub fn erase_stale_tokens(&self, cache: &TokenCache) -> Result<usize, CacheError> {
        let replaced: Vec<Binding> = self
            .replaced_binding
            .iter()
            .filter(|old| **old != self.bound)
            .map(|old| Binding {
                registry: self.registry.clone(),
                source: old.clone(),
            })
            .collect();
        let mut forgotten = self.deleted_key_sets.clone();
        if let (true, BoundSource::KeySet(name)) = (self.rotated_key_set, &self.bound) {
            forgotten.push(name.clone());
        }
        erase_tokens(cache, &replaced, &forgotten)
    }
}

/// Erases the cached tokens that no binding can use any more: those fetched for `removed`
/// bindings (on any host they matched, with their source), and every token of the key sets
/// named in `forgotten_key_sets` (deleted, or given new keys). Returns how many.
pub fn erase_tokens(
    cache: &TokenCache,
    removed: &[Binding],
    forgotten_key_sets: &[String],
) -> Result<usize, CacheError> {
    cache.erase_where(&SystemClock, |scope| {
        let of_key_set = scope
            .source
            .key_set_name()
            .is_some_and(|name| forgotten_key_sets.iter().any(|n| n == name));
        of_key_set
            || removed.iter().any(|b| {
                b.registry.matches(&scope.registry) && fetched_with(&b.source, &scope.source)
            })
    })
}

/// Whether a token fetched with `fetched` came from the bound `source`.
fn fetched_with(source: &BoundSource, fetched: &CredentialSource) -> bool {
    match (source, fetched) {
        (BoundSource::KeySet(name), CredentialSource::KeySet { name: n, .. }) => name == n,
        (BoundSource::Profile(name), CredentialSource::Profile { name: n, .. }) => name == n,
        (BoundSource::DefaultChain, CredentialSource::DefaultChain(_)) => true,
        _ => false,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_term_key_ids_are_accepted() {
        assert!(check_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        let temporary = check_access_key_id("ASIAIOSFODNN7EXAMPLE")
            .unwrap_err()
            .to_string();
        assert!(
            temporary.contains("temporary") && !temporary.contains("ASIAIOSFODNN7EXAMPLE"),
            "{temporary}"
        );
        for bad in [
            "",
            "AKIA",
            "akiaiosfodnn7example",
            "AKIAIOSFODNN7EXAMPL!",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ] {
            let message = check_access_key_id(bad).unwrap_err().to_string();
            assert!(
                !message.contains("K7MDENG"),
                "a pasted secret is not echoed: {message}"
            );
        }
    }

    mod keychain_reads {
        use super::*;
        use crate::keychain::keyring_core::api::CredentialStoreApi;
        use crate::keychain::keyring_core::{self, mock};
        use crate::keychain::{FileSecretStore, OsKeychain, SERVICE};
        use std::sync::Arc;

        const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        const OLD: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        const NEW: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

        struct World {
            _dir: tempfile::TempDir,
            config: ConfigFile,
            secrets: KeySetSecrets,
            store: Arc<mock::Store>,
        }

        fn world() -> World {
            let dir = tempfile::tempdir().unwrap();
            let store = mock::Store::new().unwrap();
            let keychain =
                OsKeychain::with_store(store.clone(), crate::keychain::KeychainAccess::INTERACTIVE);
            let secrets = KeySetSecrets::with_stores(
                keychain,
                FileSecretStore::new(dir.path().join("keys.json")),
            );
            World {
                config: ConfigFile::new(dir.path().join("config.json")),
                _dir: dir,
                secrets,
                store,
            }
        }

        /// Makes the next call on `key_set`'s keychain entry fail as a locked keyring does.
        fn fail_next_call(store: &mock::Store, key_set: &str) {
            let entry = store.build(SERVICE, key_set, None).unwrap();
            let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
            cred.set_error(keyring_core::Error::NoStorageAccess(Box::new(
                std::io::Error::other("collection is locked"),
            )));
        }

        fn add_keys(
            w: &World,
            name: &str,
            key_id: &str,
            secret: &str,
        ) -> Result<AddOutcome, AddError> {
            add(
                &w.config,
                &w.secrets,
                RegistryMatch::parse(REGISTRY).unwrap(),
                NewSource::KeySet(NewKeySet {
                    name: name.into(),
                    access_key_id: key_id.into(),
                    secret: Secret::new(secret),
                    role: None,
                    location: SecretLocation::Keychain,
                }),
                None,
            )
        }

        fn secret(w: &World, name: &str) -> Option<String> {
            w.secrets
                .get(name, SecretLocation::Keychain)
                .unwrap()
                .map(|s| s.expose().to_string())
        }

        #[test]
        fn a_configured_key_sets_secret_that_cannot_be_read_is_kept_and_nothing_changes() {
            let w = world();
            add_keys(&w, "acme", "AKIAIOSFODNN7EXAMPLE", OLD).unwrap();
            let config_before = std::fs::read(w.config.path()).unwrap();
            fail_next_call(&w.store, "acme");
            let err = add_keys(&w, "acme", "AKIAI44QH8DHBEXAMPLE", NEW).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, AddError::CurrentSecretUnreadable { .. }),
                "{message}"
            );
            assert!(
                message.contains("acme") && message.contains("locked") && !message.contains(NEW),
                "{message}"
            );
            assert_eq!(
                secret(&w, "acme").as_deref(),
                Some(OLD),
                "the working secret stays"
            );
            assert_eq!(std::fs::read(w.config.path()).unwrap(), config_before);
        }

        #[test]
        fn an_unreadable_entry_no_key_set_uses_does_not_stop_a_new_key_set() {
            let w = world();
            fail_next_call(&w.store, "fresh");
            let outcome = add_keys(&w, "fresh", "AKIAIOSFODNN7EXAMPLE", NEW).unwrap();
            assert!(!outcome.rotated_key_set);
            assert_eq!(secret(&w, "fresh").as_deref(), Some(NEW));
            assert!(w.config.load().unwrap().key_sets.contains_key("fresh"));
        }
    }

    #[test]
    fn key_ids_are_masked() {
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask_key_id("short"), "…");
    }

    #[test]
    fn key_set_names_are_plain() {
        assert!(check_name("acme-corp.prod_1").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
