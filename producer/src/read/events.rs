//! The final-status entries of `{ns}:events`, read from a stream id on (exclusive), so
//! a reader that remembers the last id it handled resumes without loss or repeat.

use std::collections::HashMap;
use std::fmt;

use fluxq_wire::{RedisStore, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// A Redis stream entry id (`{ms}-{seq}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// The id before every entry.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Parses `{ms}-{seq}` (or `{ms}`, meaning `{ms}-0`).
    pub fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One job that reached a final status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventView {
    /// The stream entry id (also the SSE event id).
    pub event_id: String,
    pub id: String,
    pub batch: String,
    pub status: String,
    pub cost_usd: String,
    pub image_url: String,
    pub image_path: String,
    pub error: String,
}

/// Up to `count` entries after `after`, in stream order, and the id of the last entry
/// read (whatever its batch), to continue from.
pub async fn read_after(
    store: &RedisStore,
    after: StreamId,
    count: usize,
) -> Result<(Vec<EventView>, StreamId), StoreError> {
    let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(store.names().events_key())
        .arg(after.to_string())
        .query_async(&mut store.connection())
        .await?;
    let mut last = after;
    let mut out = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            let Some(id) = StreamId::parse(&entry.id) else {
                continue;
            };
            last = last.max(id);
            let mut f: HashMap<String, String> = entry
                .map
                .into_iter()
                .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap_or_default()))
                .collect();
            let mut take = |k: &str| f.remove(k).unwrap_or_default();
            out.push(EventView {
                event_id: entry.id,
                id: take("id"),
                batch: take("batch"),
                status: take("status"),
                cost_usd: take("cost_usd"),
                image_url: take("image_url"),
                image_path: take("image_path"),
                error: take("error"),
            });
        }
    }
    Ok((out, last))
}
