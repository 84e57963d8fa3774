//! The fake's clock: the real one shifted by the `date_offset_secs` knob.
//!
//! Everything time-stamped on the wire (the `Date` header, ECR's `expiresAt`, STS's
//! `Expiration`) and the expiry of the temporary credentials the fake issued read this clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server's clock, `offset_secs` away from the real one.
#[derive(Clone, Copy, Debug)]
pub struct ServerClock {
    pub offset_secs: i64,
}

impl ServerClock {
    pub fn now(&self) -> SystemTime {
        let real = SystemTime::now();
        let offset = Duration::from_secs(self.offset_secs.unsigned_abs());
        let skewed = if self.offset_secs >= 0 {
            real.checked_add(offset)
        } else {
            real.checked_sub(offset)
        };
        skewed.unwrap_or(real)
    }

    /// Seconds since the epoch, to the millisecond, as ECR's `expiresAt` carries them.
    pub fn epoch_secs(&self) -> f64 {
        let since_epoch = self.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        (since_epoch.as_millis() as f64) / 1000.0
    }

    /// Whole seconds since the epoch.
    pub fn epoch_whole_secs(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    }
}

/// `2026-11-23T12:00:00Z`, the ISO 8601 form STS uses for `Expiration`.
pub fn iso8601(epoch_secs: u64) -> String {
    let days = epoch_secs / 86_400;
    let secs_of_day = epoch_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_clock_moves_by_the_offset() {
        let ahead = ServerClock { offset_secs: 3600 }.epoch_secs();
        let behind = ServerClock { offset_secs: -3600 }.epoch_secs();
        let spread = ahead - behind;
        assert!((7199.0..7201.0).contains(&spread), "spread {spread}");
    }

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(iso8601(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
