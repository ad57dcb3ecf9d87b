//! Admission of a submit: a taken task id, fault injection, throttling, the in-flight
//! cap, credits, then billing and scheduling the new task. Every refusal is counted.

use std::cmp::Reverse;
use std::time::Duration;

use fluxq_common::{MicroUsd, Model, OutputFormat, ProviderKind, pricing};
use rand::Rng;
use tokio::time::Instant;
use uuid::Uuid;

use super::task::{Outcome, Task};
use super::{Clock, Inner, later};

/// A validated generation request, whatever API it came through.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub provider: ProviderKind,
    pub model: Model,
    pub prompt: String,
    /// The seed asked for; the mock draws one when absent.
    pub seed: Option<i64>,
    pub width: u32,
    pub height: u32,
    /// Reference images; each is billed as one megapixel (their size is not inspected).
    pub references: usize,
    pub format: OutputFormat,
    /// The task id the client chose (Runware's `taskUUID`); `None` lets the mock draw one.
    pub id: Option<Uuid>,
    /// Images to make (Runware's `numberResults`); each is billed.
    pub results: u32,
    /// Whether answers report the cost (Runware's `includeCost`).
    pub include_cost: bool,
}

/// An accepted, billed task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub id: Uuid,
    pub cost: MicroUsd,
    /// When the task finishes (a synchronous answer waits until then).
    pub finish: Instant,
}

/// An injected server failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 500.
    Internal,
    /// 503, "try again in a few moments".
    Unavailable,
}

/// Why a submit was not accepted (validation and auth are the API module's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Fault(Fault),
    /// Refused at random (`throttle_rate`).
    Throttled {
        retry_after_secs: u64,
    },
    /// `max_in_flight` tasks are already in flight.
    AtCapacity {
        cap: u32,
        retry_after_secs: u64,
    },
    /// The balance cannot cover the cost.
    InsufficientCredits,
    /// A task with the client's id exists already (Runware's `conflictTaskUUID`).
    Conflict,
}

impl Inner {
    /// Draws whether to fail now, at `rate`, and how (500 or 503, evenly).
    pub(super) fn draw_fault(&mut self, rate: f64) -> Option<Fault> {
        if rate <= 0.0 || !self.rng.random_bool(rate) {
            return None;
        }
        Some(if self.rng.random_bool(0.5) {
            Fault::Internal
        } else {
            Fault::Unavailable
        })
    }

    pub(super) fn admit(
        &mut self,
        now: Instant,
        clock: &Clock,
        order: Order,
    ) -> Result<Accepted, Refusal> {
        if order.id.is_some_and(|id| self.tasks.contains_key(&id)) {
            self.stats.provider_mut(order.provider).conflicts += 1;
            return Err(Refusal::Conflict);
        }
        if let Some(fault) = self.draw_fault(self.config.submit_fail_rate) {
            self.stats.record_fault(true);
            return Err(Refusal::Fault(fault));
        }
        let retry_after_secs = self.config.retry_after_secs;
        let throttle_rate = self.config.throttle_rate;
        if throttle_rate > 0.0 && self.rng.random_bool(throttle_rate) {
            self.stats.throttled += 1;
            return Err(Refusal::Throttled { retry_after_secs });
        }
        if let Some(cap) = self.config.max_in_flight
            && self.stats.in_flight >= u64::from(cap)
        {
            self.stats.throttled += 1;
            self.stats.throttled_at_cap += 1;
            return Err(Refusal::AtCapacity {
                cap,
                retry_after_secs,
            });
        }
        let unit = pricing::estimate(
            order.provider,
            order.model,
            order.width,
            order.height,
            order.references,
        );
        let cost = MicroUsd(unit.0.saturating_mul(u64::from(order.results.max(1))));
        if let Some(balance) = self.balance {
            let Some(left) = balance.checked_sub(cost.0) else {
                self.stats.insufficient_credits += 1;
                return Err(Refusal::InsufficientCredits);
            };
            self.balance = Some(left);
        }
        Ok(self.schedule(now, clock, order, cost))
    }

    /// Creates the billed task and its finish and forget events. Runware reports a
    /// cost only with a successful result, so a Runware task that will fail is not
    /// billed (refunded at once; unconfirmed, the safe reading).
    fn schedule(
        &mut self,
        now: Instant,
        clock: &Clock,
        order: Order,
        mut cost: MicroUsd,
    ) -> Accepted {
        let seed = order
            .seed
            .unwrap_or_else(|| i64::from(self.rng.random::<u32>()));
        let outcome = self.decide(&order.prompt, seed);
        if outcome == Outcome::Error {
            *self
                .stats
                .errors_by_prompt
                .entry(order.prompt.clone())
                .or_default() += 1;
        }
        if order.provider == ProviderKind::Runware && outcome != Outcome::Ready {
            if let Some(balance) = self.balance.as_mut() {
                *balance = balance.saturating_add(cost.0);
            }
            cost = MicroUsd(0);
        }
        let latency = match outcome {
            Outcome::RequestModerated => Duration::ZERO,
            _ => self.draw_latency(),
        };
        let finish = later(now, latency);
        let drawn = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let id = order.id.unwrap_or(drawn);
        self.stats.record_submission(
            order.provider,
            &order.prompt,
            order.seed,
            cost.0,
            order.results,
        );
        let submit_ms = clock.unix_ms(now);
        self.stats.first_submit_ms = Some(
            self.stats
                .first_submit_ms
                .map_or(submit_ms, |f| f.min(submit_ms)),
        );
        let generation_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        let finish_ms = clock.unix_ms(finish);
        if finish > now {
            self.stats.in_flight += 1;
            self.stats.max_in_flight_seen = self.stats.max_in_flight_seen.max(self.stats.in_flight);
            self.finishing
                .push(Reverse((finish, outcome, generation_ms, finish_ms)));
        } else {
            self.stats.record_final(outcome);
            self.stats.record_generation(generation_ms, finish_ms);
        }
        self.forgetting
            .push(Reverse((later(finish, self.config.task_ttl), id)));
        let download_ms = u64::try_from(self.config.download_ttl.as_millis()).unwrap_or(u64::MAX);
        let task = Task {
            provider: order.provider,
            model: order.model,
            prompt: order.prompt,
            seed,
            format: order.format,
            submitted: now,
            finish,
            outcome,
            sample_expires_ms: clock.unix_ms(finish).saturating_add(download_ms),
            results: order.results.max(1),
            cost,
            include_cost: order.include_cost,
        };
        self.tasks.insert(id, task);
        Accepted { id, cost, finish }
    }

    /// Moderation first (by the word, then the seed's parity), then `error_rate`.
    fn decide(&mut self, prompt: &str, seed: i64) -> Outcome {
        let moderated = self
            .config
            .moderation_word
            .as_deref()
            .filter(|w| !w.is_empty())
            .is_some_and(|w| prompt.to_lowercase().contains(&w.to_lowercase()));
        if moderated {
            return if seed.rem_euclid(2) == 0 {
                Outcome::RequestModerated
            } else {
                Outcome::ContentModerated
            };
        }
        let error_rate = self.config.error_rate;
        if error_rate > 0.0 && self.rng.random_bool(error_rate) {
            Outcome::Error
        } else {
            Outcome::Ready
        }
    }

    /// Uniform in `latency_min..=latency_max`.
    fn draw_latency(&mut self) -> Duration {
        let (min, max) = (self.config.latency_min, self.config.latency_max);
        if max <= min {
            return min;
        }
        min + (max - min).mul_f64(self.rng.random::<f64>())
    }
}
