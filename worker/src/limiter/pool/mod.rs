//! The provider slots one worker process holds, shared with the fleet through Redis.
//!
//! A slot is held from submit until the provider's task is final, which is what the
//! provider counts; it is a lease in `{ns}:limiter:{account}:slots` (a sorted set of
//! members by expiry), renewed while held, so a killed worker's slots come back to
//! the fleet within one lease. A slot a job gives back goes straight to a job waiting
//! in this process if there is one (no round trip), else back to Redis.
//!
//! Fair shares: workers with jobs waiting announce it (`waiting`); while others wait
//! too, a worker keeps at most the effective limit divided by the waiting workers
//! (rounded down) and takes from Redis up to that share (rounded up). A slot over the
//! share goes back to Redis for the others, so no worker is starved however long the
//! backlog (without it, the first worker to start would keep every slot for its own
//! queue until the backlog drained).
//!
//! Lanes: waiting `interactive` jobs are served before `bulk` ones, 4 to 1 when both
//! wait (so bulk is never starved); across the fleet, no worker takes a slot from
//! Redis for bulk while any worker has interactive jobs waiting.
//!
//! This file is the public API ([`SlotPool`], [`Slot`]); `local` is the hand-out
//! policy inside the process (pure), `fleet` the rounds with Redis.

mod fleet;
mod local;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fluxq_common::Lane;
use redis::aio::ConnectionManager;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use fleet::{Fleet, Mode};
use local::Local;

/// How the pool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most tasks in flight at the account (`FLUXQ_PROVIDER_CONCURRENCY`).
    pub max: u32,
    /// Lease of a slot not renewed (a dead worker's slots return after it).
    pub lease: Duration,
    /// Interactive slots handed out per bulk slot when both lanes wait.
    pub interactive_weight: u32,
}

/// Redis keys of one account's limiter.
#[derive(Debug, Clone)]
pub struct PoolKeys {
    pub slots: String,
    pub state: String,
    pub interactive_waiting: String,
    /// Workers with jobs waiting for a slot (worker id -> announcement expiry ms).
    pub waiting: String,
}

/// The pool was stopped (the worker is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the provider slot pool is closed")]
pub struct PoolClosed;

/// A held slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot {
    member: Option<String>,
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(m) = self.member.take() {
            self.inner.give_back(m);
        }
    }
}

/// This process's share of an account's slots.
#[derive(Debug, Clone)]
pub struct SlotPool {
    inner: Arc<Inner>,
}

/// What the pool's handles and its manager task share.
struct Inner {
    fleet: Fleet,
    local: Mutex<Local>,
    /// Wakes the manager: a job waits, or a slot is left for the fleet.
    wake: Notify,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotPool")
            .field("fleet", &self.fleet)
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, member: String) {
        let left = self.lock().give_back(member);
        if left {
            self.wake.notify_one();
        }
    }
}

impl SlotPool {
    /// Starts the pool and its manager task (which stops with `shutdown`).
    pub fn start(
        conn: ConnectionManager,
        keys: PoolKeys,
        config: PoolConfig,
        worker_id: &str,
        shutdown: CancellationToken,
    ) -> Self {
        let inner = Arc::new(Inner {
            fleet: Fleet::new(conn, keys, &config, worker_id),
            local: Mutex::new(Local::new(worker_id, config.interactive_weight)),
            wake: Notify::new(),
        });
        tokio::spawn(fleet::manage(inner.clone(), shutdown));
        Self { inner }
    }

    /// Waits for a slot for a job of `lane`.
    pub async fn acquire(&self, lane: Lane) -> Result<Slot, PoolClosed> {
        let rx = self.inner.lock().wait(lane)?;
        self.inner.wake.notify_one();
        let member = rx.await.map_err(|_| PoolClosed)?;
        Ok(Slot {
            member: Some(member),
            inner: self.inner.clone(),
        })
    }

    /// A slot for a task already running at the provider (a resumed job): granted at
    /// once, even over the limit, so that new submits wait for it.
    pub async fn acquire_running(&self) -> Slot {
        let member = self.inner.lock().hold_new();
        let r = self
            .inner
            .fleet
            .round(&[], Mode::Force, 0, [0, 0], std::slice::from_ref(&member))
            .await;
        if let Err(e) = r {
            debug!(error = %e, "Could not record a resumed task's slot yet; the lease renewal will.");
        }
        Slot {
            member: Some(member),
            inner: self.inner.clone(),
        }
    }

    /// Tells the fleet how the provider answered a submit: accepted (the effective
    /// limit grows back) or throttled (it shrinks, and everyone cools down).
    pub async fn feedback(&self, throttled: Option<Duration>) {
        let (verdict, cool) = match throttled {
            // Nothing to grow back: no round trip per accepted submit.
            None if !self.inner.lock().below_max() => return,
            None => ("ok", 0),
            Some(d) => {
                self.inner.lock().cool_down();
                ("throttled", d.as_millis().max(250) as u64)
            }
        };
        match self.inner.fleet.feedback(verdict, cool).await {
            Ok(below) => self.inner.lock().set_below_max(below),
            Err(e) => debug!(error = %e, "Could not record the provider's answer in the limiter."),
        }
    }

    /// Jobs of this process waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiting().iter().sum()
    }
}
