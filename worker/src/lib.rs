//! fluxq's worker: consumes image-generation jobs from RabbitMQ, runs them at the
//! provider, stores images and costs, retries what can succeed later and
//! dead-letters what never can.
//!
//! # Layout
//! - [`config`]: arguments and environment, validated into [`WorkerConfig`]; a bad
//!   value is a [`config_error::ConfigError`] naming its variable.
//! - [`run`] (this file): connect, consume both lanes, spawn jobs, reconnect, drain on shutdown.
//! - [`runner`]: one delivery, from validation to ack.
//! - [`execute`]: one claimed job at the provider: submit or resume, poll, download.
//! - [`conclude`]: the job's outcome recorded, its delivery settled (ack, retry, dead letter).
//! - [`store`]: the job lifecycle in Redis (Lua scripts, leases).
//! - [`provider`]: the [`provider::Provider`] trait, the registry of providers, and
//!   one module per provider (BFL, Runware).
//! - [`schedule`], [`output`], [`publisher`], [`secret`]: polling schedule, image files,
//!   publishing retries and dead letters, redacted API keys.
//! - [`metrics`], [`http_server`], [`json_log`]: Prometheus metrics, `/metrics`
//!   `/healthz` `/readyz`, JSON log lines.

pub mod conclude;
pub mod config;
pub mod config_error;
pub mod execute;
pub mod http_server;
pub mod json_log;
pub mod limiter;
pub mod metrics;
pub mod output;
pub mod provider;
pub mod publisher;
pub mod runner;
pub mod schedule;
pub mod secret;

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use fluxq_common::{DelayTiers, Lane, Names, ProviderKind, RetryPolicy};
use fluxq_wire::amqp::{self, AmqpError};
use futures_util::StreamExt;
use lapin::Connection;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use config::{WorkerArgs, WorkerConfig};

use crate::http_server::Health;
use crate::metrics::Metrics;
use crate::output::OutputSink;
use crate::provider::Providers;
use crate::publisher::Publisher;
use crate::schedule::PollSchedule;
use fluxq_wire::RedisStore;

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
    /// Set when a Redis write failed: the consume loop pauses until Redis answers.
    pub redis_down: std::sync::atomic::AtomicBool,
    /// Fleet-wide provider limits per account.
    pub limits: limiter::Limits,
    /// Set when a provider account is blocked: the consume loop pauses until it works.
    pub blocked: std::sync::atomic::AtomicBool,
    /// Learned generation times, for polling near the expected completion.
    pub estimates: schedule::Estimates,
    /// Between probes of a blocked account.
    pub breaker_probe: Duration,
}

/// Why the worker could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("output: {0}")]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Metrics(#[from] http_server::ServeError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error("consumption paused while a provider account was blocked")]
    Paused,
    #[error("RabbitMQ consumer of {0} stopped")]
    ConsumerEnded(String),
    #[error("stopping while connecting to RabbitMQ")]
    Stopping,
}

/// Runs the worker until `shutdown` is cancelled: then it stops consuming, gives jobs
/// in flight `shutdown_grace` to finish, hands back the rest, and returns.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let (metrics, health) = (Arc::new(Metrics::new()), Health::default());
    let _server = http_server::start(config.metrics_addr, &metrics, &health, &shutdown).await?;
    let output =
        OutputSink::open(config.output_url.as_ref(), &config.output_dir, &config.s3).await?;
    info!(output = %output.location(), "Images will be stored there.");
    let http = provider::http::client(
        config.http_timeout,
        usize::from(config.concurrency) + usize::from(interactive_reserve(config.concurrency)),
    )?;
    let providers = Providers::connect(&config.endpoints, &http);
    if providers.is_empty() {
        let keys = provider::key_variables();
        warn!("No provider key is configured ({keys}): every job will be dead-lettered.");
    }
    let Some(redis) = connect_redis(&config.redis_url, &shutdown).await else {
        return Ok(());
    };
    health.set_redis(redis.clone());
    let pools_stop = CancellationToken::new();
    let accounts = config.endpoints.iter().map(|(kind, e)| (kind, &e.key));
    let limits = limiter::Limits::for_accounts(
        &redis,
        &config.names,
        accounts,
        &config.limits,
        &config.worker_id,
        &pools_stop,
    );
    // Cancelled when the grace period is over: jobs hand back what they hold.
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
        redis_down: std::sync::atomic::AtomicBool::new(false),
        limits,
        blocked: std::sync::atomic::AtomicBool::new(false),
        estimates: schedule::Estimates::default(),
        breaker_probe: config.limits.breaker_probe,
    });
    let tracker = TaskTracker::new();
    let permits = Permits::new(config.concurrency);
    info!(worker_id = %config.worker_id, namespace = %config.names.namespace(), concurrency = config.concurrency, "Worker starting.");

    let mut backoff = reconnect_backoff();
    let mut connection: Option<Open> = None;
    while !shutdown.is_cancelled() {
        match session(&config, &ctx, &tracker, &permits, &jobs_cancel, &shutdown).await {
            Ok(open) => {
                connection = Some(open);
                break;
            }
            Err(WorkerError::Stopping) => break,
            Err(WorkerError::Paused) => {
                ctx.publisher.set(None);
                backoff = reconnect_backoff();
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

    tracker.close();
    info!(in_flight = tracker.len(), grace = ?config.shutdown_grace, "Stopping: finishing the jobs in flight.");
    if tokio::time::timeout(config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            handing_back = tracker.len(),
            "Grace period over: handing back unfinished jobs."
        );
        jobs_cancel.cancel();
        if tokio::time::timeout(HAND_BACK_TIMEOUT, tracker.wait())
            .await
            .is_err()
        {
            // Their deliveries return to the queues when the connection closes, and
            // their records (provider tasks included) are in Redis for the next worker.
            warn!(
                left = tracker.len(),
                "Some jobs could not hand back in time; the broker requeues them."
            );
        }
    }
    pools_stop.cancel();
    ctx.publisher.set(None);
    if let Some(open) = connection {
        open.close().await;
    }
    info!("Worker stopped.");
    Ok(())
}

/// Waits between reconnection attempts: doubling from 0.2 s to 5 s, each plus a
/// random jitter of up to as much again (so 0.2–0.4 s first, 5–10 s at most).
fn reconnect_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Connects to Redis, waiting (with jittered backoff) while it is down. `None` if
/// shutdown came first.
async fn connect_redis(
    url: &str,
    shutdown: &CancellationToken,
) -> Option<redis::aio::ConnectionManager> {
    let mut backoff = reconnect_backoff();
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

/// Pauses consumption until Redis answers again; `false` if shutdown came first.
async fn wait_for_redis(ctx: &Ctx, shutdown: &CancellationToken) -> bool {
    let mut backoff = reconnect_backoff();
    loop {
        match ctx.store.ping().await {
            Ok(()) => {
                ctx.redis_down
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                info!("Redis answers again; consuming.");
                return true;
            }
            Err(e) => {
                let wait = backoff.next().unwrap_or(Duration::from_secs(10));
                warn!(error = %e, retry_in = ?wait, "Redis is not answering; consumption paused.");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Pauses consumption while a provider account's breaker is open, probing the account
/// (one worker in the fleet at a time) and closing the breaker when it works again.
/// `false` if shutdown came first.
async fn wait_for_accounts(ctx: &Ctx, shutdown: &CancellationToken) -> bool {
    loop {
        let mut any_open = false;
        for (kind, limits) in ctx.limits.all() {
            let state = match limits.breaker.state().await {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "Could not read the account breaker; trying again.");
                    any_open = true;
                    continue;
                }
            };
            let Some(state) = state else { continue };
            any_open = true;
            if !limits
                .breaker
                .take_probe(&ctx.worker_id, ctx.breaker_probe)
                .await
                .unwrap_or(false)
            {
                continue;
            }
            match ctx.providers.probe(kind).await {
                Ok(()) => {
                    if limits.breaker.close().await.is_ok() {
                        info!(provider = %kind, account = limits.account.as_str(), since = %state.since, "Provider account works again; breaker closed.");
                    }
                }
                Err(f) => {
                    info!(provider = %kind, reason = %f.reason, "Provider account still blocked.")
                }
            }
        }
        if !any_open {
            ctx.blocked
                .store(false, std::sync::atomic::Ordering::Relaxed);
            info!("No provider account is blocked; consuming.");
            return true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            () = tokio::time::sleep((ctx.breaker_probe / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))) => {}
        }
    }
}

/// The jobs one worker process runs at once: `FLUXQ_CONCURRENCY` bulk jobs, and for
/// interactive jobs an eighth more (at least one) on top, so an interactive job
/// delivered to a worker whose every permit a bulk backlog holds (waiting for
/// provider slots) still starts at once and asks for a slot ahead of bulk.
#[derive(Debug)]
struct Permits {
    all: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
}

impl Permits {
    fn new(concurrency: u16) -> Self {
        let all = usize::from(concurrency) + usize::from(interactive_reserve(concurrency));
        Self {
            all: Arc::new(Semaphore::new(all)),
            bulk: Arc::new(Semaphore::new(usize::from(concurrency))),
        }
    }
}

/// Permits only interactive jobs may take, on top of `concurrency`.
fn interactive_reserve(concurrency: u16) -> u16 {
    (concurrency / 8).max(1)
}

/// How long connecting, declaring and starting to consume may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long ending a session (cancelling the consumers; closing the channels and the
/// connection) may take; past it the connection is dropped.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long jobs cancelled after the grace period get to hand their messages back.
/// With the consumers' cancel and the teardown, the worker exits within
/// `FLUXQ_SHUTDOWN_GRACE` + 11 s of SIGTERM (the pod allows 40 s for the default 25).
const HAND_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects, declares the topology and consumes both lanes, interactive first.
async fn setup(config: &WorkerConfig, ctx: &Ctx) -> Result<Session, WorkerError> {
    let conn = amqp::connect(
        &config.amqp_url,
        &format!("fluxq-worker {}", config.worker_id),
    )
    .await?;
    let publish = amqp::confirm_channel(&conn).await?;
    amqp::declare_topology(&publish, &ctx.names, &ctx.tiers).await?;
    let consume = conn.create_channel().await.map_err(AmqpError::from)?;
    let mut consumers = Vec::new();
    // Per consumer (quorum queues have no channel-wide prefetch): each lane's.
    consume
        .basic_qos(config.concurrency, BasicQosOptions::default())
        .await
        .map_err(AmqpError::from)?;
    for lane in [Lane::Interactive, Lane::Bulk] {
        let c = consume
            .basic_consume(
                ctx.names.lane_queue(lane).as_str().into(),
                consumer_tag(config, lane).as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(AmqpError::from)?;
        consumers.push(c);
    }
    Ok(Session {
        conn,
        publish,
        consume,
        consumers,
    })
}

/// A connection set up for work: its publishing channel (with confirms) and its
/// consuming channel with both lanes' consumers.
struct Session {
    conn: Connection,
    publish: lapin::Channel,
    consume: lapin::Channel,
    consumers: Vec<lapin::Consumer>,
}

/// The connection still open when consuming stopped: jobs in flight settle on it.
struct Open {
    conn: Connection,
    publish: lapin::Channel,
    consume: lapin::Channel,
}

impl Open {
    /// Closes the channels, then the connection, each awaited (a channel dropped as
    /// the connection closes makes lapin report a spurious connection error); all of
    /// it within [`TEARDOWN_TIMEOUT`].
    async fn close(self) {
        let close = async {
            for ch in [&self.consume, &self.publish] {
                let _ = ch.close(200, "worker stopping".into()).await;
            }
            let _ = self.conn.close(200, "worker stopping".into()).await;
        };
        let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, close).await;
    }
}

fn consumer_tag(config: &WorkerConfig, lane: Lane) -> String {
    format!("{}-{}", config.worker_id, lane.as_str())
}

/// One RabbitMQ connection: declare, consume both lanes (interactive first), spawn a
/// task per delivery. Returns the still-open connection when shutdown is requested
/// (jobs in flight still need it to settle), or an error when the connection fails.
async fn session(
    config: &WorkerConfig,
    ctx: &Arc<Ctx>,
    tracker: &TaskTracker,
    permits: &Permits,
    jobs_cancel: &CancellationToken,
    shutdown: &CancellationToken,
) -> Result<Open, WorkerError> {
    // Setting up never holds up a shutdown, and a broker that accepts connections but
    // does not answer (one still booting) is given up on and tried again.
    let setup = tokio::time::timeout(SETUP_TIMEOUT, setup(config, ctx));
    let Session {
        conn,
        publish,
        consume,
        consumers,
    } = tokio::select! {
        _ = shutdown.cancelled() => return Err(WorkerError::Stopping),
        r = setup => r.map_err(|_| AmqpError::Timeout(SETUP_TIMEOUT))??,
    };
    ctx.publisher.set(Some(publish.clone()));
    info!("Connected to RabbitMQ; consuming.");
    let _ready = ctx.health.consuming(); // `/readyz` says 200 until this session ends
    let [mut interactive, mut bulk] = <[lapin::Consumer; 2]>::try_from(consumers)
        .map_err(|_| WorkerError::ConsumerEnded("lanes".into()))?;

    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.all.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if ctx.redis_down.load(std::sync::atomic::Ordering::Relaxed)
            && !wait_for_redis(ctx, shutdown).await
        {
            break;
        }
        if ctx.blocked.load(std::sync::atomic::Ordering::Relaxed) {
            // Every delivery this channel holds goes back to its queue: the jobs wait
            // in RabbitMQ, not in this process, however long the account is blocked.
            let close = consume.close(200, "provider account blocked".into());
            let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, close).await;
            if !wait_for_accounts(ctx, shutdown).await {
                return Ok(Open {
                    conn,
                    publish,
                    consume,
                });
            }
            return Err(WorkerError::Paused);
        }
        // A bulk delivery also needs a bulk permit: the permits past
        // `FLUXQ_CONCURRENCY` are for interactive jobs, which never wait behind a
        // bulk backlog here.
        let bulk_next = async {
            let p = permits.bulk.clone().acquire_owned().await.ok();
            (p, bulk.next().await)
        };
        let (next, bulk_permit) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            d = interactive.next() => ((Lane::Interactive, d), None),
            (p, d) = bulk_next => ((Lane::Bulk, d), p),
        };
        match next {
            (_, Some(Ok(delivery))) => {
                let ctx = ctx.clone();
                let cancel = jobs_cancel.child_token();
                tracker.spawn(async move {
                    runner::handle(ctx, delivery, cancel).await;
                    drop((permit, bulk_permit));
                });
            }
            (_, Some(Err(e))) => return Err(AmqpError::from(e).into()),
            (lane, None) => return Err(WorkerError::ConsumerEnded(ctx.names.lane_queue(lane))),
        }
    }
    let cancels = [Lane::Interactive, Lane::Bulk].map(|lane| {
        let tag = consumer_tag(config, lane);
        let consume = consume.clone();
        async move {
            let _ = consume
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
    });
    let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, futures_util::future::join_all(cancels)).await;
    info!("Stopped consuming.");
    Ok(Open {
        conn,
        publish,
        consume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_jobs_get_an_eighth_more_permits_on_top_of_bulk() {
        assert_eq!(interactive_reserve(1), 1);
        assert_eq!(interactive_reserve(32), 4);
        assert_eq!(interactive_reserve(1000), 125);
        let p = Permits::new(32);
        assert_eq!(p.all.available_permits(), 36);
        assert_eq!(
            p.bulk.available_permits(),
            32,
            "bulk runs FLUXQ_CONCURRENCY"
        );
    }
}
