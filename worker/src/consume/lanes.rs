//! Lanes paused fleet-wide: `producer pause --lane …` writes the lane into
//! `{ns}:paused`; every worker reads that hash every [`POLL_EVERY`] (one `HGETALL` per
//! worker, not per job) and publishes what it found to its consume loop, which cancels
//! its consumer on a paused lane and consumes it again once resumed.

use fluxq_common::Lane;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::http_server::Health;
use crate::metrics::Metrics;

/// How often a worker reads `{ns}:paused`: a pause reaches the fleet within about
/// this plus the time to cancel a consumer (well within 2 s).
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long one read may take before it is given up on (the last state holds).
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// A set of lanes (Copy, for a watch channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneSet(u8);

impl LaneSet {
    fn bit(lane: Lane) -> u8 {
        match lane {
            Lane::Bulk => 1,
            Lane::Interactive => 2,
        }
    }

    pub fn contains(self, lane: Lane) -> bool {
        self.0 & Self::bit(lane) != 0
    }

    pub fn insert(&mut self, lane: Lane) {
        self.0 |= Self::bit(lane);
    }

    /// The set as bits (for an atomic), and back.
    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & 3)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lanes in the set, `bulk` first.
    pub fn lanes(self) -> impl Iterator<Item = Lane> {
        Lane::ALL.into_iter().filter(move |l| self.contains(*l))
    }

    /// The lanes named by the fields of `{ns}:paused` (unknown fields are ignored).
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = Self::default();
        for lane in fields.into_iter().filter_map(Lane::parse) {
            set.insert(lane);
        }
        set
    }
}

/// Reads `{ns}:paused` once.
async fn read(conn: &ConnectionManager, key: &str) -> Result<LaneSet, String> {
    let mut c = conn.clone();
    let read = c.hgetall::<_, HashMap<String, String>>(key);
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(h)) => Ok(LaneSet::from_fields(h.keys().map(String::as_str))),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {READ_TIMEOUT:?}")),
    }
}

/// Reads the paused lanes now (none if Redis does not answer), then keeps reading
/// them every [`POLL_EVERY`] until `stop`, publishing each change to the returned
/// receiver, to `fluxq_lane_paused` and to `/readyz`.
pub async fn watch(
    conn: ConnectionManager,
    key: String,
    metrics: Arc<Metrics>,
    health: Health,
    stop: CancellationToken,
) -> watch::Receiver<LaneSet> {
    let first = read(&conn, &key).await.unwrap_or_default();
    publish(first, &metrics, &health);
    if !first.is_empty() {
        let paused: Vec<_> = first.lanes().map(Lane::as_str).collect();
        info!(
            ?paused,
            "Lanes paused fleet-wide: not consuming them until resumed."
        );
    }
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
            match read(&conn, &key).await {
                Ok(now) => {
                    let changed = tx.send_if_modified(|held| {
                        let changed = *held != now;
                        *held = now;
                        changed
                    });
                    if changed {
                        publish(now, &metrics, &health);
                        let paused: Vec<_> = now.lanes().map(Lane::as_str).collect();
                        info!(?paused, "Paused lanes changed.");
                    }
                }
                // The last state holds while Redis is away (jobs pause for it anyway).
                Err(e) => debug!(error = %e, "Could not read the paused lanes."),
            }
        }
    });
    rx
}

fn publish(set: LaneSet, metrics: &Metrics, health: &Health) {
    for lane in Lane::ALL {
        metrics.lane_paused(lane, set.contains(lane));
    }
    health.set_paused(set);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_read_from_the_hash_fields() {
        let set = LaneSet::from_fields(["bulk", "nonsense"]);
        assert!(set.contains(Lane::Bulk) && !set.contains(Lane::Interactive));
        assert_eq!(set.lanes().collect::<Vec<_>>(), vec![Lane::Bulk]);
        let both = LaneSet::from_fields(["interactive", "bulk"]);
        assert_eq!(both.lanes().count(), 2);
        assert!(LaneSet::from_fields([]).is_empty());
    }
}
