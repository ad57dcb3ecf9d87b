//! The provider-agnostic simulation behind every endpoint: the task store, the
//! in-flight count (and the queue behind it), billing, fault injection, searches and
//! the counters. HTTP shapes live in the provider modules ([`crate::bfl`],
//! [`crate::runware`], [`crate::runflow`]), which share this.
//!
//! Tasks are not driven by timers: each carries its finish instant, and every call
//! first [`Inner::advance`]s the clock, retiring finished tasks from the in-flight
//! count (a min-heap of finish instants) and forgetting expired ones (a second heap).
//! The in-flight figure is therefore exact at every submit, and so is its maximum.

mod admit;
mod api;
mod clock;
mod download;
mod index;
mod order;
mod per_provider;
mod queue;
mod stats;
mod task;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fluxq_common::MicroUsd;
use fluxq_common::pricing::MICRO_USD_PER_CREDIT;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use uuid::Uuid;

pub use api::Api;
pub(crate) use clock::{Clock, rfc3339};
pub(crate) use order::{Accepted, Extras, Fault, Idempotency, Order, Refusal};
pub use stats::{ByProvider, ProviderStats, Stats};
pub(crate) use task::{Outcome, Status, TaskView};

use crate::config::MockConfig;
use crate::knobs::{Knobs, KnobsPatch};
use task::Task;

/// The shared simulation state; cheap calls, each holding one short lock.
#[derive(Debug)]
pub(crate) struct Sim {
    clock: Clock,
    inner: Mutex<Inner>,
}

/// Everything behind the lock. Never held across an `.await`.
#[derive(Debug)]
struct Inner {
    config: MockConfig,
    rng: StdRng,
    /// Credits left, in micro-USD; `None` is unlimited.
    balance: Option<u64>,
    tasks: HashMap<Uuid, Task>,
    /// Finish instants of the tasks in flight, with how they end.
    /// Tasks not final yet: (finish, outcome, generation ms, finish in Unix ms).
    finishing: BinaryHeap<Reverse<(Instant, Outcome, u64, u64)>>,
    /// When each remembered task is forgotten.
    forgetting: BinaryHeap<Reverse<(Instant, Uuid)>>,
    /// Remembered tasks by (API, client correlation id).
    refs: HashMap<(Api, String), Vec<Uuid>>,
    /// `Idempotency-Key` → (digest of its request, the task it made).
    idempotency: HashMap<String, (u64, Uuid)>,
    /// Submits refused so far under `refuse_credits_first`.
    credit_refusals: u32,
    stats: Stats,
}

impl Sim {
    pub fn new(config: MockConfig) -> Self {
        let config = config.normalized();
        let inner = Inner {
            rng: new_rng(config.rng_seed),
            balance: config.credits.map(to_micro),
            config,
            tasks: HashMap::new(),
            finishing: BinaryHeap::new(),
            forgetting: BinaryHeap::new(),
            refs: HashMap::new(),
            idempotency: HashMap::new(),
            credit_refusals: 0,
            stats: Stats::default(),
        };
        Self {
            clock: Clock::start(),
            inner: Mutex::new(inner),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Locks the state, brought up to date with the clock. A poisoned lock is taken
    /// over: every update keeps the state consistent before it could panic.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.advance(self.clock.now());
        inner
    }

    /// Updates counters.
    pub fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut self.lock().stats);
    }

    /// Admits (and bills) or refuses a submit, counting it either way.
    pub fn submit(&self, order: Order) -> Result<Accepted, Refusal> {
        let mut inner = self.lock();
        inner.stats.submit_requests += 1;
        inner.stats.provider_mut(order.api).submit_requests += 1;
        inner.admit(self.clock.now(), &self.clock, order)
    }

    /// Whether to cut off the answer to an accepted task (`drop_after_accept_rate`),
    /// counting it when so.
    pub fn draw_drop(&self, api: Api) -> bool {
        let mut inner = self.lock();
        let rate = inner.config.drop_after_accept_rate;
        if rate <= 0.0 || !inner.rng.random_bool(rate) {
            return false;
        }
        inner.stats.dropped_responses += 1;
        inner.stats.provider_mut(api).dropped_responses += 1;
        true
    }

    /// Answers a poll through `api`: a fault, the task, or `None` for an unknown or
    /// forgotten task (or one another API accepted).
    pub fn poll(&self, api: Api, id: Option<Uuid>) -> Result<Option<TaskView>, Fault> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.stats.polls += 1;
        inner.stats.provider_mut(api).polls += 1;
        let rate = inner.config.poll_fail_rate;
        if let Some(fault) = inner.draw_fault(rate) {
            inner.stats.record_fault(false);
            return Err(fault);
        }
        let view = id
            .and_then(|id| inner.tasks.get(&id))
            .filter(|t| t.api == api)
            .map(|t| TaskView::of(t, now));
        if view.is_none() {
            inner.stats.not_found += 1;
        }
        Ok(view)
    }

    /// The task behind an image URL, without counting a poll.
    pub fn lookup(&self, id: Uuid) -> Option<TaskView> {
        let now = self.clock.now();
        self.lock().tasks.get(&id).map(|t| TaskView::of(t, now))
    }

    /// The counters; `with_maps: false` leaves the per-prompt maps empty, which keeps
    /// the call constant-time however many prompts were seen.
    pub fn stats(&self, with_maps: bool) -> Stats {
        let mut inner = self.lock();
        let mut stats = if with_maps {
            inner.stats.clone()
        } else {
            inner.stats.summary()
        };
        stats.credits_remaining = inner.balance.map(to_credits);
        stats.tasks_stored = inner.tasks.len() as u64;
        stats
    }

    pub fn reset_stats(&self) {
        self.lock().stats.reset();
    }

    pub fn knobs(&self) -> Knobs {
        let inner = self.lock();
        Knobs {
            credits: inner.balance.map(to_credits),
            ..Knobs::from_config(&inner.config)
        }
    }

    /// Applies a run-time patch and returns the knobs now in force.
    pub fn apply(&self, patch: &KnobsPatch) -> Knobs {
        {
            let mut inner = self.lock();
            inner.config.apply(patch);
            if let Some(credits) = patch.credits {
                inner.balance = credits.map(to_micro);
            }
            if let Some(seed) = patch.rng_seed {
                inner.rng = new_rng(seed);
            }
            if patch.refuse_credits_first.is_some() {
                inner.credit_refusals = 0;
            }
        }
        self.knobs()
    }

    /// Credits left; `None` when unlimited.
    pub fn balance(&self) -> Option<f64> {
        self.lock().balance.map(to_credits)
    }
}

impl Inner {
    /// Retires the tasks finished by `now` and forgets the expired ones.
    fn advance(&mut self, now: Instant) {
        while let Some(&Reverse((at, outcome, generation_ms, finish_ms))) = self.finishing.peek() {
            if at > now {
                break;
            }
            self.finishing.pop();
            self.stats.in_flight = self.stats.in_flight.saturating_sub(1);
            self.stats.record_final(outcome);
            self.stats.record_generation(generation_ms, finish_ms);
        }
        while let Some(&Reverse((at, id))) = self.forgetting.peek() {
            if at > now {
                break;
            }
            self.forgetting.pop();
            if let Some(task) = self.tasks.remove(&id) {
                self.unindex(id, &task);
            }
        }
    }
}

fn new_rng(seed: Option<u64>) -> StdRng {
    seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64)
}

fn to_micro(credits: f64) -> u64 {
    MicroUsd::from_credits(credits).0
}

fn to_credits(micro: u64) -> f64 {
    micro as f64 / MICRO_USD_PER_CREDIT as f64
}

/// `at + d`, saturating at about a century ahead instead of panicking on overflow.
fn later(at: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(d.min(CENTURY)).unwrap_or(at)
}

#[cfg(test)]
mod tests;
