//! What a `get` can answer from the token cache alone: the warm path, shared by the helper's
//! service and its small front binary, so that the two can never disagree on when a cached
//! token is served.
//!
//! Nothing here fetches, locks, logs a decision or writes: a token that is missing, due for
//! refresh or unusable is `None`, and the caller takes the full path (which may refresh it,
//! fetch it or explain why not).

use std::path::Path;

use crate::cache::{CacheKey, TokenCache};
use crate::clock::Clock;
use crate::config::{ConfigFile, ProductConfig, RejectedAlias};
use crate::paths::Paths;
use crate::policy::{Freshness, RefreshPolicy};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::source::TokenScope;
use crate::token::Token;

/// The token handed in by `docker login` for `registry`, while it is still valid: it is served
/// before any other (the user chose it), up to its expiry.
pub fn stored_token(
    cache: &TokenCache,
    policy: &RefreshPolicy,
    clock: &dyn Clock,
    registry: &Registry,
) -> Option<Token> {
    let key = CacheKey::for_scope(&TokenScope::stored(registry.clone()));
    let token = cache.load(&key, clock)?;
    match policy.assess(&token, clock.now()) {
        Freshness::Unusable => None,
        Freshness::Fresh | Freshness::DueForRefresh => Some(token),
    }
}

/// The cached token of `scope` if it is fresh: outside the refresh margin, so that serving it
/// needs no network at all.
pub fn fresh_token(
    cache: &TokenCache,
    policy: &RefreshPolicy,
    clock: &dyn Clock,
    scope: &TokenScope,
) -> Option<Token> {
    let token = cache.load(&CacheKey::for_scope(scope), clock)?;
    (policy.assess(&token, clock.now()) == Freshness::Fresh).then_some(token)
}

/// A `get` of `registry` answered from the files alone, as the full path would answer it:
/// the stored token, else the fresh token of the scope the bindings and `env` select. `None`
/// whenever the full path has anything more to do or to say: ECR Public, a product config
/// that is not a plain file (a FIFO would block), one that does not load or has a rejected
/// binding (the full path warns about it), bad settings, an unknown key set, or no fresh token.
pub fn cached_answer(
    paths: &Paths,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
    clock: &dyn Clock,
) -> Option<Token> {
    if registry.is_public() {
        return None;
    }
    let config_path = paths.config_file();
    let config = load_plain_config(&config_path)?;
    answer_from(paths, &config, registry, env, clock)
}

/// What the files alone say of a `get` of a host that is not ECR ([`alias_answer`]).
#[derive(Debug)]
pub enum AliasLookup {
    /// The product config names it no alias: "credentials not found", as for any such host.
    NotAnAlias,
    /// An alias whose registry's cached token is fresh: this is the answer.
    Served(Token),
    /// An alias, but only the full path can answer (a cold or due token, a rejected entry to
    /// explain, a config that is not a plain file).
    FullPath,
}

/// A `get` of `address`, a host that is not ECR: when the product config names it as an alias
/// ([`crate::alias`]), the target registry's answer of [`cached_answer`], from the same cache
/// entry. A config that cannot be read as a plain file makes no alias, as on the full path
/// (a pull from docker.io must not fail over it).
pub fn alias_answer(
    paths: &Paths,
    address: &str,
    env: &dyn Fn(&str) -> Option<String>,
    clock: &dyn Clock,
) -> AliasLookup {
    let Some(config) = load_plain_config(&paths.config_file()) else {
        return AliasLookup::NotAnAlias;
    };
    let registry = match config.alias_entry(address) {
        Ok(Some(registry)) => registry.clone(),
        Ok(None) => return AliasLookup::NotAnAlias,
        Err(_) => return AliasLookup::FullPath,
    };
    if !config.rejected_aliases.is_empty() {
        return AliasLookup::FullPath;
    }
    match answer_from(paths, &config, &registry, env, clock) {
        Some(token) => AliasLookup::Served(token),
        None => AliasLookup::FullPath,
    }
}

/// [`cached_answer`] with the product config read.
fn answer_from(
    paths: &Paths,
    config: &ProductConfig,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
    clock: &dyn Clock,
) -> Option<Token> {
    if !config.rejected_bindings.is_empty() {
        return None;
    }
    let config_path = paths.config_file();
    let settings = Settings::from_config(
        config,
        &config_path,
        env(crate::settings::REFRESH_MARGIN_ENV).as_deref(),
    )
    .ok()?;
    let policy = RefreshPolicy::new(settings.refresh_margin);
    let cache = TokenCache::new(paths.token_cache_dir());
    if let Some(token) = stored_token(&cache, &policy, clock, registry) {
        return Some(token);
    }
    let scope = TokenScope::resolve(registry.clone(), config, env).ok()?;
    fresh_token(&cache, &policy, clock, &scope)
}

/// The registry the product config of `paths` names `address` an alias of (a host that is not
/// ECR): `Ok(None)` when it names none, also when the config is not a plain file that loads (a
/// pull from docker.io must not fail over it); `Err` for a rejected entry naming it. Shared by
/// the full program's `get` and the kubelet's provider.
pub fn alias_of(paths: &Paths, address: &str) -> Result<Option<Registry>, RejectedAlias> {
    let Some(config) = load_plain_config(&paths.config_file()) else {
        return Ok(None);
    };
    config
        .alias_entry(address)
        .map(Option::<&Registry>::cloned)
        .map_err(RejectedAlias::clone)
}

/// The product config at `path` (defaults when there is none), if it is a regular file that
/// loads: anything else is left to the full path, whose watchdog bounds a blocking read.
pub fn load_plain_config(path: &Path) -> Option<ProductConfig> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => ConfigFile::new(path.to_path_buf()).load().ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(ProductConfig::default()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::secret::Secret;

    /// A wall clock standing still (no step-free clock).
    struct FixedClock(SystemTime);

    impl Clock for FixedClock {
        fn now(&self) -> SystemTime {
            self.0
        }
    }

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    struct Fixture {
        _root: tempfile::TempDir,
        paths: Paths,
    }

    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        Fixture { _root: root, paths }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Caches a 12-hour token for `scope` that has `left` of its life left.
    fn store_for(paths: &Paths, scope: &TokenScope, left: Duration, clock: &dyn Clock) {
        let cache = TokenCache::new(paths.token_cache_dir());
        let life = Duration::from_secs(12 * 3600);
        let token = Token::lasting(Secret::new("pw"), clock.now() - (life - left), life);
        cache.store(scope, &token, clock).unwrap();
    }

    #[test]
    fn a_fresh_token_of_the_selected_scope_is_answered() {
        let f = fixture();
        let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let registry = Registry::parse(HOST).unwrap();
        assert!(cached_answer(&f.paths, &registry, &no_env, &clock).is_none());
        let scope = TokenScope::from(registry.clone(), &no_env);
        store_for(&f.paths, &scope, Duration::from_secs(12 * 3600), &clock);
        let token = cached_answer(&f.paths, &registry, &no_env, &clock).expect("served");
        assert_eq!(token.password.expose(), "pw");
    }

    #[test]
    fn a_token_due_for_refresh_or_of_another_identity_is_left_to_the_full_path() {
        let f = fixture();
        let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let registry = Registry::parse(HOST).unwrap();
        let other_profile = |name: &str| (name == "AWS_PROFILE").then(|| "other".to_string());
        let scope = TokenScope::from(registry.clone(), &other_profile);
        store_for(&f.paths, &scope, Duration::from_secs(12 * 3600), &clock);
        assert!(
            cached_answer(&f.paths, &registry, &no_env, &clock).is_none(),
            "another identity's token"
        );
        let mine = TokenScope::from(registry.clone(), &no_env);
        store_for(&f.paths, &mine, Duration::from_secs(1800), &clock);
        assert!(
            cached_answer(&f.paths, &registry, &no_env, &clock).is_none(),
            "inside the refresh margin"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_config_that_is_not_a_plain_file_is_left_to_the_full_path() {
        let f = fixture();
        let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let registry = Registry::parse(HOST).unwrap();
        let scope = TokenScope::from(registry.clone(), &no_env);
        store_for(&f.paths, &scope, Duration::from_secs(12 * 3600), &clock);
        let config = f.paths.config_file();
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::create_dir(&config).unwrap();
        assert!(cached_answer(&f.paths, &registry, &no_env, &clock).is_none());
        std::fs::remove_dir(&config).unwrap();
        std::fs::write(&config, "{ not json").unwrap();
        assert!(cached_answer(&f.paths, &registry, &no_env, &clock).is_none());
        std::fs::write(&config, "{}").unwrap();
        assert!(cached_answer(&f.paths, &registry, &no_env, &clock).is_some());
    }

    #[test]
    fn an_alias_is_answered_from_its_registrys_cache_entry_and_nothing_else_is() {
        let f = fixture();
        let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let registry = Registry::parse(HOST).unwrap();
        let scope = TokenScope::from(registry.clone(), &no_env);
        store_for(&f.paths, &scope, Duration::from_secs(12 * 3600), &clock);
        let alias = "mirror.corp.example";
        assert!(
            matches!(
                alias_answer(&f.paths, alias, &no_env, &clock),
                AliasLookup::NotAnAlias
            ),
            "not an alias yet"
        );
        let config = f.paths.config_file();
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(
            &config,
            format!(r#"{{"aliases": {{"{alias}": "{HOST}"}}}}"#),
        )
        .unwrap();
        let AliasLookup::Served(token) =
            alias_answer(&f.paths, "https://Mirror.Corp.Example/", &no_env, &clock)
        else {
            panic!("served from the registry's entry");
        };
        assert_eq!(token.password.expose(), "pw");
        for other in [
            "other.corp.example",
            "mirror.corp.example:5000",
            "docker.io",
        ] {
            assert!(
                matches!(
                    alias_answer(&f.paths, other, &no_env, &clock),
                    AliasLookup::NotAnAlias
                ),
                "{other}"
            );
        }
        // One bad alias entry: the full path explains the host it names; the others are still
        // not aliases, and the alias is left to the full path.
        std::fs::write(
            &config,
            format!(r#"{{"aliases": {{"{alias}": "{HOST}", "docker.io": "nope"}}}}"#),
        )
        .unwrap();
        assert!(matches!(
            alias_answer(&f.paths, alias, &no_env, &clock),
            AliasLookup::FullPath
        ));
        assert!(matches!(
            alias_answer(&f.paths, "docker.io", &no_env, &clock),
            AliasLookup::FullPath
        ));
        // A config that is not a plain file (a FIFO, a directory) makes no alias, as on the
        // full path: never a blocked read for a host docker pulls anonymously.
        std::fs::remove_file(&config).unwrap();
        std::fs::create_dir(&config).unwrap();
        assert!(matches!(
            alias_answer(&f.paths, alias, &no_env, &clock),
            AliasLookup::NotAnAlias
        ));
    }
}
