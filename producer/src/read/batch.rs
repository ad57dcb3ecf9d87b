//! A batch (`{ns}:batch:{batch}`) as a typed view: counters, cost, and its failed
//! jobs (`{ns}:batch:{batch}:failed`) a page at a time, ordered by id.

use fluxq_wire::store::BatchStatus;
use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;
use serde::Serialize;
use utoipa::ToSchema;

/// Most failed jobs one page lists.
pub const MAX_PAGE: usize = 50;

/// A batch's counters and cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatchView {
    pub batch: String,
    /// Jobs recorded in the batch.
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub moderated: u64,
    /// Jobs cancelled before they were submitted (`producer cancel`, the budget).
    pub cancelled: u64,
    /// Jobs that reached a final status.
    pub done: u64,
    /// Jobs not final yet (queued, running or retrying).
    pub pending: u64,
    /// Exact sum of the jobs' charges, in micro-USD.
    pub cost_micro_usd: u64,
    /// The same as a decimal USD string, e.g. `4.5`.
    pub cost_usd: String,
    /// Submits sent whose answer was lost: the provider may have billed them.
    pub ambiguous_submits: u64,
    /// Their price-table estimate, in micro-USD (possibly charged, not in `cost_micro_usd`).
    pub unconfirmed_cost_micro_usd: u64,
    /// The same as a decimal USD string.
    pub unconfirmed_cost_usd: String,
    /// The batch's spending limit in USD, when one is set (`null`: none).
    pub budget_usd: Option<String>,
    /// Money held for submissions in flight and charges of jobs not final yet, in
    /// micro-USD (counted against the budget besides the cost).
    pub reserved_micro_usd: u64,
    /// The same as a decimal USD string.
    pub reserved_usd: String,
    /// Why the batch was cancelled (`null`: it was not).
    pub cancel_reason: Option<String>,
    /// Whether every job is final.
    pub finished: bool,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
}

impl BatchView {
    pub fn new(batch: &str, s: &BatchStatus) -> Self {
        Self {
            batch: batch.to_owned(),
            total: s.total,
            succeeded: s.succeeded,
            failed: s.failed,
            moderated: s.moderated,
            cancelled: s.cancelled,
            done: s.done(),
            pending: s.total.saturating_sub(s.done()),
            cost_micro_usd: s.cost.0,
            cost_usd: s.cost.to_string(),
            ambiguous_submits: s.ambiguous_submits,
            unconfirmed_cost_micro_usd: s.unconfirmed.0,
            unconfirmed_cost_usd: s.unconfirmed.to_string(),
            budget_usd: s.budget.map(|b| b.to_string()),
            reserved_micro_usd: s.reserved.0,
            reserved_usd: s.reserved.to_string(),
            cancel_reason: s.cancel_reason.clone(),
            finished: s.is_finished(),
            created_at: s.created_at.clone(),
            finished_at: s.finished_at.clone(),
        }
    }
}

/// A failed job and its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailedJobView {
    pub id: String,
    pub error: String,
}

/// One page of a batch's failed jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailedPage {
    pub items: Vec<FailedJobView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Reads the batch's counters; `None` if no job of it was ever recorded.
pub async fn batch(store: &RedisStore, name: &str) -> Result<Option<BatchView>, StoreError> {
    Ok(store.batch(name).await?.map(|s| BatchView::new(name, &s)))
}

/// Up to `limit` (at most [`MAX_PAGE`]) failed jobs of the batch whose ids sort after
/// `after`, with their errors: two round trips.
pub async fn failed_page(
    store: &RedisStore,
    name: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<FailedPage, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut conn = store.connection();
    let mut ids: Vec<String> = conn.smembers(store.names().batch_failed_key(name)).await?;
    ids.retain(|id| after.is_none_or(|a| id.as_str() > a));
    ids.sort_unstable();
    let more = ids.len() > limit;
    ids.truncate(limit);
    if ids.is_empty() {
        return Ok(FailedPage {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hget(format!("{}:job:{id}", store.namespace()), "error");
    }
    let errors: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
    let next_cursor = more.then(|| ids.last().cloned()).flatten();
    let items = ids
        .into_iter()
        .zip(errors)
        .map(|(id, error)| FailedJobView {
            id,
            error: error.unwrap_or_default(),
        })
        .collect();
    Ok(FailedPage { items, next_cursor })
}
