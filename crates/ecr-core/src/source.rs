//! Which identity pays for a token, and where it is fetched from, decided from the environment
//! alone.
//!
//! This runs on every `get`, warm or cold, so it must never load the AWS SDK's configuration:
//! it reads a handful of environment variables and nothing else. What it returns names a cache
//! entry ([`TokenScope`]); the SDK resolves the actual credentials later, and only on a miss.

use std::fmt;

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
    /// A token handed in by `store` (what `docker login -u AWS` sends); it cannot be refreshed.
    Stored,
}

impl CredentialSource {
    /// The default chain as the process environment selects it.
    pub fn default_chain_from_env() -> CredentialSource {
        Self::default_chain_from(&|name| std::env::var(name).ok())
    }

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
            CredentialSource::Stored => "stored".to_string(),
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
    pub source: CredentialSource,
}

impl TokenScope {
    /// The scope of a `get` for `registry` in the process environment.
    pub fn from_env(registry: Registry) -> TokenScope {
        Self::from(registry, &|name| std::env::var(name).ok())
    }

    /// The scope of a `get` for `registry` as `env` describes it.
    pub fn from(registry: Registry, env: &dyn Fn(&str) -> Option<String>) -> TokenScope {
        let endpoint = endpoint_override(&registry, env);
        TokenScope {
            registry,
            endpoint,
            source: CredentialSource::default_chain_from(env),
        }
    }

    /// The scope of a token handed in by `docker login` for `registry`.
    pub fn stored(registry: Registry) -> TokenScope {
        TokenScope {
            registry,
            endpoint: None,
            source: CredentialSource::Stored,
        }
    }

    /// The full, human-readable cache key (hashed into a file name by the cache).
    pub fn key(&self) -> String {
        format!(
            "v1;registry={};endpoint={};source={}",
            self.registry.cache_id(),
            self.endpoint.as_deref().unwrap_or(""),
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
    let ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if ignore {
        return None;
    }
    let service_var = if registry.is_public() {
        "AWS_ENDPOINT_URL_ECR_PUBLIC"
    } else {
        "AWS_ENDPOINT_URL_ECR"
    };
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
}
