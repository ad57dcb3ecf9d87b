//! The recent batches (`{ns}:batches`, newest first) with their counters, budget and
//! throughput, for listing. Batches recorded before that index existed are not in it.

use std::collections::HashMap;

use fluxq_common::MicroUsd;
use fluxq_wire::store::BatchStatus;
use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;

use super::BatchView;

/// Most batches one page lists.
pub const MAX_PAGE: usize = 100;

/// The window throughput is measured over.
pub const THROUGHPUT_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Most events one throughput reading looks at (a bound on its cost).
const THROUGHPUT_MAX_EVENTS: usize = 200_000;

/// A batch as the dashboard lists it: the API's view, its start and throughput (the
/// spend-control fields are 0 and `None` on batches that never had them).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub view: BatchView,
    /// When its first job was recorded (Unix ms; `None` if not in `{ns}:batches`).
    pub started_ms: Option<i64>,
    /// Jobs cancelled (`cancelled`).
    pub cancelled: u64,
    /// The spending limit (`budget_micro_usd`), if one is set.
    pub budget: Option<MicroUsd>,
    /// Money set aside for submits in flight (`reserved_micro_usd`).
    pub reserved: MicroUsd,
    /// Images (succeeded jobs) per minute over the last five minutes.
    pub per_minute: f64,
}

impl BatchRow {
    /// Jobs not final yet (queued, running, retrying).
    pub fn pending(&self) -> u64 {
        let v = &self.view;
        v.total
            .saturating_sub(v.succeeded + v.failed + v.moderated + self.cancelled)
    }
}

/// A page of batches, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchList {
    pub items: Vec<BatchRow>,
    /// Batches in the index.
    pub total: u64,
}

fn num(h: &HashMap<String, String>, f: &str) -> u64 {
    h.get(f).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The row of a batch hash's fields (`None` if the hash is empty).
pub fn row(name: &str, h: &HashMap<String, String>, started_ms: Option<i64>) -> Option<BatchRow> {
    if h.is_empty() {
        return None;
    }
    let budget = h
        .get("budget_micro_usd")
        .and_then(|v| v.parse().ok())
        .map(MicroUsd);
    let status = BatchStatus {
        total: num(h, "total"),
        succeeded: num(h, "succeeded"),
        failed: num(h, "failed"),
        moderated: num(h, "moderated"),
        cancelled: num(h, "cancelled"),
        cost: MicroUsd(num(h, "cost_micro_usd")),
        budget,
        reserved: MicroUsd(num(h, "reserved_micro_usd")),
        cancel_reason: None,
        ambiguous_submits: num(h, "ambiguous_submits"),
        unconfirmed: MicroUsd(num(h, "unconfirmed_cost_micro_usd")),
        created_at: h.get("created_at").cloned(),
        finished_at: h.get("finished_at").cloned(),
    };
    Some(BatchRow {
        view: BatchView::new(name, &status),
        started_ms,
        cancelled: status.cancelled,
        budget,
        reserved: status.reserved,
        per_minute: 0.0,
    })
}

/// Up to `limit` batches from position `offset` (newest first), in two round trips
/// plus one for throughput.
pub async fn recent(
    store: &RedisStore,
    offset: usize,
    limit: usize,
) -> Result<BatchList, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let names = store.names();
    let mut conn = store.connection();
    let stop = (offset + limit - 1) as isize;
    let (page, total): (Vec<(String, f64)>, u64) = redis::pipe()
        .zrevrange_withscores(names.batches_key(), offset as isize, stop)
        .zcard(names.batches_key())
        .query_async(&mut conn)
        .await?;
    let mut pipe = redis::pipe();
    for (b, _) in &page {
        pipe.hgetall(names.batch_key(b));
    }
    let hashes: Vec<HashMap<String, String>> = if page.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(&mut conn).await?
    };
    let mut items: Vec<BatchRow> = page
        .iter()
        .zip(&hashes)
        .filter_map(|((b, ms), h)| row(b, h, Some(*ms as i64)))
        .collect();
    let rates = throughput(store).await?;
    for r in &mut items {
        r.per_minute = rate_of(&rates, &r.view.batch);
    }
    Ok(BatchList { items, total })
}

/// One batch's row; `None` if no job of it was ever recorded.
pub async fn one(store: &RedisStore, name: &str) -> Result<Option<BatchRow>, StoreError> {
    let names = store.names();
    let (h, started, reason): (HashMap<String, String>, Option<f64>, Option<String>) =
        redis::pipe()
            .hgetall(names.batch_key(name))
            .zscore(names.batches_key(), name)
            .get(names.batch_cancelled_key(name))
            .query_async(&mut store.connection())
            .await?;
    let Some(mut r) = row(name, &h, started.map(|s| s as i64)) else {
        return Ok(None);
    };
    r.view.cancel_reason = reason;
    r.per_minute = rate_of(&throughput(store).await?, name);
    Ok(Some(r))
}

fn rate_of(counts: &HashMap<String, u64>, batch: &str) -> f64 {
    let minutes = THROUGHPUT_WINDOW_MS as f64 / 60_000.0;
    counts.get(batch).copied().unwrap_or(0) as f64 / minutes
}

/// Images made per batch in the last [`THROUGHPUT_WINDOW_MS`], from `{ns}:events`
/// (whose entry ids are their Unix ms): one `XRANGE`.
pub async fn throughput(store: &RedisStore) -> Result<HashMap<String, u64>, StoreError> {
    let since = (chrono::Utc::now().timestamp_millis() as u64).saturating_sub(THROUGHPUT_WINDOW_MS);
    let reply: redis::streams::StreamRangeReply = store
        .connection()
        .xrange_count(
            store.names().events_key(),
            since.to_string(),
            "+",
            THROUGHPUT_MAX_EVENTS,
        )
        .await?;
    let mut counts = HashMap::new();
    for e in reply.ids {
        let field = |k: &str| e.get::<String>(k).unwrap_or_default();
        if field("status") == "succeeded" {
            *counts.entry(field("batch")).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
