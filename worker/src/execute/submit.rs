//! Submitting a job: a provider slot (behind the fleet's limit, its cool-down and the
//! submit rate), the attempt counted, the request sent, the accepted task recorded.

use std::time::Duration;

use backon::Retryable;
use fluxq_common::{Charge, FailureKind, JobSpec};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::money::{self, money_write_backoff};
use super::{Job, Step};
use crate::Ctx;
use crate::limiter::Slot;
use crate::provider::{Provider, Task};
use fluxq_wire::StoreError;
use fluxq_wire::store::{Counted, Gate, TaskRef};

/// Throttled answers in a row one delivery takes before it goes to a delay queue.
const MAX_THROTTLED_IN_A_ROW: u32 = 20;

pub(super) enum Submit {
    /// The provider accepted the task (about when it started); the slot is held
    /// until it ends.
    Accepted(Task, Slot, Instant),
    Stop(Step),
}

/// Takes a provider slot (waiting behind the fleet's limit, its cool-down and the
/// submit rate), counts the attempt if the submission may be sent now (see
/// [`Counted`]: the breaker, the job's lease and state, its batch's cancel mark and
/// budget are checked in that step; a job refused for a cancel or the budget is
/// `cancelled` by it) and
/// submits. A 429 shrinks the fleet's limit and is tried again after the cool-down
/// without counting an attempt; a 402/403 opens the breaker and hands the job back.
pub(super) async fn submit(
    job: &Job<'_>,
    task_id: Uuid,
    attempts: &mut u32,
) -> Result<Submit, StoreError> {
    let Job {
        ctx,
        spec,
        lane,
        owner,
        provider,
        limits,
        cancel,
    } = *job;
    let mut throttled = 0;
    loop {
        let waited = Instant::now();
        let slot = tokio::select! {
            _ = cancel.cancelled() => return Ok(Submit::Stop(Step::HandBack)),
            s = limits.pool.acquire(lane) => match s {
                Ok(slot) => slot,
                Err(_) => return Ok(Submit::Stop(Step::HandBack)),
            },
        };
        limits.submit_rate.wait().await;
        ctx.metrics.limiter_waited(waited.elapsed());
        let gate = Gate {
            batch: spec.batch.as_deref(),
            breaker: limits.breaker.key(),
            estimate: money::submit_estimate(spec),
        };
        let n = match ctx
            .store
            .count_attempt(&spec.id, &gate, owner, ctx.lease)
            .await?
        {
            Counted::Attempt(n) => n,
            Counted::NotOurs => return Ok(Submit::Stop(Step::LeaseLost)),
            Counted::Blocked(reason) => return Ok(Submit::Stop(Step::Blocked(reason))),
            Counted::Final(status) => return Ok(Submit::Stop(Step::AlreadyFinal(status))),
            Counted::TaskRecorded(task_id) => {
                info!(%task_id, "A provider task was recorded for this job meanwhile; handing it back to be resumed.");
                return Ok(Submit::Stop(Step::HandBack));
            }
            Counted::Cancelled { reason, budget } => {
                drop(slot);
                ctx.metrics.gate_cancelled(spec, budget);
                info!(%reason, budget, "The submit gate refused the job; it is cancelled.");
                return Ok(Submit::Stop(Step::AlreadyFinal(
                    fluxq_common::JobStatus::Cancelled,
                )));
            }
        };
        *attempts = n;
        tracing::Span::current().record("attempt", n);
        // Not cancellable: a task the provider accepted must be recorded.
        let sent = Instant::now();
        let failure = match ctx
            .metrics
            .submit(spec.provider, provider.submit(spec, task_id, n))
            .await
        {
            Ok(sub) => {
                // The task started between request and answer: the middle is as
                // close as the worker's clock gets to the provider's.
                let started = sent + sent.elapsed() / 2;
                limits.pool.feedback(None).await;
                record_task(ctx, spec, &sub.task, &sub.charge).await?;
                money::alert_invalid_charge(ctx, spec, &sub.task.id, &sub.charge);
                info!(task_id = %sub.task.id, charge_usd = %sub.charge.amount(), "Provider accepted the task.");
                return Ok(Submit::Accepted(sub.task, slot, started));
            }
            // Sent, and the answer lost: the provider may have billed a task no retry
            // would find again (unless its submits are idempotent, as Runware's are).
            Err(failure) if failure.answer_lost && !provider.idempotent_submit() => {
                drop(slot);
                let failure = money::answer_lost(job, failure).await?;
                return Ok(Submit::Stop(job.failed(failure, *attempts, false)));
            }
            Err(failure) => failure,
        };
        drop(slot);
        if matches!(
            failure.kind,
            FailureKind::Throttled | FailureKind::AccountBlocked
        ) {
            // Refused before any task existed: not an attempt.
            if let Some(n) = ctx.store.uncount_attempt(&spec.id, owner).await? {
                *attempts = n;
            }
        }
        match failure.kind {
            FailureKind::Throttled if throttled < MAX_THROTTLED_IN_A_ROW => {
                throttled += 1;
                let cool = failure.retry_after.unwrap_or(Duration::from_secs(1));
                limits.pool.feedback(Some(cool)).await;
                debug!(throttled, cool_down = ?cool, "Provider throttled the submit; the fleet slows down.");
            }
            FailureKind::AccountBlocked => {
                if limits.breaker.open(&failure.reason).await? {
                    error!(provider = %spec.provider, account = limits.account.as_str(), reason = %failure.reason,
                        "Provider account blocked: breaker open, submits stop fleet-wide until a probe succeeds.");
                }
                return Ok(Submit::Stop(Step::Blocked(failure.reason)));
            }
            _ => return Ok(Submit::Stop(job.failed(failure, *attempts, false))),
        }
    }
}

/// Records the accepted task, retrying through short Redis outages: losing it would
/// mean paying for the image again.
async fn record_task(
    ctx: &Ctx,
    spec: &JobSpec,
    task: &Task,
    charge: &Charge,
) -> Result<(), StoreError> {
    let record = TaskRef {
        id: task.id.clone(),
        polling_url: task.polling_url.clone(),
    };
    (|| ctx.store.record_task(&spec.id, &record, charge))
        .retry(money_write_backoff())
        .notify(|e, d| warn!(error = %e, retry_in = ?d, "Could not record the provider task yet."))
        .await
        .map(|_| ())
}
