//! What a job's results add to its record: the stable Runware `taskUUID` (taken
//! before the first submit, retired when its task ended), a charge that arrives with
//! the result (added once per task), the lists of a job's several images, the paid
//! images that could not be downloaded, and the submits whose answer was lost.

use fluxq_common::{Charge, MicroUsd};
use uuid::Uuid;

use super::{RedisStore, StoreError, Written, now_rfc3339};

impl RedisStore {
    /// The job's Runware `taskUUID`: the stored one (`runware_task_uuid`), or a new
    /// one stored now. Called before the attempt is counted and the task sent, so a
    /// retry of a submission whose answer was lost reuses it.
    pub async fn take_task_uuid(&self, id: &Uuid) -> Result<Uuid, StoreError> {
        let stored: String = self
            .scripts
            .task_uuid
            .key(self.names.job_key(id))
            .arg("take")
            .arg(Uuid::new_v4().to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Uuid::parse_str(&stored).map_err(|_| StoreError::Corrupt {
            key: self.names.job_key(id),
            what: format!("runware_task_uuid={stored:?}"),
        })
    }

    /// Forgets the job's `taskUUID` if it is `task` (its task ended without a usable
    /// result), so the next attempt submits a new task under a new one.
    pub async fn retire_task_uuid(&self, id: &Uuid, task: &str) -> Result<(), StoreError> {
        let _: String = self
            .scripts
            .task_uuid
            .key(self.names.job_key(id))
            .arg("retire")
            .arg(task)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Adds `charge` for task `task` of job `id`, once per (job, task); an invalid
    /// reported charge is added as its estimate, with its error in `charge_error`.
    pub async fn record_result_charge(
        &self,
        id: &Uuid,
        task: &str,
        charge: &Charge,
    ) -> Result<Written, StoreError> {
        let code: i64 = self
            .scripts
            .result_charge
            .key(self.names.job_key(id))
            .arg(task)
            .arg(charge.amount().0)
            .arg(now_rfc3339())
            .arg(super::lifecycle::charge_error(charge, task))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(if code == 1 {
            Written::Done
        } else {
            Written::AlreadyDone
        })
    }

    /// Records every image of a job that made several: `image_urls` and `image_paths`,
    /// JSON arrays in result order (the contract's `image_url`/`image_path` hold the first).
    pub async fn record_images(
        &self,
        id: &Uuid,
        urls: &[String],
        paths: &[String],
    ) -> Result<(), StoreError> {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned());
        let _: () = redis::pipe()
            .hset(self.names.job_key(id), "image_urls", json(urls))
            .hset(self.names.job_key(id), "image_paths", json(paths))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Counts one more time a paid task's image could not be fetched at all (the
    /// task gone, its URL refused for good) and the job may pay for it again:
    /// `repaid_downloads` in the job's hash, returned after the increment.
    pub async fn count_repaid_download(&self, id: &Uuid) -> Result<u32, StoreError> {
        let n: i64 = self
            .scripts
            .repaid
            .key(self.names.job_key(id))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// What the job's record holds about its submits whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ambiguous {
    /// `ambiguous_submits`: such submits made for the job so far.
    pub submits: u32,
    /// `unconfirmed_cost_micro_usd`: their price-table estimate, in all.
    pub unconfirmed: MicroUsd,
}

impl RedisStore {
    /// Counts a submit of job `id` that was sent and whose answer was lost (the
    /// provider may have billed it) with its price-table `estimate`, in the job's
    /// record and in `batch`'s hash if the record is in that batch (`ambiguous.lua`).
    /// `token` makes a retried call count once.
    pub async fn record_ambiguous_submit(
        &self,
        id: &Uuid,
        batch: Option<&str>,
        estimate: MicroUsd,
        token: &Uuid,
    ) -> Result<Ambiguous, StoreError> {
        let b = batch.unwrap_or("");
        let (submits, unconfirmed): (i64, i64) = self
            .scripts
            .ambiguous
            .key(self.names.job_key(id))
            .key(self.names.batch_key(b))
            .arg(estimate.0)
            .arg(now_rfc3339())
            .arg(b)
            .arg(token.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(Ambiguous {
            submits: u32::try_from(submits).unwrap_or(u32::MAX),
            unconfirmed: MicroUsd(u64::try_from(unconfirmed).unwrap_or(0)),
        })
    }
}
