//! One delivery, start to finish: validate, claim, submit or resume, poll, download,
//! record, and settle the message (ack only once Redis holds the outcome).

use std::sync::Arc;
use std::time::Duration;

use fluxq_common::job::{readable_batch, readable_id};
use fluxq_common::{Decision, Failure, FailureKind, JobMessage, JobSpec, JobStatus, Lane};
use fluxq_wire::StoreError;
use fluxq_wire::amqp;
use fluxq_wire::headers::{self, HDR_ATTEMPTS};
use fluxq_wire::store::{Claim, Outcome, Written};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::Ctx;
use crate::execute::{Step, execute};
use crate::publisher::PublishError;

/// What to do with the delivery once the job's fate is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Done with it (final, retried through a delay queue, dead-lettered, or a duplicate).
    Ack,
    /// Give it back to the queue (shutdown, or the outcome could not be recorded).
    Requeue,
}

/// Errors that keep a delivery from being settled; it is requeued.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Runs one delivery in its job's span (`job_id` and `batch` as far as the body says),
/// counted in flight. Never panics on input; every path acks or requeues.
pub async fn handle(ctx: Arc<Ctx>, delivery: Delivery, cancel: CancellationToken) {
    let _in_flight = ctx.metrics.delivery_started(&delivery.properties);
    let id = readable_id(&delivery.data).map(|id| id.to_string());
    let batch = readable_batch(&delivery.data);
    let span = info_span!(
        "job",
        job_id = id.as_deref().unwrap_or(""),
        batch = batch.as_deref().unwrap_or(""),
        provider = tracing::field::Empty,
        attempt = tracing::field::Empty
    );
    handle_in_span(ctx, delivery, cancel).instrument(span).await;
}

async fn handle_in_span(ctx: Arc<Ctx>, delivery: Delivery, cancel: CancellationToken) {
    let settle = match process(&ctx, &delivery, &cancel).await {
        Ok(s) => s,
        Err(RunError::Publish(PublishError::Stopping)) => {
            info!("Stopping: handing the message back (its job's record is in Redis).");
            Settle::Requeue
        }
        Err(e) => {
            if matches!(e, RunError::Store(_)) {
                ctx.pause.set_redis_down();
            }
            warn!(error = %e, "Could not record the job's progress; handing the message back.");
            // Do not spin on a broker or Redis outage: the message comes back soon enough.
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            Settle::Requeue
        }
    };
    let settled = async {
        match settle {
            Settle::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
            Settle::Requeue => {
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await
            }
        }
    };
    // Bounded: a delivery of a connection that died with the broker may never get
    // an answer, and a job must not hold up the worker's shutdown for it.
    let result = match tokio::time::timeout(SETTLE_TIMEOUT, settled).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {SETTLE_TIMEOUT:?}")),
    };
    if let Err(e) = result {
        // The channel is gone; the broker redelivers the message, and the job's
        // record makes the redelivery harmless.
        debug!(error = %e, ?settle, "Could not settle the delivery.");
    }
}

/// How long acking or handing back a delivery may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

fn lane_of(delivery: &Delivery) -> Lane {
    Lane::parse(delivery.routing_key.as_str()).unwrap_or_default()
}

fn parse(ctx: &Ctx, body: &[u8]) -> Result<JobSpec, String> {
    let msg = JobMessage::from_json(body).map_err(|e| format!("invalid job: {e}"))?;
    let spec = msg
        .validate(ctx.default_provider)
        .map_err(|e| format!("invalid job: {e}"))?;
    if !ctx.providers.has(spec.provider) {
        return Err(crate::provider::not_configured(spec.provider).reason);
    }
    Ok(spec)
}

async fn process(
    ctx: &Arc<Ctx>,
    d: &Delivery,
    cancel: &CancellationToken,
) -> Result<Settle, RunError> {
    let lane = lane_of(d);
    let spec = match parse(ctx, &d.data) {
        Ok(spec) => spec,
        Err(reason) => return reject(ctx, d, lane, &reason).await,
    };
    let span = tracing::Span::current(); // the job's, from `handle`
    span.record("provider", spec.provider.as_str());
    async move {
        let owner = format!("{}:{}", ctx.worker_id, Uuid::new_v4().simple());
        match ctx.store.claim(&spec, &owner, ctx.lease).await? {
            Claim::Final(status) => {
                debug!(%status, "Job is already final; acknowledging without calling the provider.");
                Ok(Settle::Ack)
            }
            Claim::Busy => {
                debug!("Another delivery of this job is running; deferring this one.");
                let tier = ctx.tiers.pick(Duration::from_secs(2));
                let attempts = headers::header_int(&d.properties, HDR_ATTEMPTS).unwrap_or(0);
                republish(ctx, d, lane, tier, attempts, "deferred: job running elsewhere").await?;
                Ok(Settle::Ack)
            }
            Claim::Conflict { batch } => {
                let reason = format!(
                    "id already used: job {} belongs to another message (batch {batch:?}); this one moves nothing",
                    spec.id
                );
                dead_letter(ctx, d, lane, &reason, 0).await?;
                warn!(%reason, "Dead-lettered a message that reuses another job's id.");
                Ok(Settle::Ack)
            }
            Claim::Claimed { attempts, task } => {
                let step = execute(ctx, &spec, lane, &owner, attempts, task, cancel).await?;
                conclude(ctx, d, lane, &spec, &owner, step).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn conclude(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    spec: &JobSpec,
    owner: &str,
    step: Step,
) -> Result<Settle, RunError> {
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
            let written = finish(ctx, d, spec, owner, &outcome).await?;
            info!(?written, path = %outcome.image_path, "Job succeeded.");
            Ok(Settle::Ack)
        }
        Step::HandBack => {
            ctx.store.release_lease(&spec.id, owner).await?;
            info!("Handing the job back; its provider task is recorded for the next worker.");
            Ok(Settle::Requeue)
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
            Ok(Settle::Requeue)
        }
        Step::Failed {
            failure,
            attempts,
            keep_task,
        } => {
            if failure.kind == FailureKind::Moderated {
                let outcome = Outcome {
                    status: JobStatus::Moderated,
                    error: failure.reason.clone(),
                    image_url: String::new(),
                    image_path: String::new(),
                };
                finish(ctx, d, spec, owner, &outcome).await?;
                info!(reason = %failure.reason, "Provider moderated the job; it is final.");
                return Ok(Settle::Ack);
            }
            let decision = ctx.retry.decide(attempts, &failure, &mut rand::rng());
            match decision {
                Decision::Retry(delay) => {
                    retry(
                        ctx, d, lane, spec, owner, &failure, attempts, keep_task, delay,
                    )
                    .await
                }
                Decision::GiveUp(reason) => {
                    dead_letter(ctx, d, lane, &reason, attempts).await?;
                    let outcome = Outcome {
                        status: JobStatus::Failed,
                        error: reason.clone(),
                        image_url: String::new(),
                        image_path: String::new(),
                    };
                    finish(ctx, d, spec, owner, &outcome).await?;
                    warn!(attempts, %reason, "Job failed for good; dead-lettered.");
                    Ok(Settle::Ack)
                }
            }
        }
    }
}

/// Writes the job's final outcome (exactly once, whoever delivers it) and counts it.
async fn finish(
    ctx: &Ctx,
    d: &Delivery,
    spec: &JobSpec,
    owner: &str,
    outcome: &Outcome,
) -> Result<Written, RunError> {
    let finished = ctx
        .store
        .finish(&spec.id, spec.batch.as_deref(), owner, outcome)
        .await?;
    ctx.metrics.job_finished(d, spec, outcome.status, finished);
    Ok(finished.written)
}

#[allow(clippy::too_many_arguments)] // one call site; the values are the job's state at that point
async fn retry(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    spec: &JobSpec,
    owner: &str,
    failure: &Failure,
    attempts: u32,
    keep_task: bool,
    delay: Duration,
) -> Result<Settle, RunError> {
    match ctx
        .store
        .set_retrying(&spec.id, owner, &failure.reason, keep_task)
        .await?
    {
        Written::Done => {}
        other => {
            debug!(?other, "Job changed hands before its retry was recorded.");
            return Ok(Settle::Ack);
        }
    }
    let tier = ctx.tiers.pick(delay);
    republish(ctx, d, lane, tier, i64::from(attempts), &failure.reason).await?;
    info!(attempts, delay_ms = tier.as_millis() as u64, kind = failure.kind.as_str(), reason = %failure.reason, "Retrying later.");
    Ok(Settle::Ack)
}

/// Puts the message into the delay queue of `lane` with TTL `tier`.
async fn republish(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    tier: Duration,
    attempts: i64,
    reason: &str,
) -> Result<(), RunError> {
    let headers = headers::retry_headers(
        &d.properties,
        attempts,
        tier.as_millis() as i64,
        &fluxq_common::Names::delay_tier(tier),
        reason,
    );
    let id = message_id(d);
    ctx.publisher
        .publish(
            &ctx.names.delay_exchange(),
            lane.as_str(),
            &d.data,
            amqp::job_properties(&id, headers),
        )
        .await?;
    Ok(())
}

async fn dead_letter(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    reason: &str,
    attempts: u32,
) -> Result<(), RunError> {
    let headers = headers::dead_letter_headers(reason, attempts, lane.as_str());
    let id = message_id(d);
    ctx.publisher
        .publish(
            &ctx.names.dead_exchange(),
            "",
            &d.data,
            amqp::job_properties(&id, headers),
        )
        .await?;
    Ok(())
}

fn message_id(d: &Delivery) -> String {
    d.properties
        .message_id()
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .or_else(|| readable_id(&d.data).map(|u| u.to_string()))
        .unwrap_or_default()
}

/// A message that can never run: dead-letter it with the reason, and fail its record
/// if it has a readable id.
async fn reject(ctx: &Ctx, d: &Delivery, lane: Lane, reason: &str) -> Result<Settle, RunError> {
    dead_letter(ctx, d, lane, reason, 0).await?;
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
