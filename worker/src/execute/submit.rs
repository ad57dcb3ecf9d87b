//! Submitting a job: a provider slot (behind the fleet's limit, its cool-down and the
//! submit rate), the estimate reserved against the account's daily budget, the
//! attempt counted, the request sent, the accepted task recorded (and its charge, for
//! providers that charge at submit, in place of the reservation).

use std::time::Duration;

use backon::Retryable;
use fluxq_common::{Charge, FailureKind, JobSpec};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::money::{self, money_write_backoff};
use super::{Job, Step};
use crate::Ctx;
use crate::limiter::{Reserved, Slot};
use crate::provider::{Provider, Task};
use fluxq_wire::StoreError;
use fluxq_wire::store::{Counted, Gate, TaskRef, Written};

/// Throttled answers in a row one delivery takes before it goes to a delay queue.
const MAX_THROTTLED_IN_A_ROW: u32 = 20;

pub(super) enum Submit {
    /// The provider accepted the task (about when it started); the slot is held
    /// until it ends.
    Accepted(Task, Slot, Instant),
    Stop(Step),
}

/// Takes a provider slot (waiting behind the fleet's limit, its cool-down and the
/// submit rate), reserves the estimate against the account's daily budget (no room:
/// the breaker opens and the job is handed back), counts the attempt if the
/// submission may be sent now (see [`Counted`]: the breaker, the job's lease and
/// state, its batch's cancel mark and budget are checked in that step; a job refused
/// for a cancel or the budget is `cancelled` by it) and
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
        // The daily budget first: a submission it refuses is never counted (nor
        // reserved in the batch's budget); one it allows that the gate below stops
        // has its reservation released when the execution ends.
        if let Some(step) = reserve(job).await? {
            return Ok(Submit::Stop(step));
        }
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
                // A task charged at submit was counted by whoever recorded it: this
                // reservation is not its. One charged with its result keeps it until then.
                if !provider.charges_with_result() {
                    money::daily_charged(job, fluxq_common::MicroUsd(0), Written::Done).await;
                }
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
                let written = record_task(ctx, spec, &sub.task, &sub.charge).await?;
                if !provider.charges_with_result() {
                    money::daily_charged(job, sub.charge.amount(), written).await;
                }
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

/// Reserves the submission's estimate against the account's daily budget; `Some`
/// (the account blocked: the breaker is open) when it does not fit, as for a 402 but
/// before any attempt is counted.
async fn reserve(job: &Job<'_>) -> Result<Option<Step>, StoreError> {
    let Job {
        ctx, spec, limits, ..
    } = *job;
    let estimate = money::submit_estimate(spec);
    let reserved = limits
        .daily
        .reserve(&spec.id, estimate, limits.breaker.key())
        .await?;
    let reason = match reserved {
        Reserved::Yes => return Ok(None),
        Reserved::Blocked(reason) => return Ok(Some(Step::Blocked(reason))),
        Reserved::Refused(reason) => reason,
    };
    ctx.metrics.daily_budget_refused(spec.provider);
    warn!(provider = %spec.provider, account = limits.account.as_str(), estimate_usd = %estimate, %reason,
        "Daily budget reached: breaker open, submits stop fleet-wide until it has room.");
    Ok(Some(Step::Blocked(reason)))
}

/// Records the accepted task, retrying through short Redis outages: losing it would
/// mean paying for the image again.
async fn record_task(
    ctx: &Ctx,
    spec: &JobSpec,
    task: &Task,
    charge: &Charge,
) -> Result<Written, StoreError> {
    let record = TaskRef {
        id: task.id.clone(),
        polling_url: task.polling_url.clone(),
    };
    (|| ctx.store.record_task(&spec.id, &record, charge))
        .retry(money_write_backoff())
        .notify(|e, d| warn!(error = %e, retry_in = ?d, "Could not record the provider task yet."))
        .await
}
