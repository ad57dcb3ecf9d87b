//! Metrics of spend control: jobs cancelled at the submit gate, and submissions the
//! batch's budget refused.

use fluxq_common::{JobSpec, JobStatus};

use super::{FinishedLabels, Metrics, ProviderLabel, ReasonLabel};

impl Metrics {
    /// The gate ended a job `cancelled`: counted in `fluxq_jobs_cancelled_total` by
    /// reason (and in `fluxq_jobs_finished_total{status="cancelled"}`), a budget
    /// refusal in `fluxq_budget_refused_total` too.
    pub fn gate_cancelled(&self, spec: &JobSpec, budget: bool) {
        let reason = if budget { "budget" } else { "cancel" };
        self.cancelled.get_or_create(&ReasonLabel { reason }).inc();
        self.finished
            .get_or_create(&FinishedLabels {
                status: JobStatus::Cancelled.as_str(),
                provider: spec.provider.as_str().to_owned(),
                model: spec.model.as_str().to_owned(),
            })
            .inc();
        let provider = spec.provider;
        if budget {
            self.budget_refused
                .get_or_create(&ProviderLabel {
                    provider: provider.as_str(),
                })
                .inc();
        }
    }
}
