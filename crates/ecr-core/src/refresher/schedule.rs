//! When each registry is next renewed: once half its token's life has passed, right away when
//! it has no token, or after a backoff with jitter when renewals fail.
//!
//! Pure functions of times and counts (no clock, no I/O), so every rule is unit-tested.

use std::time::{Duration, SystemTime};

use crate::fetch::FetchErrorKind;

use super::TokenTimes;

/// Exponential backoff: `first`, doubling per failure, capped at `cap`, each delay spread by
/// ±20 % so that many refreshers (or many registries) do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Failures that may clear up by themselves: network, throttling, AWS's 5xx, a keychain
    /// that is still locked.
    pub const TRANSIENT: Backoff = Backoff {
        first: Duration::from_secs(5),
        cap: Duration::from_secs(5 * 60),
    };

    /// Failures that need someone to act (rejected keys, missing permissions, a broken
    /// config): retried rarely; a config change retries at once.
    pub const NEEDS_USER: Backoff = Backoff {
        first: Duration::from_secs(5),
        cap: Duration::from_secs(30 * 60),
    };

    /// The backoff for a failure of `kind`.
    pub fn for_kind(kind: FetchErrorKind) -> Backoff {
        use FetchErrorKind::*;
        match kind {
            Throttled | Unreachable | Timeout | ServerError | BadResponse | KeychainUnavailable => {
                Backoff::TRANSIENT
            }
            NoIdentity
            | CredentialsUnavailable
            | KeysRejected
            | AccessDenied
            | ExpiredCredentials
            | ClockSkew
            | BadConfiguration
            | IdentityTokenRejected
            | IdentityTokenMissing => Backoff::NEEDS_USER,
        }
    }

    /// The delay after the `failures`-th failure in a row (1 for the first), with `jitter`
    /// in [0, 1) spreading it over [0.8, 1.2) of the nominal delay.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let nominal = self.first.saturating_mul(1 << doublings).min(self.cap);
        nominal.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
    }
}

/// However a server behaves, one scope is never renewed twice within this (save on request).
pub const MIN_RENEWAL_GAP: Duration = Duration::from_secs(5);

/// When a registry with `token` (if any) and `failures` failed renewals in a row, the last
/// retried according to `retry_at` and last attempted at `last_attempt`, is next renewed: never
/// sooner than [`MIN_RENEWAL_GAP`] after the last attempt.
pub fn next_renewal(
    token: Option<&TokenTimes>,
    failures: u32,
    retry_at: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    now: SystemTime,
) -> SystemTime {
    let due = if failures > 0 {
        retry_at.unwrap_or(now)
    } else {
        match token {
            Some(token) => token.renew_at,
            None => now,
        }
    };
    match last_attempt.and_then(|last| last.checked_add(MIN_RENEWAL_GAP)) {
        Some(earliest) => due.max(earliest),
        None => due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RefreshPolicy;
    use crate::secret::Secret;
    use crate::token::Token;
    use std::time::UNIX_EPOCH;

    fn times(received: u64, expires: u64) -> TokenTimes {
        let token = Token {
            password: Secret::new("pw"),
            received_at: at(received),
            expires_at: at(expires),
        };
        TokenTimes::of(&token, &RefreshPolicy::new(Duration::from_secs(3600)))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_its_cap() {
        let b = Backoff::TRANSIENT;
        let nominal: Vec<u64> = (1..=9).map(|n| b.delay(n, 0.5).as_secs()).collect();
        assert_eq!(nominal, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(
            Backoff::NEEDS_USER.delay(40, 0.5),
            Duration::from_secs(1800)
        );
    }

    #[test]
    fn jitter_spreads_a_delay_by_a_fifth_either_way() {
        let b = Backoff::TRANSIENT;
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(8));
        assert_eq!(b.delay(2, 0.999_999).as_secs(), 11);
        assert_eq!(b.delay(2, 7.0), Duration::from_secs(12), "clamped");
    }

    #[test]
    fn failures_that_need_a_person_back_off_further() {
        assert_eq!(
            Backoff::for_kind(FetchErrorKind::KeysRejected),
            Backoff::NEEDS_USER
        );
        assert_eq!(
            Backoff::for_kind(FetchErrorKind::Unreachable),
            Backoff::TRANSIENT
        );
    }

    #[test]
    fn a_healthy_token_is_renewed_at_half_life_and_a_missing_one_now() {
        let token = times(1000, 1000 + 12 * 3600);
        assert_eq!(
            next_renewal(Some(&token), 0, None, None, at(2000)),
            at(1000 + 6 * 3600)
        );
        assert_eq!(next_renewal(None, 0, None, None, at(2000)), at(2000));
    }

    #[test]
    fn after_a_failure_the_retry_time_wins_over_the_half_life() {
        let token = times(0, 20);
        assert_eq!(
            next_renewal(Some(&token), 2, Some(at(7)), None, at(5)),
            at(7)
        );
        assert_eq!(next_renewal(Some(&token), 1, None, None, at(5)), at(5));
    }

    #[test]
    fn no_scope_is_renewed_twice_within_the_minimum_gap() {
        // A token whose half-life has already passed when it arrives (a server issuing
        // one-second tokens) waits for the gap, not for nothing.
        let token = times(100, 101);
        assert_eq!(
            next_renewal(Some(&token), 0, None, Some(at(100)), at(100)),
            at(105)
        );
        assert_eq!(
            next_renewal(None, 3, Some(at(101)), Some(at(100)), at(100)),
            at(105)
        );
    }
}
