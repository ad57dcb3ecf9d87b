//! One simulated generation task: what was asked, when it finishes and how it ends.

use fluxq_common::{MicroUsd, Model, OutputFormat, ProviderKind};
use tokio::time::Instant;

/// How a task ends once its latency has elapsed. Decided at submit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// An image was generated.
    Ready,
    /// Generation failed (the `error_rate` knob); the task was still billed.
    Error,
    /// The prompt was refused before generation; final at once.
    RequestModerated,
    /// The generated image was refused.
    ContentModerated,
}

/// Where a task stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    /// Still generating; `progress` rises from 0 towards 1 over the latency.
    Pending { progress: f64 },
    /// Final.
    Done(Outcome),
}

/// A task as the mock remembers it until `forget_at`.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    /// Which API accepted it; the other API does not see it.
    pub provider: ProviderKind,
    #[allow(dead_code, reason = "kept for debugging output of the task store")]
    pub model: Model,
    pub prompt: String,
    pub seed: i64,
    pub format: OutputFormat,
    pub submitted: Instant,
    pub finish: Instant,
    pub outcome: Outcome,
    /// Wall-clock Unix milliseconds after which the image URL is refused.
    pub sample_expires_ms: u64,
    /// Images it makes (seeds `seed`, `seed + 1`, …).
    pub results: u32,
    /// What it was billed, for all its images.
    pub cost: MicroUsd,
    /// Whether answers report the cost.
    pub include_cost: bool,
}

impl Task {
    /// The task's status at `now`: final from `finish` on.
    pub fn status(&self, now: Instant) -> Status {
        if now >= self.finish {
            return Status::Done(self.outcome);
        }
        let total = self.finish.duration_since(self.submitted).as_secs_f64();
        let elapsed = now.saturating_duration_since(self.submitted).as_secs_f64();
        // `total` is positive here: `finish > now >= submitted`.
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
    pub prompt: String,
    pub seed: i64,
    pub format: OutputFormat,
    pub sample_expires_ms: u64,
}

impl TaskView {
    pub fn of(task: &Task, now: Instant) -> Self {
        Self {
            results: task.results,
            cost: task.cost,
            include_cost: task.include_cost,
            status: task.status(now),
            prompt: task.prompt.clone(),
            seed: task.seed,
            format: task.format,
            sample_expires_ms: task.sample_expires_ms,
        }
    }
}
