//! Stopping consumption without counting against the delivery limit: the consumers
//! are cancelled, and the deliveries the broker had already sent them (prefetched,
//! not yet run) are handed back as fresh copies. A channel closed on them would
//! return each to its queue counted in its `x-delivery-count`, and RabbitMQ 4
//! dead-letters a message returned 20 times by default.

use futures_util::StreamExt;
use lapin::options::BasicCancelOptions;
use lapin::{Channel, Consumer};
use tokio::time::{Duration, Instant};
use tracing::debug;

use crate::Ctx;
use crate::conclude::settle::{self, Settle};
use crate::shutdown::TEARDOWN_TIMEOUT;

/// How long to wait for one more prefetched delivery once the consumers are cancelled.
const NEXT_DELIVERY: Duration = Duration::from_millis(200);

/// Cancels the consumers tagged `tags` on `consume`, then hands back every delivery
/// still buffered in `consumers`; all of it within [`TEARDOWN_TIMEOUT`] (what is
/// left then goes back with the channel). Returns how many were handed back.
pub(super) async fn stop_consuming(
    ctx: &Ctx,
    consume: &Channel,
    tags: &[String],
    consumers: &mut [&mut Consumer],
) -> usize {
    let deadline = Instant::now() + TEARDOWN_TIMEOUT;
    let cancels = tags.iter().map(|tag| {
        let consume = consume.clone();
        async move {
            let _ = consume
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
    });
    let _ = tokio::time::timeout_at(deadline, futures_util::future::join_all(cancels)).await;
    let mut handed_back = 0;
    for consumer in consumers.iter_mut() {
        loop {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(NEXT_DELIVERY);
            match tokio::time::timeout(wait, consumer.next()).await {
                Ok(Some(Ok(delivery))) => {
                    settle::settle(ctx, &delivery, Settle::HandBack).await;
                    handed_back += 1;
                }
                // Ended, failed, or nothing more within the wait.
                Ok(Some(Err(_)) | None) | Err(_) => break,
            }
        }
    }
    if handed_back > 0 {
        debug!(
            handed_back,
            "Handed back the deliveries consumers held but had not run."
        );
    }
    handed_back
}
