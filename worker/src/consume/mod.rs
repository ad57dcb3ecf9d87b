//! Consuming: RabbitMQ sessions one after another (reconnecting with backoff), each
//! taking deliveries of both lanes within the process's permits (`permits`), paused
//! while Redis is down or a provider account is blocked ([`Pause`]), and not taking
//! those of a lane paused fleet-wide ([`lanes`]).

mod consumers;
mod drain;
pub mod lanes;
pub mod pause;
mod permits;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use pause::Pause;
pub(crate) use permits::interactive_reserve;
pub(crate) use session::Open;

use crate::{Ctx, WorkerConfig, WorkerError, reconnect};
use permits::Permits;

/// Consumes until `shutdown`, reconnecting whenever a session ends; each delivery's
/// job is spawned on `tracker`, with a child of `jobs_cancel`. Returns the connection
/// still open at shutdown (jobs in flight settle on it), if any.
pub(crate) async fn run(
    config: &WorkerConfig,
    ctx: &Arc<Ctx>,
    tracker: &TaskTracker,
    jobs_cancel: &CancellationToken,
    shutdown: &CancellationToken,
) -> Option<Open> {
    let permits = Permits::new(config.concurrency);
    info!(worker_id = %config.worker_id, namespace = %config.names.namespace(), concurrency = config.concurrency, "Worker starting.");
    let mut backoff = reconnect::backoff();
    while !shutdown.is_cancelled() {
        match session::session(config, ctx, tracker, &permits, jobs_cancel, shutdown).await {
            Ok(open) => return Some(open),
            Err(WorkerError::Stopping) => break,
            Err(WorkerError::Paused) => {
                ctx.publisher.set(None);
                backoff = reconnect::backoff();
                info!("Resuming consumption.");
            }
            Err(e) => {
                ctx.publisher.set(None);
                let wait = backoff.next().unwrap_or(Duration::from_secs(30));
                warn!(error = %e, retry_in = ?wait, "RabbitMQ session ended; reconnecting.");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    None
}
