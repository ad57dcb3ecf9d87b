//! What the worker records about deliveries and jobs: queue wait and jobs in flight,
//! submits (latency, attempts, 429s), polls, and each job's end (count, duration,
//! cost) exactly once.

use std::future::Future;
use std::time::{Duration, Instant};

use fluxq_common::{Failure, FailureKind, JobSpec, JobStatus, ProviderKind};
use fluxq_wire::headers::{self, HDR_DELAY_MS, HDR_PUBLISHED_MS, first_published_ms};
use lapin::BasicProperties;
use lapin::message::Delivery;

use super::{CostLabels, FinishedLabels, InFlight, Metrics, ProviderLabel, UNKNOWN};
use fluxq_wire::store::{Finished, Written};

impl Metrics {
    /// A delivery was taken: observes how long it waited in its queue and counts it
    /// in flight until the returned guard is dropped.
    pub fn delivery_started(&self, props: &BasicProperties) -> InFlight {
        if let Some(published) = headers::header_int(props, HDR_PUBLISHED_MS) {
            let delay = headers::header_int(props, HDR_DELAY_MS).unwrap_or(0).max(0);
            self.queue_wait
                .observe(seconds_since(published.saturating_add(delay)));
        }
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Times one submit and counts it: an attempt, or a 429 (not an attempt).
    pub async fn submit<T>(
        &self,
        provider: ProviderKind,
        submit: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let started = Instant::now();
        let result = submit.await;
        let label = ProviderLabel {
            provider: provider.as_str(),
        };
        self.submit_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Err(f) if f.kind == FailureKind::Throttled => {
                self.throttled.get_or_create(&label).inc()
            }
            _ => self.attempts.get_or_create(&label).inc(),
        };
        result
    }

    /// Counts a job task that panicked.
    pub fn job_panicked(&self) {
        self.panics.inc();
    }

    /// One poll of a provider task is being sent.
    pub fn polled(&self, provider: ProviderKind) {
        self.polls
            .get_or_create(&ProviderLabel {
                provider: provider.as_str(),
            })
            .inc();
    }

    /// Time spent waiting for a provider slot.
    pub fn limiter_waited(&self, wait: Duration) {
        self.limiter_wait.observe(wait.as_secs_f64());
    }

    /// A job's final status was written: counted (with its duration and cost) only if
    /// this write made the transition, so each job counts once however often it is
    /// delivered.
    pub fn job_finished(&self, d: &Delivery, spec: &JobSpec, status: JobStatus, f: Finished) {
        let labels = (
            spec.provider.as_str().to_owned(),
            spec.model.as_str().to_owned(),
        );
        self.finished_as(d, status, labels, f);
    }

    /// An invalid message failed its job's record (`provider`/`model` are `unknown`).
    pub fn job_rejected(&self, d: &Delivery, f: Finished) {
        let labels = (UNKNOWN.to_owned(), UNKNOWN.to_owned());
        self.finished_as(d, JobStatus::Failed, labels, f);
    }

    fn finished_as(
        &self,
        d: &Delivery,
        status: JobStatus,
        (provider, model): (String, String),
        f: Finished,
    ) {
        if f.written != Written::Done {
            return;
        }
        let labels = FinishedLabels {
            status: status.as_str(),
            provider: provider.clone(),
            model: model.clone(),
        };
        self.finished.get_or_create(&labels).inc();
        if let Some(first) = first_published_ms(&d.properties) {
            self.job_duration.observe(seconds_since(first));
        }
        self.cost
            .get_or_create(&CostLabels { provider, model })
            .inc_by(f.charged.0);
    }
}

fn seconds_since(epoch_ms: i64) -> f64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now.saturating_sub(epoch_ms).max(0) as f64) / 1000.0
}
