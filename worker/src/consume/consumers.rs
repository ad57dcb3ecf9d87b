//! The consumers of one session, one per lane: started (unless the lane is paused
//! fleet-wide), cancelled when their lane is paused (the deliveries they held but had
//! not started are handed back; jobs in flight go on), started again when it is
//! resumed, and all cancelled when the session stops consuming.

use fluxq_common::Lane;
use fluxq_wire::amqp::AmqpError;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::sync::watch;
use tracing::info;

use super::drain::stop_consuming;
use super::lanes::LaneSet;
use crate::{Ctx, WorkerConfig, WorkerError};

/// A lane's consumer while it is consumed (`None`: paused).
#[derive(Default)]
pub(super) struct Consumers {
    pub(super) interactive: Option<Consumer>,
    pub(super) bulk: Option<Consumer>,
}

fn consumer_tag(config: &WorkerConfig, lane: Lane) -> String {
    format!("{}-{}", config.worker_id, lane.as_str())
}

/// Starts consuming `lane` on `channel` under this worker's tag for it.
async fn consume_lane(
    config: &WorkerConfig,
    ctx: &Ctx,
    channel: &Channel,
    lane: Lane,
) -> Result<Consumer, WorkerError> {
    let c = channel
        .basic_consume(
            ctx.names.lane_queue(lane).as_str().into(),
            consumer_tag(config, lane).as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(AmqpError::from)?;
    Ok(c)
}

impl Consumers {
    fn lanes(&mut self) -> [(Lane, &mut Option<Consumer>); 2] {
        [
            (Lane::Interactive, &mut self.interactive),
            (Lane::Bulk, &mut self.bulk),
        ]
    }

    /// Makes the lanes consumed on `channel` those not in `paused` (interactive
    /// first): a paused lane's consumer is cancelled and what it held handed back, a
    /// resumed lane is consumed again.
    pub(super) async fn follow(
        &mut self,
        config: &WorkerConfig,
        ctx: &Ctx,
        channel: &Channel,
        paused: LaneSet,
    ) -> Result<(), WorkerError> {
        for (lane, consumer) in self.lanes() {
            match (paused.contains(lane), consumer.as_mut()) {
                (true, Some(c)) => {
                    let tag = [consumer_tag(config, lane)];
                    let back = stop_consuming(ctx, channel, &tag, &mut [c]).await;
                    *consumer = None;
                    info!(
                        lane = lane.as_str(),
                        handed_back = back,
                        "Lane paused fleet-wide; stopped consuming it (jobs in flight go on)."
                    );
                }
                (false, None) => {
                    *consumer = Some(consume_lane(config, ctx, channel, lane).await?);
                    info!(lane = lane.as_str(), "Consuming the lane.");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Cancels every lane's consumer and hands back what they held.
    pub(super) async fn stop_all(&mut self, config: &WorkerConfig, ctx: &Ctx, channel: &Channel) {
        let mut tags = Vec::new();
        let mut held = Vec::new();
        for (lane, c) in self.lanes() {
            if let Some(c) = c.as_mut() {
                tags.push(consumer_tag(config, lane));
                held.push(c);
            }
        }
        stop_consuming(ctx, channel, &tags, &mut held).await;
    }
}

/// The next delivery of a lane's consumer; never, while the lane is not consumed.
pub(super) async fn next_of(
    consumer: &mut Option<Consumer>,
) -> Option<Result<Delivery, lapin::Error>> {
    match consumer {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}

/// Waits until the paused lanes change; never, if nothing can change them any more.
pub(super) async fn lanes_changed(rx: &mut watch::Receiver<LaneSet>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
