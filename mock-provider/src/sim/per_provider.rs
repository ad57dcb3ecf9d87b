//! [`ByProvider`]: the main counters split by API (BFL, Runware, Runflow), next to
//! the top-level [`super::Stats`] that cover them all.

use fluxq_common::ProviderKind;
use serde::{Deserialize, Serialize};

use super::api::Api;

/// One API's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStats {
    /// Submits (Runware: `imageInference` tasks) that passed auth and validation,
    /// whatever their answer.
    pub submit_requests: u64,
    /// Tasks accepted.
    pub submissions: u64,
    /// Images those tasks make (Runware's `numberResults`; BFL: one per task).
    pub images: u64,
    /// Billed, exactly, in micro-USD.
    pub micro_usd_billed: u64,
    /// Submits refused because the task id was taken (`conflictTaskUUID`), or
    /// because an `Idempotency-Key` came back with another body (Runflow's 409).
    pub conflicts: u64,
    /// Accepted tasks whose answer was cut off (`drop_after_accept_rate`).
    pub dropped_responses: u64,
    /// Polls (Runware: `getResponse` tasks), whatever their answer.
    pub polls: u64,
    /// Requests refused for a missing or wrong key.
    pub unauthorized: u64,
    /// Submits refused by validation.
    pub invalid: u64,
    /// Submits answered with the run an `Idempotency-Key` already made (Runflow);
    /// neither billed nor counted in `submissions`.
    #[serde(default)]
    pub idempotent_replays: u64,
    /// Accepted runs that had to wait in `queued` for a slot under `max_in_flight`
    /// (Runflow).
    #[serde(default)]
    pub queued: u64,
    /// Searches of runs (Runflow's `GET /v1/runs?q=client_ref:…`), whatever their answer.
    #[serde(default)]
    pub lookups: u64,
}

/// The counters of each API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByProvider {
    pub bfl: ProviderStats,
    pub runware: ProviderStats,
    #[serde(default)]
    pub runflow: ProviderStats,
}

/// The counters of a provider the mock does not serve: all zero.
static NONE: ProviderStats = ProviderStats {
    submit_requests: 0,
    submissions: 0,
    images: 0,
    micro_usd_billed: 0,
    conflicts: 0,
    dropped_responses: 0,
    polls: 0,
    unauthorized: 0,
    invalid: 0,
    idempotent_replays: 0,
    queued: 0,
    lookups: 0,
};

impl ByProvider {
    /// The counters of fluxq's `provider` (matched by name, so a provider the mock
    /// does not serve reads as all zero).
    pub fn get(&self, provider: ProviderKind) -> &ProviderStats {
        Api::parse(provider.as_str()).map_or(&NONE, |api| self.api(api))
    }

    /// The counters of one API.
    pub fn api(&self, api: Api) -> &ProviderStats {
        match api {
            Api::Bfl => &self.bfl,
            Api::Runware => &self.runware,
            Api::Runflow => &self.runflow,
        }
    }

    pub(crate) fn get_mut(&mut self, api: Api) -> &mut ProviderStats {
        match api {
            Api::Bfl => &mut self.bfl,
            Api::Runware => &mut self.runware,
            Api::Runflow => &mut self.runflow,
        }
    }
}
