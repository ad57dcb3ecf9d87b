//! What the worker shows about the fleet's controls: the lanes paused fleet-wide, each
//! provider account's spend today, and submits the daily budget refused.

use fluxq_common::{Lane, MicroUsd, ProviderKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Metrics, ProviderLabel};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabel {
    lane: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

/// The controls' metrics (registered with the others by [`Metrics::new`]).
#[derive(Debug, Default)]
pub(super) struct ControlMetrics {
    lane_paused: Family<LaneLabel, Gauge>,
    spend_today: Family<AccountLabel, Gauge>,
    refusals: Family<ProviderLabel, Counter>,
}

impl ControlMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "fluxq_lane_paused",
            "1 while the lane is paused fleet-wide (producer pause), else 0",
            self.lane_paused.clone(),
        );
        r.register(
            "fluxq_daily_spend_micro_usd",
            "Charges recorded today (UTC) for the provider account, fleet-wide, in micro-USD, as this worker last saw them",
            self.spend_today.clone(),
        );
        r.register(
            "fluxq_daily_budget_refusals",
            "Submits not sent because the account's daily budget (FLUXQ_DAILY_BUDGET_USD) had no room for their estimate",
            self.refusals.clone(),
        );
        for lane in Lane::ALL {
            self.lane_paused.get_or_create_owned(&LaneLabel {
                lane: lane.as_str(),
            });
        }
        for provider in crate::provider::REGISTERED.iter().map(|r| r.kind) {
            self.refusals.get_or_create_owned(&ProviderLabel {
                provider: provider.as_str(),
            });
        }
    }
}

impl Metrics {
    /// Whether `lane` is paused fleet-wide now (`fluxq_lane_paused`).
    pub fn lane_paused(&self, lane: Lane, paused: bool) {
        let labels = LaneLabel {
            lane: lane.as_str(),
        };
        self.control
            .lane_paused
            .get_or_create(&labels)
            .set(i64::from(paused));
    }

    /// The account's spend today, as the last charge recorded here saw it.
    pub fn daily_spend(&self, account: &str, spent: MicroUsd) {
        let labels = AccountLabel {
            account: account.to_owned(),
        };
        let v = i64::try_from(spent.0).unwrap_or(i64::MAX);
        self.control.spend_today.get_or_create(&labels).set(v);
    }

    /// A submit the daily budget refused (`fluxq_daily_budget_refusals_total`).
    pub fn daily_budget_refused(&self, provider: ProviderKind) {
        let labels = ProviderLabel {
            provider: provider.as_str(),
        };
        self.control.refusals.get_or_create(&labels).inc();
    }
}
