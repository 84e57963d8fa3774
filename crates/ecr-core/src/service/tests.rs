//! Unit tests of the `get`/`store`/`erase` logic with a fake token source and a movable clock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const HOUR: u64 = 3600;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A clock tests move by hand; shared between the test and the service.
#[derive(Clone)]
struct TestClock(Rc<Cell<SystemTime>>);

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        self.0.get()
    }
}

/// Answers fetches from a script, counting them; when the script is empty, issues 12 h tokens.
/// It records the source of each fetch and the subject of the token presented with it.
#[derive(Clone)]
struct ScriptedSource {
    clock: TestClock,
    calls: Rc<Cell<u32>>,
    script: Rc<RefCell<VecDeque<Result<FetchedToken, FetchError>>>>,
    fetched: Rc<RefCell<Vec<Fetched>>>,
}

/// The source a fetch was for, and the subject of the token presented with it, if any.
type Fetched = (CredentialSource, Option<String>);

impl TokenSource for ScriptedSource {
    async fn fetch(
        &self,
        scope: &TokenScope,
        _deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        self.fetched.borrow_mut().push((scope.source.clone(), None));
        self.next()
    }

    async fn fetch_with_web_identity(
        &self,
        scope: &TokenScope,
        token: &Secret,
        _deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        let presented = crate::service_account::subject_of(token);
        self.fetched
            .borrow_mut()
            .push((scope.source.clone(), Some(presented)));
        self.next()
    }
}

impl ScriptedSource {
    fn next(&self) -> Result<FetchedToken, FetchError> {
        self.calls.set(self.calls.get() + 1);
        let now = self.clock.now();
        self.script.borrow_mut().pop_front().unwrap_or_else(|| {
            Ok(token_from_server(
                &format!("pw-{}", self.calls.get()),
                now,
                12 * HOUR,
            ))
        })
    }
}

fn token_from_server(password: &str, now: SystemTime, lifetime_secs: u64) -> FetchedToken {
    FetchedToken {
        password: Secret::new(password),
        expires_at_server: now + Duration::from_secs(lifetime_secs),
        server_date: Some(now),
        received_at: now,
        credentials_expire_at: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    clock: TestClock,
    source: ScriptedSource,
    service: CredentialService<ScriptedSource, TestClock>,
    cache: TokenCache,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock(Rc::new(Cell::new(at(1_800_000_000))));
        let source = ScriptedSource {
            clock: clock.clone(),
            calls: Rc::new(Cell::new(0)),
            script: Rc::new(RefCell::new(VecDeque::new())),
            fetched: Rc::new(RefCell::new(Vec::new())),
        };
        let cache = TokenCache::new(dir.path().join("tokens"));
        let service = CredentialService::with_env(
            cache.clone(),
            RefreshPolicy::new(Duration::from_secs(HOUR)),
            source.clone(),
            clock.clone(),
            Box::new(|name| {
                (name == "AWS_ACCESS_KEY_ID").then(|| "AKIAIOSFODNN7EXAMPLE".to_string())
            }),
        );
        Fixture {
            _dir: dir,
            clock,
            source,
            service,
            cache,
        }
    }

    fn get(&self) -> Result<Credentials, GetError> {
        self.service
            .get(HOST, Deadline::after(Duration::from_secs(5)))
    }

    fn secret(&self) -> String {
        self.get()
            .expect("get succeeds")
            .secret
            .expose()
            .to_string()
    }

    fn calls(&self) -> u32 {
        self.source.calls.get()
    }

    fn advance(&self, secs: u64) {
        self.clock
            .0
            .set(self.clock.0.get() + Duration::from_secs(secs));
    }

    fn script(&self, result: Result<FetchedToken, FetchError>) {
        self.source.script.borrow_mut().push_back(result);
    }
}

#[test]
fn a_cold_get_fetches_once_and_warm_gets_use_the_cache() {
    let f = Fixture::new();
    let answer = f.get().unwrap();
    assert_eq!(answer.username, "AWS");
    assert_eq!(answer.server_url, HOST);
    assert_eq!(answer.secret.expose(), "pw-1");
    for _ in 0..3 {
        assert_eq!(f.secret(), "pw-1");
    }
    assert_eq!(f.calls(), 1);
}

#[test]
fn the_answer_echoes_the_address_docker_sent() {
    let f = Fixture::new();
    let address = format!("https://{HOST}/v2/");
    let answer = f
        .service
        .get(&address, Deadline::after(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(answer.server_url, address);
}

#[test]
fn inside_the_margin_a_get_refreshes_and_falls_back_on_failure() {
    let f = Fixture::new();
    assert_eq!(f.secret(), "pw-1");
    f.advance(11 * HOUR + 60); // 59 min left: inside the 1 h margin
    f.script(Err(FetchError::new(
        FetchErrorKind::Throttled,
        "Rate exceeded",
    )));
    assert_eq!(
        f.secret(),
        "pw-1",
        "the failed refresh keeps the cached token"
    );
    assert_eq!(f.calls(), 2);
    assert_eq!(f.secret(), "pw-3", "the next get refreshes successfully");
    assert_eq!(f.secret(), "pw-3");
    assert_eq!(f.calls(), 3);
}

#[test]
fn a_token_in_its_last_minutes_is_never_served() {
    let f = Fixture::new();
    assert_eq!(f.secret(), "pw-1");
    f.advance(12 * HOUR - 200); // 200 s left: inside the 5 min guard
    f.script(Err(FetchError::new(
        FetchErrorKind::Unreachable,
        "connection refused",
    )));
    match f.get() {
        Err(GetError::Fetch { error, .. }) => assert_eq!(error.kind, FetchErrorKind::Unreachable),
        other => panic!("expected a fetch error, got {other:?}"),
    }
    assert_eq!(f.secret(), "pw-3");
}

#[test]
fn a_token_born_expired_is_served_once_and_not_cached() {
    let f = Fixture::new();
    let now = f.clock.now();
    f.script(Ok(FetchedToken {
        password: Secret::new("moto"),
        expires_at_server: at(1_420_070_400), // 2015-01-01, as moto answers
        server_date: Some(now),
        received_at: now,
        credentials_expire_at: None,
    }));
    assert_eq!(f.secret(), "moto");
    assert_eq!(
        f.secret(),
        "pw-2",
        "nothing was cached, so the next get fetches"
    );
    assert_eq!(f.calls(), 2);
}

#[test]
fn a_skewed_server_clock_does_not_shorten_the_token() {
    let f = Fixture::new();
    let now = f.clock.now();
    let server_now = now + Duration::from_secs(3 * HOUR); // AWS is 3 h "ahead" of us
    f.script(Ok(FetchedToken {
        password: Secret::new("skewed"),
        expires_at_server: server_now + Duration::from_secs(12 * HOUR),
        server_date: Some(server_now),
        received_at: now,
        credentials_expire_at: None,
    }));
    assert_eq!(f.secret(), "skewed");
    f.advance(10 * HOUR);
    assert_eq!(f.secret(), "skewed", "still 2 h of life on our clock");
    assert_eq!(f.calls(), 1);
}

#[test]
fn no_identity_means_not_found_and_other_failures_are_errors() {
    let f = Fixture::new();
    f.script(Err(FetchError::new(
        FetchErrorKind::NoIdentity,
        "no providers",
    )));
    assert!(matches!(f.get(), Err(GetError::NotFound(_))));
    f.script(Err(FetchError::new(
        FetchErrorKind::KeysRejected,
        "UnrecognizedClientException",
    )));
    let err = f.get().unwrap_err().to_string();
    assert!(err.contains(HOST) && err.contains("revoked"), "{err}");
    assert!(matches!(
        f.service
            .get("example.com", Deadline::after(Duration::from_secs(1))),
        Err(GetError::NotEcr(_))
    ));
}

#[test]
fn a_stored_token_is_served_first_while_valid() {
    let f = Fixture::new();
    f.service
        .store(HOST, "AWS", Secret::new("from-login"))
        .unwrap();
    assert_eq!(f.secret(), "from-login");
    assert_eq!(f.calls(), 0);
    f.advance(HOUR); // the default 1 h lifetime has run out
    assert_eq!(f.secret(), "pw-1");
}

#[test]
fn store_refuses_other_usernames_and_non_ecr_hosts() {
    let f = Fixture::new();
    assert!(matches!(
        f.service
            .store(HOST, "AKIAIOSFODNN7EXAMPLE", Secret::new("x")),
        Err(StoreError::Username(_))
    ));
    assert!(matches!(
        f.service.store("example.com", "AWS", Secret::new("x")),
        Err(StoreError::NotEcr(_))
    ));
    assert!(matches!(
        f.service.store(HOST, "AWS", Secret::new(" ")),
        Err(StoreError::EmptySecret)
    ));
    assert!(f.service.list().is_empty(), "nothing was written");
}

#[test]
fn erase_forgets_fetched_and_stored_tokens_of_that_registry() {
    let f = Fixture::new();
    assert_eq!(f.secret(), "pw-1");
    f.service
        .store(HOST, "AWS", Secret::new("from-login"))
        .unwrap();
    assert_eq!(f.service.list(), vec![HOST.to_string()]);
    assert_eq!(f.service.erase(&format!("https://{HOST}")).unwrap(), 2);
    assert!(f.service.list().is_empty());
    assert_eq!(f.service.erase(HOST).unwrap(), 0);
    assert_eq!(f.service.erase("example.com").unwrap(), 0);
    assert_eq!(f.secret(), "pw-2");
}

#[test]
fn a_get_waiting_on_a_held_lock_gives_up_at_its_deadline() {
    let f = Fixture::new();
    let registry = Registry::parse(HOST).unwrap();
    let scope = TokenScope::from(registry, &|name| {
        (name == "AWS_ACCESS_KEY_ID").then(|| "AKIAIOSFODNN7EXAMPLE".to_string())
    });
    let _held = f
        .cache
        .try_lock(&CacheKey::for_scope(&scope))
        .unwrap()
        .unwrap();
    let result = f
        .service
        .get(HOST, Deadline::after(Duration::from_millis(50)));
    assert!(matches!(result, Err(GetError::Busy { .. })), "{result:?}");
    assert_eq!(f.calls(), 0);
}

#[test]
fn a_different_identity_gets_its_own_token() {
    let f = Fixture::new();
    assert_eq!(f.secret(), "pw-1");
    let other = CredentialService::with_env(
        f.cache.clone(),
        RefreshPolicy::new(Duration::from_secs(HOUR)),
        f.source.clone(),
        f.clock.clone(),
        Box::new(|name| (name == "AWS_PROFILE").then(|| "other".to_string())),
    );
    let answer = other
        .get(HOST, Deadline::after(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(answer.secret.expose(), "pw-2");
    assert_eq!(f.secret(), "pw-1");
}

#[test]
fn an_unusable_cache_does_not_stop_a_get() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"a file where the cache directory should be").unwrap();
    let clock = TestClock(Rc::new(Cell::new(at(1_800_000_000))));
    let source = ScriptedSource {
        clock: clock.clone(),
        calls: Rc::new(Cell::new(0)),
        script: Rc::new(RefCell::new(VecDeque::new())),
        fetched: Rc::new(RefCell::new(Vec::new())),
    };
    let service = CredentialService::with_env(
        TokenCache::new(blocker.join("tokens")),
        RefreshPolicy::new(Duration::from_secs(HOUR)),
        source.clone(),
        clock,
        Box::new(|_| None),
    );
    let answer = service
        .get(HOST, Deadline::after(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(answer.secret.expose(), "pw-1");
    assert_eq!(source.calls.get(), 1);
}

#[test]
fn an_assumed_roles_expiry_bounds_the_token() {
    let f = Fixture::new();
    let now = f.clock.now();
    f.script(Ok(FetchedToken {
        credentials_expire_at: Some(now + Duration::from_secs(HOUR)),
        ..token_from_server("role-token", now, 12 * HOUR)
    }));
    assert_eq!(f.secret(), "role-token");
    f.advance(HOUR - 200); // inside the role credentials' last 5 minutes
    assert_eq!(f.secret(), "pw-2");
}

const ROLE_A: &str = "arn:aws:iam::123456789012:role/puller-a";
const ROLE_B: &str = "arn:aws:iam::123456789012:role/puller-b";

/// A service-account token of `name` in namespace `shop` (signed by nobody).
fn sa_token(name: &str, jti: u32) -> Secret {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = format!(r#"{{"sub":"system:serviceaccount:shop:{name}","jti":"{jti}"}}"#);
    Secret::new(format!(
        "{}.{}.{}",
        b64.encode(r#"{"alg":"RS256"}"#),
        b64.encode(claims),
        b64.encode("signature")
    ))
}

impl Fixture {
    fn get_for(&self, role: &str, token: Secret) -> Result<Credentials, GetError> {
        let registry = Registry::parse(HOST).unwrap();
        self.service.get_for_service_account(
            registry,
            HOST,
            role,
            token,
            Deadline::after(Duration::from_secs(5)),
        )
    }

    fn secret_for(&self, role: &str, token: Secret) -> String {
        self.get_for(role, token)
            .expect("service-account get succeeds")
            .secret
            .expose()
            .to_string()
    }
}

#[test]
fn service_accounts_get_their_own_tokens_each_cached_per_role_and_subject() {
    let f = Fixture::new();
    let node = f.secret();
    let a = f.secret_for(ROLE_A, sa_token("puller", 1));
    let b = f.secret_for(ROLE_B, sa_token("builder", 1));
    let same_role_other_subject = f.secret_for(ROLE_A, sa_token("builder", 2));
    let tokens = [&node, &a, &b, &same_role_other_subject];
    for (i, x) in tokens.iter().enumerate() {
        for y in &tokens[i + 1..] {
            assert_ne!(x, y, "never one token for two identities");
        }
    }
    assert_eq!(f.calls(), 4);
    // A new token of a service account already served (the kubelet rotates them) is served
    // from the cache, and so is the node's own `get`.
    assert_eq!(f.secret_for(ROLE_A, sa_token("puller", 9)), a);
    assert_eq!(f.secret_for(ROLE_B, sa_token("builder", 9)), b);
    assert_eq!(f.secret(), node);
    assert_eq!(f.calls(), 4);
    let fetched = f.source.fetched.borrow();
    assert_eq!(
        fetched[1],
        (
            CredentialSource::WebIdentity {
                role_arn: ROLE_A.into(),
                issuer: String::new(),
                audience: String::new(),
                subject: "system:serviceaccount:shop:puller".into()
            },
            Some("system:serviceaccount:shop:puller".into())
        ),
        "fetched with the token of the subject it is cached under"
    );
    assert!(matches!(
        fetched[0],
        (CredentialSource::DefaultChain(_), None)
    ));
}

#[test]
fn a_service_accounts_token_is_refreshed_with_its_own_token_and_never_by_others() {
    let f = Fixture::new();
    let first = f.secret_for(ROLE_A, sa_token("puller", 1));
    // Inside the refresh margin the next request for it refreshes with the token it carries.
    f.advance(11 * HOUR + 60);
    let second = f.secret_for(ROLE_A, sa_token("puller", 2));
    assert_ne!(first, second);
    assert_eq!(f.calls(), 2);
    assert!(
        f.source
            .fetched
            .borrow()
            .iter()
            .all(|(_, presented)| presented.as_deref()
                == Some("system:serviceaccount:shop:puller"))
    );
    // The entry is no registry's: `list` omits it, nothing renews it elsewhere, and a renewal
    // without the token would have to present one (the scripted source is never asked).
    assert!(f.service.list().is_empty(), "{:?}", f.service.list());
    let entries = f.service.cache_entries();
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].scope.renewable_elsewhere());
    assert!(entries[0].scope.is_service_account());
}

#[test]
fn service_account_fetches_leave_the_registry_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let state = StateStore::new(dir.path().join("state"));
    let service = CredentialService::with_env(
        f.cache.clone(),
        RefreshPolicy::new(Duration::from_secs(HOUR)),
        f.source.clone(),
        f.clock.clone(),
        Box::new(|_| None),
    )
    .with_state(state.clone());
    f.script(Err(FetchError::new(
        FetchErrorKind::IdentityTokenRejected,
        "InvalidIdentityToken: no",
    )));
    let registry = Registry::parse(HOST).unwrap();
    let error = service
        .get_for_service_account(
            registry,
            HOST,
            ROLE_A,
            sa_token("puller", 1),
            Deadline::after(Duration::from_secs(5)),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("STS rejected the service account token"),
        "{error}"
    );
    assert_eq!(
        state.load(HOST),
        crate::state::RegistryState::default(),
        "a service account's failure is not the registry's"
    );
}
