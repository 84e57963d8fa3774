//! The token cache on disk: one small JSON file per API endpoint and identity (and one per
//! registry for tokens from `docker login`), written atomically, readable only by the user,
//! guarded by a lock file for single-flight fetching.
//!
//! # Layout
//!
//! - `<cache dir>/tokens/shared/<hash>.json`: a token this product fetched. Its key
//!   ([`TokenScope::key`]) holds the API endpoint ([`crate::endpoint::ApiEndpoint`]: API,
//!   partition, region, FIPS and dual-stack variant, endpoint overrides) and the identity's
//!   inputs ([`crate::source::CredentialSource`]), not the registry host: one file serves every
//!   registry of that identity and endpoint.
//! - `<cache dir>/tokens/login/<hash>.json`: a token `docker login` handed in (`store`); its key
//!   holds the registry host, so it serves that host only.
//!
//! `<hash>` is the first 128 bits of the key's SHA-256, in hex, and a `.lock` file of the same
//! stem sits beside each entry. The directories are 0700 and the files 0600. A write goes to a
//! temp file in the same directory and is renamed over the old one, so a reader sees the old
//! token or the new one, never half of either; readers therefore take no lock. A corrupt or
//! foreign file is treated as absent and replaced by the next write: never a crash, never a
//! wholesale delete.
//!
//! Records of the previous format (`docker-credential-ecr/token/v2`, one directory per registry
//! host) are never read; each [`TokenCache::store`] removes such directories it finds under the
//! cache root (only those named like a host, in directories this user owns), so they do not
//! linger once a token has been fetched again.
//!
//! # What an entry records
//!
//! Each file holds, beside the token, the whole [`TokenScope`] it was fetched for (the registry
//! it was first fetched for, endpoints, and every input that selected the identity: never a
//! secret), so that the tray and the agent can renew exactly that scope whatever their own
//! environment ([`TokenCache::entries`]), and `remove` can erase the tokens of one key set or
//! profile. It also records the step-free clock at receipt ([`BootStamp`]):
//! [`TokenCache::load`] returns the token aged by the larger of the wall clock's and that
//! clock's measure, so a wall clock stepped back cannot make an expired token look valid.
//!
//! # Whose directory
//!
//! The cache's directories (the product's cache directory, `tokens`, `shared` and `login`) are
//! used only while they are absent or private to this user and writable by it ([`trust`]): one
//! that another user owns or may write, or that this user cannot write, is never read or
//! written; `load` finds nothing there and `store` and `lock` fail, so that `get` fetches
//! uncached.
//!
//! This module never talks to AWS and never decides freshness (see [`crate::policy`]).

mod trust;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::{BootStamp, Clock, Deadline};
use crate::private_fs;
use crate::secret::Secret;
use crate::source::TokenScope;
use crate::token::Token;

const RECORD_FORMAT: &str = "docker-credential-ecr/token/v3";
/// The directory of tokens this product fetched, shared by the registries of one endpoint and
/// identity.
const SHARED_DIR: &str = "shared";
/// The directory of tokens handed in by `docker login`, one per registry host.
const LOGIN_DIR: &str = "login";
const LOCK_POLL: Duration = Duration::from_millis(5);

/// Why the cache could not be written or locked.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the token cache directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the token cache file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not using the token cache directory {path}: {reason}")]
    Untrusted { path: PathBuf, reason: String },
}

/// Names one cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    dir: &'static str,
    key: String,
    stem: String,
}

impl CacheKey {
    /// The entry for a token scope.
    pub fn for_scope(scope: &TokenScope) -> CacheKey {
        let key = scope.key();
        let digest = Sha256::digest(key.as_bytes());
        let stem = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        CacheKey {
            dir: if scope.is_login() {
                LOGIN_DIR
            } else {
                SHARED_DIR
            },
            key,
            stem,
        }
    }

    /// The full key (what the entry's file name is a hash of).
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// Whether this names a token from `docker login` (one host's), else a shared one.
    pub fn is_login(&self) -> bool {
        self.dir == LOGIN_DIR
    }
}

/// What is written to disk.
#[derive(Serialize, Deserialize)]
struct Record {
    format: String,
    key: String,
    scope: TokenScope,
    password: Secret,
    received_at_ms: u64,
    expires_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_boot: Option<BootStamp>,
}

impl Record {
    /// The token on `clock`'s time: aged by the step-free clock when it says more.
    fn token(self, clock: &dyn Clock) -> Token {
        let received_at = from_millis(self.received_at_ms);
        let life = self
            .expires_at_ms
            .saturating_sub(self.received_at_ms)
            .min(u64::MAX / 2);
        let token = Token::lasting(self.password, received_at, Duration::from_millis(life));
        let elapsed = match (&self.received_boot, clock.boot_stamp()) {
            (Some(then), Some(now)) => now.elapsed_since(then),
            _ => None,
        };
        match elapsed {
            Some(age) => token.aged_at_least(age, clock.now()),
            None => token,
        }
    }
}

/// One cache entry as [`TokenCache::entries`] lists it.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub key: CacheKey,
    pub scope: TokenScope,
    pub token: Token,
}

/// The token cache rooted at one directory.
#[derive(Debug, Clone)]
pub struct TokenCache {
    root: PathBuf,
}

/// An exclusive hold on one cache entry; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl TokenCache {
    pub fn new(root: impl Into<PathBuf>) -> TokenCache {
        TokenCache { root: root.into() }
    }

    /// The cached token for `key`, if there is a readable one of ours, on `clock`'s time.
    pub fn load(&self, key: &CacheKey, clock: &dyn Clock) -> Option<Token> {
        if let Err(e) = self.check_dirs(Some(key.dir)) {
            tracing::debug!(error = %e, "token cache not read");
            return None;
        }
        let path = self.token_path(key);
        let record = read_record(&path)?;
        if record.key != key.key {
            tracing::warn!(path = %path.display(), "token cache file belongs to another key; it will be replaced");
            return None;
        }
        Some(record.token(clock))
    }

    /// Writes `token` for `scope` atomically (temp file + rename, no fsync: a power cut may
    /// lose the entry, which is then fetched again), 0600, with the step-free clock's reading
    /// now; then removes what the previous format left (see the module docs).
    pub fn store(
        &self,
        scope: &TokenScope,
        token: &Token,
        clock: &dyn Clock,
    ) -> Result<(), CacheError> {
        let key = CacheKey::for_scope(scope);
        self.ensure_entry_dir(&key)?;
        let record = Record {
            format: RECORD_FORMAT.to_string(),
            key: key.key.clone(),
            scope: scope.clone(),
            password: token.password.clone(),
            received_at_ms: to_millis(token.received_at),
            expires_at_ms: to_millis(token.expires_at),
            received_boot: clock.boot_stamp(),
        };
        let path = self.token_path(&key);
        let write_err = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| write_err(e.into()))?;
        private_fs::write_atomically_unsynced(&path, &bytes).map_err(write_err)?;
        self.remove_previous_format();
        Ok(())
    }

    /// Every readable entry of ours, on `clock`'s time; files that are corrupt, of another
    /// format, or whose name does not match their scope are left out.
    pub fn entries(&self, clock: &dyn Clock) -> Vec<CacheEntry> {
        let mut entries = Vec::new();
        for dir_name in [SHARED_DIR, LOGIN_DIR] {
            if self.check_dirs(Some(dir_name)).is_err() {
                continue;
            }
            for path in token_files(&self.root.join(dir_name)) {
                let Some(record) = read_record(&path) else {
                    continue;
                };
                let key = CacheKey::for_scope(&record.scope);
                if key.key != record.key || self.token_path(&key) != path {
                    continue;
                }
                let scope = record.scope.clone();
                entries.push(CacheEntry {
                    key,
                    scope,
                    token: record.token(clock),
                });
            }
        }
        entries
    }

    /// Forgets every cached token whose scope `forget` picks; returns how many. Lock files
    /// stay: a concurrent `get` may hold one.
    pub fn erase_where(
        &self,
        clock: &dyn Clock,
        forget: impl Fn(&TokenScope) -> bool,
    ) -> Result<usize, CacheError> {
        let mut removed = 0;
        for entry in self.entries(clock) {
            if forget(&entry.scope) {
                let path = self.token_path(&entry.key);
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(CacheError::Remove { path, source }),
                }
            }
        }
        Ok(removed)
    }

    /// Waits for the exclusive lock of `key` until `deadline`; `Ok(None)` when it passed first.
    pub fn lock(
        &self,
        key: &CacheKey,
        deadline: Deadline,
    ) -> Result<Option<CacheLock>, CacheError> {
        let file = self.open_lock_file(key)?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(CacheLock { _file: file })),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(source)) => {
                    return Err(CacheError::Lock {
                        path: self.lock_path(key),
                        source,
                    });
                }
            }
            if deadline.has_passed() {
                return Ok(None);
            }
            std::thread::sleep(LOCK_POLL.min(deadline.remaining()));
        }
    }

    /// The lock of `key` if nobody holds it now.
    pub fn try_lock(&self, key: &CacheKey) -> Result<Option<CacheLock>, CacheError> {
        self.lock(key, Deadline::after(Duration::ZERO))
    }

    /// The registries the entries were fetched (or stored) for, sorted, each once.
    pub fn registries(&self, clock: &dyn Clock) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .entries(clock)
            .into_iter()
            .map(|entry| entry.scope.registry.host().to_string())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    fn token_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join(key.dir).join(format!("{}.json", key.stem))
    }

    fn lock_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join(key.dir).join(format!("{}.lock", key.stem))
    }

    fn open_lock_file(&self, key: &CacheKey) -> Result<File, CacheError> {
        self.ensure_entry_dir(key)?;
        let path = self.lock_path(key);
        private_fs::open_lock_file(&path).map_err(|source| CacheError::Lock { path, source })
    }

    fn ensure_entry_dir(&self, key: &CacheKey) -> Result<PathBuf, CacheError> {
        self.check_dirs(Some(key.dir))?;
        if let Some(parent) = self.root.parent() {
            create_private_dir(parent)?;
        }
        create_private_dir(&self.root)?;
        let dir = self.root.join(key.dir);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Removes the per-host directories of the previous format (`<host>/<hash>.json|.lock`),
    /// best-effort: only directories named like a registry host, private to this user (see
    /// [`trust`]), and only the files that format wrote; a directory holding anything else
    /// stays.
    fn remove_previous_format(&self) {
        let Ok(children) = fs::read_dir(&self.root) else {
            return;
        };
        for child in children.flatten() {
            let name = child.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let legacy = name != SHARED_DIR
                && name != LOGIN_DIR
                && crate::registry::Registry::parse(name).is_ok_and(|r| r.host() == name)
                && child.file_type().is_ok_and(|t| t.is_dir());
            let dir = child.path();
            if !legacy || trust::check_dir(&dir).is_err() {
                continue;
            }
            for file in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let file_name = file.file_name();
                let file_name = file_name.to_string_lossy();
                if file_name.ends_with(".json")
                    || file_name.ends_with(".lock")
                    || file_name.starts_with(".tmp")
                {
                    let _ = fs::remove_file(file.path());
                }
            }
            match fs::remove_dir(&dir) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), "removed a token directory of the previous format")
                }
                Err(e) => {
                    tracing::debug!(dir = %dir.display(), error = %e, "left a token directory of the previous format")
                }
            }
        }
    }
}

impl TokenCache {
    /// Whether the cache's directories (and the entry directory `dir`, when given) may be used
    /// (see [`trust`]).
    fn check_dirs(&self, dir: Option<&str>) -> Result<(), CacheError> {
        let check = |dir: &Path, check: fn(&Path) -> Result<(), String>| {
            check(dir).map_err(|reason| CacheError::Untrusted {
                path: dir.to_path_buf(),
                reason,
            })
        };
        if let Some(parent) = self.root.parent() {
            check(parent, trust::check_parent)?;
        }
        check(&self.root, trust::check_dir)?;
        if let Some(dir) = dir {
            check(&self.root.join(dir), trust::check_dir)?;
        }
        Ok(())
    }
}

/// The record in `path`, if it is a readable one of this format.
fn read_record(path: &Path) -> Option<Record> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "token cache file unreadable; ignoring it");
            return None;
        }
    };
    decode_record(&bytes, path)
}

/// The record in one cache file's `bytes` (read from `path`), if it is one of this format.
fn decode_record(bytes: &[u8], path: &Path) -> Option<Record> {
    match serde_json::from_slice::<Record>(bytes) {
        Ok(record) if record.format == RECORD_FORMAT => Some(record),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "token cache file of another format; it will be replaced");
            None
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "token cache file is corrupt (or of an older format); it will be replaced");
            None
        }
    }
}

/// The entry one cache file's `bytes` hold, on `clock`'s time, as [`TokenCache::entries`] reads
/// it: `None` when the file is corrupt, of another format, or its key is not its scope's. For
/// checks that decode without a directory, such as the fuzz targets (`fuzz/`).
pub fn decode_entry(bytes: &[u8], clock: &dyn Clock) -> Option<CacheEntry> {
    let record = decode_record(bytes, Path::new("(bytes)"))?;
    let key = CacheKey::for_scope(&record.scope);
    if key.key != record.key {
        return None;
    }
    let scope = record.scope.clone();
    Some(CacheEntry {
        key,
        scope,
        token: record.token(clock),
    })
}

fn token_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect()
}

/// Creates `dir` 0700 (see [`crate::private_fs`]), naming it in the error.
fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    private_fs::create_private_dir(dir).map_err(|source| CacheError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A stored time; one beyond what the platform can represent reads as the epoch (a dead token).
fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::source::TokenScope;

    /// A wall clock standing still, with a step-free clock when `boot` is set.
    struct TestClock {
        now: SystemTime,
        boot: Option<BootStamp>,
    }

    impl Clock for TestClock {
        fn now(&self) -> SystemTime {
            self.now
        }
        fn boot_stamp(&self) -> Option<BootStamp> {
            self.boot.clone()
        }
    }

    const CLOCK: TestClock = TestClock {
        now: UNIX_EPOCH,
        boot: None,
    };

    fn scope(host: &str) -> TokenScope {
        TokenScope::from(Registry::parse(host).unwrap(), &|_| None)
    }

    fn key(host: &str) -> CacheKey {
        CacheKey::for_scope(&scope(host))
    }

    fn token(pw: &str) -> Token {
        Token {
            password: Secret::new(pw),
            received_at: from_millis(1_000_000),
            expires_at: from_millis(2_000_000),
        }
    }

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn store_then_load_round_trips_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("cache/tokens"));
        let k = key(HOST);
        assert_eq!(cache.load(&k, &CLOCK), None);
        cache.store(&scope(HOST), &token("one"), &CLOCK).unwrap();
        assert_eq!(cache.load(&k, &CLOCK), Some(token("one")));
        cache.store(&scope(HOST), &token("two"), &CLOCK).unwrap();
        assert_eq!(cache.load(&k, &CLOCK), Some(token("two")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.path().join("cache/tokens")), 0o700);
            assert_eq!(mode(&dir.path().join("cache/tokens/shared")), 0o700);
            assert_eq!(mode(&cache.token_path(&k)), 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("cache/tokens/shared"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn corrupt_and_foreign_files_are_ignored_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let k = key(HOST);
        cache.store(&scope(HOST), &token("one"), &CLOCK).unwrap();
        let path = cache.token_path(&k);
        for junk in [
            &b"{not json"[..],
            b"",
            b"\xff\xfe",
            br#"{"format":"other"}"#,
        ] {
            fs::write(&path, junk).unwrap();
            assert_eq!(cache.load(&k, &CLOCK), None);
        }
        // A valid record written for another key (e.g. copied by hand) is not served.
        let other = key("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        cache
            .store(
                &scope("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
                &token("other"),
                &CLOCK,
            )
            .unwrap();
        fs::copy(cache.token_path(&other), &path).unwrap();
        assert_eq!(cache.load(&k, &CLOCK), None);
        cache.store(&scope(HOST), &token("fresh"), &CLOCK).unwrap();
        assert_eq!(cache.load(&k, &CLOCK), Some(token("fresh")));
    }

    #[test]
    fn one_entry_serves_every_registry_of_one_endpoint_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let other_account = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
        let other_region = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        cache.store(&scope(HOST), &token("a"), &CLOCK).unwrap();
        assert_eq!(key(HOST), key(other_account));
        assert_eq!(cache.load(&key(other_account), &CLOCK), Some(token("a")));
        assert_eq!(cache.load(&key(other_region), &CLOCK), None);
        // A token from `docker login` serves its own host only, and never the shared entry's.
        let login = TokenScope::stored(Registry::parse(HOST).unwrap());
        let login_key = CacheKey::for_scope(&login);
        assert!(login_key.is_login() && !key(HOST).is_login());
        assert_eq!(cache.load(&login_key, &CLOCK), None);
        cache.store(&login, &token("login"), &CLOCK).unwrap();
        let elsewhere =
            CacheKey::for_scope(&TokenScope::stored(Registry::parse(other_account).unwrap()));
        assert_eq!(cache.load(&elsewhere, &CLOCK), None);
        assert_eq!(cache.load(&login_key, &CLOCK), Some(token("login")));
        assert_eq!(cache.load(&key(HOST), &CLOCK), Some(token("a")));
        assert_eq!(cache.registries(&CLOCK), vec![HOST.to_string()]);
        assert_eq!(cache.entries(&CLOCK).len(), 2);
    }

    #[test]
    fn a_write_removes_the_previous_formats_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tokens");
        let legacy = root.join(HOST);
        fs::create_dir_all(&legacy).unwrap();
        fs::write(
            legacy.join("0123.json"),
            br#"{"format":"docker-credential-ecr/token/v2"}"#,
        )
        .unwrap();
        fs::write(legacy.join("0123.lock"), b"").unwrap();
        let kept = root.join("public.ecr.aws");
        fs::create_dir_all(&kept).unwrap();
        fs::write(kept.join("notes.txt"), b"not ours").unwrap();
        let cache = TokenCache::new(&root);
        assert_eq!(cache.load(&key(HOST), &CLOCK), None);
        cache.store(&scope(HOST), &token("a"), &CLOCK).unwrap();
        assert!(!legacy.exists(), "the old per-host directory is gone");
        assert!(kept.join("notes.txt").exists(), "what is not ours stays");
        assert_eq!(cache.load(&key(HOST), &CLOCK), Some(token("a")));
    }

    #[test]
    fn entries_record_their_scope_and_erase_where_picks_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let profile = TokenScope::from(Registry::parse(HOST).unwrap(), &|name| {
            (name == "AWS_PROFILE").then(|| "work".to_string())
        });
        cache
            .store(&scope(HOST), &token("default"), &CLOCK)
            .unwrap();
        cache.store(&profile, &token("work"), &CLOCK).unwrap();
        let mut listed: Vec<(TokenScope, String)> = cache
            .entries(&CLOCK)
            .into_iter()
            .map(|e| (e.scope, e.token.password.expose().to_string()))
            .collect();
        listed.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            listed,
            vec![
                (scope(HOST), "default".into()),
                (profile.clone(), "work".into())
            ]
        );
        let is_work = |s: &TokenScope| s == &profile;
        assert_eq!(cache.erase_where(&CLOCK, is_work).unwrap(), 1);
        assert_eq!(cache.load(&CacheKey::for_scope(&profile), &CLOCK), None);
        assert_eq!(cache.load(&key(HOST), &CLOCK), Some(token("default")));
    }

    #[test]
    fn a_wall_clock_stepped_back_does_not_make_a_token_younger() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let boot = |ms: u64, id: &str| {
            Some(BootStamp {
                boot_id: id.into(),
                since_boot_ms: ms,
            })
        };
        let received = TestClock {
            now: from_millis(1_000_000),
            boot: boot(50_000, "a"),
        };
        cache.store(&scope(HOST), &token("t"), &received).unwrap();
        // 600 s later by the step-free clock, but the wall clock was set back to the receipt.
        let stepped = TestClock {
            now: from_millis(1_000_000),
            boot: boot(650_000, "a"),
        };
        let aged = cache.load(&key(HOST), &stepped).unwrap();
        assert_eq!(aged.received_at, from_millis(400_000));
        assert_eq!(aged.expires_at, from_millis(1_400_000));
        // After a reboot the old reading means nothing: the wall clock alone counts.
        let rebooted = TestClock {
            now: from_millis(1_000_000),
            boot: boot(10, "b"),
        };
        assert_eq!(cache.load(&key(HOST), &rebooted), Some(token("t")));
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let k = key(HOST);
        let held = cache.try_lock(&k).unwrap().expect("free lock");
        assert!(cache.try_lock(&k).unwrap().is_none());
        let waited = cache
            .lock(&k, Deadline::after(Duration::from_millis(30)))
            .unwrap();
        assert!(waited.is_none(), "deadline passes while held");
        drop(held);
        assert!(cache.try_lock(&k).unwrap().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_neither_read_nor_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("product/tokens"));
        cache.store(&scope(HOST), &token("one"), &CLOCK).unwrap();
        let k = key(HOST);
        for shared in [
            dir.path().join("product"),
            dir.path().join("product/tokens"),
            dir.path().join("product/tokens/shared"),
        ] {
            fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
            assert_eq!(cache.load(&k, &CLOCK), None, "{}", shared.display());
            assert!(cache.entries(&CLOCK).is_empty());
            assert!(cache.registries(&CLOCK).is_empty());
            let refused = cache.store(&scope(HOST), &token("two"), &CLOCK);
            assert!(
                matches!(refused, Err(CacheError::Untrusted { ref path, .. }) if *path == shared),
                "{refused:?}"
            );
            assert!(cache.try_lock(&k).is_err());
            assert_eq!(cache.erase_where(&CLOCK, |_| true).unwrap(), 0);
            fs::set_permissions(&shared, fs::Permissions::from_mode(0o700)).unwrap();
            assert_eq!(cache.load(&k, &CLOCK), Some(token("one")));
        }
    }
}
