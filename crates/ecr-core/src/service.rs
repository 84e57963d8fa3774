//! The helper's verbs over the core: `get` (cache, single-flight fetch, refresh), `store`,
//! `erase` and `list`.
//!
//! `get` reads top to bottom: parse the host, serve a token stored by `docker login` while it
//! is valid, else the cached token of this scope when the [`RefreshPolicy`] allows it, else
//! fetch one under the scope's lock (re-checking the cache once the lock is held, so N
//! concurrent cold `get`s make one API call). A token due for refresh is refreshed briefly
//! and kept as the fallback. A warm `get` touches only the environment and one cache file:
//! no AWS configuration, no network, no runtime.
//!
//! The kubelet's requests for a service account ([`CredentialService::get_for_service_account`])
//! go the same way over a scope of their own (the role and the token's subject,
//! [`CredentialSource::WebIdentity`]), the token handed down to the one fetch that needs it and
//! kept nowhere. Such scopes record no registry state (`status` and `doctor` report the node's
//! own identities) and no other process renews them.

use std::cell::OnceCell;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::aws::SdkTokenSource;
use crate::cache::{CacheEntry, CacheError, CacheKey, TokenCache};
use crate::clock::{Clock, Deadline, SystemClock};
use crate::config::{ConfigError, ConfigFile, ProductConfig, RejectedBinding};
use crate::fetch::{FetchError, FetchErrorKind, FetchedToken, TokenSource};
use crate::key_store::KeySetSecrets;
use crate::keychain::KeychainAccess;
use crate::paths::Paths;
use crate::policy::{Freshness, RefreshPolicy};
use crate::registry::{NotEcr, Registry};
use crate::secret::Secret;
use crate::settings::{Settings, SettingsError};
use crate::source::{CredentialSource, ScopeResolver, TokenScope, UnknownKeySet};
use crate::state::StateStore;
use crate::token::Token;

/// How long a refresh of a still-valid token may take before the cached one is served.
pub const REFRESH_BUDGET: Duration = Duration::from_secs(2);

/// A difference between AWS's clock and ours beyond this is reported as clock skew.
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// How much later than its deadline a fetch is cut off if the source overruns it.
const OUTER_TIMEOUT_GRACE: Duration = Duration::from_millis(250);

pub use crate::helper_protocol::ECR_USERNAME;

/// What `get` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub server_url: String,
    pub username: String,
    pub secret: Secret,
    /// When the token stops being served without a refresh ([`RefreshPolicy::fresh_until`]):
    /// how long a caller that keeps credentials itself (the kubelet) may keep them.
    pub fresh_until: SystemTime,
}

/// Why `get` has no credentials to give.
#[derive(Debug)]
pub enum GetError {
    /// Not an ECR host: docker should go on anonymously.
    NotEcr(NotEcr),
    /// An ECR host, but no identity at all: docker should go on anonymously.
    NotFound(String),
    /// Credentials exist but a token could not be had.
    Fetch {
        registry: Box<Registry>,
        error: FetchError,
    },
    /// Another `get` held the registry's lock until the deadline.
    Busy { registry: Box<Registry> },
    /// The registry's binding cannot be used.
    Binding(UnknownKeySet),
    /// The registry's binding entry in the config file does not parse.
    BadBinding {
        registry: Box<Registry>,
        rejected: RejectedBinding,
    },
}

impl GetError {
    /// What went wrong, without the registry it went wrong for: for a line that names the
    /// registry already (`refresh`, `status`), so that it is said once.
    pub fn reason(&self) -> String {
        match self {
            GetError::Fetch { error, .. } => error.to_string(),
            GetError::BadBinding { rejected, .. } => {
                format!("{rejected}; fix or delete it by hand")
            }
            GetError::Busy { .. } => {
                "another docker-credential-ecr kept fetching its token until the time limit".into()
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::NotEcr(e) => e.fmt(f),
            GetError::NotFound(reason) => write!(f, "credentials not found: {reason}"),
            GetError::Binding(e) => e.fmt(f),
            GetError::BadBinding { registry, rejected } => write!(
                f,
                "cannot get an ECR token for {registry}: {rejected}; fix or delete it by hand"
            ),
            GetError::Fetch { registry, error } => {
                write!(f, "cannot get an ECR token for {registry}: {error}")
            }
            GetError::Busy { registry } => write!(
                f,
                "cannot get an ECR token for {registry}: another docker-credential-ecr kept fetching it until the time limit"
            ),
        }
    }
}

impl std::error::Error for GetError {}

/// Why `store` refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    NotEcr(#[from] NotEcr),
    #[error(
        "refusing to store credentials for user {0:?}: only ECR tokens (username AWS, as `docker login -u AWS` sends) can be stored"
    )]
    Username(String),
    #[error("refusing to store an empty secret")]
    EmptySecret,
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Reads one environment variable (the process environment, or a test's map).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The helper's verbs, over a token source and a clock.
pub struct CredentialService<S, C> {
    cache: TokenCache,
    policy: RefreshPolicy,
    source: S,
    clock: C,
    config: ProductConfig,
    state: Option<StateStore>,
    env: EnvLookup,
    runtime: OnceCell<tokio::runtime::Runtime>,
}

impl<S: TokenSource, C: Clock> CredentialService<S, C> {
    /// A service reading scopes from the process environment.
    pub fn new(cache: TokenCache, policy: RefreshPolicy, source: S, clock: C) -> Self {
        Self::with_env(
            cache,
            policy,
            source,
            clock,
            Box::new(|name| std::env::var(name).ok()),
        )
    }

    /// A service reading scopes from `env` (for tests).
    pub fn with_env(
        cache: TokenCache,
        policy: RefreshPolicy,
        source: S,
        clock: C,
        env: EnvLookup,
    ) -> Self {
        CredentialService {
            cache,
            policy,
            source,
            clock,
            config: ProductConfig::default(),
            state: None,
            env,
            runtime: OnceCell::new(),
        }
    }

    /// Records each fetch's outcome in `state` (for `status` and `doctor`).
    pub fn with_state(mut self, state: StateStore) -> Self {
        self.state = Some(state);
        self
    }

    /// Uses `config`'s bindings to choose each registry's credentials.
    pub fn with_config(mut self, config: ProductConfig) -> Self {
        self.config = config;
        self
    }

    /// The product config this service resolves bindings with.
    pub fn config(&self) -> &ProductConfig {
        &self.config
    }

    /// The scope a `get` of `registry` would use now.
    pub fn scope(&self, registry: Registry) -> Result<TokenScope, UnknownKeySet> {
        TokenScope::resolve(registry, &self.config, &*self.env)
    }

    /// Resolves the scopes of many registries as [`Self::scope`] does, reading each bound
    /// source's inputs once.
    pub fn scope_resolver(&self) -> ScopeResolver<'_> {
        ScopeResolver::new(&self.config, &*self.env)
    }

    /// The scope of `registry`, refusing a registry whose binding entry does not parse (it
    /// must not fall back to the default chain: the user meant other credentials for it).
    fn bound_scope(&self, registry: Registry) -> Result<TokenScope, GetError> {
        if let Some(rejected) = self.config.rejected_binding_for(&registry) {
            return Err(GetError::BadBinding {
                registry: Box::new(registry),
                rejected: rejected.clone(),
            });
        }
        self.scope(registry).map_err(GetError::Binding)
    }

    /// Credentials for `server_address`, within `deadline`.
    pub fn get(&self, server_address: &str, deadline: Deadline) -> Result<Credentials, GetError> {
        let registry = Registry::parse(server_address).map_err(GetError::NotEcr)?;
        self.get_registry(registry, server_address, deadline)
    }

    /// [`CredentialService::get`] for a `registry` the caller parsed from `server_address`
    /// already (the `get` verb refuses what is not ECR before opening the service).
    pub fn get_registry(
        &self,
        registry: Registry,
        server_address: &str,
        deadline: Deadline,
    ) -> Result<Credentials, GetError> {
        if let Some(token) = self.login_token(&registry) {
            return Ok(self.answer(server_address, token));
        }
        let scope = self.bound_scope(registry.clone())?;
        self.serve(&scope, server_address, None, deadline)
    }

    /// Credentials for `server_address` (whose parsed form is `registry`) bought with a
    /// service account's `token` for `role_arn`: the cached token of that role, token subject
    /// ([`crate::service_account::subject_of`]) and API endpoint while the [`RefreshPolicy`]
    /// allows, else one fetched under that entry's lock (`AssumeRoleWithWebIdentity`, then
    /// ECR), so concurrent requests for one service account make one exchange. Neither the
    /// node's bindings nor a `docker login` token take part; the token is used for the fetch
    /// only, never stored.
    pub fn get_for_service_account(
        &self,
        registry: Registry,
        server_address: &str,
        role_arn: &str,
        token: Secret,
        deadline: Deadline,
    ) -> Result<Credentials, GetError> {
        let source = CredentialSource::web_identity(role_arn, &token);
        let scope = TokenScope::for_source(registry, source, &*self.env);
        self.serve(&scope, server_address, Some(&token), deadline)
    }

    /// What `get` answers for `server_address` with `token`.
    fn answer(&self, server_address: &str, token: Token) -> Credentials {
        Credentials {
            server_url: server_address.trim().to_string(),
            username: ECR_USERNAME.to_string(),
            fresh_until: self.policy.fresh_until(&token),
            secret: token.password,
        }
    }

    /// The cached token of `scope` when the policy allows, else a fetch under its lock (with
    /// `presented`, the service account's token, for a web identity scope).
    fn serve(
        &self,
        scope: &TokenScope,
        server_address: &str,
        presented: Option<&Secret>,
        deadline: Deadline,
    ) -> Result<Credentials, GetError> {
        let key = CacheKey::for_scope(scope);
        if let Some(cached) = self.cache.load(&key, &self.clock) {
            match self.policy.assess(&cached, self.clock.now()) {
                Freshness::Fresh => return Ok(self.answer(server_address, cached)),
                Freshness::DueForRefresh => {
                    let token = self.refresh_or_keep(scope, &key, presented, cached, deadline);
                    return Ok(self.answer(server_address, token));
                }
                Freshness::Unusable => {}
            }
        }
        self.fetch_under_lock(scope, &key, presented, deadline, CacheUse::Recheck)
            .map(|renewal| self.answer(server_address, renewal.into_token()))
    }

    /// Fetches a new token for `server_address` now, whatever the cache holds, and caches it.
    pub fn refresh(&self, server_address: &str, deadline: Deadline) -> Result<Token, GetError> {
        self.renew(server_address, Renew::Now, deadline)
            .map(Renewal::into_token)
    }

    /// Renews `server_address`'s token for a background refresher: under the same lock as
    /// `get`, so the two never both fetch; with [`Renew::WhenHalfSpent`] a token that someone
    /// else renewed meanwhile is kept, not fetched again.
    pub fn renew(
        &self,
        server_address: &str,
        when: Renew,
        deadline: Deadline,
    ) -> Result<Renewal, GetError> {
        let registry = Registry::parse(server_address).map_err(GetError::NotEcr)?;
        let scope = self.bound_scope(registry)?;
        self.renew_scope(&scope, when, deadline)
    }

    /// Renews the token of `scope` exactly (its recorded endpoints and identity inputs, not this
    /// process's environment), as [`CredentialService::renew`] does. A token that arrives with
    /// no life left is a failure here: a refresher that took it for a renewal would fetch again
    /// at once, forever.
    pub fn renew_scope(
        &self,
        scope: &TokenScope,
        when: Renew,
        deadline: Deadline,
    ) -> Result<Renewal, GetError> {
        let key = CacheKey::for_scope(scope);
        let cache_use = match when {
            Renew::Now => CacheUse::Bypass,
            Renew::WhenHalfSpent => CacheUse::UnlessRenewed,
        };
        let renewal = self.fetch_under_lock(scope, &key, None, deadline, cache_use)?;
        let now = self.clock.now();
        let token = renewal.token();
        if self.policy.assess(token, now) == Freshness::Unusable
            || RefreshPolicy::renewal_due(token) <= now
        {
            return Err(GetError::Fetch {
                registry: Box::new(scope.registry.clone()),
                error: FetchError::new(
                    FetchErrorKind::BadResponse,
                    format!(
                        "ECR issued a token with no usable life left ({} s by its own clock); the server or this machine's clock is wrong",
                        token.lifetime().as_secs()
                    ),
                ),
            });
        }
        Ok(renewal)
    }

    /// Every cached token with the scope it records (the refresher renews from these).
    pub fn cache_entries(&self) -> Vec<CacheEntry> {
        self.cache.entries(&self.clock)
    }

    /// The token cache this service reads and writes.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The clock this service measures tokens with.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The cached token of `registry` for the scope a `get` would use now, if any.
    pub fn cached(&self, registry: &Registry) -> Result<Option<(TokenScope, Token)>, GetError> {
        let scope = self.bound_scope(registry.clone())?;
        let key = CacheKey::for_scope(&scope);
        Ok(self
            .cache
            .load(&key, &self.clock)
            .map(|token| (scope, token)))
    }

    /// Caches `token`, fetched for `scope` outside this service (`add` verifying new keys),
    /// when a `get` of the scope's registry would use exactly that scope now and the token is
    /// servable; returns whether it did.
    pub fn adopt(&self, scope: &TokenScope, token: &Token) -> Result<bool, CacheError> {
        let current = self.bound_scope(scope.registry.clone()).ok();
        if current.as_ref() != Some(scope)
            || self.policy.assess(token, self.clock.now()) == Freshness::Unusable
        {
            return Ok(false);
        }
        self.cache.store(scope, token, &self.clock)?;
        if let Some(state) = &self.state {
            state.record_success(scope.registry.host(), self.clock.now());
        }
        Ok(true)
    }

    /// The refresh policy in force.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// Caches a token handed in by `docker login -u AWS`; it is served first while valid.
    pub fn store(
        &self,
        server_address: &str,
        username: &str,
        secret: Secret,
    ) -> Result<(), StoreError> {
        let registry = Registry::parse(server_address)?;
        if username != ECR_USERNAME {
            return Err(StoreError::Username(username.to_string()));
        }
        if secret.expose().trim().is_empty() {
            return Err(StoreError::EmptySecret);
        }
        let token = Token::from_login_password(secret, self.clock.now());
        self.cache
            .store(&TokenScope::stored(registry), &token, &self.clock)?;
        Ok(())
    }

    /// Forgets every cached token a `get` of `server_address` could be served: its `docker
    /// login` token, and each shared entry of its API endpoint whose source its binding gives
    /// it (such an entry also served the other registries of that endpoint and identity: they
    /// fetch again). Returns how many (0 is fine).
    pub fn erase(&self, server_address: &str) -> Result<usize, CacheError> {
        match Registry::parse(server_address) {
            Ok(registry) => self
                .cache
                .erase_where(&self.clock, |scope| self.serves(scope, &registry)),
            Err(_) => Ok(0),
        }
    }

    /// Whether the token cached for `scope` is served to a `get` of `registry` (with the inputs
    /// the scope records, under this service's config).
    pub fn serves(&self, scope: &TokenScope, registry: &Registry) -> bool {
        if scope.is_login() {
            return scope.registry.host() == registry.host();
        }
        let there = scope.with_registry(registry.clone());
        there.key() == scope.key() && there.is_current_under(&self.config)
    }

    /// Registries with cached tokens: those `docker login` stored, and those each shared entry
    /// was fetched for while their binding still gives them its source. (Every other registry
    /// of an entry's endpoint and identity is served by it too: see [`Self::cached`].)
    pub fn list(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .cache
            .entries(&self.clock)
            .into_iter()
            .filter(|entry| entry.scope.is_login() || entry.scope.is_current_under(&self.config))
            .map(|entry| entry.scope.registry.host().to_string())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The token `docker login -u AWS` stored for `registry`, while it is servable: it is
    /// served before any other and cannot be renewed.
    pub fn login_token(&self, registry: &Registry) -> Option<Token> {
        crate::warm::stored_token(&self.cache, &self.policy, &self.clock, registry)
    }

    /// Inside the refresh margin: one brief try, under the lock if nobody else is refreshing;
    /// the cached token stays the answer whenever the refresh does not succeed in time.
    fn refresh_or_keep(
        &self,
        scope: &TokenScope,
        key: &CacheKey,
        presented: Option<&Secret>,
        cached: Token,
        deadline: Deadline,
    ) -> Token {
        let lock = match self.cache.try_lock(key) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::debug!(registry = %scope.registry, "another process is refreshing; serving the cached token");
                return cached;
            }
            Err(e) => {
                tracing::warn!(registry = %scope.registry, error = %e, "cannot lock the cache; serving the cached token");
                return cached;
            }
        };
        if let Some(newer) = self.cache.load(key, &self.clock)
            && self.policy.assess(&newer, self.clock.now()) == Freshness::Fresh
        {
            return newer;
        }
        let result = self.fetch(scope, presented, deadline.capped(REFRESH_BUDGET));
        let token = match result {
            Ok(fetched) => match self.accept(scope, fetched).0 {
                Accepted::Cached(token) => token,
                Accepted::UseOnce(_) => cached,
            },
            Err(error) => {
                tracing::warn!(registry = %scope.registry, error = %error, "refresh failed; serving the cached token, still valid");
                cached
            }
        };
        // Released only now, after the store: the next holder finds the new token.
        drop(lock);
        token
    }

    fn fetch_under_lock(
        &self,
        scope: &TokenScope,
        key: &CacheKey,
        presented: Option<&Secret>,
        deadline: Deadline,
        cache_use: CacheUse,
    ) -> Result<Renewal, GetError> {
        let lock = match self.cache.lock(key, deadline) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                return Err(GetError::Busy {
                    registry: Box::new(scope.registry.clone()),
                });
            }
            // A read-only or full home must not stop pulls: fetch without the cache.
            Err(e) => {
                tracing::warn!(registry = %scope.registry, error = %e, "token cache unusable; fetching without it");
                None
            }
        };
        // Whoever held the lock may have just fetched what we need.
        if let Some(cached) = self.cache.load(key, &self.clock) {
            let now = self.clock.now();
            let keep = match cache_use {
                CacheUse::Recheck => self.policy.assess(&cached, now) != Freshness::Unusable,
                CacheUse::UnlessRenewed => now < RefreshPolicy::renewal_due(&cached),
                CacheUse::Bypass => false,
            };
            if keep {
                return Ok(Renewal::NotDue(cached));
            }
        }
        let fetched = self.fetch(scope, presented, deadline).map_err(|error| {
            if error.is_no_identity() {
                GetError::NotFound(format!("{}: {error}", scope.registry))
            } else {
                GetError::Fetch {
                    registry: Box::new(scope.registry.clone()),
                    error,
                }
            }
        })?;
        let (accepted, clock_skew) = self.accept(scope, fetched);
        let token = match accepted {
            Accepted::Cached(token) | Accepted::UseOnce(token) => token,
        };
        drop(lock);
        Ok(Renewal::Fetched { token, clock_skew })
    }

    /// Puts a fetched token on the local clock, reports skew, and caches it unless it arrived
    /// with no life left (then it is served once and never cached).
    fn accept(&self, scope: &TokenScope, fetched: FetchedToken) -> (Accepted, Option<ClockSkew>) {
        let clock_skew = ClockSkew::of(&fetched);
        if let Some(skew) = clock_skew {
            tracing::warn!(
                registry = %scope.registry,
                skew_secs = skew.by.as_secs(),
                "clock skew: {skew}; token lifetimes are measured on AWS's clock"
            );
        }
        (self.accept_token(scope, fetched), clock_skew)
    }

    fn accept_token(&self, scope: &TokenScope, fetched: FetchedToken) -> Accepted {
        let token = token_of(fetched);
        if self.policy.assess(&token, token.received_at) == Freshness::Unusable {
            tracing::warn!(
                registry = %scope.registry,
                lifetime_secs = token.lifetime().as_secs(),
                "server-side expiry: ECR issued a token that is already expired (or about to) by its own clock; using it once, not caching it"
            );
            return Accepted::UseOnce(token);
        }
        if let Err(e) = self.cache.store(scope, &token, &self.clock) {
            tracing::warn!(registry = %scope.registry, error = %e, "cannot cache the token; serving it uncached");
        }
        Accepted::Cached(token)
    }

    /// Fetches `scope`'s token within `deadline`, with `presented` (a service account's
    /// token) for a web identity scope, and records the outcome for `status` (not for a
    /// service account's scope: those are not the registry's own).
    fn fetch(
        &self,
        scope: &TokenScope,
        presented: Option<&Secret>,
        deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        let runtime = match self.runtime() {
            Ok(runtime) => runtime,
            Err(e) => {
                return Err(FetchError::new(
                    FetchErrorKind::BadConfiguration,
                    format!("cannot start the async runtime: {e}"),
                ));
            }
        };
        tracing::debug!(registry = %scope.registry, endpoint = ?scope.endpoint, "fetching a token");
        // The source bounds each of its steps by `deadline` and names the one that ran out;
        // this outer limit, a little later, only catches a source that does not.
        let result = runtime.block_on(async {
            let limit = deadline.remaining() + OUTER_TIMEOUT_GRACE;
            let outcome = match presented {
                Some(token) => {
                    let fetch = self.source.fetch_with_web_identity(scope, token, deadline);
                    tokio::time::timeout(limit, fetch).await
                }
                None => tokio::time::timeout(limit, self.source.fetch(scope, deadline)).await,
            };
            match outcome {
                Ok(result) => result,
                Err(_) => Err(FetchError::new(
                    FetchErrorKind::Timeout,
                    "gave up waiting for AWS",
                )),
            }
        });
        if let Some(state) = &self.state
            && !scope.is_service_account()
        {
            let host = scope.registry.host();
            match &result {
                Ok(_) => state.record_success(host, self.clock.now()),
                Err(e) => state.record_failure(host, &e.to_string(), self.clock.now()),
            }
        }
        result
    }

    fn runtime(&self) -> std::io::Result<&tokio::runtime::Runtime> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(self.runtime.get_or_init(|| runtime))
    }
}

/// A fetched token on the local clock, used no longer than the credentials that fetched it.
pub fn token_of(fetched: FetchedToken) -> Token {
    // An assumed role's credentials bound the token's use as well.
    let expires_at_server = match fetched.credentials_expire_at {
        Some(credentials_expire) => fetched.expires_at_server.min(credentials_expire),
        None => fetched.expires_at_server,
    };
    Token::from_response(
        fetched.password,
        expires_at_server,
        fetched.server_date,
        fetched.received_at,
    )
}

impl<S, C> Drop for CredentialService<S, C> {
    /// Abandons what a fetch left running on the blocking pool (a read stuck past its
    /// deadline, see [`crate::aws::files`]) instead of waiting for it.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The service over the user's own files, keychain and AWS: what the binaries use.
pub type UserService = CredentialService<SdkTokenSource, SystemClock>;

/// Why the user's service cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

impl UserService {
    /// The service of `paths`: the product config's bindings, the refresh margin, the key
    /// sets' secrets (the keychain used as `keychain` says) and the runtime state.
    pub fn open(paths: &Paths, keychain: KeychainAccess) -> Result<UserService, OpenError> {
        let file = ConfigFile::new(paths.config_file());
        let config = file.load()?;
        for rejected in &config.rejected_bindings {
            tracing::warn!(path = %file.path().display(), "{rejected}; the other bindings work");
        }
        let settings = Settings::from_config_and_env(&config, file.path())?;
        let secrets = KeySetSecrets::new(paths, keychain);
        Ok(CredentialService::new(
            TokenCache::new(paths.token_cache_dir()),
            RefreshPolicy::new(settings.refresh_margin),
            SdkTokenSource::new(Box::new(secrets)),
            SystemClock,
        )
        .with_config(config)
        .with_state(StateStore::new(paths.registry_state_dir())))
    }
}

/// Whether a fetch under the lock first looks for a token fetched meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheUse {
    /// Keep a cached token that is still servable (a `get`).
    Recheck,
    /// Keep a cached token whose renewal is not due yet (a background refresher).
    UnlessRenewed,
    /// Always fetch (`refresh`).
    Bypass,
}

/// When [`CredentialService::renew`] fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renew {
    /// Whatever the cache holds ("refresh now").
    Now,
    /// Only if the cached token is past [`RefreshPolicy::renewal_due`] once the lock is held.
    WhenHalfSpent,
}

/// What a renewal did.
#[derive(Debug, Clone)]
pub enum Renewal {
    /// A new token from AWS, and how far our clock is from AWS's if beyond the tolerance.
    Fetched {
        token: Token,
        clock_skew: Option<ClockSkew>,
    },
    /// The cached token was kept: someone else renewed it meanwhile.
    NotDue(Token),
}

impl Renewal {
    pub fn into_token(self) -> Token {
        match self {
            Renewal::Fetched { token, .. } | Renewal::NotDue(token) => token,
        }
    }

    pub fn token(&self) -> &Token {
        match self {
            Renewal::Fetched { token, .. } | Renewal::NotDue(token) => token,
        }
    }
}

/// How far this machine's clock is from AWS's, when beyond [`CLOCK_SKEW_TOLERANCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew {
    /// Whether our clock is ahead of AWS's (else behind).
    pub local_ahead: bool,
    pub by: Duration,
}

impl ClockSkew {
    /// The skew a response shows, if it has a `Date` and the skew is beyond the tolerance.
    pub fn of(fetched: &FetchedToken) -> Option<ClockSkew> {
        let server_date = fetched.server_date?;
        let (by, local_ahead) = match fetched.received_at.duration_since(server_date) {
            Ok(ahead) => (ahead, true),
            Err(behind) => (behind.duration(), false),
        };
        (by > CLOCK_SKEW_TOLERANCE).then_some(ClockSkew {
            local_ahead,
            by: Duration::from_secs(by.as_secs()),
        })
    }
}

impl fmt::Display for ClockSkew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this machine's clock is {} {} AWS's",
            humantime::format_duration(self.by),
            if self.local_ahead {
                "ahead of"
            } else {
                "behind"
            }
        )
    }
}

/// A fetched token, and whether it went into the cache.
enum Accepted {
    Cached(Token),
    /// Arrived with no usable life: serve it this once, never cache it.
    UseOnce(Token),
}

#[cfg(test)]
mod tests;
