//! fluxq's worker: consumes image-generation jobs from RabbitMQ, runs them at the
//! provider, stores images and costs, retries what can succeed later and
//! dead-letters what never can.
//!
//! # Layout
//! - [`run`] (this file): start, consume until shutdown, drain, stop.
//! - [`config`]: arguments and environment, validated into [`WorkerConfig`]; a bad
//!   value is a [`config_error::ConfigError`] naming its variable.
//! - [`ctx`]: [`Ctx`], what every job shares, and building it at start; [`error`]:
//!   [`WorkerError`].
//! - [`consume`]: RabbitMQ sessions (reconnecting), both lanes within the permits,
//!   pauses while Redis is down or an account is blocked.
//! - `shutdown`, `reconnect`: the grace period and hand-back; the backoff between
//!   reconnection attempts and connecting to Redis.
//! - [`runner`]: one delivery, from validation to ack.
//! - [`execute`]: one claimed job at the provider: submit or resume, poll, download.
//! - [`conclude`]: the job's outcome recorded, its delivery settled (ack, retry, dead letter).
//! - [`provider`]: the [`provider::Provider`] trait, the registry of providers, and
//!   one module per provider (BFL, Runware, Runflow).
//! - [`limiter`]: provider capacity shared by the fleet: slots, rates, the breaker.
//! - [`schedule`], [`output`], [`publisher`], [`secret`]: polling schedule, image files,
//!   publishing retries and dead letters, redacted API keys.
//! - [`metrics`], [`http_server`], [`json_log`]: Prometheus metrics, `/metrics`
//!   `/healthz` `/readyz`, JSON log lines.
//! - `fault` (feature `fault-injection`, tests only): a job that panics on purpose.
//!
//! The job record in Redis and the broker topology are `fluxq_wire`'s.

pub mod conclude;
pub mod config;
pub mod consume;
pub mod ctx;
pub mod error;
pub mod execute;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod http_server;
pub mod json_log;
pub mod limiter;
pub mod metrics;
pub mod output;
pub mod provider;
pub mod publisher;
mod reconnect;
pub mod runner;
pub mod schedule;
mod shutdown;

pub use fluxq_wire::{config_error, secret};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use config::{WorkerArgs, WorkerConfig};
pub use ctx::Ctx;
pub use error::WorkerError;

/// Runs the worker until `shutdown` is cancelled: then it stops consuming, gives jobs
/// in flight `shutdown_grace` to finish, hands back the rest, and returns.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let Some(started) = ctx::start(&config, &shutdown).await? else {
        return Ok(()); // shutdown came before Redis answered
    };
    let ctx = &started.ctx;
    let tracker = TaskTracker::new();
    let open = consume::run(&config, ctx, &tracker, &started.jobs_cancel, &shutdown).await;
    shutdown::drain(&tracker, config.shutdown_grace, &started.jobs_cancel).await;
    started.pools_stop.cancel();
    ctx.publisher.set(None);
    if let Some(open) = open {
        open.close().await;
    }
    info!("Worker stopped.");
    Ok(())
}
