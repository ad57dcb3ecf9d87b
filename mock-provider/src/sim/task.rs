//! One simulated generation task: what was asked, when it starts and finishes, and
//! how it ends.

use std::sync::Arc;

use fluxq_common::{MicroUsd, Model, OutputFormat};
use serde_json::Value;
use tokio::time::Instant;

use super::api::Api;

/// How a task ends once its latency has elapsed. Decided at submit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// An image was generated.
    Ready,
    /// Generation failed (the `error_rate` knob); billed by BFL only.
    Error,
    /// The prompt was refused before generation; final as soon as it starts.
    RequestModerated,
    /// The generated image was refused.
    ContentModerated,
}

/// Where a task stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    /// Still waiting or generating; `progress` rises from 0 towards 1 while it runs.
    Pending { progress: f64 },
    /// Final.
    Done(Outcome),
}

/// A task as the mock remembers it until it is forgotten (`task_ttl` after `finish`).
#[derive(Debug, Clone)]
pub(crate) struct Task {
    /// Which API accepted it; the other APIs do not see it.
    pub api: Api,
    #[allow(dead_code, reason = "kept for debugging output of the task store")]
    pub model: Model,
    pub prompt: String,
    pub seed: i64,
    pub format: OutputFormat,
    /// When it got a slot: at submit, or later for a run queued at capacity.
    pub started: Instant,
    pub finish: Instant,
    pub outcome: Outcome,
    /// Unix milliseconds of `submitted`, `started` and `finish`.
    pub submitted_ms: u64,
    pub started_ms: u64,
    pub finish_ms: u64,
    /// Wall-clock Unix milliseconds after which the image URL is refused.
    pub sample_expires_ms: u64,
    /// Images it makes (seeds `seed`, `seed + 1`, …).
    pub results: u32,
    /// What it was billed, for all its images.
    pub cost: MicroUsd,
    /// Whether answers report the cost.
    pub include_cost: bool,
    /// The client's correlation id (Runflow's `client_ref`), for searches.
    pub client_ref: Option<String>,
    /// The `Idempotency-Key` that made it, forgotten with it.
    pub idempotency_key: Option<String>,
    /// What the API echoes back about the request (Runflow's `input`, `metadata`, …).
    pub echo: Option<Arc<Value>>,
    /// Image downloads attempted so far (for `download_fail_first`).
    pub downloads: u32,
}

impl Task {
    /// The task's status at `now`: final from `finish` on.
    pub fn status(&self, now: Instant) -> Status {
        if now >= self.finish {
            return Status::Done(self.outcome);
        }
        if now < self.started {
            return Status::Pending { progress: 0.0 };
        }
        let total = self.finish.duration_since(self.started).as_secs_f64();
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        // `total` is positive here: `finish > now >= started`.
        let progress = (elapsed / total).clamp(0.0, 0.99);
        Status::Pending {
            progress: (progress * 100.0).floor() / 100.0,
        }
    }
}

/// A copy of what a poll needs to answer, taken under the lock.
#[derive(Debug, Clone)]
pub(crate) struct TaskView {
    pub results: u32,
    pub cost: MicroUsd,
    pub include_cost: bool,
    pub status: Status,
    /// Still waiting for a slot (Runflow's `queued`).
    pub queued: bool,
    pub prompt: String,
    pub seed: i64,
    pub format: OutputFormat,
    pub sample_expires_ms: u64,
    pub submitted_ms: u64,
    pub started_ms: u64,
    pub finish_ms: u64,
    pub client_ref: Option<String>,
    pub echo: Option<Arc<Value>>,
}

impl TaskView {
    pub fn of(task: &Task, now: Instant) -> Self {
        Self {
            results: task.results,
            cost: task.cost,
            include_cost: task.include_cost,
            status: task.status(now),
            queued: now < task.started,
            prompt: task.prompt.clone(),
            seed: task.seed,
            format: task.format,
            sample_expires_ms: task.sample_expires_ms,
            submitted_ms: task.submitted_ms,
            started_ms: task.started_ms,
            finish_ms: task.finish_ms,
            client_ref: task.client_ref.clone(),
            echo: task.echo.clone(),
        }
    }
}
