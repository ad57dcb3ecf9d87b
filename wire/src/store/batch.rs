//! Batches in Redis (`{ns}:batch:{batch}` and its failed set): the queued records the
//! producer creates before publishing, the counters it reads, and reopening a failed
//! job for a replay.

use std::collections::HashMap;

use fluxq_common::{JobSpec, MicroUsd};
use redis::AsyncCommands;
use uuid::Uuid;

use super::{RedisStore, StoreError, now_rfc3339};

/// Counters and cost of one batch (`{ns}:batch:{batch}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStatus {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub moderated: u64,
    /// Jobs cancelled before they were submitted (`producer cancel`, the budget).
    pub cancelled: u64,
    pub cost: MicroUsd,
    /// The batch's budget (`budget_micro_usd`), if it has one.
    pub budget: Option<MicroUsd>,
    /// Held for submissions in flight and charges of jobs not final yet
    /// (`reserved_micro_usd`): counted against the budget besides `cost`.
    pub reserved: MicroUsd,
    /// Why the batch was cancelled (`{ns}:cancelled:{batch}`), if it was.
    pub cancel_reason: Option<String>,
    /// Submits sent whose answer was lost (`ambiguous_submits`): possibly charged.
    pub ambiguous_submits: u64,
    /// Their price-table estimate (`unconfirmed_cost_micro_usd`): not in `cost`.
    pub unconfirmed: MicroUsd,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
}

impl BatchStatus {
    /// Jobs that reached a final status.
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.moderated + self.cancelled
    }

    pub fn is_finished(&self) -> bool {
        self.total > 0 && self.done() >= self.total
    }
}

/// A failed job and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    pub id: String,
    pub error: String,
}

impl RedisStore {
    /// Creates `queued` records for jobs that have none, in one round trip.
    /// Returns how many were new.
    pub async fn create_queued(&self, jobs: &[JobSpec]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = now_rfc3339();
        let mut conn = self.conn.clone();
        // Load once so the pipeline can use EVALSHA.
        let mut load = redis::pipe();
        load.load_script(&self.scripts.create);
        let _: () = load.query_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for job in jobs {
            let batch = job.batch.as_deref().unwrap_or("");
            let metadata = job
                .metadata
                .as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string());
            let mut inv = self.scripts.create.key(self.names.job_key(&job.id));
            inv.key(self.names.batch_key(batch))
                .key(self.names.batch_jobs_key(batch))
                .key(self.names.batches_key())
                .arg(&now)
                .arg(job.provider.as_str())
                .arg(job.model.as_str())
                .arg(batch)
                .arg(metadata.unwrap_or_default())
                .arg(&job.fingerprint);
            pipe.invoke_script(&inv);
            // After the script: what the job asked for, for readers of the record; a
            // record keeps the parameters of its first message, as it keeps its identity.
            pipe.hset_nx(self.names.job_key(&job.id), "params", job.params_json())
                .ignore();
            if let Some(url) = &job.callback_url {
                // After the script: the record exists, and a job's callback is the
                // one of its first message (the fingerprint holds the URL too).
                pipe.hset_nx(self.names.job_key(&job.id), "callback_url", url)
                    .ignore();
            }
        }
        let created: Vec<u64> = pipe.query_async(&mut conn).await?;
        Ok(created.iter().sum())
    }

    /// The batch's counters, or `None` if no job of it was ever recorded.
    pub async fn batch(&self, batch: &str) -> Result<Option<BatchStatus>, StoreError> {
        let key = self.names.batch_key(batch);
        let mut conn = self.conn.clone();
        let (h, cancel_reason): (HashMap<String, String>, Option<String>) = redis::pipe()
            .hgetall(&key)
            .get(self.names.batch_cancelled_key(batch))
            .query_async(&mut conn)
            .await?;
        if !h.contains_key("total") {
            return Ok(None);
        }
        let num = |f: &str| -> Result<u64, StoreError> {
            h.get(f).map_or(Ok(0), |v| {
                v.parse().map_err(|_| StoreError::Corrupt {
                    key: key.clone(),
                    what: format!("{f}={v:?}"),
                })
            })
        };
        Ok(Some(BatchStatus {
            total: num("total")?,
            succeeded: num("succeeded")?,
            failed: num("failed")?,
            moderated: num("moderated")?,
            cancelled: num("cancelled")?,
            cost: MicroUsd(num("cost_micro_usd")?),
            budget: match h.get("budget_micro_usd") {
                Some(_) => Some(MicroUsd(num("budget_micro_usd")?)),
                None => None,
            },
            reserved: MicroUsd(num("reserved_micro_usd")?),
            cancel_reason,
            ambiguous_submits: num("ambiguous_submits")?,
            unconfirmed: MicroUsd(num("unconfirmed_cost_micro_usd")?),
            created_at: h.get("created_at").cloned(),
            finished_at: h.get("finished_at").cloned(),
        }))
    }

    /// Up to `limit` failed jobs of the batch with their errors, sorted by id.
    pub async fn failed_jobs(
        &self,
        batch: &str,
        limit: usize,
    ) -> Result<Vec<FailedJob>, StoreError> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn.smembers(self.names.batch_failed_key(batch)).await?;
        ids.sort();
        ids.truncate(limit);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hget(format!("{}:job:{id}", self.names.namespace()), "error");
        }
        let errors: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        Ok(ids
            .into_iter()
            .zip(errors)
            .map(|(id, error)| FailedJob {
                id,
                error: error.unwrap_or_default(),
            })
            .collect())
    }

    /// Reads one job's record (all fields), empty if it does not exist.
    pub async fn job(&self, id: &Uuid) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hgetall(self.names.job_key(id)).await?)
    }

    /// Reopens a failed job for a replay (see `reopen.lua`): `true` if it was failed
    /// and is `queued` again, `false` if there was nothing to undo.
    pub async fn reopen(&self, id: &Uuid, batch: Option<&str>) -> Result<bool, StoreError> {
        let b = batch.unwrap_or("");
        let done: i64 = self
            .scripts
            .reopen
            .key(self.names.job_key(id))
            .key(self.names.batch_key(b))
            .key(self.names.batch_failed_key(b))
            .arg(now_rfc3339())
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(done == 1)
    }
}
