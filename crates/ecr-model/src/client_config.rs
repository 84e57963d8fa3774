//! Routing ECR registries to the helper in the config files of container clients: docker's
//! `config.json`, the containers `auth.json` (podman, skopeo, buildah) and Helm's registry config.
//!
//! All three share docker's format, where `"credHelpers": {"<host>": "<name>"}` makes the client
//! run `docker-credential-<name>` for that exact host.
//!
//! # What this module owns
//!
//! * Where each client keeps that file, from the environment and the home directory
//!   ([`ClientConfig::docker`], [`ClientConfig::containers`], [`ClientConfig::helm`]).
//! * Adding, removing and reading `credHelpers` entries ([`ClientConfig::route`],
//!   [`ClientConfig::unroute`], [`ClientConfig::routed`]), and noticing what would shadow them
//!   ([`ShadowWarning`]).
//! * Writing safely: every other key and value is kept (in its order); a run that changes nothing
//!   writes nothing. A change is a read-modify-write under an exclusive lock, so concurrent
//!   `configure-docker`, `add` and `remove` runs keep each other's entries. It first keeps the
//!   user's file as it was before this product ever changed it, once, as `<file>.orig` (never
//!   overwritten after), copies the previous version to `<file>.bak`, then replaces the file
//!   durably ([`crate::private_fs`]: temp file in the same directory, fsync, rename, fsync of
//!   the directory; a killed writer's temp file is swept by the next write), with the file's
//!   permissions (0600 for a new file, in directories created 0700).
//! * Symbolic links: a symlinked file is written through to its target, so a dotfile manager's
//!   link stays a link. The lock is `<target>.lock` beside the target, the file actually
//!   replaced: two writers reaching one file through different paths (the link, or
//!   `DOCKER_CONFIG` pointing into the dotfiles) then still exclude each other, which a lock
//!   beside each path would not. `.orig` and `.bak` go beside the path the user has, where they
//!   look for them.
//!
//! # What this module never does
//!
//! It never touches a file it cannot fully understand: invalid JSON, a top level that is not an
//! object or a `credHelpers` that is not an object is an error naming the file, and the file is
//! left as it was. It never writes `credsStore`, never removes an entry that names another
//! helper, never routes a pattern (`*.dkr.ecr…`: docker matches hosts exactly) and never writes
//! `$XDG_RUNTIME_DIR/containers/auth.json` (wiped at every boot).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alias::AliasHost;
use crate::registry::{NotEcr, Registry};

/// The key of the host-to-helper map in every client's config.
const CRED_HELPERS: &str = "credHelpers";
/// The key naming the one store used for every host not in `credHelpers`.
const CREDS_STORE: &str = "credsStore";
/// The key of stored logins (`docker login`, `podman login`).
const AUTHS: &str = "auths";
/// Symbolic links followed before giving up (as Linux's `ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// The name clients know this helper by: a `credHelpers` value `ecr` runs
/// `docker-credential-ecr`.
pub const HELPER: &str = "ecr";

/// The clients whose config files name credential helpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// The docker CLI (and compose, buildx, crane and other tools that read its config).
    Docker,
    /// The containers tools: podman, skopeo and buildah (`containers-auth.json(5)`).
    Containers,
    /// Helm's OCI registry support.
    Helm,
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientKind::Docker => "docker",
            ClientKind::Containers => "podman",
            ClientKind::Helm => "helm",
        })
    }
}

/// One client's config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    kind: ClientKind,
    path: PathBuf,
}

/// What [`ClientConfig::route`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteReport {
    /// Hosts that had no `credHelpers` entry and now have one.
    pub added: Vec<String>,
    /// Hosts already routed to the helper.
    pub unchanged: Vec<String>,
    /// Hosts that were routed to another helper: `(host, previous helper)`.
    pub replaced: Vec<(String, String)>,
    /// What in the file may keep a client from asking the helper.
    pub warnings: Vec<ShadowWarning>,
    /// Where the previous version was copied, when the file changed and existed before.
    pub backup: Option<PathBuf>,
}

impl RouteReport {
    /// Whether the file was written.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.replaced.is_empty()
    }
}

/// Something in a config file that may answer instead of the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShadowWarning {
    /// The containers `auth.json` holds a stored login (`auths`) for the host or one of its
    /// repositories: podman, skopeo and buildah may serve that static password, which expires
    /// within 12 hours, instead of asking the helper.
    AuthsEntry { host: String },
    /// A `credsStore` answers for every registry not listed in `credHelpers`, including ECR
    /// registries not routed here.
    CredsStore { store: String },
}

impl fmt::Display for ShadowWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShadowWarning::AuthsEntry { host } => write!(
                f,
                "a stored login (\"auths\") for {host} may be used instead of the helper; \
                 remove it with `podman logout {host}`"
            ),
            ShadowWarning::CredsStore { store } => write!(
                f,
                "\"credsStore\": \"{store}\" still answers for every registry not listed in \
                 \"credHelpers\" (other ECR registries included)"
            ),
        }
    }
}

/// Why a config file could not be read or changed. Nothing was written when this is returned,
/// except the backup before a [`ClientConfigError::Write`].
///
/// The messages name the file; the underlying cause is the error's `source()`, so print the
/// whole chain (`{:#}` with anyhow).
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error(
        "{host:?} is a pattern: clients route credential helpers by exact host, so name each registry"
    )]
    Pattern { host: String },
    #[error(transparent)]
    NotEcr(#[from] NotEcr),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON, so it was left unchanged")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} does not hold a JSON object at its top level; it was left unchanged")]
    NotAnObject { path: PathBuf },
    #[error("\"credHelpers\" in {path} is not a JSON object; it was left unchanged")]
    CredHelpersNotAnObject { path: PathBuf },
    #[error("cannot create the directory {path}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot back up {path} to {backup}, so it was left unchanged")]
    Backup {
        path: PathBuf,
        backup: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path} to change it")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Turns what the user typed into canonical ECR registry hosts, in order and without duplicates;
/// refuses patterns and anything that is not an ECR registry.
pub fn canonical_hosts(hosts: &[String]) -> Result<Vec<String>, ClientConfigError> {
    let mut canonical: Vec<String> = Vec::with_capacity(hosts.len());
    for host in hosts {
        if host.contains('*') {
            return Err(ClientConfigError::Pattern { host: host.clone() });
        }
        let registry = Registry::parse(host)?;
        if !canonical.iter().any(|h| h == registry.host()) {
            canonical.push(registry.host().to_string());
        }
    }
    Ok(canonical)
}

impl ClientConfig {
    /// A config file of `kind` at `path`.
    pub fn new(kind: ClientKind, path: impl Into<PathBuf>) -> ClientConfig {
        ClientConfig {
            kind,
            path: path.into(),
        }
    }

    /// Docker's: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn docker(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> ClientConfig {
        let dir = var(env, "DOCKER_CONFIG").unwrap_or_else(|| home.join(".docker"));
        ClientConfig::new(ClientKind::Docker, dir.join("config.json"))
    }

    /// The containers tools': `$REGISTRY_AUTH_FILE`, else `$XDG_CONFIG_HOME/containers/auth.json`,
    /// else `~/.config/containers/auth.json`. Never `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// where `podman login` writes: it is wiped at every boot.
    pub fn containers(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> ClientConfig {
        let path = var(env, "REGISTRY_AUTH_FILE").unwrap_or_else(|| {
            xdg_config_home(env, home)
                .join("containers")
                .join("auth.json")
        });
        ClientConfig::new(ClientKind::Containers, path)
    }

    /// Helm's registry config: `$HELM_REGISTRY_CONFIG`, else
    /// `$HELM_CONFIG_HOME/registry/config.json`, else `$XDG_CONFIG_HOME/helm/registry/config.json`,
    /// else Helm's default config home (`~/.config/helm` on Linux) + `registry/config.json`.
    pub fn helm(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> ClientConfig {
        let path = var(env, "HELM_REGISTRY_CONFIG").unwrap_or_else(|| {
            let config_home = var(env, "HELM_CONFIG_HOME").unwrap_or_else(|| {
                var(env, "XDG_CONFIG_HOME")
                    .map(|dir| dir.join("helm"))
                    .unwrap_or_else(|| helm_default_config_home(env, home))
            });
            config_home.join("registry").join("config.json")
        });
        ClientConfig::new(ClientKind::Helm, path)
    }

    /// Which client reads this file.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// The file, as the client names it (a symlink stays a symlink).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where [`ClientConfig::route`] and [`ClientConfig::unroute`] copy the previous version.
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".bak")
    }

    /// Where the file as it was before this product first changed it is kept, once.
    pub fn original_path(&self) -> PathBuf {
        with_suffix(&self.path, ".orig")
    }

    /// Reads the file and checks it could be changed: a way to refuse early, before another
    /// client's file is written.
    pub fn check(&self) -> Result<(), ClientConfigError> {
        self.load().map(drop)
    }

    /// Adds `credHelpers: {host: helper}` for each of `hosts` (`helper` is `ecr` for
    /// `docker-credential-ecr`), replacing an entry naming another helper. Writes nothing, and
    /// takes no lock, when every host is already routed to `helper` (a read-only config that
    /// routes them already is fine).
    pub fn route(&self, hosts: &[String], helper: &str) -> Result<RouteReport, ClientConfigError> {
        self.route_canonical(&canonical_hosts(hosts)?, helper)
    }

    /// [`Self::route`] for registry aliases ([`crate::alias`]): hosts that are not ECR, which
    /// the product config says an ECR registry's token serves.
    pub fn route_aliases(
        &self,
        aliases: &[AliasHost],
        helper: &str,
    ) -> Result<RouteReport, ClientConfigError> {
        let hosts: Vec<String> = aliases.iter().map(|a| a.as_str().to_string()).collect();
        self.route_canonical(&hosts, helper)
    }

    /// [`Self::unroute`] for registry aliases.
    pub fn unroute_aliases(
        &self,
        aliases: &[AliasHost],
        helper: &str,
    ) -> Result<Vec<String>, ClientConfigError> {
        let hosts: Vec<String> = aliases.iter().map(|a| a.as_str().to_string()).collect();
        self.unroute_canonical(&hosts, helper)
    }

    fn route_canonical(
        &self,
        hosts: &[String],
        helper: &str,
    ) -> Result<RouteReport, ClientConfigError> {
        let mut doc = self.load()?;
        let report = self.apply_route(&mut doc, hosts, helper);
        if !report.changed() {
            return Ok(report);
        }
        let edit = self.begin_edit()?;
        let mut doc = self.load_from(&edit.target)?;
        let mut report = self.apply_route(&mut doc, hosts, helper);
        if report.changed() {
            report.backup = self.save(&edit, &doc)?;
        }
        Ok(report)
    }

    fn apply_route(&self, doc: &mut Document, hosts: &[String], helper: &str) -> RouteReport {
        let mut report = RouteReport::default();
        {
            let helpers = doc.cred_helpers_mut();
            for host in hosts {
                match helpers.insert(host.clone(), Value::from(helper)) {
                    None => report.added.push(host.clone()),
                    Some(Value::String(previous)) if previous == helper => {
                        report.unchanged.push(host.clone())
                    }
                    Some(Value::String(previous)) => report.replaced.push((host.clone(), previous)),
                    Some(other) => report.replaced.push((host.clone(), other.to_string())),
                }
            }
        }
        report.warnings = self.shadow_warnings(doc, &report, helper);
        report
    }

    /// Removes the `credHelpers` entries of `hosts` whose value is `helper`, leaving entries
    /// naming another helper alone; returns the hosts removed. Writes nothing, and takes no
    /// lock, when none was there.
    pub fn unroute(
        &self,
        hosts: &[String],
        helper: &str,
    ) -> Result<Vec<String>, ClientConfigError> {
        self.unroute_canonical(&canonical_hosts(hosts)?, helper)
    }

    fn unroute_canonical(
        &self,
        hosts: &[String],
        helper: &str,
    ) -> Result<Vec<String>, ClientConfigError> {
        let mut doc = self.load()?;
        if !doc.existed || apply_unroute(&mut doc, hosts, helper).is_empty() {
            // Nothing to unroute, and no lock file to leave beside a file left as it is.
            return Ok(Vec::new());
        }
        let edit = self.begin_edit()?;
        let mut doc = self.load_from(&edit.target)?;
        let removed = apply_unroute(&mut doc, hosts, helper);
        if !removed.is_empty() {
            self.save(&edit, &doc)?;
        }
        Ok(removed)
    }

    /// Which of `hosts` are routed to `helper` in the file now (canonical hosts). An absent file
    /// routes nothing.
    pub fn routed(&self, hosts: &[String], helper: &str) -> Result<Vec<String>, ClientConfigError> {
        let hosts = canonical_hosts(hosts)?;
        let doc = self.load()?;
        let helpers = doc.root.get(CRED_HELPERS).and_then(Value::as_object);
        Ok(hosts
            .into_iter()
            .filter(|host| {
                helpers.and_then(|h| h.get(host)).and_then(Value::as_str) == Some(helper)
            })
            .collect())
    }

    fn shadow_warnings(
        &self,
        doc: &Document,
        report: &RouteReport,
        helper: &str,
    ) -> Vec<ShadowWarning> {
        let mut warnings = Vec::new();
        if self.kind == ClientKind::Containers
            && let Some(auths) = doc.root.get(AUTHS).and_then(Value::as_object)
        {
            let routed = report
                .added
                .iter()
                .chain(&report.unchanged)
                .chain(report.replaced.iter().map(|(host, _)| host));
            for host in routed {
                if auths.keys().any(|key| auths_key_names(key, host)) {
                    warnings.push(ShadowWarning::AuthsEntry { host: host.clone() });
                }
            }
        }
        if let Some(store) = doc.root.get(CREDS_STORE).and_then(Value::as_str)
            && !store.is_empty()
            && store != helper
        {
            warnings.push(ShadowWarning::CredsStore {
                store: store.to_string(),
            });
        }
        warnings
    }

    /// The file's JSON object; `{}` when it is absent, empty or only whitespace.
    fn load(&self) -> Result<Document, ClientConfigError> {
        self.load_from(&self.path)
    }

    /// [`ClientConfig::load`] from `file`: the path or its symlinks' target (errors name the
    /// path).
    fn load_from(&self, file: &Path) -> Result<Document, ClientConfigError> {
        let bytes = match fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Document {
                    root: Map::new(),
                    existed: false,
                });
            }
            Err(source) => {
                return Err(ClientConfigError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Document {
                root: Map::new(),
                existed: true,
            });
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|source| ClientConfigError::Parse {
                path: self.path.clone(),
                source,
            })?;
        let Value::Object(root) = value else {
            return Err(ClientConfigError::NotAnObject {
                path: self.path.clone(),
            });
        };
        if root.get(CRED_HELPERS).is_some_and(|v| !v.is_object()) {
            return Err(ClientConfigError::CredHelpersNotAnObject {
                path: self.path.clone(),
            });
        }
        Ok(Document {
            root,
            existed: true,
        })
    }

    /// Takes the file's lock, `<target>.lock` beside the file the symlinks end at (see the
    /// module docs), creating the target's directory (0700) if needed.
    fn begin_edit(&self) -> Result<Edit, ClientConfigError> {
        let target = resolve_symlinks(&self.path).map_err(|source| ClientConfigError::Write {
            path: self.path.clone(),
            source,
        })?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&dir)?;
        let lock_path = with_suffix(&target, ".lock");
        let lock_err = |source| ClientConfigError::Lock {
            path: self.path.clone(),
            source,
        };
        let lock = crate::private_fs::open_lock_file(&lock_path).map_err(lock_err)?;
        lock.lock().map_err(lock_err)?;
        Ok(Edit {
            target,
            dir,
            _lock: lock,
        })
    }

    /// Keeps the original (once) and the previous version, then replaces the file's target
    /// durably; returns the backup's path when there was a previous version.
    fn save(&self, edit: &Edit, doc: &Document) -> Result<Option<PathBuf>, ClientConfigError> {
        let mode = existing_mode(&edit.target);
        let backup = if doc.existed {
            Some(self.back_up(&edit.target, mode)?)
        } else {
            None
        };
        let bytes = render(&doc.root).map_err(|source| ClientConfigError::Write {
            path: edit.target.clone(),
            source,
        })?;
        crate::private_fs::write_atomically_in(&edit.dir, &edit.target, &bytes, mode).map_err(
            |source| ClientConfigError::Write {
                path: edit.target.clone(),
                source,
            },
        )?;
        Ok(backup)
    }

    /// Copies `target` (the file's real location) to [`ClientConfig::original_path`] unless
    /// it exists, then to [`ClientConfig::backup_path`], with the file's permissions.
    fn back_up(&self, target: &Path, mode: Option<u32>) -> Result<PathBuf, ClientConfigError> {
        let backup = self.backup_path();
        let error = |backup: &Path| {
            let backup = backup.to_path_buf();
            move |source| ClientConfigError::Backup {
                path: self.path.clone(),
                backup,
                source,
            }
        };
        let bytes = fs::read(target).map_err(error(&backup))?;
        let original = self.original_path();
        crate::private_fs::create_once(&original, &bytes, mode).map_err(error(&original))?;
        let dir = match backup.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // The backup is replaced, never written through: it is ours, not a dotfile's link.
        crate::private_fs::write_atomically_in(&dir, &backup, &bytes, mode)
            .map_err(error(&backup))?;
        Ok(backup)
    }
}

/// A change in progress: the file's lock is held until it drops.
struct Edit {
    /// The file the symlinks end at, which is read and replaced.
    target: PathBuf,
    /// Its directory, where the temp file goes.
    dir: PathBuf,
    _lock: fs::File,
}

/// `path` with `suffix` appended to its file name: `config.json` -> `config.json.bak`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A parsed config file.
struct Document {
    root: Map<String, Value>,
    /// Whether the file existed (then a change backs it up first).
    existed: bool,
}

impl Document {
    /// `credHelpers`, added at the end when absent; [`ClientConfig::load`] checked its type.
    fn cred_helpers_mut(&mut self) -> &mut Map<String, Value> {
        let value = self
            .root
            .entry(CRED_HELPERS)
            .or_insert_with(|| Value::Object(Map::new()));
        match value {
            Value::Object(map) => map,
            _ => unreachable!("load() refuses a credHelpers that is not an object"),
        }
    }

    fn cred_helpers_mut_if_present(&mut self) -> Option<&mut Map<String, Value>> {
        self.root
            .get_mut(CRED_HELPERS)
            .and_then(Value::as_object_mut)
    }
}

/// Removes from `doc` the `credHelpers` entries of `hosts` naming `helper`; the hosts removed.
fn apply_unroute(doc: &mut Document, hosts: &[String], helper: &str) -> Vec<String> {
    let mut removed = Vec::new();
    if let Some(helpers) = doc.cred_helpers_mut_if_present() {
        for host in hosts {
            if helpers.get(host).and_then(Value::as_str) == Some(helper) {
                helpers.shift_remove(host);
                removed.push(host.clone());
            }
        }
    }
    removed
}

/// Whether an `auths` key names `host` or one of its repositories (`host/repo`), in any of the
/// spellings logins leave there (`https://host`, `host/v1/`, upper case).
fn auths_key_names(key: &str, host: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(&key);
    key.split('/')
        .next()
        .is_some_and(|authority| authority.split(':').next() == Some(host))
}

/// The value of `name` when set and not empty.
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<PathBuf> {
    env(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn xdg_config_home(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    var(env, "XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"))
}

/// Helm's config home when neither `HELM_CONFIG_HOME` nor `XDG_CONFIG_HOME` is set.
#[cfg(target_os = "macos")]
fn helm_default_config_home(_env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    home.join("Library").join("Preferences").join("helm")
}

/// Helm's config home when neither `HELM_CONFIG_HOME` nor `XDG_CONFIG_HOME` is set.
#[cfg(windows)]
fn helm_default_config_home(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    var(env, "APPDATA")
        .unwrap_or_else(|| home.join("AppData").join("Roaming"))
        .join("helm")
}

/// Helm's config home when neither `HELM_CONFIG_HOME` nor `XDG_CONFIG_HOME` is set.
#[cfg(not(any(target_os = "macos", windows)))]
fn helm_default_config_home(_env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    home.join(".config").join("helm")
}

/// The file a chain of symbolic links ends at (which may not exist yet); `path` itself when it
/// is not a link.
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The permission bits of an existing file (Unix), to give its replacement.
fn existing_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path)
            .ok()
            .map(|meta| meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Docker's layout: tab-indented, as `docker login` and `podman login` write it, ending with a
/// newline.
fn render(root: &Map<String, Value>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    root.serialize(&mut serializer)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Creates `dir` (and missing parents) with mode 0700 on Unix; leaves an existing one alone.
fn create_private_dir(dir: &Path) -> Result<(), ClientConfigError> {
    crate::private_fs::create_private_dir(dir).map_err(|source| ClientConfigError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const OTHER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    fn hosts(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    fn docker_at(dir: &Path) -> ClientConfig {
        ClientConfig::new(ClientKind::Docker, dir.join("config.json"))
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp"))
            .collect()
    }

    #[test]
    fn paths_follow_each_clients_environment_in_order() {
        let home = Path::new("/home/u");
        type Locate = fn(&dyn Fn(&str) -> Option<String>, &Path) -> ClientConfig;
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(Locate, Vars, &str)] = &[
            (ClientConfig::docker, &[], "/home/u/.docker/config.json"),
            (
                ClientConfig::docker,
                &[("DOCKER_CONFIG", "")],
                "/home/u/.docker/config.json",
            ),
            (
                ClientConfig::docker,
                &[("DOCKER_CONFIG", "/d")],
                "/d/config.json",
            ),
            (
                ClientConfig::containers,
                &[],
                "/home/u/.config/containers/auth.json",
            ),
            (
                ClientConfig::containers,
                &[("XDG_RUNTIME_DIR", "/run/user/1")],
                "/home/u/.config/containers/auth.json",
            ),
            (
                ClientConfig::containers,
                &[("XDG_CONFIG_HOME", "/x")],
                "/x/containers/auth.json",
            ),
            (
                ClientConfig::containers,
                &[
                    ("XDG_CONFIG_HOME", "/x"),
                    ("REGISTRY_AUTH_FILE", "/r/auth.json"),
                ],
                "/r/auth.json",
            ),
            (
                ClientConfig::helm,
                &[("XDG_CONFIG_HOME", "/x")],
                "/x/helm/registry/config.json",
            ),
            (
                ClientConfig::helm,
                &[("XDG_CONFIG_HOME", "/x"), ("HELM_CONFIG_HOME", "/h")],
                "/h/registry/config.json",
            ),
            (
                ClientConfig::helm,
                &[
                    ("XDG_CONFIG_HOME", "/x"),
                    ("HELM_CONFIG_HOME", "/h"),
                    ("HELM_REGISTRY_CONFIG", "/hr.json"),
                ],
                "/hr.json",
            ),
        ];
        for (locate, vars, expected) in cases {
            let env = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            assert_eq!(locate(&env, home).path(), Path::new(expected), "{vars:?}");
        }
        #[cfg(not(any(target_os = "macos", windows)))]
        assert_eq!(
            ClientConfig::helm(&|_| None, home).path(),
            Path::new("/home/u/.config/helm/registry/config.json")
        );
    }

    #[test]
    fn an_absent_file_is_created_private_in_private_directories() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(&dir.path().join("new/.docker"));
        let report = config.route(&hosts(&[HOST]), "ecr").unwrap();
        assert_eq!(report.added, hosts(&[HOST]));
        assert_eq!(report.backup, None, "nothing to back up");
        assert_eq!(
            read_json(config.path()),
            serde_json::json!({ "credHelpers": { HOST: "ecr" } })
        );
        assert!(!config.backup_path().exists());
        #[cfg(unix)]
        {
            assert_eq!(mode(config.path()), 0o600);
            assert_eq!(mode(&dir.path().join("new")), 0o700);
            assert_eq!(mode(&dir.path().join("new/.docker")), 0o700);
        }
    }

    #[test]
    fn every_other_key_and_value_is_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        let before = r#"{
  "zeta": {"nested": [1, 2.5, null, true, "x\u00e9"], "b": {}, "a": []},
  "auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}},
  "credHelpers": {"gcr.io": "gcloud", "z.example": "other"},
  "alpha": "last",
  "proxies": {"default": {"httpProxy": "http://proxy:3128"}}
}"#;
        fs::write(config.path(), before).unwrap();
        config.route(&hosts(&[HOST, OTHER]), "ecr").unwrap();
        let after = read_json(config.path());
        let mut expected: Value = serde_json::from_str(before).unwrap();
        let helpers = expected["credHelpers"].as_object_mut().unwrap();
        helpers.insert(HOST.into(), "ecr".into());
        helpers.insert(OTHER.into(), "ecr".into());
        assert_eq!(after, expected);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&after),
            ["zeta", "auths", "credHelpers", "alpha", "proxies"]
        );
        assert_eq!(keys(&after["zeta"]), ["nested", "b", "a"]);
        assert_eq!(
            keys(&after["credHelpers"]),
            ["gcr.io", "z.example", HOST, OTHER]
        );
    }

    #[test]
    fn a_config_that_needs_no_change_is_only_read_never_locked() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        let routed = format!(r#"{{"credHelpers": {{"{HOST}": "ecr"}}}}"#);
        fs::write(config.path(), &routed).unwrap();
        let lock = dir.path().join("config.json.lock");
        assert!(!config.route(&hosts(&[HOST]), "ecr").unwrap().changed());
        let other = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
        assert!(config.unroute(&hosts(&[other]), "ecr").unwrap().is_empty());
        assert!(
            !lock.exists(),
            "no lock file: a read-only config that routes the host already is fine"
        );
        assert_eq!(fs::read(config.path()).unwrap(), routed.as_bytes());
    }

    #[test]
    fn a_second_run_writes_nothing_and_makes_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        fs::write(config.path(), r#"{"auths": {}}"#).unwrap();
        let first = config.route(&hosts(&[HOST]), "ecr").unwrap();
        assert!(first.changed());
        assert_eq!(first.backup, Some(config.backup_path()));
        fs::remove_file(config.backup_path()).unwrap();
        let written = fs::read(config.path()).unwrap();
        let modified = fs::metadata(config.path()).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));

        // Any spelling of the same registry is the same host.
        let again = config
            .route(
                &hosts(&[&format!("https://{}/v2/", HOST.to_uppercase())]),
                "ecr",
            )
            .unwrap();
        assert_eq!(again.unchanged, hosts(&[HOST]));
        assert!(!again.changed() && again.backup.is_none());
        assert_eq!(fs::read(config.path()).unwrap(), written);
        assert_eq!(
            fs::metadata(config.path()).unwrap().modified().unwrap(),
            modified
        );
        assert!(!config.backup_path().exists(), "no new backup");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_change_backs_up_the_previous_bytes_first() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        let original = b"{ \"credHelpers\" : { \"gcr.io\":\"gcloud\" } }\n";
        fs::write(config.path(), original).unwrap();
        config.route(&hosts(&[HOST]), "ecr").unwrap();
        assert_eq!(fs::read(config.backup_path()).unwrap(), original);
        let second = fs::read(config.path()).unwrap();
        config.route(&hosts(&[OTHER]), "ecr").unwrap();
        assert_eq!(fs::read(config.backup_path()).unwrap(), second);
    }

    #[test]
    fn the_users_original_is_kept_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        config.route(&hosts(&[HOST]), "ecr").unwrap();
        assert!(
            !config.original_path().exists(),
            "a file the product created has no original"
        );

        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        let original = b"{\"auths\":{}}";
        fs::write(config.path(), original).unwrap();
        assert_eq!(config.original_path(), dir.path().join("config.json.orig"));
        config.route(&hosts(&[HOST]), "ecr").unwrap();
        assert_eq!(fs::read(config.original_path()).unwrap(), original);
        config.route(&hosts(&[OTHER]), "ecr").unwrap();
        config.unroute(&hosts(&[HOST, OTHER]), "ecr").unwrap();
        assert_eq!(fs::read(config.original_path()).unwrap(), original);
        assert_ne!(fs::read(config.backup_path()).unwrap(), original);
    }

    #[test]
    fn concurrent_edits_keep_every_entry() {
        let regions = [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-central-1",
            "eu-north-1",
            "ap-south-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ca-central-1",
            "sa-east-1",
        ];
        let all: Vec<String> = regions
            .iter()
            .map(|r| format!("123456789012.dkr.ecr.{r}.amazonaws.com"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        fs::write(
            config.path(),
            format!(r#"{{"credHelpers": {{"{HOST}": "ecr"}}}}"#),
        )
        .unwrap();
        std::thread::scope(|scope| {
            for host in &all[1..] {
                let config = config.clone();
                scope.spawn(move || config.route(std::slice::from_ref(host), "ecr").unwrap());
            }
            // Removing one entry while the others are added.
            scope.spawn(|| config.unroute(&hosts(&[HOST]), "ecr").unwrap());
        });
        assert_eq!(config.routed(&all, "ecr").unwrap(), all[1..].to_vec());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn files_it_cannot_understand_are_left_byte_for_byte() {
        let cases: &[(&str, &str)] = &[
            ("{not json", "not valid JSON"),
            ("{\"credHelpers\": {}", "not valid JSON"),
            ("[]", "top level"),
            ("\"credHelpers\"", "top level"),
            ("{\"credHelpers\": [\"ecr\"]}", "\"credHelpers\""),
            ("{\"credHelpers\": \"ecr\"}", "\"credHelpers\""),
        ];
        for (body, says) in cases {
            let dir = tempfile::tempdir().unwrap();
            let config = docker_at(dir.path());
            fs::write(config.path(), body).unwrap();
            for result in [
                config.route(&hosts(&[HOST]), "ecr").map(drop),
                config.unroute(&hosts(&[HOST]), "ecr").map(drop),
                config.routed(&hosts(&[HOST]), "ecr").map(drop),
                config.check(),
            ] {
                let err = result.unwrap_err().to_string();
                assert!(err.contains(says), "{body}: {err}");
                assert!(err.contains(&config.path().display().to_string()), "{err}");
            }
            assert_eq!(fs::read(config.path()).unwrap(), body.as_bytes());
            assert!(!config.backup_path().exists(), "{body}");
            assert!(leftovers(dir.path()).is_empty());
        }
    }

    #[test]
    fn an_empty_file_is_an_empty_config() {
        for body in ["", "  \n"] {
            let dir = tempfile::tempdir().unwrap();
            let config = docker_at(dir.path());
            fs::write(config.path(), body).unwrap();
            let report = config.route(&hosts(&[HOST]), "ecr").unwrap();
            assert_eq!(report.added, hosts(&[HOST]));
            assert_eq!(
                read_json(config.path()),
                serde_json::json!({ "credHelpers": { HOST: "ecr" } })
            );
        }
    }

    #[test]
    fn hosts_must_be_exact_ecr_registries_and_nothing_is_written_otherwise() {
        let cases: &[(&str, &str)] = &[
            ("*.dkr.ecr.us-east-1.amazonaws.com", "pattern"),
            ("123456789012.dkr.ecr.*.amazonaws.com", "pattern"),
            ("ghcr.io", "not an Amazon ECR registry"),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
                "not an Amazon ECR",
            ),
            ("", "empty"),
        ];
        for (host, says) in cases {
            let dir = tempfile::tempdir().unwrap();
            let config = docker_at(dir.path());
            // A valid host first: the whole call is refused, not half of it.
            let err = config
                .route(&hosts(&[HOST, host]), "ecr")
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{host}: {err}");
            assert!(!config.path().exists(), "{host}");
        }
        assert_eq!(
            canonical_hosts(&hosts(&[
                "https://123456789012.DKR.ECR.us-east-1.amazonaws.com./v2/",
                HOST,
                "public.ecr.aws:443",
            ]))
            .unwrap(),
            hosts(&[HOST, "public.ecr.aws"])
        );
    }

    #[test]
    fn another_helpers_entry_is_replaced_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        fs::write(
            config.path(),
            format!(r#"{{"credHelpers": {{"{HOST}": "ecr-login", "{OTHER}": "ecr"}}}}"#),
        )
        .unwrap();
        let report = config.route(&hosts(&[HOST, OTHER]), "ecr").unwrap();
        assert_eq!(
            report.replaced,
            vec![(HOST.to_string(), "ecr-login".to_string())]
        );
        assert_eq!(report.unchanged, hosts(&[OTHER]));
        assert!(report.added.is_empty() && report.changed());
        assert_eq!(read_json(config.path())["credHelpers"][HOST], "ecr");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let dotfiles = dir.path().join("dotfiles/docker");
        fs::create_dir_all(&dotfiles).unwrap();
        let target = dotfiles.join("config.json");
        fs::write(&target, r#"{"auths": {}}"#).unwrap();
        let docker_dir = dir.path().join(".docker");
        fs::create_dir(&docker_dir).unwrap();
        // A relative link, as stow makes them.
        std::os::unix::fs::symlink(
            "../dotfiles/docker/config.json",
            docker_dir.join("config.json"),
        )
        .unwrap();
        let config = docker_at(&docker_dir);
        config.route(&hosts(&[HOST]), "ecr").unwrap();
        let link = fs::symlink_metadata(config.path()).unwrap();
        assert!(link.file_type().is_symlink(), "the link stays a link");
        assert_eq!(read_json(&target)["credHelpers"][HOST], "ecr");
        assert_eq!(fs::read(config.backup_path()).unwrap(), br#"{"auths": {}}"#);
        assert_eq!(
            fs::read(config.original_path()).unwrap(),
            br#"{"auths": {}}"#
        );
        assert!(
            dotfiles.join("config.json.lock").exists()
                && !docker_dir.join("config.json.lock").exists(),
            "the lock is beside the file replaced"
        );
        assert!(leftovers(&dotfiles).is_empty() && leftovers(&docker_dir).is_empty());

        // A dangling link is created at its target.
        let dangling_dir = dir.path().join("dangling");
        fs::create_dir(&dangling_dir).unwrap();
        let missing = dir.path().join("elsewhere/config.json");
        std::os::unix::fs::symlink(&missing, dangling_dir.join("config.json")).unwrap();
        docker_at(&dangling_dir)
            .route(&hosts(&[HOST]), "ecr")
            .unwrap();
        assert!(
            fs::symlink_metadata(dangling_dir.join("config.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(read_json(&missing)["credHelpers"][HOST], "ecr");
    }

    #[cfg(unix)]
    #[test]
    fn the_files_permissions_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        for kept in [0o644, 0o600, 0o640] {
            let dir = tempfile::tempdir().unwrap();
            let config = docker_at(dir.path());
            fs::write(config.path(), "{}").unwrap();
            fs::set_permissions(config.path(), fs::Permissions::from_mode(kept)).unwrap();
            config.route(&hosts(&[HOST]), "ecr").unwrap();
            assert_eq!(mode(config.path()), kept);
            assert_eq!(mode(&config.backup_path()), kept);
            config.unroute(&hosts(&[HOST]), "ecr").unwrap();
            assert_eq!(mode(config.path()), kept);
        }
    }

    #[test]
    fn shadowing_logins_and_stores_are_warned_about() {
        let cases: &[(ClientKind, &str, Vec<ShadowWarning>)] = &[
            (
                ClientKind::Containers,
                r#"{"auths": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": {"auth": "QVdTOng="}}}"#,
                vec![ShadowWarning::AuthsEntry { host: HOST.into() }],
            ),
            (
                ClientKind::Containers,
                r#"{"auths": {"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app": {}}}"#,
                vec![ShadowWarning::AuthsEntry { host: HOST.into() }],
            ),
            (
                ClientKind::Containers,
                r#"{"auths": {"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example": {}}}"#,
                vec![],
            ),
            // Docker asks credHelpers before auths: a stored login there shadows nothing.
            (
                ClientKind::Docker,
                r#"{"auths": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": {}}}"#,
                vec![],
            ),
            (
                ClientKind::Docker,
                r#"{"credsStore": "desktop"}"#,
                vec![ShadowWarning::CredsStore {
                    store: "desktop".into(),
                }],
            ),
            (ClientKind::Docker, r#"{"credsStore": "ecr"}"#, vec![]),
            (ClientKind::Helm, r#"{"credsStore": ""}"#, vec![]),
        ];
        for (kind, body, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let config = ClientConfig::new(*kind, dir.path().join("auth.json"));
            fs::write(config.path(), body).unwrap();
            let first = config.route(&hosts(&[HOST]), "ecr").unwrap();
            assert_eq!(&first.warnings, expected, "{body}");
            let again = config.route(&hosts(&[HOST]), "ecr").unwrap();
            assert_eq!(
                &again.warnings, expected,
                "still there on a second run: {body}"
            );
            // Never written: credsStore stays as it was, or absent.
            assert_eq!(
                read_json(config.path()).get("credsStore"),
                serde_json::from_str::<Value>(body)
                    .unwrap()
                    .get("credsStore")
            );
        }
        let message = ShadowWarning::AuthsEntry { host: HOST.into() }.to_string();
        assert!(
            message.contains(&format!("podman logout {HOST}")),
            "{message}"
        );
    }

    #[test]
    fn unroute_removes_only_entries_naming_the_helper() {
        let dir = tempfile::tempdir().unwrap();
        let config = docker_at(dir.path());
        assert_eq!(
            config.unroute(&hosts(&[HOST]), "ecr").unwrap(),
            Vec::<String>::new()
        );
        assert!(!config.path().exists(), "unroute creates nothing");
        fs::write(
            config.path(),
            format!(r#"{{"credHelpers": {{"gcr.io": "gcloud", "{HOST}": "ecr", "{OTHER}": "ecr-login", "public.ecr.aws": "ecr"}}, "k": 1}}"#),
        )
        .unwrap();
        let all = hosts(&[HOST, OTHER, "public.ecr.aws"]);
        assert_eq!(
            config.routed(&all, "ecr").unwrap(),
            hosts(&[HOST, "public.ecr.aws"])
        );
        assert_eq!(
            config.unroute(&hosts(&[HOST, OTHER]), "ecr").unwrap(),
            hosts(&[HOST])
        );
        assert_eq!(
            read_json(config.path()),
            serde_json::json!({
                "credHelpers": { "gcr.io": "gcloud", OTHER: "ecr-login", "public.ecr.aws": "ecr" },
                "k": 1
            })
        );
        let keys: Vec<_> = read_json(config.path())["credHelpers"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["gcr.io", OTHER, "public.ecr.aws"], "order kept");
        assert!(config.backup_path().exists());
        let written = fs::read(config.path()).unwrap();
        assert!(config.unroute(&hosts(&[HOST]), "ecr").unwrap().is_empty());
        assert_eq!(fs::read(config.path()).unwrap(), written);
        assert_eq!(
            config.routed(&all, "ecr").unwrap(),
            hosts(&["public.ecr.aws"])
        );
    }
}
