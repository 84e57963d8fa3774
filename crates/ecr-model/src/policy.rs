//! When a cached token may be served and when it should be refreshed.
//!
//! Two rules, both relative to the token's own lifetime so that the 12-hour tokens of AWS and
//! the minute-long tokens of test servers behave alike:
//! - a token is never served in its last 5 minutes (the last twelfth for tokens shorter than an
//!   hour): docker may take a while to use it;
//! - a `get` refreshes a token with less than `min(margin, lifetime / 4)` left (margin 1 h by
//!   default), keeping the old one as a fallback while it is still servable.

use std::time::{Duration, SystemTime};

use crate::token::Token;

const GUARD: Duration = Duration::from_secs(5 * 60);

/// A token issued with less life than this counts as born expired: the `Date` it is measured
/// against has a resolution of one second, so a token that ECR issued already expired can
/// appear to live up to a second.
pub const MIN_LIFETIME: Duration = Duration::from_secs(2);
const HOUR: Duration = Duration::from_secs(3600);

/// What a cached token is good for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it; nothing to do.
    Fresh,
    /// Serve it, but try to refresh it first (briefly).
    DueForRefresh,
    /// Do not serve it.
    Unusable,
}

/// The refresh rules, with the configured margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    margin: Duration,
}

impl RefreshPolicy {
    pub fn new(margin: Duration) -> RefreshPolicy {
        RefreshPolicy { margin }
    }

    /// The end of a token's life during which it is never served.
    pub fn guard(lifetime: Duration) -> Duration {
        if lifetime >= HOUR {
            GUARD
        } else {
            lifetime / 12
        }
    }

    /// How much life left makes a `get` refresh.
    pub fn refresh_window(&self, lifetime: Duration) -> Duration {
        self.margin.min(lifetime / 4)
    }

    /// When a background refresher renews `token`: once half its life has passed, well before
    /// a `get` would (`get`s then never wait on AWS while the refresher runs).
    pub fn renewal_due(token: &Token) -> SystemTime {
        token.received_at + token.lifetime() / 2
    }

    /// The last instant `token` is [`Freshness::Fresh`]: a `get` after it refreshes it first.
    pub fn fresh_until(&self, token: &Token) -> SystemTime {
        token.expires_at - self.refresh_window(token.lifetime())
    }

    /// Classifies `token` at `now`.
    pub fn assess(&self, token: &Token, now: SystemTime) -> Freshness {
        let lifetime = token.lifetime();
        let remaining = token.remaining(now);
        if lifetime < MIN_LIFETIME || remaining <= Self::guard(lifetime) {
            Freshness::Unusable
        } else if remaining < self.refresh_window(lifetime) {
            Freshness::DueForRefresh
        } else {
            Freshness::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::UNIX_EPOCH;

    fn token(lifetime_secs: u64) -> Token {
        Token {
            password: Secret::new("pw"),
            received_at: UNIX_EPOCH,
            expires_at: UNIX_EPOCH + Duration::from_secs(lifetime_secs),
        }
    }

    fn after(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_token_is_fresh_until_fresh_until() {
        let policy = RefreshPolicy::new(HOUR);
        for lifetime in [20, 120, 12 * 3600] {
            let t = token(lifetime);
            let until = policy.fresh_until(&t);
            let secs = until.duration_since(UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(
                policy.assess(&t, after(secs)),
                Freshness::Fresh,
                "{lifetime}"
            );
            assert_ne!(
                policy.assess(&t, after(secs + 1)),
                Freshness::Fresh,
                "{lifetime}"
            );
        }
    }

    #[test]
    fn renewal_is_due_at_half_life_before_any_get_refreshes() {
        let policy = RefreshPolicy::new(HOUR);
        for lifetime in [20, 120, 12 * 3600] {
            let t = token(lifetime);
            let due = RefreshPolicy::renewal_due(&t);
            assert_eq!(due, after(lifetime / 2));
            assert_eq!(
                policy.assess(&t, due),
                Freshness::Fresh,
                "lifetime {lifetime}"
            );
        }
    }

    #[test]
    fn twelve_hour_tokens() {
        let policy = RefreshPolicy::new(HOUR);
        let t = token(12 * 3600);
        let cases = [
            (0, Freshness::Fresh),
            (11 * 3600 - 1, Freshness::Fresh),
            (11 * 3600 + 1, Freshness::DueForRefresh),
            (12 * 3600 - 301, Freshness::DueForRefresh),
            (12 * 3600 - 300, Freshness::Unusable),
            (13 * 3600, Freshness::Unusable),
        ];
        for (at, expected) in cases {
            assert_eq!(policy.assess(&t, after(at)), expected, "at {at}s");
        }
    }

    #[test]
    fn short_tokens_use_a_quarter_and_a_twelfth() {
        let policy = RefreshPolicy::new(HOUR);
        let t = token(120); // refresh below 30 s left, never serve below 10 s left
        let cases = [
            (0, Freshness::Fresh),
            (89, Freshness::Fresh),
            (91, Freshness::DueForRefresh),
            (109, Freshness::DueForRefresh),
            (110, Freshness::Unusable),
        ];
        for (at, expected) in cases {
            assert_eq!(policy.assess(&t, after(at)), expected, "at {at}s");
        }
    }

    #[test]
    fn the_margin_caps_the_refresh_window() {
        let policy = RefreshPolicy::new(Duration::from_secs(600));
        assert_eq!(
            policy.refresh_window(Duration::from_secs(12 * 3600)),
            Duration::from_secs(600)
        );
        assert_eq!(
            policy.refresh_window(Duration::from_secs(1200)),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn a_token_born_expired_is_unusable() {
        let policy = RefreshPolicy::new(HOUR);
        assert_eq!(policy.assess(&token(0), after(0)), Freshness::Unusable);
        // Measured against a one-second `Date`, "already expired" can read as a second of life.
        assert_eq!(policy.assess(&token(1), after(0)), Freshness::Unusable);
        assert_eq!(policy.assess(&token(3), after(0)), Freshness::Fresh);
    }
}
