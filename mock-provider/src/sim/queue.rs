//! Runs queued at capacity: when a run submitted beyond `max_in_flight` gets a slot,
//! first come first served.

use std::cmp::Reverse;

use tokio::time::Instant;

use super::Inner;

impl Inner {
    /// When a task submitted now would get one of the `max_in_flight` slots: now when
    /// one is free; otherwise when enough of the `n` tasks ahead of it have finished,
    /// that is at the (n − cap + 1)-th earliest of their finish instants. Each of
    /// them got its slot the same way, so the order of arrival is kept.
    pub(super) fn slot_free_at(&self, now: Instant) -> Instant {
        let Some(cap) = self.config.max_in_flight.map(|c| c as usize) else {
            return now;
        };
        let ahead = self.finishing.len();
        if cap == 0 || ahead < cap {
            return now;
        }
        let mut finishes: Vec<Instant> =
            self.finishing.iter().map(|Reverse((at, ..))| *at).collect();
        let (_, at, _) = finishes.select_nth_unstable(ahead - cap);
        (*at).max(now)
    }
}
