//! Sharing an account's slots with the fleet through Redis ([`Fleet`]): one round trip
//! per round (`slots_acquire.lua`: give back, announce demand, take slots within the
//! fair share), the provider's answers (`slots_feedback.lua`), lease renewal, and the
//! manager task that runs the rounds.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::local::Round;
use super::{Inner, PoolConfig, PoolKeys};
use crate::limiter::now_ms;

/// How a round asks for slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Every member, even over the limit (tasks already running at the provider),
    /// announcing nothing.
    Force,
    /// For interactive jobs (and bulk ones behind them).
    Interactive,
    /// For bulk jobs: nothing while any worker has interactive jobs waiting.
    Bulk,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Force => "force",
            Mode::Interactive => "interactive",
            Mode::Bulk => "bulk",
        }
    }
}

/// One account's slots in Redis, as this worker sees them.
pub(super) struct Fleet {
    conn: ConnectionManager,
    keys: PoolKeys,
    worker_id: String,
    /// Lease of a slot not renewed.
    pub(super) lease: Duration,
    max: u32,
    acquire: Script,
    feedback: Script,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("keys", &self.keys)
            .field("lease", &self.lease)
            .field("max", &self.max)
            .finish()
    }
}

impl Fleet {
    pub(super) fn new(
        conn: ConnectionManager,
        keys: PoolKeys,
        config: &PoolConfig,
        worker_id: &str,
    ) -> Self {
        Self {
            conn,
            keys,
            worker_id: worker_id.to_owned(),
            lease: config.lease,
            max: config.max,
            acquire: fluxq_wire::lua::script(include_str!("../lua/slots_acquire.lua")),
            feedback: fluxq_wire::lua::script(include_str!("../lua/slots_feedback.lua")),
        }
    }

    /// One round trip: give back `release`, announce `waiting` ([interactive, all]
    /// jobs waiting here; not in [`Mode::Force`]) and ask for `members`.
    pub(super) async fn round(
        &self,
        release: &[String],
        mode: Mode,
        held: usize,
        waiting: [usize; 2],
        members: &[String],
    ) -> Result<Round, redis::RedisError> {
        let reply: Vec<u64> = self
            .acquire
            .key(&self.keys.slots)
            .key(&self.keys.state)
            .key(&self.keys.interactive_waiting)
            .key(&self.keys.waiting)
            .arg(now_ms())
            .arg(self.lease.as_millis() as u64)
            .arg(self.max)
            .arg(mode.as_str())
            .arg(&self.worker_id)
            .arg(held)
            .arg(waiting[0])
            .arg(waiting[1])
            .arg(release.len())
            .arg(release)
            .arg(members)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let at = |i: usize| reply.get(i).copied();
        Ok(Round {
            granted: at(0).unwrap_or(0) as usize,
            share_milli: at(2).unwrap_or(u64::MAX),
            others_waiting: at(3).unwrap_or(0) > 0,
            fleet_interactive: at(4).unwrap_or(0) > 0,
            below_max: at(5).unwrap_or(0) > 0,
        })
    }

    /// Records the provider's answer to a submit (`verdict` `ok` or `throttled`, with
    /// a fleet-wide cool-down of `cool_ms`); returns whether the effective limit is
    /// now below the maximum.
    pub(super) async fn feedback(
        &self,
        verdict: &str,
        cool_ms: u64,
    ) -> Result<bool, redis::RedisError> {
        let limit: String = self
            .feedback
            .key(&self.keys.state)
            .arg(now_ms())
            .arg(self.max)
            .arg(verdict)
            .arg(cool_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(limit.parse::<f64>().is_ok_and(|l| l < f64::from(self.max)))
    }

    /// Renews the leases of `members` (re-adding any Redis lost).
    async fn renew(&self, members: &[String]) -> Result<(), redis::RedisError> {
        if members.is_empty() {
            return Ok(());
        }
        let expiry = now_ms() + self.lease.as_millis() as u64;
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(&self.keys.slots);
        for m in members {
            cmd.arg(expiry).arg(m);
        }
        cmd.query_async(&mut self.conn.clone()).await
    }

    /// Gives `members` back and withdraws this worker's announcements (best effort:
    /// leases and announcements expire anyway).
    async fn leave(&self, members: &[String]) {
        let mut conn = self.conn.clone();
        if !members.is_empty() {
            let _: Result<(), _> = redis::cmd("ZREM")
                .arg(&self.keys.slots)
                .arg(members)
                .query_async(&mut conn)
                .await;
        }
        for announced in [&self.keys.interactive_waiting, &self.keys.waiting] {
            let _: Result<(), _> = redis::cmd("ZREM")
                .arg(announced)
                .arg(&self.worker_id)
                .query_async(&mut conn)
                .await;
        }
    }
}

/// The pool's manager: a round whenever jobs wait (every 25 ms) or give slots back,
/// lease renewal every third of the lease; on `shutdown`, everything held or queued
/// goes back to the fleet.
pub(super) async fn manage(inner: Arc<Inner>, shutdown: CancellationToken) {
    let renew_every = inner.fleet.lease / 3;
    let mut last_renew = tokio::time::Instant::now();
    let mut announced = Announced::default();
    loop {
        let waiting = inner.lock().prune();
        let tick = if waiting > 0 {
            Duration::from_millis(25)
        } else {
            renew_every
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = step(&inner, &mut announced).await {
            warn!(error = %e, "Provider slot bookkeeping failed; retrying.");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if last_renew.elapsed() >= renew_every {
            last_renew = tokio::time::Instant::now();
            let members = inner.lock().held_members();
            if let Err(e) = inner.fleet.renew(&members).await {
                warn!(error = %e, "Could not renew provider slot leases; retrying.");
            }
        }
    }
    // Stopped: whatever is still held or queued goes back to the fleet.
    let members = inner.lock().close();
    inner.fleet.leave(&members).await;
}

/// What this worker has announced to the fleet: [interactive jobs waiting, any job
/// waiting].
type Announced = [bool; 2];

/// One round: release what nobody here wants, announce demand, take slots from the
/// fleet for the jobs waiting here (within this worker's share). No round trip when
/// there is nothing to release, announce or ask for.
async fn step(inner: &Inner, announced: &mut Announced) -> Result<(), redis::RedisError> {
    let (release, [n_interactive, n_bulk]) = {
        let mut local = inner.lock();
        (local.take_release(), local.waiting())
    };
    let wanted = n_interactive + n_bulk;
    let announce = [n_interactive > 0, wanted > 0];
    if release.is_empty() && wanted == 0 && announce == *announced {
        inner.lock().idle();
        return Ok(());
    }
    let (members, held) = {
        let mut local = inner.lock();
        (local.new_members(wanted), local.held())
    };
    let mode = if n_interactive > 0 {
        Mode::Interactive
    } else {
        Mode::Bulk
    };
    let round = inner
        .fleet
        .round(&release, mode, held, [n_interactive, wanted], &members)
        .await;
    let round = match round {
        Ok(r) => r,
        Err(e) => {
            // Given back again next round.
            inner.lock().release_later(release);
            return Err(e);
        }
    };
    *announced = announce;
    debug!(worker = %inner.fleet.worker_id, released = release.len(), wanted, granted = round.granted, held, "Provider slots asked for.");
    inner.lock().granted(&round, members, wanted);
    Ok(())
}
