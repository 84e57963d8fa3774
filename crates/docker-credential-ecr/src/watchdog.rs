//! A hard wall-clock limit on a verb.
//!
//! The core bounds every step of a `get` with its deadline, but a deadline only works where
//! code yields: a read that blocks a thread (an AWS config file on a hung network mount, a
//! FIFO) would hold docker forever. The watchdog is a thread that, once the limit passes,
//! answers for the verb (its [`Failure`]: one line on stdout, the detail on stderr), ends the
//! verb's descendants ([`crate::descendants`]) and ends the process. The answer is written once:
//! whoever claims it first, the verb or the watchdog, is the only one to write.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::protocol::{self, Failure};

/// Whether an answer has been claimed.
static ANSWER: Mutex<bool> = Mutex::new(false);

/// Starts the watchdog: after `limit`, unless the verb has claimed the answer, `failure` is
/// the answer and the process exits with status 1.
pub fn arm(limit: Duration, failure: Failure) {
    arm_with(limit, move || protocol::write_failure(&failure));
}

/// Starts the watchdog: after `limit`, unless the verb has claimed the answer, `answer` says
/// so (wherever the verb's caller reads failures) and the process exits with status 1.
pub fn arm_with(limit: Duration, answer: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            if let Some(_claim) = claim() {
                crate::descendants::end_all();
                answer();
                std::process::exit(1);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the watchdog; relying on deadlines alone");
    }
}

/// Claims the right to answer; `None` when the watchdog already answered (the process is
/// exiting). Hold the guard while writing the answer.
pub fn claim() -> Option<MutexGuard<'static, bool>> {
    let mut answered = ANSWER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *answered {
        return None;
    }
    *answered = true;
    Some(answered)
}
