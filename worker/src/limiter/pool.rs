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

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fluxq_common::Lane;
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::now_ms;

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

struct Inner {
    conn: ConnectionManager,
    keys: PoolKeys,
    config: PoolConfig,
    worker_id: String,
    acquire: Script,
    feedback: Script,
    state: Mutex<State>,
    wake: Notify,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotPool")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish()
    }
}

#[derive(Default)]
struct State {
    in_use: HashSet<String>,
    /// Waiting jobs: [interactive, bulk].
    waiters: [VecDeque<oneshot::Sender<String>>; 2],
    interactive_streak: u32,
    to_release: Vec<String>,
    seq: u64,
    /// Another worker has interactive jobs waiting.
    fleet_interactive: bool,
    /// Another worker has jobs waiting for slots.
    others_waiting: bool,
    /// This worker's fair share of the effective limit while others wait, x 1000.
    share_milli: u64,
    /// The fleet's effective limit is below the maximum (after 429s), so accepted
    /// submits are reported to grow it back; at the maximum they need not be.
    below_max: bool,
    closed: bool,
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Interactive => 0,
        Lane::Bulk => 1,
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn member(&self, st: &mut State) -> String {
        st.seq += 1;
        format!("{}:{}", self.worker_id, st.seq)
    }

    fn give_back(&self, member: String) {
        let mut st = self.lock();
        st.in_use.remove(&member);
        if let Some(left) = self.hand_out(&mut st, member, false) {
            st.to_release.push(left);
            drop(st);
            self.wake.notify_one();
        }
    }

    /// Gives `member` to the next waiter by lane policy; returns it if nobody takes it.
    /// `granted`: the fleet just granted it for the jobs waiting here (within this
    /// worker's share); otherwise it is one given back here, which a bulk job keeps
    /// only within the share.
    fn hand_out(&self, st: &mut State, mut member: String, granted: bool) -> Option<String> {
        loop {
            let bulk_ok = granted || !st.others_waiting || within_share(st);
            let Some(lane) = pick_lane(st, self.config.interactive_weight, bulk_ok) else {
                return Some(member);
            };
            let Some(tx) = st.waiters[lane].pop_front() else {
                return Some(member);
            };
            st.in_use.insert(member.clone());
            match tx.send(member) {
                Ok(()) => return None,
                Err(m) => {
                    st.in_use.remove(&m);
                    member = m;
                }
            }
        }
    }
}

/// Whether one more slot here stays within this worker's fair share (rounded down).
fn within_share(st: &State) -> bool {
    (st.in_use.len() as u64 + 1) * 1000 <= st.share_milli
}

/// Which lane's waiter gets the next slot: interactive first, but a bulk waiter after
/// `weight` interactive ones in a row; bulk not at all while another worker has
/// interactive jobs waiting (the slot goes back to Redis for them), nor unless
/// `bulk_ok` (the slot is within this worker's share).
fn pick_lane(st: &mut State, weight: u32, bulk_ok: bool) -> Option<usize> {
    let (i, b) = (
        !st.waiters[0].is_empty(),
        !st.waiters[1].is_empty() && bulk_ok,
    );
    let lane = match (i, b) {
        (true, true) if st.interactive_streak >= weight => 1,
        (true, _) => 0,
        (false, true) if !st.fleet_interactive => 1,
        _ => return None,
    };
    st.interactive_streak = if lane == 0 {
        st.interactive_streak + 1
    } else {
        0
    };
    Some(lane)
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
            conn,
            keys,
            config,
            worker_id: worker_id.to_owned(),
            acquire: fluxq_wire::lua::script(include_str!("lua/slots_acquire.lua")),
            feedback: fluxq_wire::lua::script(include_str!("lua/slots_feedback.lua")),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        });
        tokio::spawn(manage(inner.clone(), shutdown));
        Self { inner }
    }

    /// Waits for a slot for a job of `lane`.
    pub async fn acquire(&self, lane: Lane) -> Result<Slot, PoolClosed> {
        let rx = {
            let mut st = self.inner.lock();
            if st.closed {
                return Err(PoolClosed);
            }
            let (tx, rx) = oneshot::channel();
            st.waiters[lane_index(lane)].push_back(tx);
            rx
        };
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
        let member = {
            let mut st = self.inner.lock();
            let m = self.inner.member(&mut st);
            st.in_use.insert(m.clone());
            m
        };
        let r = self
            .inner
            .round(&[], "force", 0, [0, 0], std::slice::from_ref(&member))
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
            None if !self.inner.lock().below_max => return,
            None => ("ok", 0),
            Some(d) => ("throttled", d.as_millis().max(250) as u64),
        };
        let r: Result<String, _> = self
            .inner
            .feedback
            .key(&self.inner.keys.state)
            .arg(now_ms())
            .arg(self.inner.config.max)
            .arg(verdict)
            .arg(cool)
            .invoke_async(&mut self.inner.conn.clone())
            .await;
        match r {
            Ok(limit) => {
                let below = limit
                    .parse::<f64>()
                    .is_ok_and(|l| l < f64::from(self.inner.config.max));
                self.inner.lock().below_max = below;
            }
            Err(e) => debug!(error = %e, "Could not record the provider's answer in the limiter."),
        }
    }

    /// Jobs of this process waiting for a slot now.
    pub fn waiting(&self) -> usize {
        let st = self.inner.lock();
        st.waiters.iter().map(VecDeque::len).sum()
    }
}

async fn manage(inner: Arc<Inner>, shutdown: CancellationToken) {
    let renew_every = inner.config.lease / 3;
    let mut last_renew = tokio::time::Instant::now();
    let mut announced = Announced::default();
    loop {
        let waiting = {
            let mut st = inner.lock();
            for q in &mut st.waiters {
                q.retain(|tx| !tx.is_closed());
            }
            st.waiters.iter().map(VecDeque::len).sum::<usize>()
        };
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
            if let Err(e) = renew(&inner).await {
                warn!(error = %e, "Could not renew provider slot leases; retrying.");
            }
        }
    }
    // Stopped: whatever is still held or queued goes back to the fleet.
    let members: Vec<String> = {
        let mut st = inner.lock();
        st.closed = true;
        st.waiters = Default::default();
        let mut all: Vec<String> = st.in_use.drain().collect();
        all.append(&mut st.to_release);
        all
    };
    let mut conn = inner.conn.clone();
    if !members.is_empty() {
        let _: Result<(), _> = redis::cmd("ZREM")
            .arg(&inner.keys.slots)
            .arg(&members)
            .query_async(&mut conn)
            .await;
    }
    for announced in [&inner.keys.interactive_waiting, &inner.keys.waiting] {
        let _: Result<(), _> = redis::cmd("ZREM")
            .arg(announced)
            .arg(&inner.worker_id)
            .query_async(&mut conn)
            .await;
    }
}

/// What this worker has announced to the fleet: [interactive jobs waiting, any job
/// waiting].
type Announced = [bool; 2];

/// The reply of one round (`slots_acquire.lua`).
struct Round {
    granted: usize,
    share_milli: u64,
    others_waiting: bool,
    fleet_interactive: bool,
    below_max: bool,
}

impl Inner {
    /// One round trip: give back `release`, announce `waiting` ([interactive, all]
    /// jobs waiting here; not in `force` mode) and ask for `members`.
    async fn round(
        &self,
        release: &[String],
        mode: &str,
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
            .arg(self.config.lease.as_millis() as u64)
            .arg(self.config.max)
            .arg(mode)
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
}

/// One round: release what nobody here wants, announce demand, take slots from the
/// fleet for the jobs waiting here (within this worker's share). No round trip when
/// there is nothing to release, announce or ask for.
async fn step(inner: &Inner, announced: &mut Announced) -> Result<(), redis::RedisError> {
    let (release, n_interactive, n_bulk) = {
        let mut st = inner.lock();
        (
            std::mem::take(&mut st.to_release),
            st.waiters[0].len(),
            st.waiters[1].len(),
        )
    };
    let wanted = n_interactive + n_bulk;
    let announce = [n_interactive > 0, wanted > 0];
    if release.is_empty() && wanted == 0 && announce == *announced {
        inner.lock().others_waiting = false;
        return Ok(());
    }
    let (members, held): (Vec<String>, usize) = {
        let mut st = inner.lock();
        let members = (0..wanted).map(|_| inner.member(&mut st)).collect();
        (members, st.in_use.len())
    };
    let mode = if n_interactive > 0 {
        "interactive"
    } else {
        "bulk"
    };
    let round = inner
        .round(&release, mode, held, [n_interactive, wanted], &members)
        .await;
    let round = match round {
        Ok(r) => r,
        Err(e) => {
            // Given back again next round.
            inner.lock().to_release.extend(release);
            return Err(e);
        }
    };
    *announced = announce;
    debug!(worker = %inner.worker_id, released = release.len(), wanted, granted = round.granted, held, "Provider slots asked for.");
    let mut st = inner.lock();
    st.fleet_interactive = round.fleet_interactive;
    st.share_milli = round.share_milli;
    st.others_waiting = round.others_waiting && wanted > 0;
    st.below_max = round.below_max;
    for m in members.into_iter().take(round.granted) {
        if let Some(left) = inner.hand_out(&mut st, m, true) {
            st.to_release.push(left);
        }
    }
    Ok(())
}

/// Renews the leases of every slot in use here (re-adding any Redis lost).
async fn renew(inner: &Inner) -> Result<(), redis::RedisError> {
    let members: Vec<String> = inner.lock().in_use.iter().cloned().collect();
    if members.is_empty() {
        return Ok(());
    }
    let expiry = now_ms() + inner.config.lease.as_millis() as u64;
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(&inner.keys.slots);
    for m in &members {
        cmd.arg(expiry).arg(m);
    }
    cmd.query_async(&mut inner.conn.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiters(st: &mut State, i: usize, b: usize) -> Vec<oneshot::Receiver<String>> {
        let mut rx = Vec::new();
        for (lane, n) in [(0, i), (1, b)] {
            for _ in 0..n {
                let (tx, r) = oneshot::channel();
                st.waiters[lane].push_back(tx);
                rx.push(r);
            }
        }
        rx
    }

    #[test]
    fn interactive_first_but_bulk_every_fifth_slot() {
        let mut st = State::default();
        let _rx = waiters(&mut st, 20, 20);
        let picks: Vec<usize> = (0..10)
            .filter_map(|_| pick_lane(&mut st, 4, true))
            .collect();
        assert_eq!(picks, [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    }

    #[tokio::test]
    async fn a_slot_nobody_here_waits_for_goes_back_to_the_fleet() {
        let client =
            redis::Client::open("redis://127.0.0.1:6379/0").unwrap_or_else(|e| panic!("{e}"));
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = PoolKeys {
            slots: "unit:slots".into(),
            state: "unit:state".into(),
            interactive_waiting: "unit:iw".into(),
            waiting: "unit:waiting".into(),
        };
        let config = PoolConfig {
            max: 1,
            lease: Duration::from_secs(30),
            interactive_weight: 4,
        };
        let pool = SlotPool::start(conn, keys, config, "unit-worker", CancellationToken::new());
        let mut st = pool.inner.lock();
        assert_eq!(
            pool.inner.hand_out(&mut st, "m1".into(), false),
            Some("m1".to_owned()),
            "no waiter: returned"
        );
        let (tx, mut rx) = oneshot::channel();
        st.waiters[1].push_back(tx);
        assert_eq!(
            pool.inner.hand_out(&mut st, "m2".into(), false),
            None,
            "taken by the waiter"
        );
        assert_eq!(rx.try_recv().ok().as_deref(), Some("m2"));
        assert!(st.in_use.contains("m2"));
    }

    #[test]
    fn bulk_yields_to_interactive_jobs_elsewhere_in_the_fleet() {
        let mut st = State::default();
        let _rx = waiters(&mut st, 0, 3);
        assert_eq!(pick_lane(&mut st, 4, true), Some(1));
        st.fleet_interactive = true;
        assert_eq!(pick_lane(&mut st, 4, true), None);
        let mut empty = State::default();
        assert_eq!(pick_lane(&mut empty, 4, true), None);
    }
}
