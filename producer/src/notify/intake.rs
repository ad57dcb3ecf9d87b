//! Reading `{ns}:events` through the consumer group `fluxq-callbacks`: each entry is
//! given to exactly one notifier, which queues its job's callback (if it has one) in
//! `{ns}:callbacks:due` and acknowledges the entry in one script. An entry read by a
//! notifier that died before acknowledging it stays pending in the group and is
//! claimed by another after a minute, so a restart loses none.

use std::sync::LazyLock;
use std::time::Duration;

use fluxq_common::Names;
use fluxq_wire::StoreError;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamReadReply};

/// Entries read or claimed at once.
const COUNT: usize = 200;
/// How long an entry stays pending with a silent notifier before another claims it.
pub const CLAIM_IDLE: Duration = Duration::from_secs(60);
/// A consumer of the group with nothing pending and silent this long is removed.
const FORGET_IDLE: Duration = Duration::from_secs(3600);

static INTAKE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/intake.lua")));

/// One notifier's reading of the events stream.
#[derive(Clone)]
pub struct Intake {
    /// A connection of its own: `XREADGROUP … BLOCK` holds it while it waits.
    conn: ConnectionManager,
    names: Names,
    consumer: String,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

impl Intake {
    pub fn new(conn: ConnectionManager, names: Names, consumer: String) -> Self {
        Self {
            conn,
            names,
            consumer,
        }
    }

    /// Creates the consumer group unless it exists, starting `max_age` ago: events
    /// older than that are past their callbacks' time anyway.
    pub async fn ensure_group(&mut self, max_age: Duration) -> Result<(), StoreError> {
        let start = now_ms().saturating_sub(max_age.as_millis() as u64);
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.names.events_key())
            .arg(Names::CALLBACK_GROUP)
            .arg(format!("{start}-0"))
            .arg("MKSTREAM")
            .query_async(&mut self.conn)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Reads new entries (waiting up to `block`) and takes them in; returns how many
    /// callbacks were queued.
    pub async fn read_new(&mut self, block: Duration) -> Result<usize, StoreError> {
        let reply: Result<Option<StreamReadReply>, redis::RedisError> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(Names::CALLBACK_GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(COUNT)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.names.events_key())
            .arg(">")
            .query_async(&mut self.conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            // The stream (and with it the group) was deleted: start again.
            Err(e) if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) => {
                self.ensure_group(Duration::ZERO).await?;
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        };
        let entries: Vec<StreamId> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        self.take(&entries).await
    }

    /// Claims entries left pending by silent notifiers and takes them in; forgets
    /// consumers long gone. Returns how many callbacks were queued.
    pub async fn reclaim(&mut self) -> Result<usize, StoreError> {
        let mut queued = 0;
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.names.events_key())
                .arg(Names::CALLBACK_GROUP)
                .arg(&self.consumer)
                .arg(CLAIM_IDLE.as_millis() as u64)
                .arg(&cursor)
                .arg("COUNT")
                .arg(COUNT)
                .query_async(&mut self.conn)
                .await?;
            queued += self.take(&reply.claimed).await?;
            if reply.next_stream_id == "0-0" {
                break;
            }
            cursor = reply.next_stream_id;
        }
        let info: StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(self.names.events_key())
            .arg(Names::CALLBACK_GROUP)
            .query_async(&mut self.conn)
            .await?;
        for c in info.consumers {
            let gone = c.pending == 0 && c.idle as u128 > FORGET_IDLE.as_millis();
            if gone && c.name != self.consumer {
                let _: i64 = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(self.names.events_key())
                    .arg(Names::CALLBACK_GROUP)
                    .arg(&c.name)
                    .query_async(&mut self.conn)
                    .await?;
            }
        }
        Ok(queued)
    }

    /// Queues the callbacks of `entries`' jobs and acknowledges the entries.
    async fn take(&mut self, entries: &[StreamId]) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut pipe = redis::pipe();
        for e in entries {
            let id: String = e.get("id").unwrap_or_default();
            match id.parse::<uuid::Uuid>() {
                Ok(uuid) => {
                    let mut inv = INTAKE.key(self.names.job_key(&uuid));
                    inv.key(self.names.callbacks_due_key())
                        .key(self.names.events_key())
                        .arg(&e.id)
                        .arg(&id)
                        .arg(now)
                        .arg(Names::CALLBACK_GROUP);
                    pipe.invoke_script(&inv);
                }
                Err(_) => {
                    pipe.cmd("XACK")
                        .arg(self.names.events_key())
                        .arg(Names::CALLBACK_GROUP)
                        .arg(&e.id);
                }
            }
        }
        let mut load = redis::pipe();
        load.load_script(&INTAKE);
        let _: () = load.query_async(&mut self.conn).await?;
        let replies: Vec<i64> = pipe.query_async(&mut self.conn).await?;
        Ok(replies.iter().filter(|r| **r == 1).count())
    }
}
