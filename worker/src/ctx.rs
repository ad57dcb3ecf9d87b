//! What every job of this process shares ([`Ctx`]), and building it at start.

use std::sync::Arc;
use std::time::Duration;

use fluxq_common::{DelayTiers, Names, ProviderKind, RetryPolicy};
use fluxq_wire::RedisStore;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::WorkerConfig;
use crate::consume::lanes::{self, LaneSet};
use crate::consume::{Pause, interactive_reserve};
use crate::error::WorkerError;
use crate::http_server::{self, Health, Server};
use crate::limiter;
use crate::metrics::Metrics;
use crate::output::OutputSink;
use crate::provider::{self, Providers};
use crate::publisher::Publisher;
use crate::reconnect;
use crate::schedule::{self, PollSchedule};

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
    /// Resubmissions a job may make because a paid image could not be downloaded.
    pub max_repaid_downloads: u32,
    /// `FLUXQ_MAX_AMBIGUOUS_SUBMITS`: submits whose answer was lost a job may make.
    pub max_ambiguous_submits: u32,
    pub worker_id: String,
    /// Why consumption is paused, if it is: Redis down, a provider account blocked.
    pub pause: Pause,
    /// The lanes paused fleet-wide (`producer pause`), kept up to date from Redis.
    pub lanes: tokio::sync::watch::Receiver<LaneSet>,
    /// Fleet-wide provider limits per account.
    pub limits: limiter::Limits,
    /// Learned generation times, for polling near the expected completion.
    pub estimates: schedule::Estimates,
    /// Between probes of a blocked account.
    pub breaker_probe: Duration,
    /// `FLUXQ_MAX_MESSAGE_BYTES`: larger bodies are dead-lettered unread.
    pub max_message_bytes: u64,
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
    health.watch_redis(redis.clone(), shutdown.clone());
    let paused_key = config.names.paused_lanes_key();
    let lanes = lanes::watch(
        redis.clone(),
        paused_key,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await;
    let pools_stop = CancellationToken::new();
    let limits = limits(config, &redis, &pools_stop);
    let jobs_cancel = CancellationToken::new();
    let Some(store) = store(config, redis, shutdown).await else {
        return Ok(None);
    };
    let ctx = Arc::new(Ctx {
        store,
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
        max_repaid_downloads: config.max_repaid_downloads,
        max_ambiguous_submits: config.money.max_ambiguous_submits,
        worker_id: config.worker_id.clone(),
        pause: Pause::default(),
        lanes,
        limits,
        estimates: schedule::Estimates::default(),
        breaker_probe: config.limits.breaker_probe,
        max_message_bytes: config.input.max_message_bytes,
    });
    Ok(Some(Started {
        ctx,
        jobs_cancel,
        pools_stop,
        _server: server,
    }))
}

/// The job records, waiting for replicas after outcome writes if
/// `FLUXQ_REDIS_WAIT_REPLICAS` asks (its connection retried while Redis is down).
/// `None` if shutdown came first.
async fn store(
    config: &WorkerConfig,
    redis: ConnectionManager,
    shutdown: &CancellationToken,
) -> Option<RedisStore> {
    let store = RedisStore::new(redis, config.names.clone());
    let Some(wait) = config.money.redis_wait else {
        return Some(store);
    };
    let mut backoff = reconnect::backoff();
    loop {
        match store
            .clone()
            .wait_for_replicas(&config.redis_url, wait)
            .await
        {
            Ok(store) => {
                let aof = store.waits_for().is_some_and(|(_, aof)| aof);
                info!(
                    replicas = wait.replicas,
                    timeout_ms = wait.timeout.as_millis() as u64,
                    aof,
                    "Outcomes are acknowledged once on this many Redis replicas."
                );
                return Some(store);
            }
            Err(e) => {
                let d = backoff.next().unwrap_or(Duration::from_secs(10));
                warn!(error = %e, retry_in = ?d, "Could not open the Redis connection that waits for replicas.");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(d) => {}
                }
            }
        }
    }
}

/// A client for each provider with a key here, sharing one HTTP connection pool
/// sized for every job this process may run at once.
fn providers(config: &WorkerConfig) -> Result<Providers, WorkerError> {
    let http = provider::http::client(
        config.http_timeout,
        usize::from(config.concurrency) + usize::from(interactive_reserve(config.concurrency)),
    )?;
    let http = provider::fetch::Http::new(
        http,
        config.input.max_image_bytes,
        config.input.download_hosts.clone(),
    );
    let providers = Providers::connect(&config.endpoints, &http);
    if providers.is_empty() {
        let keys = provider::key_variables();
        warn!("No provider key is configured ({keys}): every job will be dead-lettered.");
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
    let accounts = config.endpoints.iter().map(|(kind, e)| (kind, &e.key));
    limiter::Limits::for_accounts(
        redis,
        &config.names,
        accounts,
        &config.limits,
        &config.worker_id,
        pools_stop,
    )
}
