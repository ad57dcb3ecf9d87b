//! One RabbitMQ session: connect, declare, consume both lanes (interactive first) and
//! spawn a job per delivery until shutdown, a pause or a connection failure. A lane
//! paused fleet-wide is not consumed meanwhile: its consumer is cancelled (jobs in
//! flight finish) and started again when the lane is resumed.

use std::sync::Arc;
use std::time::Duration;

use fluxq_common::Lane;
use fluxq_wire::amqp::{self, AmqpError};
use lapin::Connection;
use lapin::options::BasicQosOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::consumers::{Consumers, lanes_changed, next_of};
use super::pause;
use super::permits::Permits;
use crate::shutdown::TEARDOWN_TIMEOUT;
use crate::{Ctx, WorkerConfig, WorkerError, runner};

/// How long connecting, declaring and starting to consume may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection set up for work: its publishing channel (with confirms) and its
/// consuming channel with both lanes' consumers.
struct Session {
    conn: Connection,
    publish: lapin::Channel,
    consume: lapin::Channel,
    /// `None` for a lane paused fleet-wide.
    consumers: Consumers,
}

/// The connection still open when consuming stopped: jobs in flight settle on it.
pub(crate) struct Open {
    conn: Connection,
    publish: lapin::Channel,
    consume: lapin::Channel,
}

impl Open {
    /// Closes the channels, then the connection, each awaited (a channel dropped as
    /// the connection closes makes lapin report a spurious connection error); all of
    /// it within [`TEARDOWN_TIMEOUT`].
    pub(crate) async fn close(self) {
        let close = async {
            for ch in [&self.consume, &self.publish] {
                let _ = ch.close(200, "worker stopping".into()).await;
            }
            let _ = self.conn.close(200, "worker stopping".into()).await;
        };
        let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, close).await;
    }
}

/// Connects, declares the topology and consumes both lanes, interactive first (a
/// lane paused fleet-wide is not consumed).
async fn setup(config: &WorkerConfig, ctx: &Ctx) -> Result<Session, WorkerError> {
    let conn = amqp::connect(
        &config.amqp_url,
        &format!("fluxq-worker {}", config.worker_id),
    )
    .await?;
    let without_limit = amqp::declare_topology(&conn, &ctx.names, &ctx.tiers).await?;
    if !without_limit.is_empty() {
        warn!(queues = ?without_limit, limit = amqp::DELIVERY_LIMIT,
            "These queues were declared without fluxq's x-delivery-limit and keep their arguments; set it with a policy (docs/operations.md).");
    }
    let publish = amqp::confirm_channel(&conn).await?;
    let consume = conn.create_channel().await.map_err(AmqpError::from)?;
    // Per consumer (quorum queues have no channel-wide prefetch): each lane's.
    consume
        .basic_qos(config.concurrency, BasicQosOptions::default())
        .await
        .map_err(AmqpError::from)?;
    let mut consumers = Consumers::default();
    let paused = *ctx.lanes.borrow();
    consumers.follow(config, ctx, &consume, paused).await?;
    Ok(Session {
        conn,
        publish,
        consume,
        consumers,
    })
}

/// One RabbitMQ connection: declare, consume both lanes (interactive first), spawn a
/// task per delivery. Returns the still-open connection when shutdown is requested
/// (jobs in flight still need it to settle), or an error when the connection fails.
pub(super) async fn session(
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
    let mut consumers = consumers;
    let mut paused_rx = ctx.lanes.clone();

    loop {
        let paused = *paused_rx.borrow_and_update();
        consumers.follow(config, ctx, &consume, paused).await?;
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            () = lanes_changed(&mut paused_rx) => continue,
            p = permits.any() => match p {
                Some(p) => p,
                None => break,
            },
        };
        if ctx.pause.redis_down() && !pause::wait_for_redis(ctx, shutdown).await {
            break;
        }
        if ctx.pause.account_blocked() {
            // Every delivery this channel holds goes back to its queue: the jobs wait
            // in RabbitMQ, not in this process, however long the account is blocked.
            // The prefetched ones as fresh copies (they do not count as returned).
            consumers.stop_all(config, ctx, &consume).await;
            let close = consume.close(200, "provider account blocked".into());
            let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, close).await;
            if !pause::wait_for_accounts(ctx, shutdown).await {
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
        let Consumers { interactive, bulk } = &mut consumers;
        let bulk_next = async {
            let p = permits.bulk().await;
            (p, next_of(bulk).await)
        };
        let (next, bulk_permit) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            // A pause is seen before any delivery of its lane is started.
            () = lanes_changed(&mut paused_rx) => continue,
            d = next_of(interactive) => ((Lane::Interactive, d), None),
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
    consumers.stop_all(config, ctx, &consume).await;
    info!("Stopped consuming.");
    Ok(Open {
        conn,
        publish,
        consume,
    })
}
