//! Which identity pays for a token, and where it is fetched from, decided from the product's
//! bindings and the environment alone.
//!
//! This runs on every `get`, warm or cold, so it must never load the AWS SDK's configuration
//! nor touch the keychain: it reads the already-loaded product config and a handful of
//! environment variables. What it returns names a cache entry ([`TokenScope`]); the
//! credentials themselves are resolved later, and only on a miss.

use std::fmt;

use crate::bindings::BoundSource;
use crate::config::{ProductConfig, RoleConfig, SecretLocation};
use crate::registry::Registry;

/// Environment variables that select the default chain's identity.
const PROFILE_VARS: [&str; 2] = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"];
const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";

/// Where the credentials behind a token come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// The standard AWS chain (environment, shared files with `AWS_PROFILE`, SSO,
    /// `credential_process`, web identity, container and instance metadata), as selected by the
    /// profile and access key id set in the environment.
    DefaultChain {
        profile: Option<String>,
        access_key_id: Option<String>,
    },
    /// A named profile of the AWS config files (bound to the registry).
    Profile(String),
    /// A key set of this product: its access key id, where its secret is kept, and the role it
    /// assumes, if any.
    KeySet {
        name: String,
        access_key_id: String,
        secret_location: SecretLocation,
        role: Option<RoleConfig>,
    },
    /// A token handed in by `store` (what `docker login -u AWS` sends); it cannot be refreshed.
    Stored,
}

impl CredentialSource {
    /// The default chain as `env` selects it.
    pub fn default_chain_from(env: &dyn Fn(&str) -> Option<String>) -> CredentialSource {
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        CredentialSource::DefaultChain {
            profile: PROFILE_VARS.iter().find_map(|name| non_empty(name)),
            access_key_id: non_empty(ACCESS_KEY_VAR),
        }
    }

    /// A stable description, part of the cache key. Holds no secret (an access key id is an
    /// identifier, not a secret).
    fn key_part(&self) -> String {
        match self {
            CredentialSource::DefaultChain {
                profile,
                access_key_id,
            } => format!(
                "default-chain;profile={};key={}",
                profile.as_deref().unwrap_or(""),
                access_key_id.as_deref().unwrap_or("")
            ),
            CredentialSource::Profile(name) => format!("profile;name={name}"),
            CredentialSource::KeySet {
                name,
                access_key_id,
                role,
                ..
            } => format!(
                "key-set;name={name};key={access_key_id};role={};external-id={}",
                role.as_ref().map_or("", |r| r.arn.as_str()),
                role.as_ref()
                    .and_then(|r| r.external_id.as_deref())
                    .unwrap_or("")
            ),
            CredentialSource::Stored => "stored".to_string(),
        }
    }

    /// The key set's name, when this source is one.
    pub fn key_set_name(&self) -> Option<&str> {
        match self {
            CredentialSource::KeySet { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::DefaultChain {
                profile: Some(p), ..
            } => write!(f, "AWS profile {p}"),
            CredentialSource::DefaultChain { .. } => {
                f.write_str("the default AWS credential chain")
            }
            CredentialSource::Profile(name) => write!(f, "AWS profile {name}"),
            CredentialSource::KeySet { name, .. } => write!(f, "key set {name}"),
            CredentialSource::Stored => f.write_str("a token stored by docker login"),
        }
    }
}

/// Everything that distinguishes one cached token from another: the registry, the API endpoint
/// it came from, and the identity that fetched it. Never the access key id alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    pub registry: Registry,
    pub endpoint: Option<String>,
    /// The STS endpoint override, for sources that assume a role.
    pub sts_endpoint: Option<String>,
    pub source: CredentialSource,
}

/// A binding that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{registry} is bound to key set {key_set:?}, which does not exist: run `docker-credential-ecr add` again or `remove` the binding"
)]
pub struct UnknownKeySet {
    pub registry: String,
    pub key_set: String,
}

impl TokenScope {
    /// The scope of a `get` for `registry` as `env` describes it, with no bindings.
    pub fn from(registry: Registry, env: &dyn Fn(&str) -> Option<String>) -> TokenScope {
        Self::for_source(registry, CredentialSource::default_chain_from(env), env)
    }

    /// The scope of fetching `registry`'s token with `source`: the endpoints come from `env`
    /// (STS's only when the source assumes a role).
    pub fn for_source(
        registry: Registry,
        source: CredentialSource,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> TokenScope {
        let sts_endpoint = match &source {
            CredentialSource::KeySet { role: Some(_), .. } => {
                configured_endpoint(env, "AWS_ENDPOINT_URL_STS")
            }
            _ => None,
        };
        TokenScope {
            endpoint: endpoint_override(&registry, env),
            registry,
            sts_endpoint,
            source,
        }
    }

    /// The scope of a `get` for `registry`: the binding that serves it (exact host, then
    /// pattern), else the default chain as `env` selects it.
    pub fn resolve(
        registry: Registry,
        config: &ProductConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TokenScope, UnknownKeySet> {
        let source = match config
            .binding_for(&registry)
            .map(|b| (&b.source, &b.registry))
        {
            None | Some((BoundSource::DefaultChain, _)) => {
                CredentialSource::default_chain_from(env)
            }
            Some((BoundSource::Profile(name), _)) => CredentialSource::Profile(name.clone()),
            Some((BoundSource::KeySet(name), matched)) => {
                let key_set = config.key_sets.get(name).ok_or_else(|| UnknownKeySet {
                    registry: matched.to_string(),
                    key_set: name.clone(),
                })?;
                CredentialSource::KeySet {
                    name: name.clone(),
                    access_key_id: key_set.access_key_id.clone(),
                    secret_location: key_set.secret_location,
                    role: key_set.role.clone(),
                }
            }
        };
        Ok(Self::for_source(registry, source, env))
    }

    /// The scope of a token handed in by `docker login` for `registry`.
    pub fn stored(registry: Registry) -> TokenScope {
        TokenScope {
            registry,
            endpoint: None,
            sts_endpoint: None,
            source: CredentialSource::Stored,
        }
    }

    /// The full, human-readable cache key (hashed into a file name by the cache).
    pub fn key(&self) -> String {
        format!(
            "v1;registry={};endpoint={};sts={};source={}",
            self.registry.cache_id(),
            self.endpoint.as_deref().unwrap_or(""),
            self.sts_endpoint.as_deref().unwrap_or(""),
            self.source.key_part()
        )
    }
}

/// The endpoint URL the SDK will use for this registry's API, from the service-specific
/// variable, then the global one, unless configured endpoints are switched off.
pub fn endpoint_override(
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let service_var = if registry.is_public() {
        "AWS_ENDPOINT_URL_ECR_PUBLIC"
    } else {
        "AWS_ENDPOINT_URL_ECR"
    };
    configured_endpoint(env, service_var)
}

/// `service_var`, then `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
fn configured_endpoint(env: &dyn Fn(&str) -> Option<String>, service_var: &str) -> Option<String> {
    if env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return None;
    }
    [service_var, "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn private() -> Registry {
        Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap()
    }

    #[test]
    fn profile_and_key_id_select_the_default_chain() {
        let env = env_of(&[
            ("AWS_PROFILE", "vendor"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ]);
        assert_eq!(
            CredentialSource::default_chain_from(&env),
            CredentialSource::DefaultChain {
                profile: Some("vendor".into()),
                access_key_id: Some("AKIAIOSFODNN7EXAMPLE".into())
            }
        );
        let fallback = env_of(&[("AWS_DEFAULT_PROFILE", "old"), ("AWS_PROFILE", " ")]);
        assert!(matches!(
            CredentialSource::default_chain_from(&fallback),
            CredentialSource::DefaultChain { profile: Some(p), access_key_id: None } if p == "old"
        ));
    }

    #[test]
    fn service_endpoint_wins_over_global_and_can_be_ignored() {
        let env = env_of(&[
            ("AWS_ENDPOINT_URL", "http://global"),
            ("AWS_ENDPOINT_URL_ECR", "http://ecr"),
        ]);
        assert_eq!(
            endpoint_override(&private(), &env).as_deref(),
            Some("http://ecr")
        );
        let public = Registry::parse("public.ecr.aws").unwrap();
        assert_eq!(
            endpoint_override(&public, &env).as_deref(),
            Some("http://global")
        );
        let ignored = env_of(&[
            ("AWS_ENDPOINT_URL_ECR", "http://ecr"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(endpoint_override(&private(), &ignored), None);
    }

    #[test]
    fn keys_differ_by_registry_endpoint_and_source() {
        let base = TokenScope::from(private(), &env_of(&[]));
        let other_endpoint =
            TokenScope::from(private(), &env_of(&[("AWS_ENDPOINT_URL", "http://x")]));
        let other_profile = TokenScope::from(private(), &env_of(&[("AWS_PROFILE", "p")]));
        let other_region = TokenScope::from(
            Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
            &env_of(&[]),
        );
        let stored = TokenScope::stored(private());
        let keys = [
            &base,
            &other_endpoint,
            &other_profile,
            &other_region,
            &stored,
        ]
        .map(|s| s.key());
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(base.key(), TokenScope::from(private(), &env_of(&[])).key());
    }

    #[test]
    fn bindings_choose_the_source_and_name_the_cache_entry() {
        use crate::bindings::{Binding, RegistryMatch};
        use crate::config::KeySetConfig;
        let mut config = ProductConfig::default();
        config.key_sets.insert(
            "acme".into(),
            KeySetConfig {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_location: SecretLocation::Keychain,
                role: Some(RoleConfig {
                    arn: "arn:aws:iam::123456789012:role/pull".into(),
                    external_id: Some("ext".into()),
                    session_name: None,
                    duration_secs: None,
                }),
                created: 0,
            },
        );
        config.bindings = vec![
            Binding {
                registry: RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com").unwrap(),
                source: BoundSource::KeySet("acme".into()),
            },
            Binding {
                registry: RegistryMatch::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
                    .unwrap(),
                source: BoundSource::Profile("vendor".into()),
            },
            Binding {
                registry: RegistryMatch::parse("111111111111.dkr.ecr.us-east-1.amazonaws.com")
                    .unwrap(),
                source: BoundSource::KeySet("gone".into()),
            },
        ];
        let env = env_of(&[("AWS_ENDPOINT_URL_STS", "http://sts")]);
        let keyed = TokenScope::resolve(private(), &config, &env).unwrap();
        assert_eq!(keyed.source.key_set_name(), Some("acme"));
        assert_eq!(keyed.sts_endpoint.as_deref(), Some("http://sts"));
        assert!(
            keyed
                .key()
                .contains("role=arn:aws:iam::123456789012:role/pull;external-id=ext")
        );
        let profiled = TokenScope::resolve(
            Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap();
        assert_eq!(profiled.source, CredentialSource::Profile("vendor".into()));
        assert_eq!(profiled.sts_endpoint, None);
        let unbound = TokenScope::resolve(
            Registry::parse("222222222222.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap();
        assert!(matches!(
            unbound.source,
            CredentialSource::DefaultChain { .. }
        ));
        let err = TokenScope::resolve(
            Registry::parse("111111111111.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap_err();
        assert_eq!(err.key_set, "gone");
    }
}
