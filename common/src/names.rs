//! Names of every exchange, queue and Redis key, derived from the namespace, so that
//! tests (a fresh namespace each) and several deployments can share one broker and
//! one Redis.

use std::time::Duration;

use uuid::Uuid;

use crate::job::Lane;

/// All names under one namespace (`FLUXQ_NAMESPACE`, default `fluxq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    ns: String,
}

/// A namespace that cannot be used as a prefix of names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace {0:?} must be 1-64 characters of letters, digits, '-', '_'")]
pub struct InvalidNamespace(pub String);

impl Names {
    pub fn new(ns: &str) -> Result<Self, InvalidNamespace> {
        let ok = !ns.is_empty()
            && ns.len() <= 64
            && ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(InvalidNamespace(ns.to_owned()));
        }
        Ok(Self { ns: ns.to_owned() })
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    // RabbitMQ

    /// The durable direct exchange jobs are published to (routing key = lane).
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.ns)
    }

    /// The quorum queue of one lane.
    pub fn lane_queue(&self, lane: Lane) -> String {
        format!("{}.jobs.{}", self.ns, lane.as_str())
    }

    /// The headers exchange routing a retry to its delay queue by its `fluxq-tier` header.
    pub fn delay_exchange(&self) -> String {
        format!("{}.delay", self.ns)
    }

    /// The delay queue holding retries for `ttl` before they return to `{ns}.jobs`
    /// under their own lane's routing key.
    pub fn delay_queue(&self, ttl: Duration) -> String {
        format!("{}.delay.{}ms", self.ns, ttl.as_millis())
    }

    /// The value of the `fluxq-tier` header (and binding) of a delay tier.
    pub fn delay_tier(ttl: Duration) -> String {
        format!("{}ms", ttl.as_millis())
    }

    /// The exchange (fanout) and queue of messages that can never succeed.
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.ns)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.ns)
    }

    // Redis

    /// Hash: one job's record (contract).
    pub fn job_key(&self, id: &Uuid) -> String {
        format!("{}:job:{id}", self.ns)
    }

    /// Hash: one batch's counters and cost (contract).
    pub fn batch_key(&self, batch: &str) -> String {
        format!("{}:batch:{batch}", self.ns)
    }

    /// Set: ids of the batch's failed jobs, for `producer status`. Its own prefix,
    /// not a suffix of the batch's key: batch names may hold `:`, and
    /// `{ns}:batch:{b}:failed` would be the hash of a batch named `{b}:failed`. Every
    /// key whose name ends in a batch name or id has a prefix of its own, so no two
    /// batches, ids or namespaces share a key.
    pub fn batch_failed_key(&self, batch: &str) -> String {
        format!("{}:failed:{batch}", self.ns)
    }

    /// Sorted set: the batch's job ids, scored by their place in the batch (1 for the
    /// first recorded), for listing a batch's jobs in order and finding the ones a
    /// cancel or a budget applies to.
    pub fn batch_jobs_key(&self, batch: &str) -> String {
        format!("{}:jobs:{batch}", self.ns)
    }

    /// Sorted set: every batch by when its first job was recorded (Unix ms), newest
    /// last.
    pub fn batches_key(&self) -> String {
        format!("{}:batches", self.ns)
    }

    /// Stream: one entry per job reaching a final status (contract).
    pub fn events_key(&self) -> String {
        format!("{}:events", self.ns)
    }

    /// Sorted set: jobs whose completion callback is to be delivered, scored by when
    /// (Unix ms); a notifier that takes one pushes its score past its delivery's end.
    pub fn callbacks_due_key(&self) -> String {
        format!("{}:callbacks:due", self.ns)
    }

    /// The consumer group of `{ns}:events` that completion callbacks are driven from.
    pub const CALLBACK_GROUP: &'static str = "fluxq-callbacks";

    /// A key of a provider account's limiter (`slots`, `state`, `waiting`,
    /// `interactive_waiting`, `rate:submit`, `rate:poll`); `account` is a provider and
    /// a hash of its key.
    pub fn limiter_key(&self, account: &str, part: &str) -> String {
        format!("{}:limiter:{account}:{part}", self.ns)
    }

    /// Hash: why and since when a provider account's breaker is open (absent: closed).
    pub fn breaker_key(&self, account: &str) -> String {
        format!("{}:breaker:{account}", self.ns)
    }

    /// Hash: the lanes paused fleet-wide, lane (`bulk`, `interactive`) → when it was
    /// paused (RFC 3339); a lane not in it runs.
    pub fn paused_lanes_key(&self) -> String {
        format!("{}:paused", self.ns)
    }

    /// String: why the batch was cancelled (`producer cancel`); absent: not cancelled.
    /// The submit gate refuses every job of a batch that has it.
    pub fn batch_cancelled_key(&self, batch: &str) -> String {
        format!("{}:cancelled:{batch}", self.ns)
    }

    /// Hash: the message of a cancelled job (`body`, `lane`), kept when its delivery
    /// was acknowledged so `producer resume` (or a raised budget) can publish it again.
    pub fn parked_key(&self, id: &Uuid) -> String {
        format!("{}:parked:{id}", self.ns)
    }

    /// String: micro-USD a provider account was charged on one UTC day (`YYYY-MM-DD`),
    /// counted against `FLUXQ_DAILY_BUDGET_USD`; expires two days after its last charge.
    pub fn daily_spend_key(&self, account: &str, day: &str) -> String {
        format!("{}:spend:{account}:{day}", self.ns)
    }

    /// Hash: the price-table estimates reserved against an account's daily budget by
    /// jobs whose charge is not known yet, job id → `{micro-USD}:{expiry ms}`.
    pub fn daily_reserved_key(&self, account: &str) -> String {
        format!("{}:reserved:{account}", self.ns)
    }

    /// String: the daily budget per provider account set by `producer daily-budget`
    /// (micro-USD, `0`: none); wins over the workers' `FLUXQ_DAILY_BUDGET_USD`.
    pub fn daily_budget_key(&self) -> String {
        format!("{}:daily_budget", self.ns)
    }

    /// String with a lease: which worker runs the job now.
    pub fn lease_key(&self, id: &Uuid) -> String {
        format!("{}:lease:{id}", self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let n = Names::new("fluxq").unwrap_or_else(|e| panic!("{e}"));
        let id = Uuid::nil();
        assert_eq!(n.jobs_exchange(), "fluxq.jobs");
        assert_eq!(n.lane_queue(Lane::Bulk), "fluxq.jobs.bulk");
        assert_eq!(n.lane_queue(Lane::Interactive), "fluxq.jobs.interactive");
        assert_eq!(n.delay_exchange(), "fluxq.delay");
        assert_eq!(n.delay_queue(Duration::from_secs(2)), "fluxq.delay.2000ms");
        assert_eq!(Names::delay_tier(Duration::from_millis(250)), "250ms");
        assert_eq!(n.dead_queue(), "fluxq.dead");
        assert_eq!(n.job_key(&id), format!("fluxq:job:{id}"));
        assert_eq!(n.batch_key("b1"), "fluxq:batch:b1");
        assert_eq!(n.events_key(), "fluxq:events");
    }

    #[test]
    fn no_two_batches_or_kinds_of_key_share_a_key() {
        let n = Names::new("fluxq").unwrap_or_else(|e| panic!("{e}"));
        let batches = ["b", "b:failed", "failed", "b:c", "job", "x:batch:b"];
        let mut keys = std::collections::HashSet::new();
        for b in batches {
            assert!(keys.insert(n.batch_key(b)), "{b}");
            assert!(keys.insert(n.batch_failed_key(b)), "{b}");
            assert!(keys.insert(n.batch_jobs_key(b)), "{b}");
            assert!(keys.insert(n.batch_cancelled_key(b)), "{b}");
        }
        for id in [Uuid::nil(), Uuid::max()] {
            assert!(keys.insert(n.job_key(&id)));
            assert!(keys.insert(n.lease_key(&id)));
            assert!(keys.insert(n.parked_key(&id)));
        }
        assert!(keys.insert(n.events_key()));
        assert!(keys.insert(n.batches_key()));
        assert!(keys.insert(n.paused_lanes_key()));
        assert!(keys.insert(n.daily_budget_key()));
        for a in ["bfl:00", "bfl:00:2026-12-01"] {
            assert!(keys.insert(n.daily_reserved_key(a)));
            assert!(keys.insert(n.daily_spend_key(a, "2026-12-01")));
            assert!(keys.insert(n.limiter_key(a, "state")));
        }
        assert!(keys.insert(n.callbacks_due_key()));
        // Namespaces hold no `:`, so one namespace's keys never fall in another's.
        let other = Names::new("fluxq-2").unwrap_or_else(|e| panic!("{e}"));
        assert!(keys.insert(other.batch_key("b")));
    }

    #[test]
    fn bad_namespaces_are_rejected() {
        for bad in ["", "a b", "a:b", "a.b", &"x".repeat(65)] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
        assert!(Names::new("test-1_a").is_ok());
    }
}
