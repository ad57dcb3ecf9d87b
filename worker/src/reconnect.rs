//! Waiting out an outage: the jittered backoff between reconnection attempts, and
//! connecting to Redis at start.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Waits between reconnection attempts: doubling from 0.2 s to 5 s, each plus a
/// random jitter of up to as much again (so 0.2–0.4 s first, 5–10 s at most).
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Connects to Redis, waiting (with jittered backoff) while it is down. `None` if
/// shutdown came first.
pub(crate) async fn connect_redis(
    url: &str,
    shutdown: &CancellationToken,
) -> Option<redis::aio::ConnectionManager> {
    let mut backoff = backoff();
    loop {
        match fluxq_wire::redis::connect(url).await {
            Ok(c) => return Some(c),
            Err(e) => {
                let wait = backoff.next().unwrap_or(Duration::from_secs(10));
                warn!(error = %e, retry_in = ?wait, "Redis is not answering; waiting.");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
