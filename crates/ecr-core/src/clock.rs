//! Time: the wall clock behind a trait (so tests can move it) and the deadline that bounds a
//! whole `get`.

use std::time::{Duration, Instant, SystemTime};

/// The wall clock. Tokens expire in wall-clock time, so the cache and policy ask this.
pub trait Clock {
    fn now(&self) -> SystemTime;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A point in monotonic time after which work must stop.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + budget,
        }
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The earlier of this deadline and one `budget` from now.
    pub fn capped(&self, budget: Duration) -> Deadline {
        Deadline {
            at: self.at.min(Instant::now() + budget),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_takes_the_earlier_deadline() {
        let long = Deadline::after(Duration::from_secs(60));
        assert!(long.capped(Duration::from_secs(1)).remaining() <= Duration::from_secs(1));
        let short = Deadline::after(Duration::from_millis(10));
        assert!(short.capped(Duration::from_secs(60)).remaining() <= Duration::from_millis(10));
    }

    #[test]
    fn a_zero_deadline_has_passed() {
        assert!(Deadline::after(Duration::ZERO).has_passed());
        assert!(!Deadline::after(Duration::from_secs(60)).has_passed());
    }
}
