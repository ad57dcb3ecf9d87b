//! Running a claimed job at the provider: submit (or resume the recorded task),
//! poll until it ends, download the image and store it. Returns a [`Step`] for the
//! runner to record; the job's lease is renewed meanwhile.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use fluxq_common::{Failure, FailureKind, JobSpec, JobStatus, Lane, MicroUsd, ProviderKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::Ctx;
use crate::limiter::{ProviderLimits, Slot};
use crate::provider::PollStatus;
use crate::schedule::EndBracket;
use fluxq_wire::StoreError;
use fluxq_wire::store::{Counted, TaskRef};

mod images;

/// Where a claimed job got to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The image is stored.
    Succeeded {
        image_url: String,
        image_path: String,
    },
    /// This attempt failed; `keep_task` keeps the provider task for the next delivery
    /// to resume (it may still finish).
    Failed {
        failure: Failure,
        attempts: u32,
        keep_task: bool,
    },
    /// Shutting down: give the message back; the task is recorded.
    HandBack,
    /// Another execution holds the job now.
    LeaseLost,
    /// Another execution finished the job meanwhile.
    AlreadyFinal(JobStatus),
    /// The provider account is blocked (402/403): the breaker is open; give the
    /// message back and pause until the account works.
    Blocked(String),
}

/// Runs the job while renewing its lease; a lost lease stops it.
pub async fn execute(
    ctx: &Ctx,
    spec: &JobSpec,
    lane: Lane,
    owner: &str,
    attempts: u32,
    task: Option<TaskRef>,
    cancel: &CancellationToken,
) -> Result<Step, StoreError> {
    let renew = async {
        let every = ctx.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match ctx.store.renew_lease(&spec.id, owner, ctx.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => warn!(error = %e, "Could not renew the job's lease; will try again."),
            }
        }
    };
    tokio::select! {
        step = run(ctx, spec, lane, owner, attempts, task, cancel) => step,
        () = renew => Ok(Step::LeaseLost),
    }
}

async fn run(
    ctx: &Ctx,
    spec: &JobSpec,
    lane: Lane,
    owner: &str,
    mut attempts: u32,
    task: Option<TaskRef>,
    cancel: &CancellationToken,
) -> Result<Step, StoreError> {
    let Some(limits) = ctx.limits.get(spec.provider) else {
        let failure = crate::provider::not_configured(spec.provider);
        return Ok(Step::Failed {
            failure,
            attempts,
            keep_task: false,
        });
    };
    let (task, slot, submitted) = match task {
        Some(task) => {
            info!(task_id = %task.id, attempts, "Resuming the provider task recorded for this job.");
            // The task is running at the provider: it takes a slot whatever the limit.
            (task, limits.pool.acquire_running().await, None)
        }
        None => {
            if attempts >= ctx.retry.max_attempts {
                let failure = Failure::permanent(format!("no attempts left ({attempts} made)"));
                return Ok(Step::Failed {
                    failure,
                    attempts,
                    keep_task: false,
                });
            }
            // Fixed before the attempt is counted and kept until its task ends, so a
            // retried submission reuses it (Runware's taskUUID; BFL picks its own).
            let task_id = if spec.provider == ProviderKind::Runware {
                ctx.store.take_task_uuid(&spec.id).await?
            } else {
                Uuid::new_v4()
            };
            match submit(
                ctx,
                spec,
                lane,
                owner,
                task_id,
                limits,
                &mut attempts,
                cancel,
            )
            .await?
            {
                Submit::Accepted(task, slot, at) => (task, slot, Some(at)),
                Submit::Stop(step) => return Ok(step),
            }
        }
    };

    let polled = poll(ctx, spec, &task, limits, submitted, cancel).await;
    // The provider no longer counts the task: the slot goes to the next job.
    drop(slot);
    let (image_urls, charge) = match polled {
        Polled::Ready(urls, charge) => (urls, charge),
        Polled::Ended(failure) => {
            images::retire(ctx, spec, &task).await?;
            return Ok(Step::Failed {
                failure,
                attempts,
                keep_task: false,
            });
        }
        Polled::Deadline => {
            let failure = Failure::transient(format!(
                "no result for task {} within {:?}",
                task.id, ctx.job_deadline
            ));
            return Ok(Step::Failed {
                failure,
                attempts,
                keep_task: true,
            });
        }
        Polled::Cancelled => return Ok(Step::HandBack),
    };
    images::store(ctx, spec, &task, image_urls, charge, attempts, cancel).await
}

/// Throttled answers in a row one delivery takes before it goes to a delay queue.
const MAX_THROTTLED_IN_A_ROW: u32 = 20;

enum Submit {
    /// The provider accepted the task (about when it started); the slot is held
    /// until it ends.
    Accepted(TaskRef, Slot, Instant),
    Stop(Step),
}

/// Takes a provider slot (waiting behind the fleet's limit, its cool-down and the
/// submit rate), counts the attempt if the submission may be sent now (see
/// [`Counted`]: the breaker, the job's lease and state are checked in that step) and
/// submits. A 429 shrinks the fleet's limit and is tried again after the cool-down
/// without counting an attempt; a 402/403 opens the breaker and hands the job back.
#[allow(clippy::too_many_arguments)] // one call site; these are the job's state there
async fn submit(
    ctx: &Ctx,
    spec: &JobSpec,
    lane: Lane,
    owner: &str,
    task_id: Uuid,
    limits: &ProviderLimits,
    attempts: &mut u32,
    cancel: &CancellationToken,
) -> Result<Submit, StoreError> {
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
        let n = match ctx
            .store
            .count_attempt(&spec.id, owner, ctx.lease, limits.breaker.key())
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
        };
        *attempts = n;
        tracing::Span::current().record("attempt", n);
        // Not cancellable: a task the provider accepted must be recorded.
        let sent = Instant::now();
        let failure = match ctx
            .metrics
            .submit(spec.provider, ctx.providers.submit(spec, task_id))
            .await
        {
            Ok(sub) => {
                // The task started between request and answer: the middle is as
                // close as the worker's clock gets to the provider's.
                let started = sent + sent.elapsed() / 2;
                limits.pool.feedback(None).await;
                record_task(ctx, spec, &sub.task, sub.charge).await?;
                info!(task_id = %sub.task.id, charge_usd = %sub.charge, "Provider accepted the task.");
                return Ok(Submit::Accepted(sub.task, slot, started));
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
            _ => {
                return Ok(Submit::Stop(Step::Failed {
                    failure,
                    attempts: *attempts,
                    keep_task: false,
                }));
            }
        }
    }
}

/// How a write about money (a paid task, a charge) is retried through a Redis
/// outage: up to about a minute, rather than lose it.
pub(crate) fn money_write_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(20)
        .with_jitter()
}

/// Records the accepted task, retrying through short Redis outages: losing it would
/// mean paying for the image again.
async fn record_task(
    ctx: &Ctx,
    spec: &JobSpec,
    task: &TaskRef,
    charge: fluxq_common::MicroUsd,
) -> Result<(), StoreError> {
    (|| ctx.store.record_task(&spec.id, task, charge))
        .retry(money_write_backoff())
        .notify(|e, d| warn!(error = %e, retry_in = ?d, "Could not record the provider task yet."))
        .await
        .map(|_| ())
}

enum Polled {
    /// The image URLs, and a charge reported with them.
    Ready(Vec<String>, Option<MicroUsd>),
    Ended(Failure),
    Deadline,
    Cancelled,
}

/// The bracket's target width: the last poll comes at most this late (plus the
/// margin) after the task's end.
const BRACKET_PRECISION: f64 = 0.012;

/// Past the bracket's end, for the error of the worker's clock against the provider's.
const BRACKET_MARGIN: f64 = 0.003;

/// Polls the task until it ends. `submitted` (when the provider started it, unknown
/// for a resumed task) lets the task's `progress` time the polls (see
/// [`EndBracket`]); otherwise they follow the schedule.
async fn poll(
    ctx: &Ctx,
    spec: &JobSpec,
    task: &TaskRef,
    limits: &ProviderLimits,
    submitted: Option<Instant>,
    cancel: &CancellationToken,
) -> Polled {
    let started = Instant::now();
    let origin = submitted.unwrap_or(started);
    let deadline = started + ctx.job_deadline;
    let mut bracket = EndBracket::default();
    // First poll near the completion expected from recent tasks, else the schedule's start.
    let mut wait = match ctx.estimates.expected(spec.provider, spec.model) {
        Some(e) => e
            .mul_f64(0.7)
            .max(ctx.poll.initial)
            .saturating_sub(origin.elapsed()),
        None => ctx.poll.wait(0, &mut rand::rng()),
    };
    let mut n = 0u32;
    loop {
        n += 1;
        if Instant::now() + wait > deadline {
            return Polled::Deadline;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Polled::Cancelled,
            () = tokio::time::sleep(wait) => {}
        }
        limits.poll_rate.wait().await;
        ctx.metrics.polled(spec.provider);
        let sent = Instant::now();
        let status = tokio::select! {
            _ = cancel.cancelled() => return Polled::Cancelled,
            s = ctx.providers.poll(spec, task) => s,
        };
        // The provider read the task's state between request and answer.
        let read_at = (sent + sent.elapsed() / 2).duration_since(origin);
        wait = ctx.poll.wait(n, &mut rand::rng());
        match status {
            Ok(PollStatus::Pending { progress }) => {
                if submitted.is_some() {
                    bracket.pending(read_at.as_secs_f64(), progress);
                    let now = origin.elapsed().as_secs_f64();
                    if let Some(at) = bracket.next_poll(now, BRACKET_PRECISION, BRACKET_MARGIN) {
                        wait = Duration::from_secs_f64((at - now).max(0.0)).min(ctx.poll.max);
                    }
                }
                debug!(?progress, polls = n, "Task still in progress.")
            }
            Ok(PollStatus::Ready { image_urls, charge }) => {
                if submitted.is_some() {
                    ctx.estimates.observe(spec.provider, spec.model, read_at);
                }
                debug!(polls = n, images = image_urls.len(), "Task ready.");
                return Polled::Ready(image_urls, charge);
            }
            Ok(PollStatus::Ended(failure)) => return Polled::Ended(failure),
            // A failed poll is never a reason to submit again: keep polling.
            Err(failure) => debug!(reason = %failure.reason, "Poll failed; polling again."),
        }
    }
}
