//! The dead letters (`{ns}.dead`), listed without losing or reordering any.
//!
//! RabbitMQ has no way to read a queue without taking its messages: a `basic.get`
//! left unacknowledged and then requeued (nack, or the channel closing) counts as a
//! redelivery, and quorum queues drop or dead-letter a message past their delivery
//! limit, so "peeking" that way can destroy dead letters; it also hides them from
//! `replay-dead` while they are held. Instead a listing works through a snapshot as
//! `replay-dead` does: each of the messages the queue held when it began is taken,
//! published again unchanged to `{ns}.dead` (confirmed), and only then acknowledged.
//! After a whole pass the snapshot is back in its order, at the tail (letters that
//! arrived during the pass may sit between them); an interruption can duplicate a
//! letter but never lose one. A pass costs one confirmed publish per dead letter, so
//! it is for inspection, not for polling.

use fluxq_common::Names;
use fluxq_common::job::{readable_batch, readable_id};
use fluxq_wire::amqp::{self, AmqpError, ChannelSource};
use fluxq_wire::headers::{self, HDR_ATTEMPTS, HDR_LANE, HDR_REASON};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde::Serialize;
use utoipa::ToSchema;

use crate::replay::ReplayFilter;

/// Most dead letters one page lists.
pub const MAX_PAGE: usize = 200;

/// One dead letter, summed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// The job id, when the body has a readable one.
    pub id: Option<String>,
    pub batch: Option<String>,
    /// Why it can never succeed (`x-fluxq-reason`).
    pub reason: String,
    /// Provider submissions made for the job (`x-fluxq-attempts`).
    pub attempts: Option<i64>,
    /// The lane it came from (where a replay sends it).
    pub lane: Option<String>,
    /// Size of the message body in bytes.
    pub body_bytes: usize,
}

/// A page of the dead letters that match a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeadPage {
    pub items: Vec<DeadLetterView>,
    /// Dead letters looked at (the whole queue as it was when the listing began).
    pub examined: u64,
    /// Dead letters matching the filter, on every page.
    pub matching: u64,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<u64>,
}

/// Lists the matching dead letters from position `offset` (among the matches), up to
/// `limit`, putting every letter back (see the module documentation).
pub async fn list(
    source: &mut ChannelSource,
    names: &Names,
    filter: &ReplayFilter,
    offset: u64,
    limit: usize,
) -> Result<DeadPage, AmqpError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let ch = source.channel().await?;
    let dead = names.dead_queue();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let snapshot = ch
        .queue_declare(dead.as_str().into(), passive, FieldTable::default())
        .await?
        .message_count();
    let mut page = DeadPage {
        items: Vec::new(),
        examined: 0,
        matching: 0,
        next_cursor: None,
    };
    for _ in 0..snapshot {
        let Some(msg) = ch
            .basic_get(dead.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let d = msg.delivery;
        page.examined += 1;
        let reason = headers::header_str(&d.properties, HDR_REASON).unwrap_or_default();
        let batch = readable_batch(&d.data);
        let id = readable_id(&d.data).map(|u| u.to_string());
        if filter.matches(id.as_deref(), batch.as_deref(), &reason) {
            if page.matching >= offset && page.items.len() < limit {
                page.items.push(DeadLetterView {
                    id,
                    batch,
                    reason,
                    attempts: headers::header_int(&d.properties, HDR_ATTEMPTS),
                    lane: headers::header_str(&d.properties, HDR_LANE),
                    body_bytes: d.data.len(),
                });
            }
            page.matching += 1;
        }
        let props = d.properties.clone();
        amqp::publish_confirmed(&ch, &names.dead_exchange(), "", &d.data, props).await?;
        d.acker.ack(BasicAckOptions::default()).await?;
    }
    let next = offset + page.items.len() as u64;
    page.next_cursor = (next < page.matching).then_some(next);
    Ok(page)
}
