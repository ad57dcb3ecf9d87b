//! The mock's clock: tokio's `Instant` (so paused-time tests work) tied to the wall
//! clock once at start, so signed URLs can carry Unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Monotonic time with a fixed mapping to Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    origin_unix_ms: u64,
}

impl Clock {
    pub fn start() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            origin: Instant::now(),
            origin_unix_ms: u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Unix milliseconds of `at` on this clock.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        let offset = at.saturating_duration_since(self.origin).as_millis();
        self.origin_unix_ms
            .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    pub fn now_unix_ms(&self) -> u64 {
        self.unix_ms(self.now())
    }
}

/// Unix milliseconds as an RFC 3339 UTC timestamp, e.g. `2026-04-01T12:00:00.250Z`.
pub(crate) fn rfc3339(unix_ms: u64) -> String {
    let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm), all in u64
    // after shifting the epoch to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_775_044_800_250), "2026-04-01T12:00:00.250Z");
    }
}
