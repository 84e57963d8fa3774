//! The fake's shared state: the knobs, the call counters, and the decision of how to answer.
//!
//! This module owns the rules, in order: no SigV4 header -> `MissingAuthenticationToken`;
//! unknown target -> `UnknownOperation`; `fail_next` -> `ServerException`; a rejected key ->
//! `UnrecognizedClient`; else the mode. It never touches the network and never holds a lock
//! across an `.await` (callers get owned snapshots).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::knobs::{Knobs, KnobsPatch, Mode};
use super::wire::{AwsError, Credential, Operation};

/// Call counters, as `GET /stats` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every API request, answered or not.
    pub calls: u64,
    /// API requests per access key id (requests without a SigV4 header are not listed).
    pub by_access_key: BTreeMap<String, u64>,
    /// API requests per `X-Amz-Target` value, known or not.
    pub by_target: BTreeMap<String, u64>,
}

/// What the fake read from an API request's headers.
#[derive(Clone, Debug)]
pub struct Call {
    pub target: Option<String>,
    pub credential: Option<Credential>,
}

/// How to answer one API request.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Wait this long before answering.
    pub latency: Duration,
    /// Skew of the server clock, for `Date` and `expiresAt`.
    pub date_offset_secs: i64,
    pub outcome: Outcome,
}

/// The answer itself.
#[derive(Clone, Debug)]
pub enum Outcome {
    Token {
        operation: Operation,
        region: String,
        password: String,
        lifetime_secs: u64,
    },
    Error(AwsError),
    Hang,
}

/// Knobs and counters behind locks.
#[derive(Debug, Default)]
pub struct State {
    knobs: Mutex<Knobs>,
    stats: Mutex<Stats>,
}

impl State {
    pub fn new(knobs: Knobs) -> State {
        State {
            knobs: Mutex::new(knobs),
            stats: Mutex::new(Stats::default()),
        }
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// Applies a patch and returns the resulting knob set.
    pub fn patch_knobs(&self, patch: KnobsPatch) -> Knobs {
        let mut knobs = lock(&self.knobs);
        knobs.apply(patch);
        knobs.clone()
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    /// Counts an API request.
    pub fn record(&self, call: &Call) {
        let mut stats = lock(&self.stats);
        stats.calls += 1;
        if let Some(credential) = &call.credential {
            *stats
                .by_access_key
                .entry(credential.access_key_id.clone())
                .or_default() += 1;
        }
        if let Some(target) = &call.target {
            *stats.by_target.entry(target.clone()).or_default() += 1;
        }
    }

    /// Decides the answer to a call; consumes one `fail_next` if that is what answers it.
    pub fn plan(&self, call: &Call) -> Plan {
        let mut knobs = lock(&self.knobs);
        let outcome = decide(&mut knobs, call);
        Plan {
            latency: Duration::from_millis(knobs.latency_ms),
            date_offset_secs: knobs.date_offset_secs,
            outcome,
        }
    }
}

fn decide(knobs: &mut Knobs, call: &Call) -> Outcome {
    let Some(credential) = &call.credential else {
        return Outcome::Error(AwsError::MissingAuthenticationToken);
    };
    let Some(operation) = call.target.as_deref().and_then(Operation::from_target) else {
        return Outcome::Error(AwsError::UnknownOperation);
    };
    if knobs.fail_next > 0 {
        knobs.fail_next -= 1;
        return Outcome::Error(AwsError::Server);
    }
    if knobs.rejected_keys.contains(&credential.access_key_id) {
        return Outcome::Error(AwsError::UnrecognizedClient);
    }
    match knobs.mode {
        Mode::Ok => Outcome::Token {
            operation,
            region: credential.region.clone(),
            password: knobs.password.clone(),
            lifetime_secs: knobs.lifetime_secs,
        },
        Mode::Hang => Outcome::Hang,
        Mode::ServerError => Outcome::Error(AwsError::Server),
        Mode::Throttle => Outcome::Error(AwsError::Throttling),
        Mode::RejectKeys => Outcome::Error(AwsError::UnrecognizedClient),
        Mode::AccessDenied => Outcome::Error(AwsError::AccessDenied),
        Mode::SignatureExpired => Outcome::Error(AwsError::InvalidSignature),
        Mode::ExpiredToken => Outcome::Error(AwsError::ExpiredToken),
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data that is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::wire::ECR_TARGET;

    fn call(key: &str) -> Call {
        Call {
            target: Some(ECR_TARGET.to_owned()),
            credential: Some(Credential {
                access_key_id: key.to_owned(),
                region: "us-east-1".to_owned(),
            }),
        }
    }

    fn error_of(plan: Plan) -> Option<AwsError> {
        match plan.outcome {
            Outcome::Error(error) => Some(error),
            _ => None,
        }
    }

    #[test]
    fn fail_next_wins_then_runs_out() {
        let state = State::new(Knobs {
            fail_next: 1,
            rejected_keys: vec!["AKIABAD".to_owned()],
            ..Knobs::default()
        });
        assert_eq!(
            error_of(state.plan(&call("AKIABAD"))),
            Some(AwsError::Server)
        );
        assert_eq!(
            error_of(state.plan(&call("AKIABAD"))),
            Some(AwsError::UnrecognizedClient)
        );
        assert_eq!(error_of(state.plan(&call("AKIAGOOD"))), None);
    }

    #[test]
    fn missing_credentials_come_before_everything() {
        let state = State::new(Knobs {
            fail_next: 1,
            ..Knobs::default()
        });
        let anonymous = Call {
            credential: None,
            ..call("x")
        };
        assert_eq!(
            error_of(state.plan(&anonymous)),
            Some(AwsError::MissingAuthenticationToken)
        );
        assert_eq!(state.knobs().fail_next, 1, "fail_next is not consumed");
    }
}
