//! Keychain reads on worker threads: one worker per key set, at most one read of a key set under
//! way, and every caller's wait bounded.
//!
//! A keychain call can block in the platform (a D-Bus daemon that does not answer, a macOS
//! keychain waiting on a dialog). The caller waits at most its limit and gets
//! [`KeychainError::Timeout`]; the worker stays blocked until the platform answers. A caller who
//! asks for the same key set meanwhile (a `get` retried by docker, the refresher's next attempt)
//! joins that worker instead of starting another, so a hung keychain costs one thread per key
//! set, never one per attempt; and reads of other key sets have their own workers, so they do
//! not queue behind it.
//!
//! This module never sees what it reads: answers travel as the caller's [`ReadResult`].

use std::collections::HashMap;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::KeychainError;
use crate::secret::Secret;

/// What a read answers: the secret, `None` when the keychain holds none, or why not.
pub(super) type ReadResult = Result<Option<Secret>, KeychainError>;

/// The reads under way, by key (one key per key set and way of reading). Clones share the table.
#[derive(Clone, Default)]
pub(super) struct Reads {
    under_way: Arc<Mutex<HashMap<String, Arc<Pending>>>>,
}

/// One read under way: its answer once there is one.
#[derive(Default)]
struct Pending {
    answer: Mutex<Option<ReadResult>>,
    answered: Condvar,
}

impl Reads {
    /// The table of the platform's keychain, shared by the whole process: a refresher that
    /// reopens its service after a config change still finds the reads it left under way.
    pub(super) fn native() -> Reads {
        static NATIVE: LazyLock<Reads> = LazyLock::new(Reads::default);
        NATIVE.clone()
    }

    /// The answer of `read` for `key`, waiting at most `limit`. When a read of `key` is already
    /// under way this joins it and `read` is dropped unrun.
    pub(super) fn read(
        &self,
        key: &str,
        limit: Duration,
        read: impl FnOnce() -> ReadResult + Send + 'static,
    ) -> ReadResult {
        let (pending, mine) = {
            let mut under_way = lock(&self.under_way);
            match under_way.get(key) {
                Some(pending) => (pending.clone(), false),
                None => {
                    let pending = Arc::new(Pending::default());
                    under_way.insert(key.to_string(), pending.clone());
                    (pending, true)
                }
            }
        };
        if mine {
            self.start(key, &pending, read)?;
        } else {
            tracing::debug!("joining the keychain read already under way for this key set");
        }
        let answer = lock(&pending.answer);
        let (answer, _) = pending
            .answered
            .wait_timeout_while(answer, limit, |answer| answer.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        match answer.as_ref() {
            Some(answer) => answer.clone(),
            None => {
                tracing::warn!(?limit, "the keychain did not answer in time");
                Err(KeychainError::Timeout(limit))
            }
        }
    }

    /// Starts the worker of `pending`, which leaves the table and then answers it.
    fn start(
        &self,
        key: &str,
        pending: &Arc<Pending>,
        read: impl FnOnce() -> ReadResult + Send + 'static,
    ) -> Result<(), KeychainError> {
        let (table, worker_pending, worker_key) = (self.clone(), pending.clone(), key.to_string());
        let spawned = std::thread::Builder::new()
            .name("keychain-read".to_string())
            .spawn(move || {
                // A panic in the platform call is an answer too: no waiter may wait for nothing.
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
                    .unwrap_or_else(|_| {
                        Err(KeychainError::Platform(
                            "the keychain call failed unexpectedly (it panicked)".to_string(),
                        ))
                    });
                // Leave the table first: a read asked for after this answer must read anew, never
                // join a finished read and get its (possibly stale) answer.
                table.forget(&worker_key, &worker_pending);
                *lock(&worker_pending.answer) = Some(answer);
                worker_pending.answered.notify_all();
            });
        spawned.map(drop).map_err(|e| {
            self.forget(key, pending);
            KeychainError::Platform(format!("cannot start a keychain thread: {e}"))
        })
    }

    /// Removes `pending` from the table, unless another read of `key` replaced it.
    fn forget(&self, key: &str, pending: &Arc<Pending>) {
        let mut under_way = lock(&self.under_way);
        if under_way.get(key).is_some_and(|p| Arc::ptr_eq(p, pending)) {
            under_way.remove(key);
        }
    }

    /// How many reads are under way (for tests).
    #[cfg(test)]
    pub(super) fn under_way(&self) -> usize {
        lock(&self.under_way).len()
    }

    /// How many hold the read of `key` under way: the table, its worker and its waiters.
    #[cfg(test)]
    fn holders(&self, key: &str) -> usize {
        lock(&self.under_way).get(key).map_or(0, Arc::strong_count)
    }
}

/// The guard of `mutex`, poisoned or not: the data (a table, an answer) is whole either way.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    const SHORT: Duration = Duration::from_millis(100);

    /// A read that blocks until `release` sends, counting how often it ran.
    fn blocked_read(
        runs: &Arc<AtomicUsize>,
        release: mpsc::Receiver<()>,
    ) -> impl FnOnce() -> ReadResult + Send + 'static {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let _ = release.recv();
            Ok(Some(Secret::new("late")))
        }
    }

    #[test]
    fn a_hung_read_is_joined_not_repeated_and_its_late_answer_reaches_later_callers() {
        let reads = Reads::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = mpsc::channel();
        let err = reads
            .read("acme", SHORT, blocked_read(&runs, released))
            .unwrap_err();
        assert!(
            matches!(err, KeychainError::Timeout(d) if d == SHORT),
            "{err:?}"
        );

        // Retries while it hangs: they join it, no second worker runs.
        for _ in 0..3 {
            let (_unused, never) = mpsc::channel();
            let err = reads
                .read("acme", SHORT, blocked_read(&runs, never))
                .unwrap_err();
            assert!(matches!(err, KeychainError::Timeout(_)), "{err:?}");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one worker for the key set");
        assert_eq!(reads.under_way(), 1);

        // A caller waiting when it answers gets that answer.
        let waiter = {
            let (reads, runs) = (reads.clone(), runs.clone());
            std::thread::spawn(move || {
                let (_unused, never) = mpsc::channel();
                reads.read("acme", Duration::from_secs(10), blocked_read(&runs, never))
            })
        };
        // The table, the worker and the waiter hold the read once the waiter has joined it.
        while reads.holders("acme") < 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        release.send(()).unwrap();
        let answer = waiter.join().unwrap().unwrap().unwrap();
        assert_eq!(answer.expose(), "late");
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // Once answered, the worker is gone and the next read is a fresh one.
        let started = Instant::now();
        while reads.under_way() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the worker never left"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let fresh = reads
            .read("acme", SHORT, || Ok(Some(Secret::new("fresh"))))
            .unwrap()
            .unwrap();
        assert_eq!(fresh.expose(), "fresh");
    }

    #[test]
    fn other_key_sets_do_not_queue_behind_a_hung_read() {
        let reads = Reads::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (_release, released) = mpsc::channel();
        assert!(
            reads
                .read("hung", SHORT, blocked_read(&runs, released))
                .is_err()
        );
        let started = Instant::now();
        let other = reads
            .read("other", Duration::from_secs(10), || {
                Ok(Some(Secret::new("other")))
            })
            .unwrap()
            .unwrap();
        assert_eq!(other.expose(), "other");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The answered worker leaves the table on its own thread, just after answering.
        while reads.under_way() > 1 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the worker never left"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(reads.under_way(), 1, "only the hung read is left");
    }

    #[test]
    fn a_panicking_read_answers_an_error() {
        let reads = Reads::default();
        let err = reads
            .read("acme", Duration::from_secs(10), || panic!("platform bug"))
            .unwrap_err();
        assert!(matches!(err, KeychainError::Platform(_)), "{err:?}");
    }

    #[test]
    fn a_read_asked_for_after_an_answer_reads_anew() {
        let reads = Reads::default();
        for i in 0..2000 {
            let secret = format!("secret-{i}");
            let expected = secret.clone();
            let answer = reads
                .read("acme", Duration::from_secs(10), move || {
                    Ok(Some(Secret::new(secret)))
                })
                .unwrap()
                .unwrap();
            assert_eq!(answer.expose(), expected, "a stale answer at read {i}");
        }
    }
}
