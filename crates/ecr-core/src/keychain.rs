//! Where the secret access keys of vendor key sets live: the OS keychain, or, on explicit request,
//! a plaintext file.
//!
//! A vendor hands its customer an AWS access key pair. The key id is not secret and lives in the
//! configuration; the secret access key lives only here, behind [`SecretStore`], one entry per
//! key set, found by the key set's name. Entries are small (a 40-character secret access key):
//! ECR tokens never go here (Windows Credential Manager caps a blob at 2560 bytes, and tokens have
//! their own cache).
//!
//! This module owns talking to the keychain and must never log, print or format a secret: values
//! travel as [`Secret`] and are exposed only at the call that hands them to the store.
//!
//! # The OS keychain ([`OsKeychain`])
//!
//! Through [`keyring-core`](https://crates.io/crates/keyring-core) and one store crate per OS, all
//! pure Rust (no libdbus, no OpenSSL):
//!
//! | OS | store | what the user sees |
//! |---|---|---|
//! | Linux, BSDs | Secret Service over D-Bus (`zbus-secret-service-keyring-store`, Rust crypto): gnome-keyring, KeePassXC, KWallet | an item labelled `docker-credential-ecr: <name>` in the default collection, attributes `service=docker-credential-ecr`, `username=<name>` (Seahorse, `secret-tool search service docker-credential-ecr`) |
//! | macOS | the login keychain (`apple-native-keyring-store`, `keychain`) | a generic password, service `docker-credential-ecr`, account `<name>` (Keychain Access) |
//! | Windows | Credential Manager (`windows-native-keyring-store`) | a generic credential named `<name>.docker-credential-ecr`, comment `docker-credential-ecr: <name>` |
//!
//! The `keyring` crate itself (4.x) is only a wrapper over these: its `v1` API opens one store per
//! process, forever, and cannot label entries, so this module uses the parts directly.
//!
//! # Locked keychains: who may unlock ([`KeychainAccess`])
//!
//! A locked Secret Service with a display opens an unlock prompt and blocks until the user
//! answers. Whoever opens a keychain says how it is used, explicitly:
//!
//! - [`KeychainAccess::UNATTENDED`] (`get` under docker, the refresher, `status`): a locked
//!   keychain is [`KeychainError::Locked`] at once, with no unlock call and no prompt (on the
//!   Secret Service the read goes through `keychain/secret_service.rs`, which never calls
//!   `Unlock`), and a read waits at most [`GET_TIMEOUT`] (2 s) in any case;
//! - [`KeychainAccess::INTERACTIVE`] (`add`, `remove`, `store`, `doctor`: a person is there):
//!   the platform may unlock, prompting, and a call waits at most [`CHANGE_TIMEOUT`].
//!
//! On macOS and Windows both read through the platform's store (not tested here: a locked macOS
//! keychain may still prompt; the Credential Manager has no lock).
//!
//! # Worker threads
//!
//! Every call runs on a worker thread and the caller waits at most its limit, then gets
//! [`KeychainError::Timeout`]. Reads have one worker per key set (`keychain/reads.rs`): a read of
//! a key set whose previous read is still blocked joins it instead of starting another thread,
//! and reads of other key sets do not queue behind it. An unattended Secret Service read also
//! bounds each D-Bus call, so its worker ends even when the service never answers. `set` and
//! `delete` (interactive only) have a worker per call, left behind on timeout.
//!
//! Without a session bus or a Secret Service (an SSH session, a container, a server) the store
//! cannot be opened and the answer is [`KeychainError::Unavailable`], whose message names the
//! alternatives: an AWS profile (`--profile P`) or the plaintext file (`--store file`).
//!
//! # macOS: the helper and the tray reading the same item without a prompt
//!
//! Not tested here (the project's machines are Linux); what the platform requires:
//!
//! - Items in the login (file-based) keychain carry an access list of trusted applications, each
//!   recorded by its code signature's designated requirement. The binary that creates an item is
//!   on its list; any other binary reading it gets an "allow access" prompt. So either only one
//!   binary touches the keychain (the tray runs `docker-credential-ecr` for key operations, which
//!   is the simplest and what this design assumes), or both binaries are signed with the same
//!   Developer ID **and** the user answers "Always Allow" once for the second one.
//! - Unsigned and ad-hoc signed binaries are identified by their hash: every rebuild or upgrade
//!   (`cargo install`) is a new application and prompts again. Release binaries must be signed
//!   with a stable Developer ID identity (and notarised for Gatekeeper).
//! - Sharing without any prompt needs the Data Protection keychain and a common keychain access
//!   group (`keychain-access-groups` entitlement `TEAMID.<group>` on both binaries, which needs a
//!   provisioning profile, hence an app bundle). `apple-native-keyring-store` offers that as its
//!   `protected` store; it does not take an access-group option, so using it would need that
//!   crate extended or a direct `security-framework` call. The `keychain` store used here takes
//!   only a `keychain` option (user, system, common, dynamic domain).
//!
//! # The plaintext file ([`FileSecretStore`])
//!
//! Only with an explicit `--store file`: a JSON object `{name: secret}`, mode 0600, in a
//! directory created 0700, replaced durably ([`crate::private_fs::write_atomically`]: a temp
//! file fsync'd, renamed, the directory fsync'd, a killed writer's temp file swept by the next)
//! while an exclusive lock on a sibling `.lock` file is held, so concurrent writers never lose each other's entries. A file
//! that does not parse is an error naming the file, never treated as empty (which would wipe
//! every key on the next write).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod reads;
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod secret_service;

use keyring_core::{CredentialStore, Entry};

use crate::private_fs::create_private_dir;
use crate::secret::Secret;

/// The keychain library, for [`OsKeychain::with_store`] in tests (`keyring_core::mock::Store`)
/// without a dependency of one's own.
pub use keyring_core;

/// The service name of every keychain entry.
pub const SERVICE: &str = "docker-credential-ecr";
/// How long an unattended [`SecretStore::get`] on the OS keychain may take.
pub const GET_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an interactive call on the OS keychain may take (long enough for a user to answer
/// an unlock prompt).
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a [`FileSecretStore`] write waits for another writer's lock.
const FILE_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const FILE_LOCK_POLL: Duration = Duration::from_millis(5);

/// What keeps the secret keys of key sets (by key-set name).
pub trait SecretStore {
    /// The secret of `key_set`, or `None` when it has none.
    fn get(&self, key_set: &str) -> Result<Option<Secret>, KeychainError>;
    /// Stores (or replaces) the secret of `key_set`.
    fn set(&self, key_set: &str, secret: &Secret) -> Result<(), KeychainError>;
    /// Removes the secret of `key_set`; `false` when there was none.
    fn delete(&self, key_set: &str) -> Result<bool, KeychainError>;
    /// Where the secrets are, for messages: "the Secret Service keychain",
    /// "~/.config/docker-credential-ecr/keys.json (plaintext file)".
    fn describe(&self) -> String;
}

/// What a keychain call does when the keychain is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhenLocked {
    /// Asks the platform to unlock it, which may show a prompt and wait for the user.
    Unlock,
    /// Answers [`KeychainError::Locked`] at once: no unlock call, no prompt. Reads only: writes
    /// are made by interactive commands.
    Fail,
}

/// How a caller uses the keychain: what a locked keychain does, and how long a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeychainAccess {
    pub when_locked: WhenLocked,
    /// The bound of every call (of reads, at most [`GET_TIMEOUT`] when `when_locked` is
    /// [`WhenLocked::Fail`]).
    pub timeout: Duration,
}

impl KeychainAccess {
    /// Nobody to answer a prompt (`get` under docker, the refresher, `status`): a locked keychain
    /// is an error at once, and a read waits at most [`GET_TIMEOUT`].
    pub const UNATTENDED: KeychainAccess = KeychainAccess {
        when_locked: WhenLocked::Fail,
        timeout: GET_TIMEOUT,
    };
    /// A person runs the command (`add`, `remove`, `store`, `doctor`): the keychain may be
    /// unlocked, with a prompt, and a call waits at most [`CHANGE_TIMEOUT`].
    pub const INTERACTIVE: KeychainAccess = KeychainAccess {
        when_locked: WhenLocked::Unlock,
        timeout: CHANGE_TIMEOUT,
    };

    /// How long a read waits.
    fn read_limit(&self) -> Duration {
        match self.when_locked {
            WhenLocked::Fail => self.timeout.min(GET_TIMEOUT),
            WhenLocked::Unlock => self.timeout,
        }
    }
}

/// Why a secret could not be read, stored or removed. Messages never contain a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeychainError {
    /// No keychain to talk to: no session bus, no Secret Service, no keychain on this platform.
    /// Holds the platform's words; the message adds the alternatives.
    #[error(
        "no OS keychain is available ({0}); take the keys from an AWS profile instead \
         (`--profile P`) or keep them in a plaintext file (`--store file`)"
    )]
    Unavailable(String),
    /// The keyring is locked (and the caller may not unlock it), or unlocking it needs a prompt
    /// that could not be shown.
    #[error(
        "the keychain is locked ({0}); unlock it (log in to the desktop session, or run \
         `docker-credential-ecr doctor`, which may ask for its password) and retry"
    )]
    Locked(String),
    /// The keychain did not answer in time (a locked keyring may be waiting on an unlock prompt).
    #[error(
        "the keychain did not answer within {} (is it locked and waiting for an unlock prompt?)",
        humantime::format_duration(*.0)
    )]
    Timeout(Duration),
    /// Anything else, in the platform's words (for the file store: the file's path and the cause).
    #[error("{0}")]
    Platform(String),
}

/// The label of a key set's entry in keychain UIs.
pub fn entry_label(key_set: &str) -> String {
    format!("{SERVICE}: {key_set}")
}

/// The OS keychain: Secret Service, macOS Keychain or Windows Credential Manager.
///
/// Each call runs on a worker thread and is bounded in time; what a locked keychain does is the
/// [`KeychainAccess`] it was opened with (see the module docs).
#[derive(Clone)]
pub struct OsKeychain {
    access: KeychainAccess,
    backend: Backend,
    /// The reads under way, one per key set and [`WhenLocked`].
    reads: reads::Reads,
}

#[derive(Clone)]
enum Backend {
    /// The platform's store, opened anew by every call (it costs a few milliseconds, and a
    /// restarted keyring daemon is picked up).
    Native,
    /// A given store (a test's `keyring_core::mock` store).
    Given(Arc<CredentialStore>),
}

impl OsKeychain {
    /// The platform's keychain, used as `access` says.
    pub fn new(access: KeychainAccess) -> OsKeychain {
        OsKeychain {
            access,
            backend: Backend::Native,
            reads: reads::Reads::native(),
        }
    }

    /// A keychain backed by `store` instead of the platform's, for tests: for example
    /// `keyring_core::mock::Store::new()`, whose error injection reaches through this type.
    pub fn with_store(store: Arc<CredentialStore>, access: KeychainAccess) -> OsKeychain {
        OsKeychain {
            access,
            backend: Backend::Given(store),
            reads: reads::Reads::default(),
        }
    }

    /// How this keychain is used.
    pub fn access(&self) -> KeychainAccess {
        self.access
    }

    /// Runs `op` on the entry of `key_set` on a worker thread, waiting at most `limit`.
    fn on_worker<T: Send + 'static>(
        &self,
        key_set: &str,
        limit: Duration,
        op: impl FnOnce(&Entry, &CredentialStore) -> Result<T, KeychainError> + Send + 'static,
    ) -> Result<T, KeychainError> {
        check_name(key_set)?;
        let backend = self.backend.clone();
        let key_set = key_set.to_string();
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("keychain".to_string())
            .spawn(move || {
                let result = backend
                    .open()
                    .and_then(|store| build_entry(&*store, &key_set).and_then(|e| op(&e, &*store)));
                // The receiver is gone when the caller timed out: nothing to do.
                let _ = tx.send(result);
            })
            .map_err(|e| KeychainError::Platform(format!("cannot start a keychain thread: {e}")))?;
        match rx.recv_timeout(limit) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(?limit, "the keychain did not answer in time");
                Err(KeychainError::Timeout(limit))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(KeychainError::Platform(
                "the keychain call failed unexpectedly (its thread panicked)".to_string(),
            )),
        }
    }
}

impl Backend {
    fn open(&self) -> Result<Arc<CredentialStore>, KeychainError> {
        match self {
            Backend::Given(store) => Ok(store.clone()),
            Backend::Native => open_native_store(),
        }
    }

    /// The secret of `key_set`, read as `when_locked` says, each platform call bounded by
    /// `limit` where the platform allows it.
    fn read(
        &self,
        key_set: &str,
        when_locked: WhenLocked,
        limit: Duration,
    ) -> Result<Option<Secret>, KeychainError> {
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "ios", target_os = "android"))
        ))]
        if let (Backend::Native, WhenLocked::Fail) = (self, when_locked) {
            return secret_service::read_without_unlocking(SERVICE, key_set, limit);
        }
        let _ = (when_locked, limit);
        let store = self.open()?;
        let entry = build_entry(&*store, key_set)?;
        match entry.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(operation_error(e, key_set)),
        }
    }
}

/// No Secret Service to talk to, in the platform's `words`, said plainly.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn unavailable(words: &str) -> KeychainError {
    let what = if words.contains("ServiceUnknown") || words.contains("NameHasNoOwner") {
        "nothing provides the Secret Service (org.freedesktop.secrets) on the D-Bus session bus"
    } else if words.contains("connect") || words.contains("ddress") {
        "no D-Bus session bus"
    } else {
        "the Secret Service cannot be opened"
    };
    KeychainError::Unavailable(format!("{what}: {words}"))
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn open_native_store() -> Result<Arc<CredentialStore>, KeychainError> {
    zbus_secret_service_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| unavailable(&platform_words(&e)))
}

#[cfg(target_os = "macos")]
fn open_native_store() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(|e| {
        KeychainError::Unavailable(format!("macOS keychain: {}", platform_words(&e)))
    })?;
    Ok(store)
}

#[cfg(target_os = "windows")]
fn open_native_store() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = windows_native_keyring_store::Store::new().map_err(|e| {
        KeychainError::Unavailable(format!("Credential Manager: {}", platform_words(&e)))
    })?;
    Ok(store)
}

#[cfg(not(any(unix, target_os = "windows")))]
fn open_native_store() -> Result<Arc<CredentialStore>, KeychainError> {
    Err(KeychainError::Unavailable(
        "this platform has no supported keychain".to_string(),
    ))
}

#[cfg(any(target_os = "ios", target_os = "android"))]
fn open_native_store() -> Result<Arc<CredentialStore>, KeychainError> {
    Err(KeychainError::Unavailable(
        "this platform has no supported keychain".to_string(),
    ))
}

/// What the native store is called in messages.
fn native_store_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "the macOS login keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else {
        "the Secret Service keychain"
    }
}

fn check_name(key_set: &str) -> Result<(), KeychainError> {
    if key_set.is_empty() {
        return Err(KeychainError::Platform(
            "a key set needs a non-empty name".to_string(),
        ));
    }
    Ok(())
}

/// True when `store` is the Secret Service store, which takes a `label` modifier.
fn takes_label(store: &CredentialStore) -> bool {
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    {
        store
            .as_any()
            .is::<zbus_secret_service_keyring_store::Store>()
    }
    #[cfg(not(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )))]
    {
        let _ = store;
        false
    }
}

/// True when `store` is Windows Credential Manager, whose credentials take a `comment`.
fn takes_comment(store: &CredentialStore) -> bool {
    #[cfg(target_os = "windows")]
    {
        store.as_any().is::<windows_native_keyring_store::Store>()
    }
    #[cfg(not(target_os = "windows"))]
    {
        let _ = store;
        false
    }
}

fn build_entry(store: &CredentialStore, key_set: &str) -> Result<Entry, KeychainError> {
    let label = entry_label(key_set);
    let modifiers = std::collections::HashMap::from([("label", label.as_str())]);
    let modifiers = takes_label(store).then_some(&modifiers);
    store
        .build(SERVICE, key_set, modifiers)
        .map_err(|e| operation_error(e, key_set))
}

/// The words of a keyring error without anything that could be secret data.
fn platform_words(err: &keyring_core::Error) -> String {
    use keyring_core::Error as E;
    match err {
        E::PlatformFailure(e) | E::NoStorageAccess(e) => e.to_string(),
        E::BadEncoding(_) => "the stored value is not UTF-8 text".to_string(),
        E::BadDataFormat(_, e) => format!("the stored value is malformed: {e}"),
        E::Ambiguous(entries) => format!("{} entries match", entries.len()),
        other => other.to_string(),
    }
}

/// Maps the error of an operation on `key_set`'s entry (not `NoEntry`, which callers handle).
fn operation_error(err: keyring_core::Error, key_set: &str) -> KeychainError {
    use keyring_core::Error as E;
    match err {
        E::NoStorageAccess(e) => KeychainError::Locked(e.to_string()),
        E::Ambiguous(entries) => KeychainError::Platform(format!(
            "{} keychain entries match service `{SERVICE}` and user `{key_set}`; remove the \
             extra ones in the keychain's UI",
            entries.len()
        )),
        E::NoDefaultStore => KeychainError::Unavailable(err.to_string()),
        other => KeychainError::Platform(format!(
            "keychain entry `{}`: {}",
            entry_label(key_set),
            platform_words(&other)
        )),
    }
}

impl SecretStore for OsKeychain {
    fn get(&self, key_set: &str) -> Result<Option<Secret>, KeychainError> {
        check_name(key_set)?;
        let when_locked = self.access.when_locked;
        let limit = self.access.read_limit();
        let (backend, name) = (self.backend.clone(), key_set.to_string());
        self.reads
            .read(&format!("{when_locked:?} {key_set}"), limit, move || {
                backend.read(&name, when_locked, limit)
            })
    }

    fn set(&self, key_set: &str, secret: &Secret) -> Result<(), KeychainError> {
        let name = key_set.to_string();
        let secret = secret.clone();
        self.on_worker(key_set, self.access.timeout, move |entry, store| {
            entry
                .set_password(secret.expose())
                .map_err(|e| operation_error(e, &name))?;
            if takes_comment(store) {
                let label = entry_label(&name);
                let comment = std::collections::HashMap::from([("comment", label.as_str())]);
                if let Err(e) = entry.update_attributes(&comment) {
                    tracing::warn!(key_set = %name, error = %platform_words(&e), "cannot label the keychain entry");
                }
            }
            Ok(())
        })
    }

    fn delete(&self, key_set: &str) -> Result<bool, KeychainError> {
        let name = key_set.to_string();
        self.on_worker(key_set, self.access.timeout, move |entry, _| {
            match entry.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring_core::Error::NoEntry) => Ok(false),
                Err(e) => Err(operation_error(e, &name)),
            }
        })
    }

    fn describe(&self) -> String {
        match &self.backend {
            Backend::Native => native_store_name().to_string(),
            Backend::Given(store) => format!("the keychain store `{}`", store.vendor()),
        }
    }
}

/// Secrets in a plaintext JSON file, `{name: secret}`: only on explicit request (`--store file`).
#[derive(Debug, Clone)]
pub struct FileSecretStore {
    path: PathBuf,
}

impl FileSecretStore {
    /// A store in the file at `path` (created on the first `set`).
    pub fn new(path: impl Into<PathBuf>) -> FileSecretStore {
        FileSecretStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    fn error(&self, what: &str, cause: impl std::fmt::Display) -> KeychainError {
        KeychainError::Platform(format!("{} {}: {cause}", what, self.path.display()))
    }

    /// The entries in the file; empty when there is no file.
    fn read(&self) -> Result<BTreeMap<String, Secret>, KeychainError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.error("cannot read", e)),
        };
        // serde_json's message may quote the offending value, which may be a secret: say only
        // what kind of problem it is and where.
        serde_json::from_slice(&bytes).map_err(|e| {
            let kind = match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Data => "not a JSON object of names and secrets",
                serde_json::error::Category::Eof => "truncated JSON",
            };
            KeychainError::Platform(format!(
                "{} is {kind} (line {}, column {}): fix or remove it; it was left as it is",
                self.path.display(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Replaces the file with `entries`, atomically, 0600.
    fn write(&self, entries: &BTreeMap<String, Secret>) -> Result<(), KeychainError> {
        let mut bytes =
            serde_json::to_vec_pretty(entries).map_err(|e| self.error("cannot write", e))?;
        bytes.push(b'\n');
        crate::private_fs::write_atomically(&self.path, &bytes)
            .map_err(|e| self.error("cannot write", e))?;
        Ok(())
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Runs `change` on the entries under the exclusive lock and writes them back when it says so.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Secret>) -> (T, bool),
    ) -> Result<T, KeychainError> {
        create_private_dir(&self.dir())
            .map_err(|e| self.error("cannot create the folder of", e))?;
        let _lock = self.lock()?;
        let mut entries = self.read()?;
        let (answer, changed) = change(&mut entries);
        if changed {
            self.write(&entries)?;
        }
        Ok(answer)
    }

    /// The exclusive lock of the file (a `flock` on the sibling `.lock` file), released on drop.
    fn lock(&self) -> Result<File, KeychainError> {
        let path = self.lock_path();
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|e| KeychainError::Platform(format!("cannot lock {}: {e}", path.display())))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(KeychainError::Platform(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )));
                }
            }
            if started.elapsed() >= FILE_LOCK_TIMEOUT {
                return Err(KeychainError::Timeout(FILE_LOCK_TIMEOUT));
            }
            std::thread::sleep(FILE_LOCK_POLL);
        }
    }
}

impl SecretStore for FileSecretStore {
    fn get(&self, key_set: &str) -> Result<Option<Secret>, KeychainError> {
        // Writers replace the file by rename: a reader sees the old or the new one, never half.
        Ok(self.read()?.remove(key_set))
    }

    fn set(&self, key_set: &str, secret: &Secret) -> Result<(), KeychainError> {
        self.update(|entries| {
            let changed = entries.get(key_set) != Some(secret);
            entries.insert(key_set.to_string(), secret.clone());
            ((), changed)
        })
    }

    fn delete(&self, key_set: &str) -> Result<bool, KeychainError> {
        if !self.path.exists() {
            return Ok(false);
        }
        self.update(|entries| {
            let removed = entries.remove(key_set).is_some();
            (removed, removed)
        })
    }

    fn describe(&self) -> String {
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        let shown = match home.as_deref().and_then(|h| self.path.strip_prefix(h).ok()) {
            Some(rest) => format!("~/{}", rest.display()),
            None => self.path.display().to_string(),
        };
        format!("{shown} (plaintext file)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyring_core::api::CredentialStoreApi;
    use keyring_core::mock;

    const KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn mock_keychain() -> (OsKeychain, Arc<mock::Store>) {
        let store = mock::Store::new().unwrap();
        let access = KeychainAccess {
            when_locked: WhenLocked::Unlock,
            timeout: Duration::from_secs(5),
        };
        let keychain = OsKeychain::with_store(store.clone(), access);
        (keychain, store)
    }

    /// Makes the next call on `key_set`'s mock entry fail with `err`.
    fn inject(store: &mock::Store, key_set: &str, err: keyring_core::Error) {
        let entry = store.build(SERVICE, key_set, None).unwrap();
        let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(err);
    }

    fn boxed(words: &str) -> keyring_core::error::PlatformError {
        Box::new(std::io::Error::other(words.to_string()))
    }

    #[test]
    fn keychain_round_trip_through_the_mock_store() {
        let (keychain, _store) = mock_keychain();
        assert!(keychain.get("vendor-a").unwrap().is_none());
        keychain.set("vendor-a", &Secret::new(KEY)).unwrap();
        keychain.set("vendor-b", &Secret::new("other")).unwrap();
        assert_eq!(keychain.get("vendor-a").unwrap().unwrap().expose(), KEY);
        keychain.set("vendor-a", &Secret::new("rotated")).unwrap();
        assert_eq!(
            keychain.get("vendor-a").unwrap().unwrap().expose(),
            "rotated"
        );
        assert!(keychain.delete("vendor-a").unwrap());
        assert!(!keychain.delete("vendor-a").unwrap(), "absent: false");
        assert!(keychain.get("vendor-a").unwrap().is_none());
        assert_eq!(keychain.get("vendor-b").unwrap().unwrap().expose(), "other");
    }

    #[test]
    fn keychain_maps_injected_errors() {
        let (keychain, store) = mock_keychain();
        keychain.set("v", &Secret::new(KEY)).unwrap();

        inject(
            &store,
            "v",
            keyring_core::Error::NoStorageAccess(boxed("collection is locked")),
        );
        let err = keychain.get("v").unwrap_err();
        assert!(
            matches!(&err, KeychainError::Locked(w) if w.contains("collection is locked")),
            "{err:?}"
        );

        inject(
            &store,
            "v",
            keyring_core::Error::PlatformFailure(boxed("bus went away")),
        );
        let err = keychain.set("v", &Secret::new("new")).unwrap_err();
        assert!(
            matches!(&err, KeychainError::Platform(w) if w.contains("bus went away")),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("docker-credential-ecr: v"),
            "{err}"
        );

        inject(
            &store,
            "v",
            keyring_core::Error::NoStorageAccess(boxed("prompt dismissed")),
        );
        assert!(matches!(
            keychain.delete("v"),
            Err(KeychainError::Locked(_))
        ));

        // The injected error is one-shot and did not touch the stored value.
        assert_eq!(keychain.get("v").unwrap().unwrap().expose(), KEY);
    }

    #[test]
    fn keychain_errors_never_carry_the_secret() {
        let (keychain, store) = mock_keychain();
        let raw = KEY.as_bytes().to_vec();
        for err in [
            keyring_core::Error::BadEncoding(raw.clone()),
            keyring_core::Error::BadDataFormat(raw.clone(), boxed("bad padding")),
        ] {
            inject(&store, "v", err);
            let err = keychain.get("v").unwrap_err();
            assert!(matches!(err, KeychainError::Platform(_)), "{err:?}");
            assert!(!format!("{err} {err:?}").contains("wJalr"), "{err:?}");
        }
    }

    #[test]
    fn keychain_refuses_an_empty_name() {
        let (keychain, _store) = mock_keychain();
        assert!(matches!(keychain.get(""), Err(KeychainError::Platform(_))));
    }

    #[test]
    fn keychain_calls_time_out_without_blocking_the_caller() {
        let limit = Duration::from_millis(200);
        let access = KeychainAccess {
            when_locked: WhenLocked::Unlock,
            timeout: limit,
        };
        let keychain = OsKeychain::with_store(Arc::new(fake_stores::Blocking::hanging()), access);
        for call in [
            Box::new(|| keychain.get("v").map(|_| ()))
                as Box<dyn Fn() -> Result<(), KeychainError>>,
            Box::new(|| keychain.set("v", &Secret::new(KEY))),
            Box::new(|| keychain.delete("v").map(|_| ())),
        ] {
            let started = Instant::now();
            let err = call().unwrap_err();
            assert!(
                matches!(err, KeychainError::Timeout(d) if d == limit),
                "{err:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn keychain_unattended_get_is_bounded_by_two_seconds_whatever_the_timeout() {
        let access = KeychainAccess {
            when_locked: WhenLocked::Fail,
            timeout: Duration::from_secs(60),
        };
        let keychain = OsKeychain::with_store(Arc::new(fake_stores::Blocking::hanging()), access);
        let started = Instant::now();
        let err = keychain.get("v").unwrap_err();
        assert!(
            matches!(err, KeychainError::Timeout(d) if d == GET_TIMEOUT),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn keychain_hung_reads_take_one_thread_per_key_set_and_others_still_answer() {
        let store = Arc::new(fake_stores::Blocking::hanging());
        let reads = store.reads.clone();
        let keychain = OsKeychain::with_store(
            store,
            KeychainAccess {
                when_locked: WhenLocked::Fail,
                timeout: Duration::from_millis(100),
            },
        );
        for _ in 0..4 {
            assert!(matches!(
                keychain.get("hung"),
                Err(KeychainError::Timeout(_))
            ));
        }
        // A clone (the refresher's next service) shares the reads under way.
        assert!(keychain.clone().get("hung").is_err());
        let quick = keychain.get("quick").unwrap().unwrap();
        assert_eq!(quick.expose(), "quick-secret");
        // The workers count their read and leave the table on their own threads: wait for that.
        let started = Instant::now();
        while keychain.reads.under_way() > 1 || reads.load(std::sync::atomic::Ordering::SeqCst) < 2
        {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            reads.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one read of the hung key set, however often asked, and one of the other"
        );
        assert_eq!(keychain.reads.under_way(), 1, "the hung read");
    }

    #[test]
    fn keychain_locked_message_says_how_to_unlock() {
        let text =
            KeychainError::Locked("`docker-credential-ecr: acme` is locked".into()).to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("unlock it"), "{text}");
        assert!(text.contains("docker-credential-ecr doctor"), "{text}");
        assert_eq!(KeychainAccess::UNATTENDED.when_locked, WhenLocked::Fail);
        assert_eq!(KeychainAccess::UNATTENDED.read_limit(), GET_TIMEOUT);
        assert_eq!(KeychainAccess::INTERACTIVE.when_locked, WhenLocked::Unlock);
    }

    #[test]
    fn keychain_error_messages() {
        let unavailable = KeychainError::Unavailable("Secret Service: no bus".to_string());
        let text = unavailable.to_string();
        assert!(text.contains("no bus"), "{text}");
        assert!(
            text.contains("--profile P") && text.contains("--store file"),
            "{text}"
        );
        let timeout = KeychainError::Timeout(GET_TIMEOUT).to_string();
        assert!(timeout.contains("2s"), "{timeout}");
        assert!(
            OsKeychain::new(KeychainAccess::UNATTENDED)
                .describe()
                .contains("keychain")
                || cfg!(windows)
        );
        assert_eq!(entry_label("acme"), "docker-credential-ecr: acme");
    }

    // --- FileSecretStore ---

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keychain_file_round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/docker-credential-ecr/keys.json");
        let store = FileSecretStore::new(&path);
        assert!(store.get("a").unwrap().is_none());
        assert!(!store.delete("a").unwrap());
        assert!(!path.exists(), "a delete of nothing writes nothing");

        store.set("a", &Secret::new(KEY)).unwrap();
        store.set("b", &Secret::new("bee")).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().expose(), KEY);
        let on_disk: BTreeMap<String, String> =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk.len(), 2);
        assert_eq!(on_disk["b"], "bee");
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&store.lock_path()), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&dir.path().join("config")), 0o700);
        }
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        assert!(store.get("a").unwrap().is_none());
        assert_eq!(store.get("b").unwrap().unwrap().expose(), "bee");
        // Only the file and its lock: no temp files left behind.
        let mut names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["keys.json", "keys.json.lock"]);
    }

    #[cfg(unix)]
    #[test]
    fn keychain_file_rewrite_tightens_a_loose_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        FileSecretStore::new(&path)
            .set("a", &Secret::new(KEY))
            .unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn keychain_file_concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A reader that must always see a whole file.
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let store = FileSecretStore::new(path);
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store.get("w0-0").expect("a reader never sees a torn file");
                    reads += 1;
                }
                reads
            })
        };
        let writers: Vec<_> = (0..12)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // One store (and lock file handle) per writer, as in separate processes.
                    let store = FileSecretStore::new(path);
                    for i in 0..8 {
                        store
                            .set(&format!("w{w}-{i}"), &Secret::new(format!("s{w}-{i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let store = FileSecretStore::new(&path);
        for w in 0..12 {
            for i in 0..8 {
                let got = store.get(&format!("w{w}-{i}")).unwrap();
                assert_eq!(got.unwrap().expose(), format!("s{w}-{i}"));
            }
        }
    }

    #[test]
    fn keychain_file_corrupt_is_an_error_naming_the_file_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let store = FileSecretStore::new(&path);
        for corrupt in [
            "{\"a\": \"wJalr",
            "\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
            "{\"a\": 5}",
            "",
        ] {
            fs::write(&path, corrupt).unwrap();
            let err = store.get("a").unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, KeychainError::Platform(_)), "{err:?}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                !text.contains("wJalr"),
                "the message quotes the file: {text}"
            );
            assert!(store.set("b", &Secret::new("bee")).is_err());
            assert!(store.delete("a").is_err());
            assert_eq!(fs::read_to_string(&path).unwrap(), corrupt, "not emptied");
        }
    }

    #[test]
    fn keychain_file_describes_itself_as_plaintext() {
        let store = FileSecretStore::new("/srv/keys.json");
        assert_eq!(store.describe(), "/srv/keys.json (plaintext file)");
        if let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()) {
            let store = FileSecretStore::new(home.join(".config/docker-credential-ecr/keys.json"));
            assert_eq!(
                store.describe(),
                "~/.config/docker-credential-ecr/keys.json (plaintext file)"
            );
        }
    }
}

/// Keychain stores for tests: what a platform keychain does when it blocks.
#[cfg(test)]
pub(crate) mod fake_stores {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use keyring_core::Entry;
    use keyring_core::api::{Credential, CredentialApi, CredentialStoreApi};

    /// A store whose every call blocks for `hold`, like a keyring waiting on a daemon or an
    /// unlock prompt, except reads of key set `quick`; it counts the reads that reached it.
    #[derive(Debug, Clone)]
    pub(crate) struct Blocking {
        pub hold: Duration,
        pub reads: Arc<AtomicUsize>,
    }

    impl Blocking {
        /// Blocks for as long as any test waits (30 s).
        pub(crate) fn hanging() -> Blocking {
            Blocking::holding(Duration::from_secs(30))
        }

        pub(crate) fn holding(hold: Duration) -> Blocking {
            Blocking {
                hold,
                reads: Arc::default(),
            }
        }
    }

    /// The secret every slow read ends with.
    pub(crate) const HELD_SECRET: &str = "held-secret";

    #[derive(Debug)]
    struct BlockingCred {
        user: String,
        store: Blocking,
    }

    impl CredentialApi for BlockingCred {
        fn set_secret(&self, _: &[u8]) -> keyring_core::Result<()> {
            std::thread::sleep(self.store.hold);
            Ok(())
        }
        fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
            self.store.reads.fetch_add(1, Ordering::SeqCst);
            if self.user == "quick" {
                return Ok(b"quick-secret".to_vec());
            }
            std::thread::sleep(self.store.hold);
            Ok(HELD_SECRET.as_bytes().to_vec())
        }
        fn delete_credential(&self) -> keyring_core::Result<()> {
            std::thread::sleep(self.store.hold);
            Ok(())
        }
        fn get_credential(&self) -> keyring_core::Result<Option<Arc<Credential>>> {
            Ok(None)
        }
        fn get_specifiers(&self) -> Option<(String, String)> {
            None
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    impl CredentialStoreApi for Blocking {
        fn vendor(&self) -> String {
            "blocking".to_string()
        }
        fn id(&self) -> String {
            "blocking".to_string()
        }
        fn build(
            &self,
            _: &str,
            user: &str,
            _: Option<&std::collections::HashMap<&str, &str>>,
        ) -> keyring_core::Result<Entry> {
            Ok(Entry::new_with_credential(Arc::new(BlockingCred {
                user: user.to_string(),
                store: self.clone(),
            })))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
}
