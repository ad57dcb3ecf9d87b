//! One delivery, start to finish: validate, claim, run at the provider
//! ([`crate::execute`]), then record the outcome and settle the message
//! ([`crate::conclude`]: ack only once Redis holds the outcome).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use fluxq_common::job::{readable_batch, readable_id};
use fluxq_common::{Failure, JobMessage, JobSpec, JobStatus, Lane};
use fluxq_wire::amqp::{MAX_RETURNS, REFRESH_AT};
use fluxq_wire::headers::{self, HDR_ATTEMPTS};
use fluxq_wire::store::Claim;
use futures_util::FutureExt;
use lapin::message::Delivery;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::Ctx;
use crate::conclude::settle::{self, Settle};
use crate::conclude::{self, Claimed, ConcludeError};
use crate::execute::{Step, execute};
use crate::publisher::PublishError;

/// Runs one delivery in its job's span (`job_id` and `batch` as far as the body says),
/// counted in flight. Never panics on input; every path acks or requeues, and a
/// panic inside the job is caught and settles the delivery too.
pub async fn handle(ctx: Arc<Ctx>, mut delivery: Delivery, cancel: CancellationToken) {
    let _in_flight = ctx.metrics.delivery_started(&delivery.properties);
    let size = delivery.data.len() as u64;
    if size > ctx.max_message_bytes {
        too_large(&ctx, &mut delivery, size).await;
        return;
    }
    // Returned unsettled often (workers died or lost the broker holding it): a fresh
    // copy resets the broker's count before its delivery limit dead-letters it
    // without a reason. One returned too often in all fails its job (see `process`).
    let count = headers::delivery_count(&delivery.properties);
    let returns = headers::returns(&delivery.properties);
    if count >= REFRESH_AT && returns < MAX_RETURNS {
        info!(
            count,
            returns, "Message came back unsettled often; handing it back as a fresh copy."
        );
        settle::settle(&ctx, &delivery, Settle::HandBack).await;
        return;
    }
    // Parsed once, into the typed job; only a body that is not a valid job is read
    // again, for whatever id and batch it has.
    let parsed = parse(&ctx, &delivery.data);
    let (id, batch) = match &parsed {
        Ok(spec) => (Some(spec.id.to_string()), spec.batch.clone()),
        Err(_) => (
            readable_id(&delivery.data).map(|id| id.to_string()),
            readable_batch(&delivery.data),
        ),
    };
    let span = info_span!(
        "job",
        job_id = id.as_deref().unwrap_or(""),
        batch = batch.as_deref().unwrap_or(""),
        provider = tracing::field::Empty,
        attempt = tracing::field::Empty
    );
    let owner = format!("{}:{}", ctx.worker_id, Uuid::new_v4().simple());
    let run =
        AssertUnwindSafe(handle_in_span(&ctx, &delivery, &cancel, &owner, parsed)).catch_unwind();
    if let Err(panic) = run.instrument(span.clone()).await {
        let text = conclude::panicked::panic_text(panic.as_ref());
        drop(panic);
        conclude::panicked::settle(&ctx, &delivery, &owner, &text)
            .instrument(span)
            .await;
    }
}

async fn handle_in_span(
    ctx: &Arc<Ctx>,
    delivery: &Delivery,
    cancel: &CancellationToken,
    owner: &str,
    parsed: Result<JobSpec, String>,
) {
    let settle = match process(ctx, delivery, cancel, owner, parsed).await {
        Ok(s) => s,
        Err(ConcludeError::Publish(PublishError::Stopping)) => {
            info!("Stopping: handing the message back (its job's record is in Redis).");
            Settle::HandBack
        }
        Err(e) => {
            if matches!(e, ConcludeError::Store(_)) {
                ctx.pause.set_redis_down();
            }
            warn!(error = %e, "Could not record the job's progress; handing the message back.");
            // Do not spin on a broker or Redis outage: the message comes back soon enough.
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            Settle::HandBack
        }
    };
    settle::settle(ctx, delivery, settle).await;
}

/// A body over `FLUXQ_MAX_MESSAGE_BYTES`: dead-lettered without being parsed (so
/// its job's record, if any, is not touched); handed back if that fails.
async fn too_large(ctx: &Ctx, d: &mut Delivery, size: u64) {
    let limit = ctx.max_message_bytes;
    let reason = format!("message too large ({size} bytes, limit {limit})");
    let lane = lane_of(d);
    let settled = match settle::dead_letter_unread(ctx, d, lane, &reason).await {
        Ok(()) => {
            warn!(%reason, "Dead-lettered a message without reading it.");
            Settle::Ack
        }
        Err(e) => {
            warn!(error = %e, "Could not dead-letter a message that is too large; handing it back.");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Settle::HandBack
        }
    };
    settle::settle(ctx, d, settled).await;
}

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

/// Validates and claims the job, runs it, and says how to settle the delivery.
async fn process(
    ctx: &Arc<Ctx>,
    d: &Delivery,
    cancel: &CancellationToken,
    owner: &str,
    parsed: Result<JobSpec, String>,
) -> Result<Settle, ConcludeError> {
    let lane = lane_of(d);
    let spec = match parsed {
        Ok(spec) => spec,
        Err(reason) => return conclude::reject(ctx, d, lane, &reason).await,
    };
    let span = tracing::Span::current(); // the job's, from `handle`
    span.record("provider", spec.provider.as_str());
    async move {
        match ctx.store.claim(&spec, owner, ctx.lease).await? {
            Claim::Final(JobStatus::Cancelled) => {
                conclude::cancelled::park(ctx, d, lane, &spec.id).await
            }
            Claim::Final(status) => {
                // The outcome this delivery acknowledges must be as durable as asked,
                // even if another delivery wrote it.
                ctx.store.durable().await?;
                debug!(%status, "Job is already final; acknowledging without calling the provider.");
                Ok(Settle::Ack)
            }
            Claim::Busy => {
                debug!("Another delivery of this job is running; deferring this one.");
                let tier = ctx.tiers.pick(Duration::from_secs(2));
                let attempts = headers::header_int(&d.properties, HDR_ATTEMPTS).unwrap_or(0);
                let reason = "deferred: job running elsewhere";
                settle::republish(ctx, d, lane, tier, attempts, reason).await?;
                Ok(Settle::Ack)
            }
            Claim::Conflict { batch } => {
                let reason = format!(
                    "id already used: job {} belongs to another message (batch {batch:?}); this one moves nothing",
                    spec.id
                );
                settle::dead_letter(ctx, d, lane, &reason, 0).await?;
                warn!(%reason, "Dead-lettered a message that reuses another job's id.");
                Ok(Settle::Ack)
            }
            Claim::Claimed { attempts, task } => {
                #[cfg(feature = "fault-injection")]
                crate::fault::panic_once(&spec);
                let returns = headers::returns(&d.properties);
                let step = if returns >= MAX_RETURNS {
                    let failure = Failure::permanent(format!(
                        "the message came back to its queue {returns} times without being settled (a worker died or lost the broker while holding it each time)"
                    ));
                    Step::Failed {
                        failure,
                        attempts,
                        keep_task: false,
                    }
                } else {
                    execute(ctx, &spec, lane, owner, attempts, task, cancel).await?
                };
                let claimed = Claimed {
                    ctx,
                    delivery: d,
                    lane,
                    spec: &spec,
                    owner,
                };
                conclude::conclude(&claimed, step).await
            }
        }
    }
    .instrument(span)
    .await
}
