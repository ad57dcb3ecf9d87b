//! Metrics of spend control: jobs cancelled at the submit gate, and submissions the
//! batch's budget refused.

use fluxq_common::ProviderKind;

use super::{Metrics, ProviderLabel, ReasonLabel};

impl Metrics {
    /// The gate ended a job `cancelled`: counted in `fluxq_jobs_cancelled_total` by
    /// reason, and a budget refusal in `fluxq_budget_refused_total` too.
    pub fn gate_cancelled(&self, provider: ProviderKind, budget: bool) {
        let reason = if budget { "budget" } else { "cancel" };
        self.cancelled.get_or_create(&ReasonLabel { reason }).inc();
        if budget {
            self.budget_refused
                .get_or_create(&ProviderLabel {
                    provider: provider.as_str(),
                })
                .inc();
        }
    }
}
