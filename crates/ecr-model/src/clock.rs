//! Time: the wall clock behind a trait (so tests can move it), a step-free measure of elapsed
//! time beside it, and the deadline that bounds a whole `get`.
//!
//! # Two measures of a token's age
//!
//! Tokens expire in wall-clock time, but the wall clock can be stepped: NTP fixing a clock that
//! was hours off, a dual-boot laptop whose other system keeps local time. Stepped back, it
//! would make an expired token look valid. So each cached token also records a [`BootStamp`]:
//! the boot's id and `CLOCK_BOOTTIME` (which counts suspend and is never set) when it was
//! received. A token's age is the larger of the two measures ([`BootStamp::elapsed_since`]);
//! across a reboot, or where there is no such clock (not Linux), only the wall clock counts.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// The wall clock, and the step-free clock beside it.
pub trait Clock {
    fn now(&self) -> SystemTime;

    /// Where the step-free clock stands now, if this machine has one.
    fn boot_stamp(&self) -> Option<BootStamp> {
        None
    }
}

/// The real clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn boot_stamp(&self) -> Option<BootStamp> {
        BootStamp::now()
    }
}

/// A reading of the step-free clock: which boot, and how long since it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootStamp {
    pub boot_id: String,
    pub since_boot_ms: u64,
}

impl BootStamp {
    /// `CLOCK_BOOTTIME` and `/proc/sys/kernel/random/boot_id`, on Linux.
    #[cfg(target_os = "linux")]
    pub fn now() -> Option<BootStamp> {
        use std::sync::OnceLock;
        static BOOT_ID: OnceLock<Option<String>> = OnceLock::new();
        let boot_id = BOOT_ID
            .get_or_init(|| {
                std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .ok()
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty())
            })
            .clone()?;
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let since_boot_ms = u64::try_from(t.tv_sec)
            .ok()?
            .checked_mul(1000)?
            .checked_add(u64::try_from(t.tv_nsec).ok()? / 1_000_000)?;
        Some(BootStamp {
            boot_id,
            since_boot_ms,
        })
    }

    /// No step-free clock is read on other systems: the wall clock alone counts.
    #[cfg(not(target_os = "linux"))]
    pub fn now() -> Option<BootStamp> {
        None
    }

    /// How long the step-free clock says has passed since `earlier`: `None` across a reboot.
    pub fn elapsed_since(&self, earlier: &BootStamp) -> Option<Duration> {
        if self.boot_id != earlier.boot_id {
            return None;
        }
        self.since_boot_ms
            .checked_sub(earlier.since_boot_ms)
            .map(Duration::from_millis)
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
