//! The target registry's credentials, from docker's config file, resolved the way the docker CLI
//! resolves them (docker/cli `cli/config/configfile/file.go` and `credentials/`):
//!
//! 1. `credHelpers[host]` names a helper: ask it;
//! 2. else `credsStore` names one: ask it (docker then never reads `auths[host].auth`);
//! 3. else `auths`: the entry keyed `host`, else the first whose key, stripped of `http(s)://`
//!    and of any path, is `host` (old configs keyed `https://host/v1/`). Its `auth` (base64
//!    `user:password`) wins over `username`/`password`, as docker decodes it on load.
//!
//! A helper that answers "credentials not found" means anonymous, as it does for docker. A
//! helper's `Username` of `<token>` makes the secret an identity token (an OAuth refresh token
//! from `docker login` to some registries), which the OCI client cannot exchange: that is said
//! when the credentials are used. Docker Hub's key is `https://index.docker.io/v1/`.
//!
//! The `docker_credential` crate was not used: it reads `auths` before `credsStore`, so a
//! config with both resolves differently from docker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::credential_helper::{self, HelperAnswer};

/// What docker would send to `host`.
#[derive(Clone, PartialEq, Eq)]
pub enum DockerCredential {
    Anonymous,
    Basic { username: String, password: String },
    IdentityToken,
}

impl std::fmt::Debug for DockerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerCredential::Anonymous => f.write_str("Anonymous"),
            DockerCredential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            DockerCredential::IdentityToken => f.write_str("IdentityToken(***)"),
        }
    }
}

/// A credential and where it came from (for messages: "refused the login (auths in ...)").
#[derive(Debug, Clone)]
pub struct ResolvedCredential {
    pub credential: DockerCredential,
    pub origin: String,
}

/// Docker's config file, as far as credentials go.
#[derive(Debug, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
    #[serde(skip)]
    path: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DockerAuthError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path} is not a valid docker config: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("{path}: the `auth` of {key} is not base64 of user:password")]
    BadAuth { path: PathBuf, key: String },
    #[error("credential helper docker-credential-{helper} failed for {host}: {why}")]
    Helper {
        helper: String,
        host: String,
        why: String,
    },
}

impl DockerConfig {
    /// The config at `path`; a file that does not exist is an empty config (docker's too).
    pub fn load(path: &Path) -> Result<DockerConfig, DockerAuthError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path: path.to_path_buf(),
                    ..DockerConfig::default()
                });
            }
            Err(e) => {
                return Err(DockerAuthError::Read {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                });
            }
        };
        DockerConfig::parse(&text, path)
    }

    /// The config of `text`, read from `path`.
    pub fn parse(text: &[u8], path: &Path) -> Result<DockerConfig, DockerAuthError> {
        let mut config: DockerConfig =
            serde_json::from_slice(text).map_err(|e| DockerAuthError::Parse {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        config.path = path.to_path_buf();
        Ok(config)
    }

    /// The credential docker would use for `registry` (`host[:port]`, as in an image name),
    /// asking a helper when the config names one.
    pub async fn credential_for(
        &self,
        registry: &str,
    ) -> Result<ResolvedCredential, DockerAuthError> {
        let server = server_address(registry);
        let helper = self
            .cred_helpers
            .get(&server)
            .map(|helper| (helper, "credHelpers"))
            .or_else(|| self.creds_store.as_ref().map(|store| (store, "credsStore")))
            .filter(|(helper, _)| !helper.is_empty());
        if let Some((helper, key)) = helper {
            let origin = format!(
                "{key} \"{helper}\" in {}: docker-credential-{helper}",
                self.path.display()
            );
            let answer = credential_helper::get(helper, &server)
                .await
                .map_err(|why| DockerAuthError::Helper {
                    helper: helper.clone(),
                    host: server.clone(),
                    why,
                })?;
            let credential = match answer {
                HelperAnswer::NotFound => DockerCredential::Anonymous,
                HelperAnswer::Found { username, .. } if username == "<token>" => {
                    DockerCredential::IdentityToken
                }
                HelperAnswer::Found { username, secret } => DockerCredential::Basic {
                    username,
                    password: secret,
                },
            };
            return Ok(ResolvedCredential { credential, origin });
        }
        let origin = format!("auths in {}", self.path.display());
        let credential = match self.auth_entry(&server) {
            Some((key, entry)) => self.entry_credential(key, entry)?,
            None => DockerCredential::Anonymous,
        };
        Ok(ResolvedCredential { credential, origin })
    }

    /// docker/cli's file store: the exact key, else a key naming the same host.
    fn auth_entry(&self, server: &str) -> Option<(&String, &AuthEntry)> {
        self.auths.get_key_value(server).or_else(|| {
            self.auths
                .iter()
                .find(|(key, _)| convert_to_hostname(key) == server)
        })
    }

    fn entry_credential(
        &self,
        key: &str,
        entry: &AuthEntry,
    ) -> Result<DockerCredential, DockerAuthError> {
        if entry
            .identitytoken
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            return Ok(DockerCredential::IdentityToken);
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad = || DockerAuthError::BadAuth {
                path: self.path.clone(),
                key: key.to_string(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(DockerCredential::Basic {
                username: username.to_string(),
                password: password.trim_end_matches('\0').to_string(),
            });
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(DockerCredential::Basic {
                    username: username.clone(),
                    password: password.clone(),
                })
            }
            _ => Ok(DockerCredential::Anonymous),
        }
    }
}

/// The key docker uses for a registry: Docker Hub's is its v1 URL, any other the host.
pub fn server_address(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        host => host.to_string(),
    }
}

/// docker/cli's `ConvertToHostname`: without `http(s)://` and anything from the first `/`.
fn convert_to_hostname(key: &str) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    stripped.split('/').next().unwrap_or(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig::parse(json.as_bytes(), Path::new("/c/config.json")).unwrap()
    }

    fn basic(user: &str, pass: &str) -> DockerCredential {
        DockerCredential::Basic {
            username: user.into(),
            password: pass.into(),
        }
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[tokio::test]
    async fn auths_match_the_host_or_an_old_style_url_key_and_auth_beats_username() {
        let c = config(&format!(
            r#"{{"auths": {{
                "mirror.example.test": {{"auth": "{}", "username": "other", "password": "x"}},
                "https://old.example.test/v1/": {{"auth": "{}"}},
                "plain.example.test": {{"username": "u", "password": "p:w"}}
            }}}}"#,
            b64("mirror:s3cret"),
            b64("old:pw")
        ));
        let got = |host: &'static str| {
            let c = &c;
            async move { c.credential_for(host).await.unwrap().credential }
        };
        assert_eq!(got("mirror.example.test").await, basic("mirror", "s3cret"));
        assert_eq!(got("old.example.test").await, basic("old", "pw"));
        assert_eq!(got("plain.example.test").await, basic("u", "p:w"));
        assert_eq!(
            got("unknown.example.test").await,
            DockerCredential::Anonymous
        );
        let origin = c
            .credential_for("mirror.example.test")
            .await
            .unwrap()
            .origin;
        assert_eq!(origin, "auths in /c/config.json");
    }

    #[tokio::test]
    async fn a_creds_store_hides_the_auths_entry_as_it_does_for_docker() {
        // The store's helper does not exist: docker would fail the same way, not fall back to
        // the `auth` field.
        let c = config(&format!(
            r#"{{"credsStore": "ecr-mirror-test-missing",
                 "auths": {{"mirror.example.test": {{"auth": "{}"}}}}}}"#,
            b64("mirror:s3cret")
        ));
        let e = c.credential_for("mirror.example.test").await.unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-ecr-mirror-test-missing"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_auth_field_is_an_error_naming_the_key() {
        let c = config(r#"{"auths": {"mirror.example.test": {"auth": "not base64!"}}}"#);
        let (key, entry) = c.auth_entry("mirror.example.test").unwrap();
        let e = c.entry_credential(key, entry).unwrap_err();
        assert!(e.to_string().contains("mirror.example.test"), "{e}");
    }

    #[test]
    fn docker_hub_uses_its_v1_url_and_other_hosts_themselves() {
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_address("localhost:5000"), "localhost:5000");
        assert_eq!(
            convert_to_hostname("https://r.example.test/v1/"),
            "r.example.test"
        );
        assert_eq!(
            convert_to_hostname("r.example.test:5000"),
            "r.example.test:5000"
        );
    }
}
