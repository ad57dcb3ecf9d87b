//! RabbitMQ for every fluxq process: connecting, declaring the topology
//! idempotently, and publishing with publisher confirms.
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

use std::time::Duration;

use fluxq_common::{DelayTiers, Lane, Names};
use lapin::options::{
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

/// Header: why a message was dead-lettered.
pub const HDR_REASON: &str = "x-fluxq-reason";
/// Header: provider submissions made for the job so far.
pub const HDR_ATTEMPTS: &str = "x-fluxq-attempts";
/// Header: the delay tier a retried message waited in, in milliseconds.
pub const HDR_DELAY_MS: &str = "x-fluxq-delay-ms";
/// Header: when the message was (re)published, in Unix milliseconds.
pub const HDR_PUBLISHED_MS: &str = "x-fluxq-published-ms";
/// Header: the delay tier a retry is routed to (`{ms}ms`, see `Names::delay_tier`).
/// No `x-` prefix: the headers exchange ignores such headers when matching.
pub const HDR_TIER: &str = "fluxq-tier";
/// Header: the lane a dead-lettered message came from.
pub const HDR_LANE: &str = "x-fluxq-lane";

/// Errors talking to RabbitMQ. All of them are transient from the job's point of view.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The connection, a channel or a declaration failed.
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker refused a published message (nack or unroutable).
    #[error("RabbitMQ did not confirm the message published to {0:?}")]
    NotConfirmed(String),
    /// The broker did not answer in time.
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects to RabbitMQ under a connection name that shows in the management UI.
pub async fn connect(url: &str, name: &str) -> Result<Connection, AmqpError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let conn = tokio::time::timeout(Duration::from_secs(15), Connection::connect(url, props))
        .await
        .map_err(|_| AmqpError::Timeout(Duration::from_secs(15)))??;
    Ok(conn)
}

/// Opens a channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, AmqpError> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

fn str_value(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

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

/// Properties of a job message: persistent JSON with the job id as `message_id`.
pub fn job_properties(id: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(id.into())
        .with_headers(headers)
}

/// Adds a string header.
pub fn set_header_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(ShortString::from(key), str_value(value));
}

/// Adds an integer header.
pub fn set_header_int(headers: &mut FieldTable, key: &str, value: i64) {
    headers.insert(ShortString::from(key), AMQPValue::LongLongInt(value));
}

/// Reads an integer header, whatever integer width the publisher used.
pub fn header_int(props: &BasicProperties, key: &str) -> Option<i64> {
    let v = props.headers().as_ref()?.inner().get(key)?.clone();
    match v {
        AMQPValue::LongLongInt(i) => Some(i),
        AMQPValue::LongInt(i) => Some(i.into()),
        AMQPValue::LongUInt(i) => Some(i.into()),
        AMQPValue::ShortInt(i) => Some(i.into()),
        AMQPValue::ShortUInt(i) => Some(i.into()),
        AMQPValue::ShortShortInt(i) => Some(i.into()),
        AMQPValue::ShortShortUInt(i) => Some(i.into()),
        AMQPValue::Timestamp(i) => i64::try_from(i).ok(),
        _ => None,
    }
}

/// Reads a string header.
pub fn header_str(props: &BasicProperties, key: &str) -> Option<String> {
    match props.headers().as_ref()?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// A confirm channel that reconnects (and re-declares the topology) when it is lost.
#[derive(Debug)]
pub struct ChannelSource {
    url: String,
    name: String,
    names: Names,
    tiers: DelayTiers,
    current: Option<(Connection, Channel)>,
}

impl ChannelSource {
    pub fn new(url: &str, name: &str, names: Names, tiers: DelayTiers) -> Self {
        Self {
            url: url.to_owned(),
            name: name.to_owned(),
            names,
            tiers,
            current: None,
        }
    }

    /// The channel, connecting first if there is none or it is no longer usable.
    pub async fn channel(&mut self) -> Result<Channel, AmqpError> {
        if let Some((conn, ch)) = &self.current
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        self.current = None;
        let conn = connect(&self.url, &self.name).await?;
        let ch = confirm_channel(&conn).await?;
        declare_topology(&ch, &self.names, &self.tiers).await?;
        self.current = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Drops the connection so the next [`ChannelSource::channel`] makes a new one.
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Closes the connection politely.
    pub async fn close(&mut self) {
        if let Some((conn, _)) = self.current.take() {
            let _ = conn.close(200, "done".into()).await;
        }
    }
}

/// Publishes one message and waits for the broker's confirm (the channel must be in
/// confirm mode). Returns only once the broker has taken responsibility for it.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Result<(), AmqpError> {
    let wait = Duration::from_secs(30);
    let publish = async {
        let confirm = ch
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                props,
            )
            .await?;
        confirm.await
    };
    // Bounded as a whole: sending can wait too, on a connection that died unnoticed.
    let confirmation = tokio::time::timeout(wait, publish)
        .await
        .map_err(|_| AmqpError::Timeout(wait))??;
    match confirmation {
        lapin::Confirmation::Ack(None) => Ok(()),
        _ => Err(AmqpError::NotConfirmed(format!("{exchange}/{routing_key}"))),
    }
}
