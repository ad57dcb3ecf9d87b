//! The broker topology every fluxq process declares, idempotently.
//!
//! Topology under namespace `{ns}`:
//! - `{ns}.jobs`: durable direct exchange; routing key = lane.
//! - `{ns}.jobs.bulk`, `{ns}.jobs.interactive`: durable quorum queues bound to it;
//!   what they reject goes to `{ns}.dead`.
//! - `{ns}.delay` (headers exchange) and `{ns}.delay.{ms}ms`: one quorum queue per delay
//!   tier with a fixed message TTL, bound by the `fluxq-tier` header, dead-lettering back to
//!   `{ns}.jobs` under the message's own lane routing key (one TTL per queue, so no
//!   retry waits behind a longer one).
//! - `{ns}.dead`: fanout exchange and durable quorum queue of messages that can never
//!   succeed, with `x-fluxq-reason` and `x-fluxq-attempts` headers.
//!
//! The lane and delay queues carry an explicit `x-delivery-limit`
//! ([`DELIVERY_LIMIT`]): RabbitMQ 4 otherwise applies 20, and dead-letters a message
//! returned that often without a reason. fluxq never gets near it: it hands messages
//! back as fresh copies and refreshes one returned [`REFRESH_AT`] times (see the
//! worker). A queue declared before fluxq set the limit keeps its arguments
//! (RabbitMQ refuses to change them): [`declare_topology`] reports it, and a policy
//! sets the limit there (docs/operations.md).

use fluxq_common::{DelayTiers, Lane, Names};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ExchangeKind};

use super::AmqpError;
use crate::headers::{HDR_TIER, str_value};

/// The `x-delivery-limit` of the lane and delay queues: how often the broker lets a
/// message come back unsettled before it dead-letters it itself.
pub const DELIVERY_LIMIT: i64 = 50;

/// A delivery whose `x-delivery-count` reached this is handed back as a fresh copy
/// (count 0) before it is run: well below [`DELIVERY_LIMIT`], and below RabbitMQ
/// 4's default of 20 for queues declared without a limit.
pub const REFRESH_AT: i64 = 10;

/// A message returned unsettled this many times in all (`x-fluxq-returns` plus its
/// `x-delivery-count`: a worker died or lost the broker while holding it each time)
/// fails its job and is dead-lettered with that reason.
pub const MAX_RETURNS: i64 = 50;

fn quorum_args(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), str_value("quorum"));
    t.insert("x-dead-letter-strategy".into(), str_value("at-least-once"));
    t.insert("x-overflow".into(), str_value("reject-publish"));
    for (k, v) in extra {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// Declares every exchange, queue and binding on channels of its own; safe to call
/// from every process at every start (declarations are idempotent while the
/// arguments stay the same). Returns the lane and delay queues that exist without
/// fluxq's `x-delivery-limit` (declared by an older fluxq): they are used as they
/// are, and the caller says how to set the limit by policy.
pub async fn declare_topology(
    conn: &Connection,
    names: &Names,
    tiers: &DelayTiers,
) -> Result<Vec<String>, AmqpError> {
    let mut ch = conn.create_channel().await?;
    let mut without_limit = Vec::new();
    declare_exchanges_and_dead(&ch, names).await?;
    let jobs = names.jobs_exchange();
    let dead = names.dead_exchange();
    let mut queues: Vec<(String, Vec<(&str, AMQPValue)>)> = Lane::ALL
        .iter()
        .map(|&lane| {
            let args = vec![("x-dead-letter-exchange", str_value(&dead))];
            (names.lane_queue(lane), args)
        })
        .collect();
    for &ttl in tiers.all() {
        let args = vec![
            (
                "x-message-ttl",
                AMQPValue::LongLongInt(ttl.as_millis() as i64),
            ),
            ("x-dead-letter-exchange", str_value(&jobs)),
        ];
        queues.push((names.delay_queue(ttl), args));
    }
    for (queue, args) in &queues {
        let mut limited = args.clone();
        limited.push(("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)));
        match declare_queue(&ch, queue, &limited).await {
            Ok(()) => {}
            Err(e) if predates_the_limit(&e) => {
                // The broker closed the channel: declare it as it was, on a new one.
                ch = conn.create_channel().await?;
                declare_queue(&ch, queue, args).await?;
                without_limit.push(queue.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    bind_queues(&ch, names, tiers).await?;
    let _ = ch.close(200, "topology declared".into()).await;
    Ok(without_limit)
}

/// Whether a declaration failed because the queue exists without
/// `x-delivery-limit` (RabbitMQ: `PRECONDITION_FAILED - inequivalent arg`).
fn predates_the_limit(e: &lapin::Error) -> bool {
    let text = e.to_string();
    text.contains("PRECONDITION_FAILED") && text.contains("x-delivery-limit")
}

async fn declare_queue(
    ch: &Channel,
    queue: &str,
    args: &[(&str, AMQPValue)],
) -> Result<(), lapin::Error> {
    let durable_q = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), durable_q, quorum_args(args))
        .await
        .map(|_| ())
}

/// The exchanges, and the dead-letter queue bound to its exchange.
async fn declare_exchanges_and_dead(ch: &Channel, names: &Names) -> Result<(), AmqpError> {
    let durable_x = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_q = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let jobs = names.jobs_exchange();
    let dead = names.dead_exchange();
    for (x, kind) in [
        (&jobs, ExchangeKind::Direct),
        (&dead, ExchangeKind::Fanout),
        (&names.delay_exchange(), ExchangeKind::Headers),
    ] {
        ch.exchange_declare(x.as_str().into(), kind, durable_x, FieldTable::default())
            .await?;
    }
    ch.queue_declare(
        names.dead_queue().as_str().into(),
        durable_q,
        quorum_args(&[]),
    )
    .await?;
    ch.queue_bind(
        names.dead_queue().as_str().into(),
        dead.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

/// Binds each lane queue to `{ns}.jobs` under its lane, and each delay queue to
/// `{ns}.delay` by its `fluxq-tier` header: a retry is published there with its lane
/// as routing key and its tier in `fluxq-tier`; when the TTL expires it is
/// dead-lettered to `{ns}.jobs` under that same key.
async fn bind_queues(ch: &Channel, names: &Names, tiers: &DelayTiers) -> Result<(), AmqpError> {
    let jobs = names.jobs_exchange();
    for lane in Lane::ALL {
        ch.queue_bind(
            names.lane_queue(lane).as_str().into(),
            jobs.as_str().into(),
            lane.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let delay = names.delay_exchange();
    for &ttl in tiers.all() {
        let mut binding = FieldTable::default();
        binding.insert("x-match".into(), str_value("all"));
        binding.insert(HDR_TIER.into(), str_value(&Names::delay_tier(ttl)));
        ch.queue_bind(
            names.delay_queue(ttl).as_str().into(),
            delay.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            binding,
        )
        .await?;
    }
    Ok(())
}

/// Deletes a namespace's queues (with their messages) and exchanges: for tests and for
/// decommissioning a namespace. `tiers` are the delay tiers it was declared with.
pub async fn delete_topology(
    ch: &Channel,
    names: &Names,
    tiers: &[&DelayTiers],
) -> Result<(), AmqpError> {
    let mut queues = vec![names.dead_queue()];
    queues.extend(Lane::ALL.iter().map(|&l| names.lane_queue(l)));
    queues.extend(
        tiers
            .iter()
            .flat_map(|t| t.all().iter().map(|&d| names.delay_queue(d))),
    );
    queues.sort();
    queues.dedup();
    for q in queues {
        ch.queue_delete(
            q.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await?;
    }
    for x in [
        names.jobs_exchange(),
        names.dead_exchange(),
        names.delay_exchange(),
    ] {
        ch.exchange_delete(
            x.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await?;
    }
    Ok(())
}
