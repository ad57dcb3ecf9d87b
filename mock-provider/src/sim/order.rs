//! What a submit asks of the simulation ([`Order`]) and what it answers
//! ([`Accepted`], [`Refusal`], [`Fault`]), whatever API it came through.

use std::sync::Arc;

use fluxq_common::{MicroUsd, Model, OutputFormat};
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::api::Api;

/// A validated generation request.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub api: Api,
    pub model: Model,
    pub prompt: String,
    /// The seed asked for; the mock draws one when absent.
    pub seed: Option<i64>,
    pub width: u32,
    pub height: u32,
    /// Reference images; each is billed as one megapixel (their size is not inspected).
    pub references: usize,
    pub format: OutputFormat,
    /// The task id the client chose (Runware's `taskUUID`); `None` lets the mock draw one.
    pub id: Option<Uuid>,
    /// Images to make (Runware's `numberResults`); each is billed.
    pub results: u32,
    /// Whether answers report the cost (Runware's `includeCost`).
    pub include_cost: bool,
    /// The charge for one image by the API's price rules.
    pub unit_cost: MicroUsd,
    /// What a run API remembers besides the image (Runflow); empty for the others.
    pub extras: Extras,
}

/// Correlation and replay data of a run API.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// The client's correlation id, which runs can be searched by.
    pub client_ref: Option<String>,
    /// The `Idempotency-Key` to honour, when the API honours one.
    pub idempotency: Option<Idempotency>,
    /// What the API echoes back about the request in every answer.
    pub echo: Option<Arc<Value>>,
}

/// An `Idempotency-Key` and a digest of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Idempotency {
    pub key: String,
    /// Of the model and body: the same key with another digest is a conflict.
    pub digest: u64,
}

/// An accepted task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub id: Uuid,
    pub cost: MicroUsd,
    /// When the task finishes (a synchronous answer waits until then).
    pub finish: Instant,
    /// The task an `Idempotency-Key` made before: nothing new was billed.
    pub replayed: bool,
}

/// An injected server failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 500.
    Internal,
    /// 503, "try again in a few moments".
    Unavailable,
}

/// Why a submit was not accepted (validation and auth are the API module's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Fault(Fault),
    /// Refused at random (`throttle_rate`).
    Throttled {
        retry_after_secs: u64,
    },
    /// `max_in_flight` tasks are already in flight (for Runflow: and
    /// `runflow_max_queued` runs wait behind them).
    AtCapacity {
        cap: u32,
        retry_after_secs: u64,
    },
    /// The balance cannot cover the cost.
    InsufficientCredits,
    /// A task with the client's id exists already (Runware's `conflictTaskUUID`).
    Conflict,
    /// The `Idempotency-Key` was used before with another request (Runflow's 409).
    IdempotencyConflict,
}
