//! Kubernetes image-pull secrets as plain data: the `.dockerconfigjson` document and the
//! `kubernetes.io/dockerconfigjson` Secret that carries it, shaped exactly as
//! `kubectl create secret docker-registry NAME --docker-server=HOST --docker-username=AWS
//! --docker-password=TOKEN --dry-run=client -o json` writes them.
//!
//! # What this module owns
//!
//! * [`DockerConfigJson`]: `{"auths": {HOST: {"username", "password", "auth"}}}`, `auth` being
//!   base64(`username:password`), the fields in kubectl's order, serialized compactly as
//!   kubectl does (so the base64 under the Secret's `data` is the very string kubectl writes
//!   for the same values).
//! * [`PullSecret`]: `apiVersion: v1`, `kind: Secret`, `metadata.name` (and `namespace` only
//!   when given), `type: kubernetes.io/dockerconfigjson`, and `data: {".dockerconfigjson":
//!   base64(document)}`.
//! * Checking a Secret's name (a DNS-1123 subdomain) and namespace (a DNS-1123 label) as the
//!   API server will, so that a CronJob fails when it builds the Secret, not when it applies it.
//!
//! # What this module never does
//!
//! It fetches no token, renders no YAML and writes nothing: the `pull-secret` command does
//! that. Passwords stay in [`Secret`], so a `Debug` of these types never shows one.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The Secret type kubelets read image-pull credentials from.
pub const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";

/// The key of that Secret's `data` that holds the docker config.
pub const DATA_KEY: &str = ".dockerconfigjson";

/// The Secret's name when none is given.
pub const DEFAULT_NAME: &str = "docker-credential-ecr";

/// The longest Secret name the API server accepts (a DNS-1123 subdomain).
const MAX_NAME_LEN: usize = 253;

/// The longest namespace the API server accepts (a DNS-1123 label).
const MAX_NAMESPACE_LEN: usize = 63;

/// One registry's entry in [`DockerConfigJson::auths`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerAuth {
    pub username: String,
    pub password: Secret,
    /// base64(`username:password`), as docker's config.json has it.
    pub auth: Secret,
}

impl DockerAuth {
    /// The entry for `username` and `password`, with its `auth` computed from them.
    pub fn new(username: &str, password: &Secret) -> DockerAuth {
        let auth = STANDARD.encode(format!("{username}:{}", password.expose()));
        DockerAuth {
            username: username.to_string(),
            password: password.clone(),
            auth: Secret::new(auth),
        }
    }
}

/// The document under a pull secret's `.dockerconfigjson`: credentials per registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerConfigJson {
    pub auths: BTreeMap<String, DockerAuth>,
}

impl DockerConfigJson {
    /// Adds (or replaces) the credentials of `host`.
    pub fn insert(&mut self, host: impl Into<String>, auth: DockerAuth) {
        self.auths.insert(host.into(), auth);
    }

    /// The document as kubectl encodes it: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a map of strings always serializes")
    }
}

/// A Secret's `metadata`: its name, and its namespace only when one was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A `kubernetes.io/dockerconfigjson` Secret, fields in the order kubectl prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullSecret {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// `.dockerconfigjson` -> base64 of the document (a Secret's `data` is base64 per value).
    pub data: BTreeMap<String, Secret>,
    #[serde(rename = "type")]
    pub secret_type: String,
}

/// Why a Secret's name or namespace would be refused by the API server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error(
        "{0:?} is not a valid Secret name: use at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    )]
    Name(String),
    #[error(
        "{0:?} is not a valid namespace: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    Namespace(String),
}

impl PullSecret {
    /// The Secret named `name` (in `namespace`, if given) that carries `config`.
    pub fn new(
        name: &str,
        namespace: Option<&str>,
        config: &DockerConfigJson,
    ) -> Result<PullSecret, InvalidName> {
        if !is_dns1123_subdomain(name) {
            return Err(InvalidName::Name(name.to_string()));
        }
        if let Some(namespace) = namespace
            && !is_dns1123_label(namespace, MAX_NAMESPACE_LEN)
        {
            return Err(InvalidName::Namespace(namespace.to_string()));
        }
        let encoded = Secret::new(STANDARD.encode(config.to_json()));
        Ok(PullSecret {
            api_version: "v1".to_string(),
            kind: "Secret".to_string(),
            metadata: ObjectMeta {
                name: name.to_string(),
                namespace: namespace.map(str::to_string),
            },
            data: BTreeMap::from([(DATA_KEY.to_string(), encoded)]),
            secret_type: SECRET_TYPE.to_string(),
        })
    }

    /// The document this Secret carries, if its `data` holds a readable one.
    pub fn docker_config(&self) -> Option<DockerConfigJson> {
        let encoded = self.data.get(DATA_KEY)?;
        let bytes = STANDARD.decode(encoded.expose()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Lower-case letters, digits and '-', starting and ending with a letter or digit, at most
/// `max` long.
fn is_dns1123_label(label: &str, max: usize) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= max
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// Dot-separated DNS-1123 labels, at most [`MAX_NAME_LEN`] long in all.
fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name
            .split('.')
            .all(|label| is_dns1123_label(label, MAX_NAME_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    fn config(password: &str) -> DockerConfigJson {
        let mut config = DockerConfigJson::default();
        config.insert(HOST, DockerAuth::new("AWS", &Secret::new(password)));
        config
    }

    #[test]
    fn the_document_is_the_one_kubectl_writes() {
        // `kubectl create secret docker-registry s --docker-server=HOST --docker-username=AWS
        // --docker-password=tok --dry-run=client -o json`, its data decoded (kubectl 1.32).
        assert_eq!(
            config("tok").to_json(),
            r#"{"auths":{"123456789012.dkr.ecr.us-east-1.amazonaws.com":{"username":"AWS","password":"tok","auth":"QVdTOnRvaw=="}}}"#
        );
    }

    #[test]
    fn the_secret_carries_the_document_in_base64_under_its_data_key() {
        let secret = PullSecret::new(DEFAULT_NAME, None, &config("tok")).unwrap();
        let json = serde_json::to_value(&secret).unwrap();
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "Secret");
        assert_eq!(json["type"], SECRET_TYPE);
        assert_eq!(
            json["metadata"],
            serde_json::json!({"name": "docker-credential-ecr"})
        );
        let data = json["data"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), [DATA_KEY]);
        let decoded = STANDARD.decode(data[DATA_KEY].as_str().unwrap()).unwrap();
        assert_eq!(decoded, config("tok").to_json().as_bytes());
        assert_eq!(secret.docker_config(), Some(config("tok")));

        let placed = PullSecret::new("pull", Some("team-a"), &config("tok")).unwrap();
        assert_eq!(
            serde_json::to_value(&placed).unwrap()["metadata"],
            serde_json::json!({"name": "pull", "namespace": "team-a"})
        );
    }

    #[test]
    fn names_the_api_server_would_refuse_are_refused() {
        for good in ["a", "pull-secret", "ecr.pull", "0x", &"a".repeat(253)] {
            assert!(PullSecret::new(good, None, &config("t")).is_ok(), "{good}");
        }
        for bad in [
            "",
            "A",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a b",
            &"a".repeat(254),
        ] {
            assert_eq!(
                PullSecret::new(bad, None, &config("t")),
                Err(InvalidName::Name(bad.to_string())),
            );
        }
        for good in ["default", "team-a", &"n".repeat(63)] {
            assert!(
                PullSecret::new("s", Some(good), &config("t")).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "a.b", "Team", "a-", &"n".repeat(64)] {
            assert_eq!(
                PullSecret::new("s", Some(bad), &config("t")),
                Err(InvalidName::Namespace(bad.to_string())),
            );
        }
    }

    #[test]
    fn debug_never_shows_a_password() {
        let secret = PullSecret::new("s", None, &config("hunter2")).unwrap();
        let shown = format!("{:?} {:?}", secret, config("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&STANDARD.encode("AWS:hunter2")), "{shown}");
    }
}
