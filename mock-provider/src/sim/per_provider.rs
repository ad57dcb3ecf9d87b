//! [`ByProvider`]: the main counters split by API (BFL, Runware), next to the
//! top-level [`super::Stats`] that cover both.

use fluxq_common::ProviderKind;
use serde::{Deserialize, Serialize};

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
    /// Submits refused because the task id was taken (`conflictTaskUUID`).
    pub conflicts: u64,
    /// Accepted tasks whose answer was cut off (`drop_after_accept_rate`).
    pub dropped_responses: u64,
    /// Polls (Runware: `getResponse` tasks), whatever their answer.
    pub polls: u64,
    /// Requests refused for a missing or wrong key.
    pub unauthorized: u64,
    /// Submits refused by validation.
    pub invalid: u64,
}

/// The counters of each API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByProvider {
    pub bfl: ProviderStats,
    pub runware: ProviderStats,
}

impl ByProvider {
    pub fn get(&self, provider: ProviderKind) -> &ProviderStats {
        match provider {
            ProviderKind::Bfl => &self.bfl,
            ProviderKind::Runware => &self.runware,
        }
    }

    pub(crate) fn get_mut(&mut self, provider: ProviderKind) -> &mut ProviderStats {
        match provider {
            ProviderKind::Bfl => &mut self.bfl,
            ProviderKind::Runware => &mut self.runware,
        }
    }
}
