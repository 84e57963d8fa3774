//! The product's configuration file, `config.json` in the user's config directory: the refresh
//! margin, the key sets (everything about them but their secrets) and the bindings.
//!
//! `get` only reads it (no lock: writers replace it atomically). User commands (`add`,
//! `remove`, `store`) change it under an exclusive lock (`config.json.lock` beside it), through
//! [`ConfigFile::update`], or [`ConfigFile::lock`] when something else (a keychain write) must
//! happen under the same lock: read, change, write to a temp file (0600), fsync, rename, fsync
//! the directory ([`crate::private_fs`]). Keys this version does not know are kept.
//! Secrets never come here: they live in a keychain (`ecr_core::keychain`).
//!
//! # One bad binding breaks one registry
//!
//! Bindings are decoded one by one: an entry that does not parse is set aside as a
//! [`RejectedBinding`] (what it names, why it was refused) and the others work. A registry the
//! rejected entry names is refused rather than served by the default chain (the user meant
//! other credentials for it); [`ConfigFile::update`] refuses to rewrite a file with rejected
//! entries, so a command never drops what the user wrote.
//!
//! # Aliases
//!
//! `aliases` maps a host that is not ECR's own name to the private ECR registry whose token
//! serves it (`{"mirror.corp.example": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}`, see
//! [`crate::alias`]). Entries are decoded one by one as bindings are: one that does not parse
//! is a [`RejectedAlias`], the others work, and the file is not rewritten while it has one.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alias::{AliasHost, alias_target};
use crate::bindings::{Binding, BoundSource, RegistryMatch, binding_for};
use crate::private_fs::{create_private_dir, open_lock_file, write_atomically};
use crate::registry::Registry;

/// Where a key set's secret is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretLocation {
    /// The OS keychain (Secret Service, Keychain, Credential Manager).
    #[default]
    Keychain,
    /// A 0600 file in the config directory: an explicit opt-in for hosts without a keychain.
    File,
}

/// A role to assume with a key set's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleConfig {
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u32>,
}

/// A key set without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySetConfig {
    pub access_key_id: String,
    #[serde(default)]
    pub secret_location: SecretLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleConfig>,
    /// When the keys were added (seconds since the epoch).
    #[serde(default)]
    pub created: u64,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawConfig")]
pub struct ProductConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_sets: BTreeMap<String, KeySetConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    /// Hosts served with another (private ECR) registry's token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<AliasHost, Registry>,
    /// Keys written by other versions, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
    /// Binding entries of the file that do not parse (never written back: see
    /// [`ConfigFile::update`]).
    #[serde(skip)]
    pub rejected_bindings: Vec<RejectedBinding>,
    /// Alias entries of the file that do not parse (never written back either).
    #[serde(skip)]
    pub rejected_aliases: Vec<RejectedAlias>,
}

/// An alias entry that does not parse: its key as written, and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedAlias {
    pub alias: String,
    pub reason: String,
}

impl fmt::Display for RejectedAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alias {:?} in config.json is not valid: {}",
            self.alias, self.reason
        )
    }
}

/// The `aliases` object decoded: the valid entries, and the ones that do not decode.
#[derive(Default)]
struct DecodedAliases {
    valid: BTreeMap<AliasHost, Registry>,
    rejected: Vec<RejectedAlias>,
}

impl DecodedAliases {
    fn decode(entries: serde_json::Map<String, serde_json::Value>) -> DecodedAliases {
        let mut decoded = DecodedAliases::default();
        for (alias, target) in entries {
            let parsed = AliasHost::parse_stored(&alias)
                .map_err(|e| e.to_string())
                .and_then(|host| match target.as_str() {
                    Some(text) => alias_target(text)
                        .map(|registry| (host, registry))
                        .map_err(|e| e.to_string()),
                    None => Err("its target must be a registry host (a string)".to_string()),
                });
            match parsed {
                Ok((host, registry)) => {
                    if decoded.valid.insert(host.clone(), registry).is_some() {
                        decoded.rejected.push(RejectedAlias {
                            alias,
                            reason: format!("{host} is named twice"),
                        });
                    }
                }
                Err(reason) => decoded.rejected.push(RejectedAlias { alias, reason }),
            }
        }
        decoded
    }
}

/// A binding entry that does not parse, and what it names if its registry can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedBinding {
    /// Its position in the file's `bindings` (from 1).
    pub position: usize,
    /// The registry (or pattern) it names, when that part parses.
    pub registry: Option<RegistryMatch>,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for RejectedBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.registry {
            Some(registry) => write!(
                f,
                "binding {} (of {registry}) in config.json is not valid: {}",
                self.position, self.reason
            ),
            None => write!(
                f,
                "binding {} in config.json is not valid: {}",
                self.position, self.reason
            ),
        }
    }
}

/// The file as read, by [`RawConfigVisitor`] (not `#[serde(flatten)]`, which buffers the whole
/// document into an intermediate tree first): this runs on every `get`, and a config with
/// hundreds of bindings must cost a `get` next to nothing. The `bindings` array is borrowed as
/// raw text, so a [`ProductConfig`] decodes from JSON text in memory (`serde_json::from_slice`,
/// `from_str`, as [`ConfigFile::load`] does), not from a reader or a `serde_json::Value`.
struct RawConfig {
    refresh_margin: Option<String>,
    key_sets: BTreeMap<String, KeySetConfig>,
    bindings: DecodedBindings,
    aliases: DecodedAliases,
    other: serde_json::Map<String, serde_json::Value>,
}

/// The `bindings` array decoded: the valid entries, and the ones that do not decode.
#[derive(Default)]
struct DecodedBindings {
    valid: Vec<Binding>,
    rejected: Vec<RejectedBinding>,
}

impl DecodedBindings {
    /// Decodes the array `text`: in one typed pass when every entry is valid (the usual case),
    /// else entry by entry, so that one bad entry costs only itself. Not an array: an error.
    fn decode(text: &str) -> Result<DecodedBindings, serde_json::Error> {
        // The fast path only when the entries hold no duplicate key (which a JSON value, below,
        // resolves as the last one, and typed decoding refuses).
        if let Ok(valid) = serde_json::from_str::<Vec<Binding>>(text) {
            return Ok(DecodedBindings {
                valid,
                rejected: Vec::new(),
            });
        }
        // Entry by entry, each through a JSON value (as before the fast path: a duplicate key
        // in an entry keeps its last value, and a reason carries no position of the entry's own).
        let entries = serde_json::from_str::<Vec<serde_json::Value>>(text)?;
        let mut decoded = DecodedBindings::default();
        for (index, entry) in entries.into_iter().enumerate() {
            // The registry is read apart only to name an entry that does not decode.
            let registry = || {
                entry
                    .get("registry")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|text| RegistryMatch::parse(text).ok())
            };
            match Binding::deserialize(&entry) {
                Ok(binding) => decoded.valid.push(binding),
                Err(e) => decoded.rejected.push(RejectedBinding {
                    position: index + 1,
                    registry: registry(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(decoded)
    }
}

impl<'de> Deserialize<'de> for RawConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawConfigVisitor)
    }
}

struct RawConfigVisitor;

impl<'de> serde::de::Visitor<'de> for RawConfigVisitor {
    type Value = RawConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the product config (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
        use serde::de::Error;
        let mut refresh_margin = None;
        let mut key_sets = None;
        let mut bindings = None;
        let mut aliases = None;
        let mut other = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "refresh_margin" if refresh_margin.is_none() => {
                    refresh_margin = Some(map.next_value::<Option<String>>()?);
                }
                "key_sets" if key_sets.is_none() => key_sets = Some(map.next_value()?),
                "bindings" if bindings.is_none() => {
                    let text = map.next_value::<&serde_json::value::RawValue>()?;
                    let decoded = DecodedBindings::decode(text.get())
                        .map_err(|_| A::Error::custom("`bindings` must be an array of bindings"))?;
                    bindings = Some(decoded);
                }
                "aliases" if aliases.is_none() => {
                    let entries = map
                        .next_value::<serde_json::Map<String, serde_json::Value>>()
                        .map_err(|_| A::Error::custom("`aliases` must be an object"))?;
                    aliases = Some(DecodedAliases::decode(entries));
                }
                "refresh_margin" | "key_sets" | "bindings" | "aliases" => {
                    return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                }
                _ => {
                    let value = map.next_value()?;
                    other.insert(key, value);
                }
            }
        }
        Ok(RawConfig {
            refresh_margin: refresh_margin.flatten(),
            key_sets: key_sets.unwrap_or_default(),
            bindings: bindings.unwrap_or_default(),
            aliases: aliases.unwrap_or_default(),
            other,
        })
    }
}

impl From<RawConfig> for ProductConfig {
    fn from(raw: RawConfig) -> ProductConfig {
        ProductConfig {
            refresh_margin: raw.refresh_margin,
            key_sets: raw.key_sets,
            bindings: raw.bindings.valid,
            aliases: raw.aliases.valid,
            other: raw.other,
            rejected_bindings: raw.bindings.rejected,
            rejected_aliases: raw.aliases.rejected,
        }
    }
}

impl ProductConfig {
    /// The rejected binding entry that keeps `registry` from being served, if any: such a
    /// registry must not fall back to other credentials. That is an entry naming its host; a
    /// pattern matching it, unless a valid binding names its exact host (exact hosts win over
    /// patterns, as in [`binding_for`]); or, failing closed, an entry whose registry cannot be
    /// read at all, unless a valid binding serves the registry.
    pub fn rejected_binding_for(&self, registry: &Registry) -> Option<&RejectedBinding> {
        let names = |r: &&RejectedBinding, pattern: bool| {
            r.registry
                .as_ref()
                .is_some_and(|m| m.is_pattern() == pattern && m.matches(registry))
        };
        let valid = self.binding_for(registry);
        let exact_valid = valid.is_some_and(|b| !b.registry.is_pattern());
        let rejected = &self.rejected_bindings;
        rejected
            .iter()
            .find(|r| names(r, false))
            .or_else(|| (!exact_valid).then(|| rejected.iter().find(|r| names(r, true)))?)
            .or_else(|| {
                valid
                    .is_none()
                    .then(|| rejected.iter().find(|r| r.registry.is_none()))?
            })
    }

    /// The binding serving `registry`, if any (exact host, then pattern).
    pub fn binding_for(&self, registry: &Registry) -> Option<&Binding> {
        binding_for(&self.bindings, registry)
    }

    /// The registry whose token serves `address`, when `address` is an alias (the exact host
    /// and port docker sends); `None` for anything else.
    pub fn alias_target(&self, address: &str) -> Option<&Registry> {
        let host = AliasHost::parse(address).ok()?;
        self.aliases.get(&host)
    }

    /// The rejected alias entry naming `address`, if any: such a host is refused rather than
    /// answered "not found" (the user meant it to be served).
    pub fn rejected_alias_for(&self, address: &str) -> Option<&RejectedAlias> {
        let host = AliasHost::parse(address).ok()?;
        self.rejected_aliases
            .iter()
            .find(|r| AliasHost::parse(&r.alias).is_ok_and(|h| h == host))
    }

    /// What the config says of `address` as an alias: the registry serving it, `None` when it
    /// names no alias for it, or the rejected entry naming it (refused rather than answered
    /// "not found": the user meant it to be served).
    pub fn alias_entry(&self, address: &str) -> Result<Option<&Registry>, &RejectedAlias> {
        match self.rejected_alias_for(address) {
            Some(rejected) => Err(rejected),
            None => Ok(self.alias_target(address)),
        }
    }

    /// The aliases served with `registry`'s token.
    pub fn aliases_of<'a>(&'a self, registry: &'a Registry) -> impl Iterator<Item = &'a AliasHost> {
        self.aliases
            .iter()
            .filter(move |(_, target)| *target == registry)
            .map(|(alias, _)| alias)
    }

    /// Whether any binding still uses key set `name`.
    pub fn key_set_in_use(&self, name: &str) -> bool {
        self.bindings
            .iter()
            .any(|b| b.source == BoundSource::KeySet(name.to_string()))
    }
}

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid docker-credential-ecr config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing to rewrite {path}: {first} ({count} invalid binding(s) in all); fix or delete them by hand first"
    )]
    Unparsed {
        path: PathBuf,
        first: RejectedBinding,
        count: usize,
    },
    #[error(
        "refusing to rewrite {path}: {first} ({count} invalid alias(es) in all); fix or delete them by hand first"
    )]
    UnparsedAlias {
        path: PathBuf,
        first: RejectedAlias,
        count: usize,
    },
}

/// The config file at one path.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    pub fn new(path: impl Into<PathBuf>) -> ConfigFile {
        ConfigFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration; defaults when the file does not exist.
    pub fn load(&self) -> Result<ProductConfig, ConfigError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProductConfig::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ProductConfig::default());
        }
        serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse {
            path: self.path.clone(),
            source,
        })
    }

    /// Takes the exclusive lock of the file (waiting for another writer to finish): every
    /// change made through the returned [`LockedConfig`] until it drops is one step to other
    /// writers.
    pub fn lock(&self) -> Result<LockedConfig<'_>, ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(write_err)?;
        let lock = open_lock_file(&self.path.with_extension("json.lock")).map_err(write_err)?;
        lock.lock().map_err(write_err)?;
        Ok(LockedConfig {
            file: self,
            _lock: lock,
        })
    }

    /// Changes the configuration under an exclusive lock: `change` sees the current contents;
    /// when it returns `Ok`, the result is written durably (0600). When it fails, nothing is
    /// written.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut ProductConfig) -> Result<T, E>,
    ) -> Result<Result<T, E>, ConfigError> {
        let locked = self.lock()?;
        let mut config = locked.load()?;
        let outcome = change(&mut config);
        if outcome.is_ok() {
            locked.save(&config)?;
        }
        Ok(outcome)
    }
}

/// The config file while this process holds its lock (released on drop).
#[derive(Debug)]
pub struct LockedConfig<'a> {
    file: &'a ConfigFile,
    _lock: File,
}

impl LockedConfig<'_> {
    /// The configuration as it is now, to be changed; nobody else can change it while the lock
    /// is held. Refused when some bindings did not parse: saving would drop them.
    pub fn load(&self) -> Result<ProductConfig, ConfigError> {
        let config = self.file.load()?;
        if let Some(first) = config.rejected_bindings.first() {
            return Err(ConfigError::Unparsed {
                path: self.file.path.clone(),
                first: first.clone(),
                count: config.rejected_bindings.len(),
            });
        }
        if let Some(first) = config.rejected_aliases.first() {
            return Err(ConfigError::UnparsedAlias {
                path: self.file.path.clone(),
                first: first.clone(),
                count: config.rejected_aliases.len(),
            });
        }
        Ok(config)
    }

    /// Replaces the file with `config`: 0600, synced, renamed, the directory synced.
    pub fn save(&self, config: &ProductConfig) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: self.file.path.clone(),
            source,
        };
        let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| write_err(e.into()))?;
        bytes.push(b'\n');
        write_atomically(&self.file.path, &bytes).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_decode_in_one_pass_or_entry_by_entry_and_must_be_an_array() {
        let parse = |text: &str| serde_json::from_str::<ProductConfig>(text);
        let good = r#"{"bindings": [
            {"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": "default_chain"},
            {"registry": "210987654321.dkr.ecr.*.amazonaws.com", "source": {"profile": "p"}}
        ]}"#;
        let config = parse(good).unwrap();
        assert_eq!(config.bindings.len(), 2);
        assert!(config.rejected_bindings.is_empty());
        let one_bad = r#"{"bindings": [
            {"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": "default_chain"},
            {"registry": "210987654321.dkr.ecr.eu-west-1.amazonaws.com", "source": {"nope": 1}}
        ]}"#;
        let config = parse(one_bad).unwrap();
        assert_eq!(config.bindings.len(), 1);
        assert_eq!(config.rejected_bindings.len(), 1);
        assert_eq!(config.rejected_bindings[0].position, 2);
        assert_eq!(
            config.rejected_bindings[0]
                .registry
                .as_ref()
                .map(|r| r.to_string()),
            Some("210987654321.dkr.ecr.eu-west-1.amazonaws.com".into())
        );
        for not_an_array in [r#"{"bindings": 5}"#, r#"{"bindings": {"a": 1}}"#] {
            assert!(parse(not_an_array).is_err(), "{not_an_array}");
        }
        assert!(
            parse(r#"{"bindings": [], "bindings": []}"#).is_err(),
            "a duplicate field"
        );
    }

    #[test]
    fn a_binding_entry_with_a_duplicate_key_keeps_its_last_value() {
        let twice = r#"{"bindings": [{"registry": "x", "registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": "default_chain"}]}"#;
        let config = serde_json::from_str::<ProductConfig>(twice).unwrap();
        assert_eq!(config.bindings.len(), 1, "{:?}", config.rejected_bindings);
        assert_eq!(
            config.bindings[0].registry.to_string(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        let bad = r#"{"bindings": [{"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": {"nope": 1}}]}"#;
        let config = serde_json::from_str::<ProductConfig>(bad).unwrap();
        let reason = &config.rejected_bindings[0].reason;
        assert!(
            !reason.contains("line 1"),
            "no entry-relative position: {reason}"
        );
    }

    fn sample() -> ProductConfig {
        let mut config = ProductConfig {
            refresh_margin: Some("30m".into()),
            ..Default::default()
        };
        config.key_sets.insert(
            "acme".into(),
            KeySetConfig {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_location: SecretLocation::Keychain,
                role: Some(RoleConfig {
                    arn: "arn:aws:iam::123456789012:role/pull".into(),
                    external_id: Some("x-1".into()),
                    session_name: None,
                    duration_secs: None,
                }),
                created: 1_800_000_000,
            },
        );
        config.bindings.push(Binding {
            registry: RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com").unwrap(),
            source: BoundSource::KeySet("acme".into()),
        });
        config
    }

    #[test]
    fn update_writes_atomically_and_load_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("cfg/config.json"));
        assert_eq!(file.load().unwrap(), ProductConfig::default());
        file.update(|c| {
            *c = sample();
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(file.load().unwrap(), sample());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(
            text.contains("\"access_key_id\": \"AKIAIOSFODNN7EXAMPLE\""),
            "{text}"
        );
        assert!(
            !text.contains("secret_access_key"),
            "the config never holds a secret: {text}"
        );
    }

    #[test]
    fn a_failed_change_writes_nothing_and_unknown_keys_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"future": {"x": 1}, "refresh_margin": "1h"}"#).unwrap();
        let file = ConfigFile::new(&path);
        let before = fs::read(&path).unwrap();
        let outcome = file.update(|c| {
            c.refresh_margin = None;
            Err::<(), _>("refused")
        });
        assert_eq!(outcome.unwrap(), Err("refused"));
        assert_eq!(fs::read(&path).unwrap(), before);
        file.update(|c| {
            c.key_sets = sample().key_sets;
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.other["future"], serde_json::json!({"x": 1}));
        assert_eq!(loaded.refresh_margin.as_deref(), Some("1h"));
    }

    #[test]
    fn a_change_made_under_the_lock_is_one_step_to_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.json"));
        let key_set = |id: &str| KeySetConfig {
            access_key_id: id.into(),
            secret_location: SecretLocation::File,
            role: None,
            created: 0,
        };
        let locked = file.lock().unwrap();
        let mut config = locked.load().unwrap();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                file.update(|c| {
                    c.key_sets
                        .insert("b".into(), key_set("AKIAI44QH8DHBEXAMPLE"));
                    Ok::<_, ()>(())
                })
            });
            // Whatever the other writer does meanwhile waits for the lock (the pause only
            // gives it the chance to run first were there no lock).
            std::thread::sleep(std::time::Duration::from_millis(50));
            config
                .key_sets
                .insert("a".into(), key_set("AKIAIOSFODNN7EXAMPLE"));
            locked.save(&config).unwrap();
            drop(locked);
            other.join().unwrap().unwrap().unwrap();
        });
        let names: Vec<String> = file.load().unwrap().key_sets.into_keys().collect();
        assert_eq!(names, ["a", "b"]);
        let left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{broken").unwrap();
        let file = ConfigFile::new(&path);
        assert!(matches!(file.load(), Err(ConfigError::Parse { .. })));
        assert!(file.update(|_| Ok::<_, ()>(())).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{broken");
    }

    #[test]
    fn a_bad_binding_is_set_aside_and_the_others_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let text = r#"{"bindings": [
            {"registry": "example.com", "source": "default_chain"},
            {"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": {"key_sett": "acme"}},
            {"registry": "210987654321.dkr.ecr.*.amazonaws.com", "source": {"profile": "work"}},
            42
        ]}"#;
        fs::write(&path, text).unwrap();
        let file = ConfigFile::new(&path);
        let config = file.load().expect("bad entries do not fail the file");
        assert_eq!(config.bindings.len(), 1);
        assert_eq!(
            config.bindings[0].source,
            BoundSource::Profile("work".into())
        );
        let positions: Vec<usize> = config
            .rejected_bindings
            .iter()
            .map(|r| r.position)
            .collect();
        assert_eq!(positions, [1, 2, 4]);
        let named = Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        let rejected = config
            .rejected_binding_for(&named)
            .expect("names its registry");
        assert_eq!(rejected.position, 2);
        assert!(rejected.to_string().contains("binding 2"), "{rejected}");
        let other = Registry::parse("210987654321.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert!(config.rejected_binding_for(&other).is_none());
        assert!(config.binding_for(&other).is_some());
        // Entries whose registry cannot be read might have named any registry: one that no
        // valid binding serves is refused, not handed to the default chain.
        let unbound = Registry::parse("111122223333.dkr.ecr.us-west-2.amazonaws.com").unwrap();
        let closed = config.rejected_binding_for(&unbound).expect("fails closed");
        assert_eq!(closed.position, 1);

        // A command never rewrites the file, which would drop the user's entries.
        let refused = file.update(|_| Ok::<_, ()>(()));
        assert!(
            matches!(refused, Err(ConfigError::Unparsed { count: 3, .. })),
            "{refused:?}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_valid_exact_binding_wins_over_a_rejected_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let text = r#"{"bindings": [
            {"registry": "123456789012.dkr.ecr.*.amazonaws.com", "source": {"key_sett": "acme"}},
            {"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "source": {"profile": "work"}}
        ]}"#;
        fs::write(&path, text).unwrap();
        let config = ConfigFile::new(&path).load().unwrap();
        let exact = Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        assert!(config.rejected_binding_for(&exact).is_none());
        let by_pattern = Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            config.rejected_binding_for(&by_pattern).map(|r| r.position),
            Some(1)
        );
    }

    #[test]
    fn aliases_round_trip_and_a_bad_one_is_kept_aside_never_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let file = ConfigFile::new(&path);
        fs::write(&path, r#"{"future": [1, 2]}"#).unwrap();
        let target = Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        file.update(|c| {
            let alias = AliasHost::parse("mirror.corp.example:5000").unwrap();
            c.aliases.insert(alias, target.clone());
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(
                r#""mirror.corp.example:5000": "123456789012.dkr.ecr.us-east-1.amazonaws.com""#
            ),
            "{text}"
        );
        let loaded = file.load().unwrap();
        assert_eq!(loaded.other["future"], serde_json::json!([1, 2]));
        assert_eq!(
            loaded.alias_target("https://MIRROR.corp.example:5000/v2/"),
            Some(&target)
        );
        assert_eq!(
            loaded.alias_target("mirror.corp.example"),
            None,
            "the port counts"
        );
        assert_eq!(loaded.aliases_of(&target).count(), 1);

        let bad = r#"{"aliases": {
            "mirror.corp.example": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "other.corp.example": "public.ecr.aws",
            "third.corp.example": 7
        }}"#;
        fs::write(&path, bad).unwrap();
        let config = file.load().expect("bad entries do not fail the file");
        assert_eq!(config.aliases.len(), 1);
        assert_eq!(
            config.rejected_aliases.len(),
            3,
            "{:?}",
            config.rejected_aliases
        );
        assert!(config.rejected_alias_for("other.corp.example").is_some());
        assert!(config.rejected_alias_for("mirror.corp.example").is_none());
        let refused = file.update(|_| Ok::<_, ()>(()));
        assert!(
            matches!(refused, Err(ConfigError::UnparsedAlias { count: 3, .. })),
            "{refused:?}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        assert!(
            serde_json::from_str::<ProductConfig>(r#"{"aliases": ["x"]}"#).is_err(),
            "not an object"
        );
    }
}
