//! The inputs outside the product's own config that select an AWS identity: the environment
//! variables of the standard credential chain, and the shared config and credentials files
//! (their paths and a digest of their contents).
//!
//! # Why they are recorded
//!
//! A `get` reads them from its own environment. The tray and the agent run with another one
//! (a desktop session, a systemd user unit): they read the inputs back from the cache entry that
//! recorded them ([`crate::cache`]) and renew with exactly those, never with their own. Two
//! shells with different `AWS_PROFILE`s, or two CI jobs with different
//! `AWS_SHARED_CREDENTIALS_FILE`s, therefore get two cache entries, and a file edited to hold
//! other keys gets a new one.
//!
//! # What this module never does
//!
//! It never holds a secret: it records that keys exist only in some process's environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_CONTAINER_AUTHORIZATION_TOKEN`), never their values, and it keeps a
//! digest of each shared file, never its contents. It never loads the AWS SDK: reading two small
//! files and hashing them is all it costs a `get`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Reads one environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The profile the chain uses (`AWS_DEFAULT_PROFILE` is ignored by the SDK for Rust, so here).
pub const PROFILE_VAR: &str = "AWS_PROFILE";
const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
const CONFIG_FILE_VAR: &str = "AWS_CONFIG_FILE";
const CREDENTIALS_FILE_VAR: &str = "AWS_SHARED_CREDENTIALS_FILE";
const ROLE_ARN_VAR: &str = "AWS_ROLE_ARN";
const ROLE_SESSION_NAME_VAR: &str = "AWS_ROLE_SESSION_NAME";
const WEB_IDENTITY_TOKEN_FILE_VAR: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// The container credential variables the SDK's ECS provider reads.
pub const CONTAINER_VARS: ContainerVars = ContainerVars {
    relative_uri: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    full_uri: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    authorization_token_file: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    authorization_token: "AWS_CONTAINER_AUTHORIZATION_TOKEN",
};

/// The names of the container credential variables.
#[derive(Debug, Clone, Copy)]
pub struct ContainerVars {
    pub relative_uri: &'static str,
    pub full_uri: &'static str,
    pub authorization_token_file: &'static str,
    pub authorization_token: &'static str,
}

/// One shared file: where it is, and a digest of what it held when read (`None`: absent or
/// unreadable, which the SDK treats as empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInput {
    pub path: PathBuf,
    pub digest: Option<String>,
}

impl FileInput {
    /// `path` and the digest of its contents now; only a regular file is read (a FIFO or a
    /// device would block a `get`, and the SDK cannot use one either).
    pub fn read(path: PathBuf) -> FileInput {
        let regular = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
        let digest = regular
            .then(|| std::fs::read(&path).ok())
            .flatten()
            .map(|bytes| digest_of(&bytes));
        FileInput { path, digest }
    }

    /// The same path, with the digest of what it holds now.
    pub fn reread(&self) -> FileInput {
        FileInput::read(self.path.clone())
    }
}

/// The AWS shared config and credentials files, as the SDK would find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFiles {
    pub config: Option<FileInput>,
    pub credentials: Option<FileInput>,
}

impl SharedFiles {
    /// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and
    /// `~/.aws/credentials`, made absolute (a `~/` prefix is the home directory, a relative path
    /// is taken from the working directory, as the SDK does), with their digests.
    pub fn from_env(env: Env<'_>) -> SharedFiles {
        Self::locate(env, FileInput::read)
    }

    fn locate(env: Env<'_>, input: fn(PathBuf) -> FileInput) -> SharedFiles {
        let home = non_empty(env, "HOME").or_else(|| non_empty(env, "USERPROFILE"));
        let locate = |var: &str, default: &str| -> Option<FileInput> {
            let path = match non_empty(env, var) {
                Some(path) => expand(&path, home.as_deref())?,
                None => Path::new(home.as_deref()?).join(".aws").join(default),
            };
            Some(input(path))
        };
        SharedFiles {
            config: locate(CONFIG_FILE_VAR, "config"),
            credentials: locate(CREDENTIALS_FILE_VAR, "credentials"),
        }
    }

    /// The same paths with the digests of what they hold now.
    pub fn reread(&self) -> SharedFiles {
        SharedFiles {
            config: self.config.as_ref().map(FileInput::reread),
            credentials: self.credentials.as_ref().map(FileInput::reread),
        }
    }
}

/// Where container credentials come from (ECS, EKS Pod Identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerCredentials {
    pub relative_uri: Option<String>,
    pub full_uri: Option<String>,
    pub authorization_token_file: Option<String>,
    /// An authorization token is set in the environment itself (its value is not recorded).
    pub authorization_token_in_env: bool,
}

impl ContainerCredentials {
    /// The container credential variables of `env`, when it names an endpoint.
    pub fn from_env(env: Env<'_>) -> Option<ContainerCredentials> {
        let vars = CONTAINER_VARS;
        let found = ContainerCredentials {
            relative_uri: non_empty(env, vars.relative_uri),
            full_uri: non_empty(env, vars.full_uri),
            authorization_token_file: non_empty(env, vars.authorization_token_file),
            authorization_token_in_env: non_empty(env, vars.authorization_token).is_some(),
        };
        (found.relative_uri.is_some() || found.full_uri.is_some()).then_some(found)
    }
}

/// Everything that selects the identity of the standard credential chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainInputs {
    /// `AWS_PROFILE`; `None` is the profile named `default`.
    pub profile: Option<String>,
    /// `AWS_ACCESS_KEY_ID`: keys in the environment, which only that environment holds.
    pub access_key_id: Option<String>,
    pub files: SharedFiles,
    /// `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_SESSION_NAME`.
    pub role_arn: Option<String>,
    pub web_identity_token_file: Option<String>,
    pub role_session_name: Option<String>,
    pub container: Option<ContainerCredentials>,
    pub instance_metadata: InstanceMetadata,
}

/// Where instance metadata (an EC2 instance role) is looked for, or that it is not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceMetadata {
    /// `AWS_EC2_METADATA_DISABLED`.
    pub disabled: Option<String>,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` and `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`.
    pub endpoint: Option<String>,
    pub endpoint_mode: Option<String>,
}

impl InstanceMetadata {
    pub fn from_env(env: Env<'_>) -> InstanceMetadata {
        InstanceMetadata {
            disabled: non_empty(env, "AWS_EC2_METADATA_DISABLED"),
            endpoint: non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            endpoint_mode: non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"),
        }
    }
}

impl ChainInputs {
    /// The inputs as `env` holds them now. Complete keys in the environment (an id and a
    /// secret), which the chain uses first, leave the shared files selecting nothing: they are
    /// named but not read, so a warm `get` with such keys reads no AWS file at all.
    pub fn from_env(env: Env<'_>) -> ChainInputs {
        let access_key_id = non_empty(env, ACCESS_KEY_VAR);
        let keys_complete =
            access_key_id.is_some() && non_empty(env, "AWS_SECRET_ACCESS_KEY").is_some();
        let files = if keys_complete {
            SharedFiles::locate(env, |path| FileInput { path, digest: None })
        } else {
            SharedFiles::from_env(env)
        };
        ChainInputs {
            profile: non_empty(env, PROFILE_VAR),
            access_key_id,
            files,
            role_arn: non_empty(env, ROLE_ARN_VAR),
            web_identity_token_file: non_empty(env, WEB_IDENTITY_TOKEN_FILE_VAR),
            role_session_name: non_empty(env, ROLE_SESSION_NAME_VAR),
            container: ContainerCredentials::from_env(env),
            instance_metadata: InstanceMetadata::from_env(env),
        }
    }

    /// The profile the chain reads from the shared files.
    pub fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or("default")
    }

    /// Whether a secret behind this identity exists only in the environment of the process
    /// that recorded it (keys or a container authorization token in variables): then no other
    /// process can renew it.
    pub fn needs_its_own_environment(&self) -> bool {
        self.access_key_id.is_some()
            || self
                .container
                .as_ref()
                .is_some_and(|c| c.authorization_token_in_env)
    }

    /// The same inputs with the digests of what the shared files hold now.
    pub fn reread(&self) -> ChainInputs {
        ChainInputs {
            files: self.files.reread(),
            ..self.clone()
        }
    }
}

/// A short hex digest (128 bits of SHA-256).
pub fn digest_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn non_empty(env: Env<'_>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `~/x` under `home`; a relative path from the working directory; an absolute one as it is.
fn expand(path: &str, home: Option<&str>) -> Option<PathBuf> {
    if let Some(rest) = path.strip_prefix("~/") {
        return Some(Path::new(home?).join(rest));
    }
    std::path::absolute(path).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An environment of `pairs` (shared with the other modules' tests).
    pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn files_default_to_the_home_directory_and_carry_a_digest_of_their_contents() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), "[default]\n").unwrap();
        let env = env_of(&[("HOME", home.path().to_str().unwrap())]);
        let files = SharedFiles::from_env(&env);
        let config = files.config.clone().unwrap();
        assert_eq!(config.path, home.path().join(".aws/config"));
        assert_eq!(config.digest, None, "absent");
        let credentials = files.credentials.clone().unwrap();
        assert_eq!(credentials.digest, Some(digest_of(b"[default]\n")));

        std::fs::write(home.path().join(".aws/credentials"), "[other]\n").unwrap();
        assert_ne!(files.reread(), files, "an edit is a new identity");
    }

    #[test]
    fn the_variables_name_the_files_and_tilde_is_home() {
        let env = env_of(&[
            ("HOME", "/home/u"),
            ("AWS_CONFIG_FILE", "~/job/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/ci/job-7/credentials"),
        ]);
        let files = SharedFiles::from_env(&env);
        assert_eq!(files.config.unwrap().path, Path::new("/home/u/job/config"));
        assert_eq!(
            files.credentials.unwrap().path,
            Path::new("/ci/job-7/credentials")
        );
        let relative = env_of(&[("AWS_CONFIG_FILE", "rel/config")]);
        let path = SharedFiles::from_env(&relative).config.unwrap().path;
        assert!(
            path.is_absolute() && path.ends_with("rel/config"),
            "{path:?}"
        );
    }

    #[test]
    fn only_aws_profile_selects_the_profile() {
        let env = env_of(&[("AWS_DEFAULT_PROFILE", "ignored")]);
        assert_eq!(ChainInputs::from_env(&env).profile, None);
        assert_eq!(ChainInputs::from_env(&env).profile_name(), "default");
        let env = env_of(&[("AWS_PROFILE", " work ")]);
        assert_eq!(ChainInputs::from_env(&env).profile.as_deref(), Some("work"));
    }

    #[test]
    fn secrets_only_in_the_environment_cannot_be_renewed_elsewhere() {
        let named = ChainInputs::from_env(&env_of(&[("AWS_PROFILE", "work")]));
        assert!(!named.needs_its_own_environment());
        let keys = ChainInputs::from_env(&env_of(&[("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]));
        assert!(keys.needs_its_own_environment());
        let container = ChainInputs::from_env(&env_of(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:1/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sekrit"),
        ]));
        assert!(container.needs_its_own_environment());
        let recorded = serde_json::to_string(&container).unwrap();
        assert!(!recorded.contains("sekrit"), "{recorded}");
        let with_file = ChainInputs::from_env(&env_of(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/x",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/token"),
        ]));
        assert!(!with_file.needs_its_own_environment());
    }
}
