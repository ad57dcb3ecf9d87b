//! Delivering callbacks: take the ones due from `{ns}:callbacks:due` (each under a
//! claim no other notifier can take while it lasts), POST the job's final record,
//! signed, and record the attempt on the job: `delivered` on a 2xx, else due again
//! after an exponential backoff with jitter, until `FLUXQ_CALLBACK_MAX_AGE` after the
//! job's final event, when it is `failed`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use fluxq_wire::{RedisStore, StoreError, now_rfc3339};
use rand::Rng;
use uuid::Uuid;

use super::args::Settings;
use super::sign;
use crate::read::JobView;
use crate::read::events::StreamId;

static TAKE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/take.lua")));
static ATTEMPTED: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/attempted.lua")));

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; due again at this Unix ms.
    Retry {
        at_ms: u64,
        error: String,
    },
    /// Given up (too old).
    Failed(String),
    /// The URL may not be called.
    Refused(String),
    /// Nothing to deliver (no callback, already settled, no record).
    Drop,
}

/// Claimed deliveries: the job ids and the claim they are held under.
#[derive(Debug, Clone)]
pub struct Taken {
    pub ids: Vec<String>,
    pub claim: String,
}

/// Delivers callbacks for one notifier.
#[derive(Debug, Clone)]
pub struct Deliverer {
    store: RedisStore,
    http: reqwest::Client,
    settings: Arc<Settings>,
}

pub(super) fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

/// The wait after the `n`th failed attempt (1-based): `base·2^(n-1)` capped at `max`,
/// drawn uniformly from its upper half.
pub fn backoff(n: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let full = base
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(30)))
        .min(max);
    let half = full / 2;
    half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
}

/// A failed request, in words, without the URL (its query may hold a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        format!(
            "request failed: {}",
            e.to_string()
                .replace(e.url().map_or("", |u| u.as_str()), "…")
        )
    }
}

impl Deliverer {
    pub fn new(store: RedisStore, settings: Arc<Settings>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(settings.policy.resolver()))
            .user_agent(concat!("fluxq-callbacks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            http,
            settings,
        })
    }

    /// How long a claim lasts: longer than checking the URL and one delivery can take.
    pub fn lease(&self) -> Duration {
        self.settings.timeout * 2 + Duration::from_secs(5)
    }

    /// Takes up to `count` deliveries that are due now.
    pub async fn take(&self, count: usize) -> Result<Taken, StoreError> {
        let (ids, claim): (Vec<String>, String) = TAKE
            .key(self.store.names().callbacks_due_key())
            .arg(now_ms())
            .arg(self.lease().as_millis() as u64)
            .arg(count)
            .invoke_async(&mut self.store.connection())
            .await?;
        Ok(Taken { ids, claim })
    }

    /// When the next delivery is due (Unix ms), if any is queued.
    pub async fn next_due(&self) -> Result<Option<u64>, StoreError> {
        let first: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.store.names().callbacks_due_key())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.store.connection())
            .await?;
        Ok(first.first().map(|(_, s)| s.max(0.0) as u64))
    }

    /// Makes one attempt for job `id` under `claim` and records it.
    pub async fn deliver(&self, id: &str, claim: &str) -> Result<Outcome, StoreError> {
        let record = match id.parse::<Uuid>() {
            Ok(uuid) => {
                let h = self.store.job(&uuid).await?;
                let event = h.get("callback_event").cloned();
                JobView::from_record(uuid, h).zip(event)
            }
            Err(_) => None,
        };
        let (outcome, event) = match record {
            Some((view, event)) => (self.attempt(view, &event).await, event),
            None => (Outcome::Drop, String::new()),
        };
        self.record(id, claim, &event, &outcome).await?;
        Ok(outcome)
    }

    /// One attempt for the job's callback of entry `event`, unless it is settled.
    async fn attempt(&self, mut view: JobView, event: &str) -> Outcome {
        let Some(cb) = view.callback.take() else {
            return Outcome::Drop;
        };
        if cb.status.as_deref() != Some("pending") {
            return Outcome::Drop;
        }
        let made = cb.attempts;
        let final_at = StreamId::parse(event).map_or(0, |e| e.ms);
        let deadline = final_at.saturating_add(self.settings.max_age.as_millis() as u64);
        let url =
            match tokio::time::timeout(self.settings.timeout, self.settings.policy.check(&cb.url))
                .await
            {
                Ok(Ok(url)) => url,
                Ok(Err(why)) => return Outcome::Refused(why),
                Err(_) => {
                    let error = "resolving the callback's host timed out".to_owned();
                    return self.failed_attempt(made + 1, deadline, error);
                }
            };
        let body = match serde_json::to_vec(&view) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("the record does not serialise: {e}")),
        };
        let signature = sign::signature(self.settings.secret.0.as_bytes(), now_ms() / 1000, &body);
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::HEADER, signature)
            .header("X-Fluxq-Event-Id", event)
            .header("X-Fluxq-Attempt", (made + 1).to_string())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Outcome::Delivered,
            Ok(resp) => {
                let error = format!("HTTP {}", resp.status().as_u16());
                self.failed_attempt(made + 1, deadline, error)
            }
            Err(e) => self.failed_attempt(made + 1, deadline, describe(&e)),
        }
    }

    /// After the `n`th failed attempt: due again after the backoff, or given up when
    /// that would be past the deadline.
    fn failed_attempt(&self, n: u32, deadline: u64, error: String) -> Outcome {
        let wait = backoff(
            n,
            self.settings.backoff,
            self.settings.backoff_max,
            &mut rand::rng(),
        );
        let at_ms = now_ms().saturating_add(wait.as_millis() as u64);
        if at_ms > deadline {
            Outcome::Failed(format!(
                "not delivered within FLUXQ_CALLBACK_MAX_AGE ({} s) after {n} attempt(s); last: {error}",
                self.settings.max_age.as_secs()
            ))
        } else {
            Outcome::Retry { at_ms, error }
        }
    }

    async fn record(
        &self,
        id: &str,
        claim: &str,
        event: &str,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let (name, at, error) = match outcome {
            Outcome::Delivered => ("delivered", 0, ""),
            Outcome::Retry { at_ms, error } => ("retry", *at_ms, error.as_str()),
            Outcome::Failed(e) => ("failed", 0, e.as_str()),
            Outcome::Refused(e) => ("refused", 0, e.as_str()),
            Outcome::Drop => ("drop", 0, ""),
        };
        let job_key = id
            .parse::<Uuid>()
            .map(|u| self.store.names().job_key(&u))
            .unwrap_or_else(|_| format!("{}:job:{id}", self.store.namespace()));
        let _: i64 = ATTEMPTED
            .key(job_key)
            .key(self.store.names().callbacks_due_key())
            .arg(id)
            .arg(claim)
            .arg(event)
            .arg(name)
            .arg(now_rfc3339())
            .arg(at)
            .arg(error)
            .invoke_async(&mut self.store.connection())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_within_its_upper_half_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        for n in 1..=40u32 {
            let full = (base * 2u32.pow((n - 1).min(20))).min(max);
            let d = backoff(n, base, max, &mut rng);
            assert!(d >= full / 2 && d <= full, "attempt {n}: {d:?} of {full:?}");
        }
    }
}
