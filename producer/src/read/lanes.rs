//! The lanes as an operator sees them: how many jobs wait in each lane's queue, in
//! the delay tiers and in the dead-letter queue (passive declarations, which read a
//! queue's depth without touching its messages), and which lanes are paused
//! fleet-wide (`{ns}:paused`) and since when.

use fluxq_common::{DelayTiers, Lane, RetryPolicy};
use fluxq_wire::amqp::{AmqpError, ChannelSource};
use fluxq_wire::{RedisStore, StoreError};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde::Serialize;
use utoipa::ToSchema;

/// One lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LaneView {
    /// `bulk` or `interactive`.
    pub lane: String,
    /// Its queue (`{ns}.jobs.{lane}`).
    pub queue: String,
    /// Messages waiting in the queue, not yet delivered to a worker.
    pub messages: u32,
    /// Workers consuming it now (0 on a paused lane once every worker has seen it).
    pub consumers: u32,
    /// Whether the lane is paused fleet-wide (`producer pause --lane`).
    pub paused: bool,
    /// When it was paused (RFC 3339), while it is.
    pub paused_since: Option<String>,
}

/// A queue and the messages waiting in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    pub messages: u32,
}

/// Every lane, the delay tiers both lanes share, and the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LanesView {
    /// `bulk`, then `interactive`.
    pub lanes: Vec<LaneView>,
    /// The delay tiers of the default retry policy, shortest first (retries wait here).
    pub delay: Vec<QueueDepth>,
    /// `{ns}.dead`: messages that can never succeed.
    pub dead: QueueDepth,
}

/// Why the lanes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LanesError {
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads every lane: one `HGETALL` and one passive declaration per queue. On a
/// RabbitMQ error `source` is reset (the next call reconnects).
pub async fn lanes(
    store: &RedisStore,
    source: &mut ChannelSource,
) -> Result<LanesView, LanesError> {
    let paused = crate::lanes::paused(store).await?;
    let names = store.names();
    let r = async {
        let ch = source.channel().await?;
        let mut lanes = Vec::new();
        for lane in Lane::ALL {
            let queue = names.lane_queue(lane);
            let (messages, consumers) = depth(&ch, &queue).await?;
            let since = paused.get(&lane).cloned();
            lanes.push(LaneView {
                lane: lane.as_str().to_owned(),
                queue,
                messages,
                consumers,
                paused: since.is_some(),
                paused_since: since,
            });
        }
        let mut delay = Vec::new();
        for ttl in DelayTiers::for_policy(&RetryPolicy::default()).all() {
            let queue = names.delay_queue(*ttl);
            let (messages, _) = depth(&ch, &queue).await?;
            delay.push(QueueDepth { queue, messages });
        }
        let queue = names.dead_queue();
        let (messages, _) = depth(&ch, &queue).await?;
        Ok::<_, AmqpError>(LanesView {
            lanes,
            delay,
            dead: QueueDepth { queue, messages },
        })
    }
    .await;
    if r.is_err() {
        source.reset();
    }
    Ok(r?)
}

/// A queue's messages and consumers, by a passive declaration.
async fn depth(ch: &lapin::Channel, queue: &str) -> Result<(u32, u32), AmqpError> {
    let opts = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare(queue.into(), opts, FieldTable::default())
        .await?;
    Ok((q.message_count(), q.consumer_count()))
}
