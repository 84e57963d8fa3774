//! The refresher's thread: the loop that renews what is due, tells its [`Observer`], and
//! sleeps until the next deadline or wake-up.
//!
//! It owns the [`UserService`] (rebuilt when the product config changes) and one [`Tracked`]
//! per cache key: the scopes recorded in the cache that it can renew exactly (see
//! [`TokenScope::renewable_elsewhere`] and [`TokenScope::is_current_under`]), plus one for each
//! key of the exact-host bindings that has none yet. A key is an API endpoint and an identity,
//! not a host ([`TokenScope::key`]), so 200 hosts bound to one key set in one region are one
//! [`Tracked`] and one call per renewal. Renewals run one after another on this thread: each
//! is bounded by [`RENEWAL_BUDGET`], and commands that arrive meanwhile wait their turn in the
//! backlog. The observer sees one [`RegistryView`] per host.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::bindings::RegistryMatch;
use crate::cache::CacheKey;
use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind, one_line};
use crate::keychain::KeychainAccess;
use crate::paths::Paths;
use crate::policy::Freshness;
use crate::registry::Registry;
use crate::service::{GetError, Renew, Renewal, UserService};
use crate::source::{CredentialSource, TokenScope};

use super::incidents::Incidents;
use super::schedule::{Backoff, next_renewal};
use super::wakeups::{self, FileWatch, MAX_NAP};
use super::{Command, Observer, Overview, RENEWAL_BUDGET, RegistryView, TokenTimes, Wake};

/// File events come in bursts (temporary file, write, rename): one wake-up per burst.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// A wall-clock jump beyond this between two wakes is logged and every deadline re-read.
const CLOCK_JUMP: Duration = Duration::from_secs(30);

pub(super) fn spawn<O: Observer>(
    paths: Paths,
    observer: O,
    wake: Sender<Wake>,
    wakes: Receiver<Wake>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("ecr-refresher".into())
        .spawn(move || Worker::start(paths, observer, wake).run(&wakes))
}

/// What the refresher knows of one cache key.
#[derive(Debug, Default)]
struct Tracked {
    /// The registry it renews for (its scope's), which names it in logs and incidents.
    host: String,
    /// Every host it serves that the observer is shown: the bound exact hosts of its key, and
    /// the host its cache entry was fetched for.
    hosts: BTreeSet<String>,
    /// What it renews; `None` while the registry's binding cannot be used.
    scope: Option<TokenScope>,
    /// Bound to this host by the product config (else found in the cache).
    bound: bool,
    source: String,
    key_set: Option<String>,
    token: Option<TokenTimes>,
    /// A token from `docker login`: shown, never renewed.
    login_only: bool,
    failures: u32,
    retry_at: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    error: Option<String>,
    /// "Refresh now" was asked.
    forced: bool,
    refreshing: bool,
    /// Cannot be renewed until the config changes (its binding is broken).
    parked: bool,
}

impl Tracked {
    /// When this registry should next be renewed, if ever.
    fn due(&self, now: SystemTime) -> Option<SystemTime> {
        if self.forced {
            return Some(now);
        }
        if self.parked || self.login_only {
            return None;
        }
        Some(next_renewal(
            self.token.as_ref(),
            self.failures,
            self.retry_at,
            self.last_attempt,
            now,
        ))
    }
}

/// What [`Worker::rescan`] found to look after under one cache key.
struct Wanted {
    scope: TokenScope,
    bound: bool,
    login_only: bool,
    hosts: BTreeSet<String>,
}

/// Whether the loop goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Worker<O> {
    paths: Paths,
    observer: O,
    service: Option<UserService>,
    problem: Option<String>,
    /// By cache key (or, for a binding that cannot be used, by host).
    registries: BTreeMap<String, Tracked>,
    /// Scopes found in the cache that proved impossible to renew here (their identity is gone
    /// from the files they name): left to `get` until the config changes.
    given_up: BTreeSet<String>,
    incidents: Incidents,
    backlog: VecDeque<Wake>,
    published: Option<Overview>,
    clock_watched: bool,
    _files: Option<FileWatch>,
}

impl<O: Observer> Worker<O> {
    fn start(paths: Paths, observer: O, wake: Sender<Wake>) -> Worker<O> {
        let files = match wakeups::watch_files(&paths, wake.clone()) {
            Ok(watch) => Some(watch),
            Err(e) => {
                tracing::warn!(error = %e, "config and cache changes are noticed only at the next deadline");
                None
            }
        };
        let clock_watched = wakeups::watch_clock(wake);
        Worker {
            paths,
            observer,
            service: None,
            problem: None,
            registries: BTreeMap::new(),
            given_up: BTreeSet::new(),
            incidents: Incidents::new(),
            backlog: VecDeque::new(),
            published: None,
            clock_watched,
            _files: files,
        }
    }

    fn run(mut self, wakes: &Receiver<Wake>) {
        tracing::info!("refresher started");
        self.reload();
        loop {
            if self.renew_due(wakes) == Flow::Stop {
                break;
            }
            self.publish();
            let Some(wake) = self.next_wake(wakes) else {
                break;
            };
            if self.handle(wake, wakes) == Flow::Stop {
                break;
            }
        }
        tracing::info!("refresher stopped");
    }

    /// Sleeps until the earliest deadline or a wake-up; `None` when the handle is gone.
    fn next_wake(&mut self, wakes: &Receiver<Wake>) -> Option<Option<Wake>> {
        if let Some(wake) = self.backlog.pop_front() {
            return Some(Some(wake));
        }
        let (wall_before, mono_before) = (SystemTime::now(), Instant::now());
        let mut nap = self
            .next_deadline(wall_before)
            .map(|at| at.duration_since(wall_before).unwrap_or(Duration::ZERO));
        if !self.clock_watched
            && let Some(cap) = MAX_NAP
        {
            nap = Some(nap.map_or(cap, |n| n.min(cap)));
        }
        let received = match nap {
            Some(nap) => match wakes.recv_timeout(nap) {
                Ok(wake) => Some(wake),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return None,
            },
            None => Some(wakes.recv().ok()?),
        };
        if clock_jumped(wall_before, mono_before) {
            self.backlog.push_back(Wake::ClockChanged);
        }
        Some(received)
    }

    fn handle(&mut self, first: Option<Wake>, wakes: &Receiver<Wake>) -> Flow {
        let Some(first) = first else {
            return Flow::Continue;
        };
        if matches!(first, Wake::ConfigChanged | Wake::CacheChanged) {
            thread::sleep(DEBOUNCE);
        }
        let mut pending = vec![first];
        pending.extend(self.backlog.drain(..));
        pending.extend(wakes.try_iter());
        let (mut reload, mut rescan) = (false, false);
        for wake in pending {
            match wake {
                Wake::Command(Command::Shutdown) => return Flow::Stop,
                Wake::Command(Command::RefreshNow(host)) => {
                    let mut found = false;
                    for tracked in self
                        .registries
                        .values_mut()
                        .filter(|t| t.hosts.contains(&host))
                    {
                        tracked.forced = !tracked.login_only;
                        found = true;
                    }
                    if !found {
                        tracing::warn!(registry = %host, "refresh asked for an unknown registry")
                    }
                }
                Wake::Command(Command::RefreshAll) => {
                    for tracked in self.registries.values_mut() {
                        tracked.forced = !tracked.login_only;
                    }
                }
                Wake::ConfigChanged => reload = true,
                Wake::CacheChanged => rescan = true,
                Wake::ClockChanged => {
                    tracing::info!(
                        "the wall clock changed (set, or resumed from suspend): re-reading every deadline"
                    );
                    rescan = true;
                }
            }
        }
        if reload {
            self.reload();
        } else if rescan {
            self.rescan();
        }
        Flow::Continue
    }

    /// Re-reads the product config and retries failed registries at once (new keys, a fixed
    /// binding): a config write is a person's request, like "Refresh now", so the renewal gap
    /// does not hold it back. An unreadable config keeps the previous one working and is shown.
    fn reload(&mut self) {
        match UserService::open(&self.paths, KeychainAccess::UNATTENDED) {
            Ok(service) => {
                self.service = Some(service);
                self.problem = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the product config; keeping the previous one");
                self.problem = Some(e.to_string());
            }
        }
        for tracked in self.registries.values_mut() {
            tracked.failures = 0;
            tracked.retry_at = None;
            tracked.last_attempt = None;
            tracked.parked = false;
        }
        self.given_up.clear();
        self.rescan();
    }

    /// Re-reads what there is to renew: the scopes recorded in the cache that this process
    /// can renew exactly and that a `get` would still use, with a servable token or a binding;
    /// then each exact-host binding that has none of those yet, with this process's own view of
    /// its scope. Tokens from `docker login` are shown, never renewed; keys that lived only in
    /// some shell's environment are left to `get`, silently.
    fn rescan(&mut self) {
        let Some(service) = &self.service else {
            return;
        };
        let config = service.config();
        let policy = *service.policy();
        let now = SystemTime::now();
        let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
        for entry in service.cache_entries() {
            let bound = config.binding_for(&entry.scope.registry).is_some();
            let servable = policy.assess(&entry.token, now) != Freshness::Unusable;
            let hosts = BTreeSet::from([entry.scope.registry.host().to_string()]);
            if entry.scope.source == CredentialSource::Stored {
                if !bound && servable {
                    let wants = Wanted {
                        scope: entry.scope,
                        bound,
                        login_only: true,
                        hosts,
                    };
                    wanted.insert(entry.key.as_str().to_string(), wants);
                }
                continue;
            }
            if !entry.scope.renewable_elsewhere() || !entry.scope.is_current_under(config) {
                continue;
            }
            // What the recorded inputs select now: an edited credentials file is a new scope.
            let scope = entry.scope.reread();
            let key = CacheKey::for_scope(&scope).as_str().to_string();
            let current = scope == entry.scope;
            // Only what a `get` would still compute: a file edited since is another identity,
            // which the next `get` (or, for a binding, this process's own scope) will fetch.
            if self.given_up.contains(&key) || !current || !(bound || servable) {
                continue;
            }
            let wants = Wanted {
                scope,
                bound,
                login_only: false,
                hosts,
            };
            wanted.insert(key, wants);
        }
        // Each exact-host binding joins a recorded scope that serves it (one a `get` from a
        // shell made, with inputs this process's environment may lack), else the key of its
        // scope as this process sees it (one per identity and endpoint: each bound source's
        // inputs are read once, however many hosts use it).
        let recorded: Vec<String> = wanted
            .iter()
            .filter(|(_, w)| !w.login_only)
            .map(|(key, _)| key.clone())
            .collect();
        let mut resolver = service.scope_resolver();
        let mut unusable: BTreeMap<String, GetError> = BTreeMap::new();
        for binding in &config.bindings {
            let RegistryMatch::Host(host) = &binding.registry else {
                continue;
            };
            let Ok(registry) = Registry::parse(host) else {
                continue;
            };
            let served_by = recorded
                .iter()
                .find(|key| service.serves(&wanted[*key].scope, &registry));
            if let Some(wants) = served_by.and_then(|key| wanted.get_mut(key)) {
                wants.bound = true;
                wants.hosts.insert(host.clone());
                continue;
            }
            match resolver.resolve(registry) {
                Ok(scope) => {
                    let key = CacheKey::for_scope(&scope).as_str().to_string();
                    let wants = wanted.entry(key).or_insert_with(|| Wanted {
                        scope,
                        bound: true,
                        login_only: false,
                        hosts: BTreeSet::new(),
                    });
                    wants.bound = true;
                    wants.hosts.insert(host.clone());
                }
                Err(e) => {
                    unusable.insert(host.clone(), GetError::Binding(e));
                }
            }
        }

        let gone: Vec<String> = self
            .registries
            .keys()
            .filter(|k| !wanted.contains_key(*k) && !unusable.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(tracked) = self.registries.remove(&key)
                && !self.registries.values().any(|t| t.host == tracked.host)
            {
                self.incidents.forget(&tracked.host);
            }
        }
        for (key, wants) in wanted {
            let Wanted {
                scope,
                bound,
                login_only,
                hosts,
            } = wants;
            let tracked = self.registries.entry(key).or_default();
            tracked.host = scope.registry.host().to_string();
            tracked.hosts = hosts;
            tracked.bound = bound;
            tracked.login_only = login_only;
            tracked.source = if login_only {
                "docker login".to_string()
            } else {
                scope.source.to_string()
            };
            tracked.key_set = scope.source.key_set_name().map(str::to_string);
            tracked.token = service
                .cache()
                .load(&CacheKey::for_scope(&scope), service.clock())
                .map(|token| TokenTimes::of(&token, &policy));
            tracked.scope = Some(scope);
        }
        for (host, error) in unusable {
            let tracked = self.registries.entry(host.clone()).or_default();
            let (error, parks) = as_fetch_error(error);
            tracked.hosts = BTreeSet::from([host.clone()]);
            tracked.host = host;
            tracked.bound = true;
            tracked.scope = None;
            tracked.error = Some(one_line(&error.to_string()));
            tracked.parked = parks;
        }
    }

    /// Renews every registry that is due, most overdue first.
    fn renew_due(&mut self, wakes: &Receiver<Wake>) -> Flow {
        loop {
            let now = SystemTime::now();
            let Some(key) = self.most_overdue(now) else {
                return Flow::Continue;
            };
            self.renew(&key);
            self.backlog.extend(wakes.try_iter());
            if self.backlog.contains(&Wake::Command(Command::Shutdown)) {
                return Flow::Stop;
            }
        }
    }

    fn renew(&mut self, key: &str) {
        if self.service.is_none() {
            return;
        }
        let Some(tracked) = self.registries.get_mut(key) else {
            return;
        };
        let host = tracked.host.clone();
        let host = host.as_str();
        let Some(scope) = tracked.scope.clone() else {
            tracked.forced = false;
            tracked.parked = true;
            return;
        };
        let when = if std::mem::take(&mut tracked.forced) {
            Renew::Now
        } else {
            Renew::WhenHalfSpent
        };
        tracked.refreshing = true;
        tracked.last_attempt = Some(SystemTime::now());
        self.publish();

        let service = self.service.as_ref().expect("checked above");
        let result = service.renew_scope(&scope, when, Deadline::after(RENEWAL_BUDGET));
        let policy = *service.policy();
        let tracked = self
            .registries
            .get_mut(key)
            .expect("only this thread changes the registries");
        tracked.refreshing = false;
        let notices = match result {
            Ok(renewal) => {
                if let Renewal::Fetched { token, .. } = &renewal {
                    tracing::info!(
                        registry = %host,
                        expires_in = %humanize(token.remaining(SystemTime::now())),
                        "refreshed token"
                    );
                } else {
                    tracing::debug!(registry = %host, "already renewed by another process");
                }
                tracked.token = Some(TokenTimes::of(renewal.token(), &policy));
                tracked.failures = 0;
                tracked.retry_at = None;
                tracked.error = None;
                let skew = match renewal {
                    Renewal::Fetched { clock_skew, .. } => clock_skew,
                    Renewal::NotDue(_) => None,
                };
                self.incidents.succeeded(host, skew)
            }
            Err(error) if !tracked.bound && is_identity_gone(&error) => {
                // Found in the cache, but what it recorded no longer yields an identity here
                // (the profile left the file): that is `get`'s business, not an incident.
                tracing::info!(registry = %host, source = %tracked.source, error = %error, "cannot renew this cached token here; leaving it to get");
                self.given_up.insert(key.to_string());
                self.registries.remove(key);
                if !self.registries.values().any(|t| t.host == host) {
                    self.incidents.forget(host);
                }
                Vec::new()
            }
            Err(error) => {
                let (error, parks) = as_fetch_error(error);
                tracked.failures += 1;
                tracked.parked = parks;
                let delay = Backoff::for_kind(error.kind).delay(tracked.failures, fastrand::f64());
                tracked.retry_at = (!parks).then(|| later(SystemTime::now(), delay));
                tracked.error = Some(one_line(&error.to_string()));
                tracing::warn!(
                    registry = %host,
                    error = %error,
                    retry_in = %if parks { "after a config change".to_string() } else { humanize(delay) },
                    "refresh failed"
                );
                self.incidents.failed(host, &error).into_iter().collect()
            }
        };
        for notice in &notices {
            tracing::info!(?notice, "notice");
            self.observer.notice(notice);
        }
        self.publish();
    }

    fn most_overdue(&self, now: SystemTime) -> Option<String> {
        self.registries
            .iter()
            .filter_map(|(key, t)| t.due(now).map(|due| (due, key)))
            .filter(|(due, _)| *due <= now)
            .min()
            .map(|(_, key)| key.clone())
    }

    fn next_deadline(&self, now: SystemTime) -> Option<SystemTime> {
        self.registries.values().filter_map(|t| t.due(now)).min()
    }

    /// Tells the observer the overview (one view per host), when it changed.
    fn publish(&mut self) {
        let now = SystemTime::now();
        let mut views: BTreeMap<&str, RegistryView> = BTreeMap::new();
        // Bound scopes first: a host's source is its binding's.
        let mut tracked: Vec<&Tracked> = self.registries.values().collect();
        tracked.sort_by_key(|t| !t.bound);
        for t in tracked {
            for host in &t.hosts {
                let view = views.entry(host).or_insert_with(|| RegistryView {
                    host: host.clone(),
                    source: t.source.clone(),
                    key_set: t.key_set.clone(),
                    token: None,
                    refreshing: false,
                    error: None,
                    next_attempt: None,
                });
                if t.token
                    .is_some_and(|a| view.token.is_none_or(|b| a.expires_at > b.expires_at))
                {
                    view.token = t.token;
                }
                view.refreshing |= t.refreshing;
                if view.error.is_none() {
                    view.error = t.error.clone();
                }
                view.next_attempt = match (view.next_attempt, t.due(now)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        let overview = Overview {
            registries: views.into_values().collect(),
            problem: self.problem.clone(),
        };
        if self.published.as_ref() != Some(&overview) {
            self.observer.overview(&overview);
            self.published = Some(overview);
        }
    }
}

/// Whether a failed renewal found no identity at all (not: one that AWS refused).
fn is_identity_gone(error: &GetError) -> bool {
    match error {
        GetError::NotFound(_) => true,
        GetError::Fetch { error, .. } => error.kind == FetchErrorKind::NoIdentity,
        _ => false,
    }
}

/// `at + delay`, or `at` itself should that overflow the clock.
fn later(at: SystemTime, delay: Duration) -> SystemTime {
    at.checked_add(delay).unwrap_or(at)
}

/// A failed renewal as a [`FetchError`], and whether only a config change can fix it.
fn as_fetch_error(error: GetError) -> (FetchError, bool) {
    match error {
        GetError::Fetch { error, .. } => (error, false),
        GetError::NotFound(reason) => (
            FetchError::new(
                FetchErrorKind::NoIdentity,
                format!("no AWS credentials for the refresher ({reason})"),
            ),
            false,
        ),
        GetError::Busy { .. } => (
            FetchError::new(
                FetchErrorKind::Timeout,
                "another docker-credential-ecr held the registry's lock until the time limit",
            ),
            false,
        ),
        GetError::Binding(e) => (
            FetchError::new(FetchErrorKind::BadConfiguration, e.to_string()),
            true,
        ),
        e @ GetError::BadBinding { .. } => (
            FetchError::new(FetchErrorKind::BadConfiguration, e.to_string()),
            true,
        ),
        GetError::NotEcr(e) => (
            FetchError::new(FetchErrorKind::BadConfiguration, e.to_string()),
            true,
        ),
    }
}

/// Whether the wall clock moved differently from the monotonic clock since `(wall, mono)`:
/// a clock set, or a suspend (during which monotonic time stands still).
fn clock_jumped(wall: SystemTime, mono: Instant) -> bool {
    let mono_elapsed = mono.elapsed();
    let wall_elapsed = match SystemTime::now().duration_since(wall) {
        Ok(forward) => forward,
        Err(_) => return true,
    };
    wall_elapsed.abs_diff(mono_elapsed) > CLOCK_JUMP
}

/// "7h 12m"-style durations for the log, to the second.
fn humanize(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_forced_registry_is_due_now_even_when_parked_or_from_docker_login() {
        let parked = Tracked {
            parked: true,
            ..Tracked::default()
        };
        assert_eq!(parked.due(at(5)), None);
        let forced = Tracked {
            parked: true,
            forced: true,
            ..Tracked::default()
        };
        assert_eq!(forced.due(at(5)), Some(at(5)));
        let login = Tracked {
            login_only: true,
            ..Tracked::default()
        };
        assert_eq!(login.due(at(5)), None);
    }

    #[test]
    fn a_failed_registry_waits_for_its_retry_time() {
        let failing = Tracked {
            failures: 2,
            retry_at: Some(at(30)),
            ..Tracked::default()
        };
        assert_eq!(failing.due(at(5)), Some(at(30)));
    }

    #[test]
    fn a_broken_binding_waits_for_a_config_change() {
        let unknown = crate::source::UnknownKeySet {
            registry: "r".into(),
            key_set: "acme".into(),
        };
        let (error, parks) = as_fetch_error(GetError::Binding(unknown));
        assert!(parks);
        assert_eq!(error.kind, FetchErrorKind::BadConfiguration);
        let (error, parks) = as_fetch_error(GetError::NotFound("none".into()));
        assert!(!parks);
        assert_eq!(error.kind, FetchErrorKind::NoIdentity);
    }

    #[test]
    fn clocks_that_moved_together_did_not_jump() {
        assert!(!clock_jumped(SystemTime::now(), Instant::now()));
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        assert!(
            clock_jumped(an_hour_ago, Instant::now()),
            "wall moved 1 h, monotonic 0"
        );
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert!(clock_jumped(future, Instant::now()), "wall went back");
    }
}
