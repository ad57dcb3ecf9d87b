//! [`Api`]: the provider APIs the mock serves, and the few ways the simulation
//! treats them differently (billing of failed tasks, queueing at capacity).

use serde::{Deserialize, Serialize};

/// One of the provider APIs served on the mock's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Black Forest Labs: `POST /v1/{model}`, `GET /v1/get_result`.
    Bfl,
    /// Runware: task arrays at `POST /v1`.
    Runware,
    /// Runflow: model runs under `/v1/models/…/runs` and `/v1/runs`.
    Runflow,
}

impl Api {
    /// Every API, in the order `/_mock/stats` lists them.
    pub const ALL: [Api; 3] = [Api::Bfl, Api::Runware, Api::Runflow];

    /// The provider's name as fluxq spells it (`bfl`, `runware`, `runflow`).
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Bfl => "bfl",
            Api::Runware => "runware",
            Api::Runflow => "runflow",
        }
    }

    /// The API named `name` (as [`Api::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.as_str() == name)
    }

    /// Whether a task that fails is still billed. BFL charges at submit; Runware
    /// reports a cost only with a successful result (unconfirmed, the safe reading);
    /// Runflow documents that failed runs are not billed.
    pub(crate) fn bills_failures(self) -> bool {
        self == Api::Bfl
    }

    /// Whether a submit beyond `max_in_flight` waits (Runflow: the run stays
    /// `queued`) instead of being refused with 429.
    pub(crate) fn queues_at_capacity(self) -> bool {
        self == Api::Runflow
    }
}
