//! The worker's Prometheus metrics: what finished and what it cost, how long the
//! provider and the queues took, what is in flight. Served by [`crate::http_server`]
//! as OpenMetrics text; docs/deploy.md lists them with ready-made PromQL.

mod control;
mod jobs;
mod money;
mod spend;

use std::fmt;

use fluxq_common::{JobStatus, Model};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `provider` and `model` labels of a message that never became a valid job.
pub const UNKNOWN: &str = "unknown";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    status: &'static str,
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    /// `cancel` (`producer cancel`) or `budget` (the batch's budget).
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one worker process (cheap to share behind an `Arc`).
pub struct Metrics {
    registry: Registry,
    finished: Family<FinishedLabels, Counter>,
    attempts: Family<ProviderLabel, Counter>,
    submit_seconds: Histograms<ProviderLabel>,
    job_duration: Histogram,
    queue_wait: Histogram,
    polls: Family<ProviderLabel, Counter>,
    throttled: Family<ProviderLabel, Counter>,
    cost: Family<CostLabels, Counter>,
    in_flight: Gauge,
    limiter_wait: Histogram,
    panics: Counter,
    invalid_charges: Family<ProviderLabel, Counter>,
    ambiguous_submits: Family<ProviderLabel, Counter>,
    unconfirmed_cost: Family<CostLabels, Counter>,
    cancelled: Family<ReasonLabel, Counter>,
    budget_refused: Family<ProviderLabel, Counter>,
    control: control::ControlMetrics,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts a delivery in `fluxq_jobs_in_flight` until dropped.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn submit_buckets() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

impl Metrics {
    /// Registers every metric (names and help as in docs/deploy.md).
    pub fn new() -> Self {
        let minutes = [
            0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ];
        let m = Self {
            registry: Registry::default(),
            finished: Family::default(),
            attempts: Family::default(),
            submit_seconds: Family::new_with_constructor(submit_buckets),
            job_duration: Histogram::new(minutes.into_iter().chain([1800.0, 3600.0])),
            queue_wait: Histogram::new([0.01, 0.05].into_iter().chain(minutes)),
            polls: Family::default(),
            throttled: Family::default(),
            cost: Family::default(),
            in_flight: Gauge::default(),
            limiter_wait: Histogram::new([0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]),
            panics: Counter::default(),
            invalid_charges: Family::default(),
            ambiguous_submits: Family::default(),
            unconfirmed_cost: Family::default(),
            cancelled: Family::default(),
            budget_refused: Family::default(),
            control: control::ControlMetrics::default(),
        };
        let mut r = m.registry;
        r.register(
            "fluxq_jobs_finished",
            "Jobs that reached a final status (succeeded, failed, moderated)",
            m.finished.clone(),
        );
        r.register(
            "fluxq_job_attempts",
            "Provider submissions, first tries and retries (429s apart)",
            m.attempts.clone(),
        );
        r.register(
            "fluxq_provider_submit_seconds",
            "Time of one submit request to the provider",
            m.submit_seconds.clone(),
        );
        r.register(
            "fluxq_job_duration_seconds",
            "From the job's first publication to its final status",
            m.job_duration.clone(),
        );
        r.register(
            "fluxq_queue_wait_seconds",
            "Time a message waited in RabbitMQ for a worker (retry delays apart)",
            m.queue_wait.clone(),
        );
        r.register(
            "fluxq_polls",
            "Result polls sent to the provider",
            m.polls.clone(),
        );
        r.register(
            "fluxq_provider_throttled",
            "Submits the provider refused with 429",
            m.throttled.clone(),
        );
        r.register(
            "fluxq_cost_micro_usd",
            "Money charged by the provider for finished jobs, in micro-USD",
            m.cost.clone(),
        );
        r.register(
            "fluxq_jobs_in_flight",
            "Jobs this worker holds now",
            m.in_flight.clone(),
        );
        r.register(
            "fluxq_job_panics",
            "Job tasks that panicked (their messages were delayed and run again)",
            m.panics.clone(),
        );
        r.register(
            "fluxq_invalid_charges",
            "Charges a provider reported that are not valid money (not a number, not finite, negative, above 1000 USD); the estimate was recorded instead",
            m.invalid_charges.clone(),
        );
        r.register(
            "fluxq_ambiguous_submits",
            "Submits sent whose answer was lost: possibly charged, unconfirmed",
            m.ambiguous_submits.clone(),
        );
        r.register(
            "fluxq_unconfirmed_cost_micro_usd",
            "The price-table estimate of submits whose answer was lost, in micro-USD",
            m.unconfirmed_cost.clone(),
        );
        r.register(
            "fluxq_jobs_cancelled",
            "Jobs this worker ended cancelled at the submit gate, by reason (cancel: producer cancel; budget: the batch's budget)",
            m.cancelled.clone(),
        );
        r.register(
            "fluxq_budget_refused",
            "Submissions the gate refused because their estimate did not fit in the batch's budget",
            m.budget_refused.clone(),
        );
        m.control.register(&mut r);
        r.register("fluxq_limiter_wait_seconds", "Wait for a fleet-wide provider slot (FLUXQ_PROVIDER_CONCURRENCY) and the submit rate before a submit", m.limiter_wait.clone());
        let m = Self { registry: r, ..m };
        m.zero_known_series();
        m
    }

    /// Creates the series of every provider, model and final status at 0, so that
    /// `rate()` and alerts see them before the first job.
    fn zero_known_series(&self) {
        for reason in ["cancel", "budget"] {
            self.cancelled.get_or_create_owned(&ReasonLabel { reason });
        }
        for provider in crate::provider::REGISTERED.iter().map(|r| r.kind) {
            let p = ProviderLabel {
                provider: provider.as_str(),
            };
            self.attempts.get_or_create_owned(&p);
            self.submit_seconds.get_or_create_owned(&p);
            self.polls.get_or_create_owned(&p);
            self.throttled.get_or_create_owned(&p);
            self.invalid_charges.get_or_create_owned(&p);
            self.ambiguous_submits.get_or_create_owned(&p);
            self.budget_refused.get_or_create_owned(&p);
            for model in Model::ALL {
                let (provider, model) = (p.provider.to_owned(), model.as_str().to_owned());
                let cost = CostLabels {
                    provider: provider.clone(),
                    model: model.clone(),
                };
                self.unconfirmed_cost.get_or_create_owned(&cost);
                self.cost.get_or_create_owned(&cost);
                for status in JobStatus::FINAL {
                    let labels = FinishedLabels {
                        status: status.as_str(),
                        provider: provider.clone(),
                        model: model.clone(),
                    };
                    self.finished.get_or_create_owned(&labels);
                }
            }
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxq_common::ProviderKind;
    use lapin::BasicProperties;

    #[test]
    fn names_follow_the_deployment_docs() {
        let m = Metrics::new();
        let held = m.delivery_started(&BasicProperties::default());
        m.polled(ProviderKind::Bfl);
        let text = m.encode().unwrap_or_default();
        for line in [
            "# TYPE fluxq_jobs_finished counter",
            "fluxq_jobs_finished_total{status=\"moderated\",provider=\"runware\",model=\"flux-2-max\"} 0",
            "fluxq_cost_micro_usd_total{provider=\"bfl\",model=\"flux-2-pro\"} 0",
            "# TYPE fluxq_provider_submit_seconds histogram",
            "fluxq_polls_total{provider=\"bfl\"} 1",
            "fluxq_jobs_in_flight 1",
            "fluxq_limiter_wait_seconds_count 0",
            "fluxq_invalid_charges_total{provider=\"bfl\"} 0",
            "fluxq_ambiguous_submits_total{provider=\"bfl\"} 0",
            "fluxq_unconfirmed_cost_micro_usd_total{provider=\"bfl\",model=\"flux-2-pro\"} 0",
            "fluxq_jobs_cancelled_total{reason=\"budget\"} 0",
            "fluxq_budget_refused_total{provider=\"bfl\"} 0",
            "fluxq_lane_paused{lane=\"bulk\"} 0",
            "fluxq_daily_budget_refusals_total{provider=\"runware\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        drop(held);
        assert!(
            m.encode()
                .unwrap_or_default()
                .contains("fluxq_jobs_in_flight 0\n")
        );
    }
}
