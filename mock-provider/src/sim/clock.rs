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
