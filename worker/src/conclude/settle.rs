//! Settling a delivery: ack it or hand it back, and the messages that take its place
//! elsewhere (a copy in a delay queue for a retry, a dead letter, a fresh copy in
//! its lane for a hand-back).
//!
//! A hand-back is never the job's fault (shutdown, a blocked account, Redis away, a
//! delivery returned too often): the delivery is replaced by a fresh copy in its
//! lane and acked, so it does not count toward the queue's `x-delivery-limit`
//! (RabbitMQ counts every nack with requeue and every delivery a closing channel
//! held). Only when that copy cannot be published is the delivery nacked back.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_common::job::readable_id;
use fluxq_wire::amqp;
use fluxq_wire::headers;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tracing::{debug, warn};

use crate::Ctx;
use crate::publisher::PublishError;

/// What to do with the delivery once the job's fate is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done with it (final, retried through a delay queue, dead-lettered, or a duplicate).
    Ack,
    /// Give it back to its lane for later (shutdown, a blocked account, the outcome
    /// could not be recorded): a fresh copy, or a nack with requeue if that fails.
    HandBack,
}

/// How long acking or handing back a delivery may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long publishing the fresh copy of a handed-back delivery may take.
const HAND_BACK_PUBLISH: Duration = Duration::from_secs(3);

/// Acks the delivery or hands it back. Bounded: a delivery of a connection that died
/// with the broker may never get an answer, and a job must not hold up the worker's
/// shutdown for it.
pub async fn settle(ctx: &Ctx, delivery: &Delivery, settle: Settle) {
    let settle = match settle {
        Settle::HandBack => match fresh_copy(ctx, delivery).await {
            Ok(()) => Settle::Ack,
            Err(e) => {
                warn!(error = %e, "Could not hand the message back as a fresh copy; nacking it back.");
                Settle::HandBack
            }
        },
        Settle::Ack => Settle::Ack,
    };
    let settled = async {
        match settle {
            Settle::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
            Settle::HandBack => {
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

/// Publishes a fresh copy of the delivery to its lane (`x-delivery-count` 0, its
/// returns so far in `x-fluxq-returns`), confirmed.
async fn fresh_copy(ctx: &Ctx, d: &Delivery) -> Result<(), PublishError> {
    let lane = Lane::parse(d.routing_key.as_str()).unwrap_or_default();
    let id = message_id(ctx, d);
    let props = amqp::job_properties(&id, headers::handed_back_headers(&d.properties));
    ctx.publisher
        .publish_within(
            HAND_BACK_PUBLISH,
            &ctx.names.jobs_exchange(),
            lane.as_str(),
            &d.data,
            props,
        )
        .await
}

/// Puts the message into the delay queue of `lane` with TTL `tier`.
pub async fn republish(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    tier: Duration,
    attempts: i64,
    reason: &str,
) -> Result<(), PublishError> {
    let headers = headers::retry_headers(
        &d.properties,
        attempts,
        tier.as_millis() as i64,
        &fluxq_common::Names::delay_tier(tier),
        reason,
    );
    let id = message_id(ctx, d);
    ctx.publisher
        .publish(
            &ctx.names.delay_exchange(),
            lane.as_str(),
            &d.data,
            amqp::job_properties(&id, headers),
        )
        .await
}

/// Publishes the message to the dead-letter queue with the reason it never ran.
pub async fn dead_letter(
    ctx: &Ctx,
    d: &Delivery,
    lane: Lane,
    reason: &str,
    attempts: u32,
) -> Result<(), PublishError> {
    let headers = headers::dead_letter_headers(reason, attempts, lane.as_str());
    let id = message_id(ctx, d);
    ctx.publisher
        .publish(
            &ctx.names.dead_exchange(),
            "",
            &d.data,
            amqp::job_properties(&id, headers),
        )
        .await
}

/// Dead-letters a body over `FLUXQ_MAX_MESSAGE_BYTES`, taken out of the delivery
/// and dropped as soon as it is sent: several large messages arriving together are
/// not all held while the broker stores each (the delivery is settled afterwards).
pub async fn dead_letter_unread(
    ctx: &Ctx,
    d: &mut Delivery,
    lane: Lane,
    reason: &str,
) -> Result<(), PublishError> {
    let headers = headers::dead_letter_headers(reason, 0, lane.as_str());
    let id = message_id(ctx, d);
    let body = std::mem::take(&mut d.data);
    ctx.publisher
        .publish_owned(
            &ctx.names.dead_exchange(),
            "",
            body,
            amqp::job_properties(&id, headers),
        )
        .await
}

/// The message's id: its property, else the body's `id` (never read from a body
/// over `FLUXQ_MAX_MESSAGE_BYTES`).
fn message_id(ctx: &Ctx, d: &Delivery) -> String {
    d.properties
        .message_id()
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .filter(|m| !m.is_empty())
        .or_else(|| {
            (d.data.len() as u64 <= ctx.max_message_bytes)
                .then(|| readable_id(&d.data).map(|u| u.to_string()))
                .flatten()
        })
        .unwrap_or_default()
}
