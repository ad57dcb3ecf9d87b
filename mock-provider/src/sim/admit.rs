//! Admission of a submit: an `Idempotency-Key` seen before, a taken task id, fault
//! injection, throttling, the in-flight cap, credits, then billing and scheduling the
//! new task. Every refusal is counted.

use std::cmp::Reverse;
use std::time::Duration;

use fluxq_common::MicroUsd;
use rand::Rng;
use tokio::time::Instant;

use super::order::{Accepted, Fault, Order, Refusal};
use super::task::{Outcome, Task};
use super::{Clock, Inner, later};

impl Inner {
    /// Draws whether to fail now, at `rate`, and how (500 or 503, evenly).
    pub(super) fn draw_fault(&mut self, rate: f64) -> Option<Fault> {
        if rate <= 0.0 || !self.rng.random_bool(rate.min(1.0)) {
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
        if let Some(replay) = self.replay(&order)? {
            return Ok(replay);
        }
        if order.id.is_some_and(|id| self.tasks.contains_key(&id)) {
            self.stats.provider_mut(order.api).conflicts += 1;
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
        if let Some(cap) = self.config.max_in_flight {
            let waiting = match self.config.runflow_max_queued {
                _ if cap == 0 || !order.api.queues_at_capacity() => 0,
                Some(queued) => u64::from(queued),
                None => u64::MAX,
            };
            if self.stats.in_flight >= u64::from(cap).saturating_add(waiting) {
                self.stats.throttled += 1;
                self.stats.throttled_at_cap += 1;
                return Err(Refusal::AtCapacity {
                    cap,
                    retry_after_secs,
                });
            }
        }
        let cost = MicroUsd(
            order
                .unit_cost
                .0
                .saturating_mul(u64::from(order.results.max(1))),
        );
        if self.credit_refusals < self.config.refuse_credits_first {
            self.credit_refusals += 1;
            self.stats.insufficient_credits += 1;
            return Err(Refusal::InsufficientCredits);
        }
        if let Some(balance) = self.balance {
            let Some(left) = balance.checked_sub(cost.0) else {
                self.stats.insufficient_credits += 1;
                return Err(Refusal::InsufficientCredits);
            };
            self.balance = Some(left);
        }
        Ok(self.schedule(now, clock, order, cost))
    }

    /// The task an `Idempotency-Key` made before (`Ok(Some)`), a conflict when the
    /// key came with another request, or `Ok(None)` for a key not seen (or none).
    fn replay(&mut self, order: &Order) -> Result<Option<Accepted>, Refusal> {
        let Some(asked) = &order.extras.idempotency else {
            return Ok(None);
        };
        let Some(&(digest, id)) = self.idempotency.get(&asked.key) else {
            return Ok(None);
        };
        let provider = self.stats.provider_mut(order.api);
        if digest != asked.digest {
            provider.conflicts += 1;
            return Err(Refusal::IdempotencyConflict);
        }
        let Some(task) = self.tasks.get(&id) else {
            return Ok(None);
        };
        provider.idempotent_replays += 1;
        Ok(Some(Accepted {
            id,
            cost: task.cost,
            finish: task.finish,
            replayed: true,
        }))
    }

    /// Creates the billed task and its finish and forget events. An API that does not
    /// bill failures ([`super::Api::bills_failures`]) gets the charge of a task that
    /// will fail back at once.
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
        if !order.api.bills_failures() && outcome != Outcome::Ready {
            if let Some(balance) = self.balance.as_mut() {
                *balance = balance.saturating_add(cost.0);
            }
            cost = MicroUsd(0);
        }
        let started = if order.api.queues_at_capacity() {
            self.slot_free_at(now)
        } else {
            now
        };
        if started > now {
            self.stats.provider_mut(order.api).queued += 1;
        }
        let latency = match outcome {
            Outcome::RequestModerated => Duration::ZERO,
            _ => self.draw_latency(),
        };
        let finish = later(started, latency);
        let drawn = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let id = order.id.unwrap_or(drawn);
        self.stats
            .record_submission(order.api, &order.prompt, order.seed, cost.0, order.results);
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
        let extras = order.extras;
        if let Some(key) = &extras.idempotency {
            self.idempotency.insert(key.key.clone(), (key.digest, id));
        }
        if let Some(client_ref) = &extras.client_ref {
            self.index(order.api, client_ref, id);
        }
        let task = Task {
            api: order.api,
            model: order.model,
            prompt: order.prompt,
            seed,
            format: order.format,
            started,
            finish,
            outcome,
            submitted_ms: submit_ms,
            started_ms: clock.unix_ms(started),
            finish_ms,
            sample_expires_ms: finish_ms.saturating_add(download_ms),
            results: order.results.max(1),
            cost,
            include_cost: order.include_cost,
            client_ref: extras.client_ref,
            idempotency_key: extras.idempotency.map(|i| i.key),
            echo: extras.echo,
            downloads: 0,
        };
        self.tasks.insert(id, task);
        Accepted {
            id,
            cost,
            finish,
            replayed: false,
        }
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
