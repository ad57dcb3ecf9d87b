//! What every job of this process shares ([`Ctx`]), and building it at start.

use std::sync::Arc;
use std::time::Duration;

use fluxq_common::{DelayTiers, Names, ProviderKind, RetryPolicy};
use fluxq_wire::RedisStore;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{self, WorkerConfig};
use crate::consume::{Pause, interactive_reserve};
use crate::error::WorkerError;
use crate::http_server::{self, Health, Server};
use crate::limiter;
use crate::metrics::Metrics;
use crate::output::OutputSink;
use crate::poll::{self, PollSchedule};
use crate::provider::{self, BflProvider, Providers, RunwareProvider};
use crate::publisher::Publisher;
use crate::reconnect;

/// What every job of this process shares.
#[derive(Debug)]
pub struct Ctx {
    pub store: RedisStore,
    pub providers: Providers,
    pub publisher: Publisher,
    pub names: Names,
    pub retry: RetryPolicy,
    pub tiers: DelayTiers,
    pub poll: PollSchedule,
    pub default_provider: ProviderKind,
    pub output: OutputSink,
    pub metrics: Arc<Metrics>,
    pub health: Health,
    pub lease: Duration,
    pub job_deadline: Duration,
    pub worker_id: String,
    /// Why consumption is paused, if it is: Redis down, a provider account blocked.
    pub pause: Pause,
    /// Fleet-wide provider limits per account.
    pub limits: limiter::Limits,
    /// Learned generation times, for polling near the expected completion.
    pub estimates: poll::Estimates,
    /// Between probes of a blocked account.
    pub breaker_probe: Duration,
}

/// A started worker: the shared context, and what stops what starting it started.
#[derive(Debug)]
pub(crate) struct Started {
    pub ctx: Arc<Ctx>,
    /// Cancelled when the grace period is over: jobs hand back what they hold.
    pub jobs_cancel: CancellationToken,
    /// Stops the limiter pools' managers, which give their slots back to the fleet.
    pub pools_stop: CancellationToken,
    /// Serves `/metrics`, `/healthz` and `/readyz` until dropped.
    pub _server: Option<Server>,
}

/// Starts the metrics server, opens the output, builds the providers, connects to
/// Redis (waiting while it is down) and starts the account limiters. `None` if
/// shutdown came before Redis answered.
pub(crate) async fn start(
    config: &WorkerConfig,
    shutdown: &CancellationToken,
) -> Result<Option<Started>, WorkerError> {
    let (metrics, health) = (Arc::new(Metrics::new()), Health::default());
    let server = http_server::start(config.metrics_addr, &metrics, &health, shutdown).await?;
    let output =
        OutputSink::open(config.output_url.as_ref(), &config.output_dir, &config.s3).await?;
    info!(output = %output.location(), "Images will be stored there.");
    let providers = providers(config)?;
    let Some(redis) = reconnect::connect_redis(&config.redis_url, shutdown).await else {
        return Ok(None);
    };
    health.set_redis(redis.clone());
    let pools_stop = CancellationToken::new();
    let limits = limits(config, &redis, &pools_stop);
    let jobs_cancel = CancellationToken::new();
    let ctx = Arc::new(Ctx {
        store: RedisStore::new(redis, config.names.clone()),
        providers,
        publisher: Publisher::new(jobs_cancel.clone()),
        names: config.names.clone(),
        retry: config.retry,
        tiers: DelayTiers::for_policy(&config.retry),
        poll: config.poll,
        default_provider: config.default_provider,
        output,
        metrics,
        health,
        lease: config.lease,
        job_deadline: config.job_deadline,
        worker_id: config.worker_id.clone(),
        pause: Pause::default(),
        limits,
        estimates: poll::Estimates::default(),
        breaker_probe: config.limits.breaker_probe,
    });
    Ok(Some(Started {
        ctx,
        jobs_cancel,
        pools_stop,
        _server: server,
    }))
}

/// A client for each provider with a key here, sharing one HTTP connection pool
/// sized for every job this process may run at once.
fn providers(config: &WorkerConfig) -> Result<Providers, WorkerError> {
    let http = provider::http::client(
        config.http_timeout,
        usize::from(config.concurrency) + usize::from(interactive_reserve(config.concurrency)),
    )?;
    let providers = Providers {
        bfl: config
            .bfl
            .as_ref()
            .map(|e| BflProvider::new(e.url.clone(), e.key.clone(), http.clone())),
        runware: config
            .runware
            .as_ref()
            .map(|e| RunwareProvider::new(e.url.clone(), e.key.clone(), http.clone())),
    };
    if config.bfl.is_none() && config.runware.is_none() {
        warn!(
            "No provider key is configured (BFL_API_KEY, RUNWARE_API_KEY): every job will be dead-lettered."
        );
    }
    Ok(providers)
}

/// The fleet-wide limits of each provider account with a key here; their pools'
/// managers stop with `pools_stop`.
fn limits(
    config: &WorkerConfig,
    redis: &ConnectionManager,
    pools_stop: &CancellationToken,
) -> limiter::Limits {
    let build = |kind, e: &config::Endpoint| {
        limiter::limits::for_account(
            redis,
            &config.names,
            kind,
            &e.key,
            &config.limits,
            &config.worker_id,
            pools_stop,
        )
    };
    limiter::Limits {
        bfl: config.bfl.as_ref().map(|e| build(ProviderKind::Bfl, e)),
        runware: config
            .runware
            .as_ref()
            .map(|e| build(ProviderKind::Runware, e)),
    }
}
