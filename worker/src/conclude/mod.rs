//! Concluding a delivery: record where its job got to (final, retrying, handed back)
//! and say how to settle the message ([`settle`]: ack, requeue, a retry through a
//! delay queue, a dead letter; [`cancelled`]: a cancelled job's message kept).

pub mod cancelled;
pub mod panicked;
pub mod settle;

use std::time::Duration;

use fluxq_common::job::{readable_batch, readable_id};
use fluxq_common::{Decision, Failure, FailureKind, JobSpec, JobStatus, Lane};
use fluxq_wire::StoreError;
use fluxq_wire::store::{Outcome, Written};
use lapin::message::Delivery;
use tracing::{debug, info, warn};

use crate::Ctx;
use crate::execute::Step;
use crate::publisher::PublishError;
use settle::Settle;

/// Errors that keep a delivery from being settled; it is requeued.
#[derive(Debug, thiserror::Error)]
pub enum ConcludeError {
    /// Redis did not take the job's progress.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker did not take a retry or a dead letter.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// A delivery whose job this execution claimed: what concluding it needs.
#[derive(Debug, Clone, Copy)]
pub struct Claimed<'a> {
    pub ctx: &'a Ctx,
    pub delivery: &'a Delivery,
    pub lane: Lane,
    pub spec: &'a JobSpec,
    /// The lease's owner (this execution).
    pub owner: &'a str,
}

/// Records where the job got to and says how to settle its delivery.
pub async fn conclude(job: &Claimed<'_>, step: Step) -> Result<Settle, ConcludeError> {
    let Claimed {
        ctx, spec, owner, ..
    } = *job;
    match step {
        Step::Succeeded {
            image_url,
            image_path,
        } => {
            let outcome = Outcome {
                status: JobStatus::Succeeded,
                error: String::new(),
                image_url,
                image_path,
            };
            let written = finish(job, &outcome).await?;
            info!(?written, path = %outcome.image_path, "Job succeeded.");
            Ok(Settle::Ack)
        }
        Step::HandBack => {
            ctx.store.release_lease(&spec.id, owner).await?;
            info!("Handing the job back; its provider task is recorded for the next worker.");
            Ok(Settle::HandBack)
        }
        Step::AlreadyFinal(JobStatus::Cancelled) => {
            cancelled::park(ctx, job.delivery, job.lane, &spec.id).await
        }
        Step::AlreadyFinal(status) => {
            debug!(%status, "Another delivery finished the job meanwhile; acknowledging.");
            Ok(Settle::Ack)
        }
        Step::LeaseLost => {
            warn!("Another delivery took over this job; leaving it to that one.");
            Ok(Settle::Ack)
        }
        Step::Blocked(reason) => {
            // Not the job's fault: it waits in RabbitMQ, attempts untouched, while the
            // consume loop pauses until the account works again.
            ctx.pause.set_account_blocked();
            let error = format!("waiting: provider account blocked: {reason}");
            ctx.store
                .set_retrying(&spec.id, owner, &error, false)
                .await?;
            info!(%reason, "Provider account blocked; handing the job back until it works.");
            Ok(Settle::HandBack)
        }
        Step::Failed {
            failure,
            attempts,
            keep_task,
        } => failed(job, failure, attempts, keep_task).await,
    }
}

/// An attempt failed: the job is moderated for good, retried later, or dead-lettered.
async fn failed(
    job: &Claimed<'_>,
    failure: Failure,
    attempts: u32,
    keep_task: bool,
) -> Result<Settle, ConcludeError> {
    let ctx = job.ctx;
    if failure.kind == FailureKind::Moderated {
        let outcome = Outcome {
            status: JobStatus::Moderated,
            error: failure.reason.clone(),
            image_url: String::new(),
            image_path: String::new(),
        };
        finish(job, &outcome).await?;
        info!(reason = %failure.reason, "Provider moderated the job; it is final.");
        return Ok(Settle::Ack);
    }
    // Decided before any await: the thread's random source is not `Send`.
    let decision = ctx.retry.decide(attempts, &failure, &mut rand::rng());
    match decision {
        Decision::Retry(delay) => retry(job, &failure, attempts, keep_task, delay).await,
        Decision::GiveUp(reason) => {
            settle::dead_letter(ctx, job.delivery, job.lane, &reason, attempts).await?;
            let outcome = Outcome {
                status: JobStatus::Failed,
                error: reason.clone(),
                image_url: String::new(),
                image_path: String::new(),
            };
            finish(job, &outcome).await?;
            warn!(attempts, %reason, "Job failed for good; dead-lettered.");
            Ok(Settle::Ack)
        }
    }
}

/// Writes the job's final outcome (exactly once, whoever delivers it) and counts it.
async fn finish(job: &Claimed<'_>, outcome: &Outcome) -> Result<Written, ConcludeError> {
    let Claimed {
        ctx,
        delivery,
        spec,
        owner,
        ..
    } = *job;
    let finished = ctx
        .store
        .finish(&spec.id, spec.batch.as_deref(), owner, outcome)
        .await?;
    ctx.metrics
        .job_finished(delivery, spec, outcome.status, finished);
    Ok(finished.written)
}

/// Records the job as retrying and puts its message into the delay queue of `delay`.
async fn retry(
    job: &Claimed<'_>,
    failure: &Failure,
    attempts: u32,
    keep_task: bool,
    delay: Duration,
) -> Result<Settle, ConcludeError> {
    let ctx = job.ctx;
    match ctx
        .store
        .set_retrying(&job.spec.id, job.owner, &failure.reason, keep_task)
        .await?
    {
        Written::Done => {}
        other => {
            debug!(?other, "Job changed hands before its retry was recorded.");
            return Ok(Settle::Ack);
        }
    }
    let tier = ctx.tiers.pick(delay);
    let attempts_header = i64::from(attempts);
    settle::republish(
        ctx,
        job.delivery,
        job.lane,
        tier,
        attempts_header,
        &failure.reason,
    )
    .await?;
    info!(attempts, delay_ms = tier.as_millis() as u64, kind = failure.kind.as_str(), reason = %failure.reason, "Retrying later.");
    Ok(Settle::Ack)
}

/// A message that can never run: dead-letter it with the reason, and fail its record
/// if it has a readable id.
pub async fn reject(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    reason: &str,
) -> Result<Settle, ConcludeError> {
    settle::dead_letter(ctx, d, lane, reason, 0).await?;
    let id = readable_id(&d.data);
    if let Some(id) = id {
        let finished = ctx
            .store
            .reject(&id, readable_batch(&d.data).as_deref(), reason)
            .await?;
        ctx.metrics.job_rejected(d, finished);
        debug!(written = ?finished.written, "Recorded the invalid job as failed.");
    }
    // `job_id` and `batch` are on the span (empty when the body does not say).
    warn!(%reason, "Dead-lettered an invalid message.");
    Ok(Settle::Ack)
}
