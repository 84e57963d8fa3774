//! Which identity pays for a token, and where it is fetched from, decided from the product's
//! bindings and the environment alone.
//!
//! This runs on every `get`, warm or cold, so it must never load the AWS SDK's configuration
//! nor touch the keychain: it reads the already-loaded product config, a handful of
//! environment variables and the digests of the AWS shared files ([`crate::chain_inputs`]).
//! What it returns names a cache entry ([`TokenScope`]) and is recorded in it; the credentials
//! themselves are resolved later, and only on a miss, from exactly those inputs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bindings::BoundSource;
use crate::chain_inputs::{ChainInputs, SharedFiles};
use crate::config::{ProductConfig, RoleConfig, SecretLocation};
use crate::endpoint::ApiEndpoint;
use crate::registry::Registry;

/// Where the credentials behind a token come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialSource {
    /// The standard AWS chain (environment, shared files with `AWS_PROFILE`, SSO,
    /// `credential_process`, web identity, container and instance metadata), with the inputs
    /// that select its identity.
    DefaultChain(Box<ChainInputs>),
    /// A named profile of the AWS shared files (bound to the registry), and those files.
    Profile { name: String, files: SharedFiles },
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
    /// A Kubernetes service account's token, exchanged with STS `AssumeRoleWithWebIdentity`
    /// for `role_arn`: the subject the token carries ([`crate::service_account::subject_of`]:
    /// its `sub`, or a hash of the token) and who issued it for whom
    /// ([`crate::service_account::issuer_and_audience`]), never the token itself. Only a
    /// request that carries such a token can fetch or renew it.
    WebIdentity {
        role_arn: String,
        issuer: String,
        audience: String,
        subject: String,
    },
}

impl CredentialSource {
    /// The default chain as `env` selects it.
    pub fn default_chain_from(env: &dyn Fn(&str) -> Option<String>) -> CredentialSource {
        CredentialSource::DefaultChain(Box::new(ChainInputs::from_env(env)))
    }

    /// Profile `name` of the shared files `env` names.
    pub fn profile_from(name: &str, env: &dyn Fn(&str) -> Option<String>) -> CredentialSource {
        CredentialSource::Profile {
            name: name.to_string(),
            files: SharedFiles::from_env(env),
        }
    }

    /// The source of `token` exchanged for `role_arn` (keyed by the subject it carries).
    pub fn web_identity(role_arn: &str, token: &crate::secret::Secret) -> CredentialSource {
        let (issuer, audience) = crate::service_account::issuer_and_audience(token);
        CredentialSource::WebIdentity {
            role_arn: role_arn.to_string(),
            issuer,
            audience,
            subject: crate::service_account::subject_of(token),
        }
    }

    /// Whether its credentials come from STS (a key set's role, a service account's role): its
    /// tokens then depend on the STS endpoint too.
    pub fn assumes_role(&self) -> bool {
        matches!(
            self,
            CredentialSource::KeySet { role: Some(_), .. } | CredentialSource::WebIdentity { .. }
        )
    }

    /// The key set's name, when this source is one.
    pub fn key_set_name(&self) -> Option<&str> {
        match self {
            CredentialSource::KeySet { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The AWS profile whose settings (such as `ca_bundle`) apply, and the files it is in.
    pub fn profile(&self) -> Option<(&str, &SharedFiles)> {
        match self {
            CredentialSource::DefaultChain(inputs) => Some((inputs.profile_name(), &inputs.files)),
            CredentialSource::Profile { name, files } => Some((name, files)),
            CredentialSource::KeySet { .. }
            | CredentialSource::Stored
            | CredentialSource::WebIdentity { .. } => None,
        }
    }

    /// The same source with the digests of what its shared files hold now.
    fn reread(&self) -> CredentialSource {
        match self {
            CredentialSource::DefaultChain(inputs) => {
                CredentialSource::DefaultChain(Box::new(inputs.reread()))
            }
            CredentialSource::Profile { name, files } => CredentialSource::Profile {
                name: name.clone(),
                files: files.reread(),
            },
            other => other.clone(),
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::DefaultChain(inputs) if inputs.profile.is_some() => {
                write!(f, "AWS profile {}", inputs.profile_name())
            }
            CredentialSource::DefaultChain(_) => f.write_str("the default AWS credential chain"),
            CredentialSource::Profile { name, .. } => write!(f, "AWS profile {name}"),
            CredentialSource::KeySet { name, .. } => write!(f, "key set {name}"),
            CredentialSource::Stored => f.write_str("a token stored by docker login"),
            CredentialSource::WebIdentity {
                role_arn, subject, ..
            } => write!(f, "service account {subject:?} as {role_arn:?}"),
        }
    }
}

/// What a token is fetched for: the registry, the API endpoint overrides, and every input that
/// selected the identity that fetched it. Each cache entry records it, so that a process with
/// another environment can renew the entry exactly (never a secret: see [`crate::chain_inputs`]).
///
/// The cache key ([`TokenScope::key`]) is not all of it: a token fetched for one registry
/// serves every registry of the same API endpoint ([`ApiEndpoint`]) and the same source, so the
/// key holds those two and not the registry host; only a token handed in by `docker login`
/// ([`CredentialSource::Stored`]) stays its host's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        let sts_endpoint = source
            .assumes_role()
            .then(|| configured_endpoint(env, "AWS_ENDPOINT_URL_STS"))
            .flatten();
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
        ScopeResolver::new(config, env).resolve(registry)
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

    /// The cache key: `v3;` and the JSON of either `{"fetched": {"endpoint": ApiEndpoint,
    /// "source": CredentialSource}}` (every registry of that endpoint and identity shares it) or,
    /// for a token from `docker login`, `{"login": {"registry": host}}` (hashed into a file name
    /// by the cache).
    pub fn key(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Key<'a> {
            Fetched {
                endpoint: ApiEndpoint,
                source: &'a CredentialSource,
            },
            Login {
                registry: &'a str,
            },
        }
        let key = match &self.source {
            CredentialSource::Stored => Key::Login {
                registry: self.registry.host(),
            },
            source => Key::Fetched {
                endpoint: self.api_endpoint(),
                source,
            },
        };
        // Serializing plain data fails only for a path that is not UTF-8: its debug form is
        // still unique to it.
        let key = serde_json::to_string(&key).unwrap_or_else(|_| format!("debug:{self:?}"));
        format!("v3;{key}")
    }

    /// The API endpoint this scope's token comes from (with STS's when the source assumes a
    /// role through it).
    pub fn api_endpoint(&self) -> ApiEndpoint {
        ApiEndpoint::of(
            &self.registry,
            self.endpoint.as_deref(),
            self.source
                .assumes_role()
                .then_some(self.sts_endpoint.as_deref()),
        )
    }

    /// Whether this is a token handed in by `docker login` (its host's only).
    pub fn is_login(&self) -> bool {
        self.source == CredentialSource::Stored
    }

    /// The same endpoints and identity, for `registry`: what a `get` of `registry` with the
    /// recorded inputs would use, if its binding gives it this source.
    pub fn with_registry(&self, registry: Registry) -> TokenScope {
        TokenScope {
            registry,
            ..self.clone()
        }
    }

    /// Whether a process other than the one that fetched this scope's token (the tray, the
    /// agent) can renew it from what the scope records: not for keys or tokens that exist only
    /// in that process's environment, nor for tokens from `docker login`, nor for a service
    /// account's (only the kubelet's next request carries its token).
    pub fn renewable_elsewhere(&self) -> bool {
        match &self.source {
            CredentialSource::DefaultChain(inputs) => !inputs.needs_its_own_environment(),
            CredentialSource::Profile { .. } | CredentialSource::KeySet { .. } => true,
            CredentialSource::Stored | CredentialSource::WebIdentity { .. } => false,
        }
    }

    /// Whether this scope's token was bought with a service account's token: it serves only
    /// the kubelet's requests for that service account, never a `get`.
    pub fn is_service_account(&self) -> bool {
        matches!(self.source, CredentialSource::WebIdentity { .. })
    }

    /// Whether `config` still gives this scope's registry this scope's source: a `get` could
    /// use its token. A key set must still have the same keys and role; the registry must still
    /// be bound to the same profile, or to the default chain (or to nothing). Never for a
    /// service account's token (no binding gives it) nor one from `docker login`.
    pub fn is_current_under(&self, config: &ProductConfig) -> bool {
        let bound = config.binding_for(&self.registry).map(|b| &b.source);
        match (&self.source, bound) {
            (CredentialSource::DefaultChain(_), None | Some(BoundSource::DefaultChain)) => true,
            (CredentialSource::Profile { name, .. }, Some(BoundSource::Profile(bound))) => {
                name == bound
            }
            (CredentialSource::KeySet { name, .. }, Some(BoundSource::KeySet(bound))) => {
                name == bound && key_set_source(config, name).as_ref() == Some(&self.source)
            }
            _ => false,
        }
    }

    /// The same scope with the digests of what its shared files hold now: the scope a `get`
    /// with the recorded inputs would use now.
    pub fn reread(&self) -> TokenScope {
        TokenScope {
            source: self.source.reread(),
            ..self.clone()
        }
    }
}

/// [`TokenScope::resolve`] for many registries under one config and environment: each bound
/// source's inputs (the AWS files' digests) are read once, however many registries use it.
pub struct ScopeResolver<'a> {
    config: &'a ProductConfig,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The source of each bound source seen so far (`None`: no binding, the default chain).
    sources: Vec<(Option<BoundSource>, CredentialSource)>,
}

impl<'a> ScopeResolver<'a> {
    pub fn new(config: &'a ProductConfig, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        ScopeResolver {
            config,
            env,
            sources: Vec::new(),
        }
    }

    /// The scope of a `get` for `registry` (see [`TokenScope::resolve`]).
    pub fn resolve(&mut self, registry: Registry) -> Result<TokenScope, UnknownKeySet> {
        let binding = self.config.binding_for(&registry);
        let bound = match binding.map(|b| &b.source) {
            None | Some(BoundSource::DefaultChain) => None,
            Some(other) => Some(other.clone()),
        };
        let known = self.sources.iter().find(|(b, _)| *b == bound);
        let source = match known {
            Some((_, source)) => source.clone(),
            None => {
                let env = self.env;
                let source = match binding {
                    None => CredentialSource::default_chain_from(env),
                    Some(binding) => match &binding.source {
                        BoundSource::DefaultChain => CredentialSource::default_chain_from(env),
                        BoundSource::Profile(name) => CredentialSource::profile_from(name, env),
                        BoundSource::KeySet(name) => {
                            key_set_source(self.config, name).ok_or_else(|| UnknownKeySet {
                                registry: binding.registry.to_string(),
                                key_set: name.clone(),
                            })?
                        }
                    },
                };
                self.sources.push((bound, source.clone()));
                source
            }
        };
        Ok(TokenScope::for_source(registry, source, self.env))
    }
}

/// The source of key set `name` as `config` describes it.
fn key_set_source(config: &ProductConfig, name: &str) -> Option<CredentialSource> {
    let key_set = config.key_sets.get(name)?;
    Some(CredentialSource::KeySet {
        name: name.to_string(),
        access_key_id: key_set.access_key_id.clone(),
        secret_location: key_set.secret_location,
        role: key_set.role.clone(),
    })
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
    use crate::chain_inputs::tests::env_of;

    fn private() -> Registry {
        Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap()
    }

    #[test]
    fn profile_and_key_id_select_the_default_chain() {
        let env = env_of(&[
            ("AWS_PROFILE", "vendor"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ]);
        let CredentialSource::DefaultChain(inputs) = CredentialSource::default_chain_from(&env)
        else {
            panic!("default chain");
        };
        assert_eq!(inputs.profile.as_deref(), Some("vendor"));
        assert_eq!(
            inputs.access_key_id.as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
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
    fn keys_differ_by_every_input_that_selects_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let (job1, job2) = (
            file("job1", "[default]\nk=1\n"),
            file("job2", "[default]\nk=2\n"),
        );
        let base = TokenScope::from(private(), &env_of(&[]));
        let variants = [
            vec![("AWS_ENDPOINT_URL", "http://x")],
            vec![("AWS_PROFILE", "p")],
            vec![("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")],
            vec![("AWS_SHARED_CREDENTIALS_FILE", job1.as_str())],
            vec![("AWS_SHARED_CREDENTIALS_FILE", job2.as_str())],
            vec![("AWS_CONFIG_FILE", job1.as_str())],
            vec![("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r")],
            vec![("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")],
            vec![("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x")],
            vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/")],
        ];
        let mut keys: Vec<String> = variants
            .iter()
            .map(|vars| TokenScope::from(private(), &env_of(vars)).key())
            .collect();
        keys.push(base.key());
        keys.push(
            TokenScope::from(
                Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
                &env_of(&[]),
            )
            .key(),
        );
        keys.push(TokenScope::stored(private()).key());
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(base.key(), TokenScope::from(private(), &env_of(&[])).key());
        let ignored = env_of(&[("AWS_DEFAULT_PROFILE", "p")]);
        assert_eq!(base.key(), TokenScope::from(private(), &ignored).key());

        // The same file edited to hold other keys is another identity.
        let env = env_of(&[("AWS_SHARED_CREDENTIALS_FILE", job1.as_str())]);
        let before = TokenScope::from(private(), &env);
        std::fs::write(&job1, "[default]\nk=3\n").unwrap();
        assert_ne!(before.key(), TokenScope::from(private(), &env).key());
        assert_eq!(before.reread(), TokenScope::from(private(), &env));
    }

    #[test]
    fn registries_of_one_endpoint_and_identity_share_a_key_and_login_tokens_do_not() {
        let host = |h: &str| Registry::parse(h).unwrap();
        let other_account = host("210987654321.dkr.ecr.us-east-1.amazonaws.com");
        let env = env_of(&[("AWS_PROFILE", "work")]);
        assert_eq!(
            TokenScope::from(private(), &env).key(),
            TokenScope::from(other_account.clone(), &env).key()
        );
        assert!(
            !TokenScope::from(private(), &env)
                .key()
                .contains("123456789012")
        );
        assert_ne!(
            TokenScope::from(private(), &env).key(),
            TokenScope::from(other_account.clone(), &env_of(&[])).key(),
            "another identity"
        );
        for other in [
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012.dkr-ecr.us-east-1.on.aws",
            "123456789012.dkr.ecr.us-east-2.amazonaws.com",
            "public.ecr.aws",
        ] {
            assert_ne!(
                TokenScope::from(private(), &env).key(),
                TokenScope::from(host(other), &env).key(),
                "{other}"
            );
        }
        assert_ne!(
            TokenScope::stored(private()).key(),
            TokenScope::stored(other_account).key()
        );
    }

    #[test]
    fn a_scope_round_trips_through_its_record_and_holds_no_secret() {
        let env = env_of(&[
            ("AWS_PROFILE", "work"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9"),
        ]);
        let scope = TokenScope::from(private(), &env);
        let text = serde_json::to_string(&scope).unwrap();
        assert!(!text.contains("K7MDENG"), "{text}");
        let back: TokenScope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, scope);
        assert!(scope.renewable_elsewhere());
        let env_keys = TokenScope::from(
            private(),
            &env_of(&[("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]),
        );
        assert!(!env_keys.renewable_elsewhere());
        assert!(!TokenScope::stored(private()).renewable_elsewhere());
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
                .contains(r#""arn":"arn:aws:iam::123456789012:role/pull","external_id":"ext""#)
        );
        let profiled = TokenScope::resolve(
            Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap();
        assert!(
            matches!(&profiled.source, CredentialSource::Profile { name, .. } if name == "vendor")
        );
        assert!(profiled.is_current_under(&config));
        assert!(keyed.is_current_under(&config));
        assert_eq!(profiled.sts_endpoint, None);
        let unbound = TokenScope::resolve(
            Registry::parse("222222222222.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap();
        assert!(matches!(unbound.source, CredentialSource::DefaultChain(_)));
        assert!(unbound.is_current_under(&config));
        // Once the key set's keys are rotated, or the registry re-bound, the old scope is stale.
        let mut rotated = config.clone();
        rotated.key_sets.get_mut("acme").unwrap().access_key_id = "AKIAI44QH8DHBEXAMPLE".into();
        assert!(!keyed.is_current_under(&rotated));
        let mut rebound = config.clone();
        rebound.bindings.remove(1);
        assert!(!profiled.is_current_under(&rebound));
        let err = TokenScope::resolve(
            Registry::parse("111111111111.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            &config,
            &env,
        )
        .unwrap_err();
        assert_eq!(err.key_set, "gone");
    }

    #[test]
    fn service_accounts_never_share_a_key_and_their_tokens_are_never_recorded() {
        use crate::cache::CacheKey;
        use crate::service_account::tests::jwt;
        let role_a = "arn:aws:iam::123456789012:role/a";
        let role_b = "arn:aws:iam::123456789012:role/b";
        let puller = jwt(r#"{"sub":"system:serviceaccount:shop:puller","jti":"1"}"#);
        let builder = jwt(r#"{"sub":"system:serviceaccount:shop:builder"}"#);
        let opaque = crate::secret::Secret::new("opaque-token-without-claims");
        // Every cluster has the same service account names: another issuer's, or another
        // audience's, puller is another identity.
        let cluster_a = jwt(
            r#"{"iss":"https://oidc.a.example","aud":["sts.amazonaws.com"],"sub":"system:serviceaccount:shop:puller"}"#,
        );
        let cluster_b = jwt(
            r#"{"iss":"https://oidc.b.example","aud":["sts.amazonaws.com"],"sub":"system:serviceaccount:shop:puller"}"#,
        );
        let other_audience = jwt(
            r#"{"iss":"https://oidc.a.example","aud":"ecr.example","sub":"system:serviceaccount:shop:puller"}"#,
        );
        let env = env_of(&[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")]);
        let scope =
            |role: &str, token: &crate::secret::Secret, env: &dyn Fn(&str) -> Option<String>| {
                TokenScope::for_source(private(), CredentialSource::web_identity(role, token), env)
            };
        let scopes = [
            scope(role_a, &puller, &env),
            scope(role_a, &builder, &env),
            scope(role_b, &puller, &env),
            scope(role_b, &builder, &env),
            scope(role_a, &opaque, &env),
            scope(role_a, &cluster_a, &env),
            scope(role_a, &cluster_b, &env),
            scope(role_a, &other_audience, &env),
            scope(role_a, &puller, &env_of(&[])),
            TokenScope::for_source(
                Registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
                CredentialSource::web_identity(role_a, &puller),
                &env,
            ),
        ];
        let mut keys: Vec<String> = scopes.iter().map(TokenScope::key).collect();
        let stems: Vec<CacheKey> = scopes.iter().map(CacheKey::for_scope).collect();
        // Nor with the node's own identities, whatever role they assume.
        keys.push(TokenScope::from(private(), &env).key());
        keys.push(TokenScope::stored(private()).key());
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        for (i, a) in stems.iter().enumerate() {
            for b in &stems[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // A new token of the same service account is the same entry.
        let renewed = jwt(r#"{"sub":"system:serviceaccount:shop:puller","jti":"2"}"#);
        assert_eq!(scope(role_a, &renewed, &env).key(), scopes[0].key());
        assert_eq!(
            scopes[0].sts_endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );

        for (scope, token) in scopes
            .iter()
            .zip([&puller, &builder, &puller, &builder, &opaque])
        {
            let record = serde_json::to_string(scope).unwrap();
            for text in [
                record.as_str(),
                &scope.key(),
                CacheKey::for_scope(scope).as_str(),
            ] {
                assert!(!text.contains(token.expose()), "{text}");
                // Not even the token's signature or payload part.
                for part in token.expose().split('.').filter(|p| p.len() > 8) {
                    assert!(!text.contains(part), "{text}");
                }
            }
            assert_eq!(serde_json::from_str::<TokenScope>(&record).unwrap(), *scope);
            assert!(!scope.renewable_elsewhere());
            assert!(scope.is_service_account());
            assert!(!scope.is_login());
            assert!(!scope.is_current_under(&ProductConfig::default()));
        }
        assert_eq!(
            scopes[0].source.to_string(),
            format!("service account \"system:serviceaccount:shop:puller\" as \"{role_a}\"")
        );
    }
}
