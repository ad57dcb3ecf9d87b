//! What the worker records about money it could not confirm: charges a provider
//! reported that are not valid money, and submits whose answer was lost.

use fluxq_common::{JobSpec, MicroUsd, ProviderKind};

use super::{CostLabels, Metrics, ProviderLabel};

impl Metrics {
    /// A provider reported a charge that is not valid money (its estimate was
    /// recorded instead): counted in `fluxq_invalid_charges_total`.
    pub fn invalid_charge(&self, provider: ProviderKind) {
        self.invalid_charges
            .get_or_create(&ProviderLabel {
                provider: provider.as_str(),
            })
            .inc();
    }

    /// A submit of `spec` was sent and its answer lost: counted, with its estimate,
    /// in `fluxq_ambiguous_submits_total` and `fluxq_unconfirmed_cost_micro_usd_total`.
    pub fn ambiguous_submit(&self, spec: &JobSpec, estimate: MicroUsd) {
        self.ambiguous_submits
            .get_or_create(&ProviderLabel {
                provider: spec.provider.as_str(),
            })
            .inc();
        self.unconfirmed_cost
            .get_or_create(&CostLabels {
                provider: spec.provider.as_str().to_owned(),
                model: spec.model.as_str().to_owned(),
            })
            .inc_by(estimate.0);
    }
}
