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

use fluxq_common::{DelayTiers, Lane, Names};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

use super::AmqpError;
use crate::headers::{HDR_TIER, str_value};

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

/// Declares every exchange, queue and binding; safe to call from every process at
/// every start (declarations are idempotent while the arguments stay the same).
pub async fn declare_topology(
    ch: &Channel,
    names: &Names,
    tiers: &DelayTiers,
) -> Result<(), AmqpError> {
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
    ch.exchange_declare(
        jobs.as_str().into(),
        ExchangeKind::Direct,
        durable_x,
        FieldTable::default(),
    )
    .await?;
    ch.exchange_declare(
        dead.as_str().into(),
        ExchangeKind::Fanout,
        durable_x,
        FieldTable::default(),
    )
    .await?;
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
    for lane in Lane::ALL {
        let queue = names.lane_queue(lane);
        let args = quorum_args(&[("x-dead-letter-exchange", str_value(&dead))]);
        ch.queue_declare(queue.as_str().into(), durable_q, args)
            .await?;
        ch.queue_bind(
            queue.as_str().into(),
            jobs.as_str().into(),
            lane.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    // One queue per delay tier, shared by both lanes: a retry is published to the
    // headers exchange with its lane as routing key and its tier in `fluxq-tier`;
    // when the TTL expires it is dead-lettered to `{ns}.jobs` under that same key.
    let delay = names.delay_exchange();
    ch.exchange_declare(
        delay.as_str().into(),
        ExchangeKind::Headers,
        durable_x,
        FieldTable::default(),
    )
    .await?;
    for &ttl in tiers.all() {
        let queue = names.delay_queue(ttl);
        let args = quorum_args(&[
            (
                "x-message-ttl",
                AMQPValue::LongLongInt(ttl.as_millis() as i64),
            ),
            ("x-dead-letter-exchange", str_value(&jobs)),
        ]);
        ch.queue_declare(queue.as_str().into(), durable_q, args)
            .await?;
        let mut binding = FieldTable::default();
        binding.insert("x-match".into(), str_value("all"));
        binding.insert(HDR_TIER.into(), str_value(&Names::delay_tier(ttl)));
        ch.queue_bind(
            queue.as_str().into(),
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
