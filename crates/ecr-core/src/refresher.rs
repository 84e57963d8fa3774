//! The background refresher shared by `ecr-tray` and `docker-credential-ecr agent`: it keeps
//! every registry's token renewed once half its life has passed, well before a `get` would
//! refresh it (within min(margin, lifetime / 4) of expiry), so that while it runs no `get`
//! waits on AWS.
//!
//! # What it refreshes
//!
//! Every exact-host binding of the product config, and every registry with a cached token
//! (registries reached through an account pattern, or through the default AWS chain, appear
//! there once docker has used them; `docker logout` erases them). Tokens handed in by
//! `docker login` cannot be renewed and are only shown.
//!
//! # How it waits
//!
//! One thread sleeps until the earliest deadline on a channel that also carries commands
//! ("refresh now", shutdown) and wake-ups: the product config or the token cache changed
//! (inotify and its equivalents, through `notify`), or the wall clock jumped (on Linux a
//! `timerfd` with `TFD_TIMER_CANCEL_ON_SET`, which also fires on resume from suspend).
//! Deadlines are wall-clock times (tokens expire in wall-clock time) and are re-read from the
//! cache on every wake, so a token renewed by someone else is not fetched again.
//!
//! # How it fetches
//!
//! Through [`CredentialService::renew`]: the same cache, lock and state files as `get`, so a
//! `get` and the refresher never both fetch. A failed renewal is retried with exponential
//! backoff and jitter ([`schedule`]); what the user hears about is decided by [`incidents`]:
//! one notice per incident, never one per retry.
//!
//! # What it never does
//!
//! It never blocks its caller: the tray's UI thread only sends commands and receives
//! [`Overview`]s and [`Notice`]s through its [`Observer`].

mod incidents;
mod schedule;
mod wakeups;
mod worker;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::paths::Paths;
use crate::policy::RefreshPolicy;
use crate::token::Token;

pub use incidents::Incidents;
pub use schedule::Backoff;

/// How long one background renewal may take, lock wait included.
pub const RENEWAL_BUDGET: Duration = Duration::from_secs(30);

/// Receives what the refresher learns. Called on the refresher's thread: implementations
/// hand the value to their own thread (a channel) and return at once.
pub trait Observer: Send + 'static {
    /// The state of every registry, after each change.
    fn overview(&self, overview: &Overview);
    /// Something the user should hear about, once per incident.
    fn notice(&self, notice: &Notice);
}

/// The state of every registry the refresher looks after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Sorted by host.
    pub registries: Vec<RegistryView>,
    /// A reason the refresher cannot work at all (an unreadable config file), if any.
    pub problem: Option<String>,
}

/// One registry as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryView {
    pub host: String,
    /// Where its credentials come from, e.g. "key set acme", "AWS profile ci".
    pub source: String,
    /// The key set behind it, if any (notifications name it: usually the vendor's name).
    pub key_set: Option<String>,
    /// The token served now, if any.
    pub token: Option<TokenTimes>,
    /// A renewal is under way.
    pub refreshing: bool,
    /// The last renewal failed: the one-line reason.
    pub error: Option<String>,
    /// When the refresher will next try, if it will.
    pub next_attempt: Option<SystemTime>,
}

/// When a served token was received and expires, and when it counts as expiring soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    pub received_at: SystemTime,
    pub expires_at: SystemTime,
    /// From here on a `get` would refresh it itself: the refresher is behind.
    pub expiring_from: SystemTime,
    /// When the refresher renews it (half its life).
    pub renew_at: SystemTime,
}

impl TokenTimes {
    /// The times of `token` under `policy`.
    pub fn of(token: &Token, policy: &RefreshPolicy) -> TokenTimes {
        let window = policy.refresh_window(token.lifetime());
        TokenTimes {
            received_at: token.received_at,
            expires_at: token.expires_at,
            expiring_from: token
                .expires_at
                .checked_sub(window)
                .unwrap_or(token.expires_at),
            renew_at: RefreshPolicy::renewal_due(token),
        }
    }
}

/// A registry's state at one instant, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The last renewal failed.
    Error,
    /// No usable token, none being fetched.
    NoToken,
    /// The token is within a `get`'s refresh window.
    Expiring,
    Refreshing,
    Ok,
}

impl RegistryView {
    /// The registry's phase at `now` (the tray redraws countdowns without a new overview).
    pub fn phase_at(&self, now: SystemTime) -> Phase {
        if self.error.is_some() {
            return Phase::Error;
        }
        if self.refreshing {
            return Phase::Refreshing;
        }
        match &self.token {
            None => Phase::NoToken,
            Some(t) if now >= t.expires_at => Phase::NoToken,
            Some(t) if now >= t.expiring_from => Phase::Expiring,
            Some(_) => Phase::Ok,
        }
    }
}

/// The tray icon's state: the most urgent of all registries'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// Nothing to refresh: no bindings, no cached tokens.
    Unconfigured,
    Error,
    Expiring,
    Refreshing,
    Ok,
}

impl Overview {
    /// The summary at `now`.
    pub fn summary_at(&self, now: SystemTime) -> Summary {
        if self.problem.is_some() {
            return Summary::Error;
        }
        let worst = self.registries.iter().map(|r| r.phase_at(now)).min();
        match worst {
            None => Summary::Unconfigured,
            Some(Phase::Error | Phase::NoToken) => Summary::Error,
            Some(Phase::Expiring) => Summary::Expiring,
            Some(Phase::Refreshing) => Summary::Refreshing,
            Some(Phase::Ok) => Summary::Ok,
        }
    }
}

/// Something the user should hear about: one per incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// AWS rejected a key set's keys (revoked or wrong): the vendor must issue new ones.
    KeysRejected {
        key_set: String,
        hosts: Vec<String>,
        detail: String,
    },
    /// A registry's renewal failed for another reason (network, permissions, ...).
    RefreshFailed { host: String, detail: String },
    /// An incident is over: renewals work again.
    Recovered {
        /// The registries that had failed.
        hosts: Vec<String>,
        /// The key set whose keys had been rejected, if that was the incident.
        key_set: Option<String>,
    },
    /// This machine's clock is far from AWS's.
    ClockSkew { detail: String },
}

/// Asks the refresher to do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Renew one registry now, whatever its token's age.
    RefreshNow(String),
    RefreshAll,
    Shutdown,
}

/// Why the refresher's thread is woken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wake {
    Command(Command),
    /// The product config changed: reload it, and retry failed registries now.
    ConfigChanged,
    /// The token cache changed (a `get`, another refresher, `docker logout`).
    CacheChanged,
    /// The wall clock was set or the machine resumed: every deadline is re-read.
    ClockChanged,
}

/// Why the refresher cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RefresherError {
    #[error("cannot start the refresher thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The running refresher: commands go in here. Dropping it stops the refresher.
pub struct RefresherHandle {
    wake: mpsc::Sender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl RefresherHandle {
    /// Starts the refresher of `paths`' registries, reporting to `observer`.
    pub fn spawn(paths: Paths, observer: impl Observer) -> Result<RefresherHandle, RefresherError> {
        let (wake, wakes) = mpsc::channel();
        let thread =
            worker::spawn(paths, observer, wake.clone(), wakes).map_err(RefresherError::Thread)?;
        Ok(RefresherHandle {
            wake,
            thread: Some(thread),
        })
    }

    /// Renews `host`'s token now, whatever its age ("Refresh now").
    pub fn refresh_now(&self, host: &str) {
        self.send(Command::RefreshNow(host.to_string()));
    }

    /// Renews every registry's token now ("Refresh all").
    pub fn refresh_all(&self) {
        self.send(Command::RefreshAll);
    }

    /// Stops the refresher and waits for it: a renewal under way finishes first (bounded by
    /// [`RENEWAL_BUDGET`]).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn send(&self, command: Command) {
        // The thread only ends on Shutdown; a send after that has nobody to act on it.
        let _ = self.wake.send(Wake::Command(command));
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.send(Command::Shutdown);
            let _ = thread.join();
        }
    }
}

impl Drop for RefresherHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
