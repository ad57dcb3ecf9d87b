//! What a job's results add to its record: the stable Runware `taskUUID` (taken
//! before the first submit, retired when its task ended), a charge that arrives with
//! the result (added once per task), the lists of a job's several images, and the
//! paid images that could not be downloaded.

use fluxq_common::MicroUsd;
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

    /// Adds `charge` for task `task` of job `id`, once per (job, task).
    pub async fn record_result_charge(
        &self,
        id: &Uuid,
        task: &str,
        charge: MicroUsd,
    ) -> Result<Written, StoreError> {
        let code: i64 = self
            .scripts
            .result_charge
            .key(self.names.job_key(id))
            .arg(task)
            .arg(charge.0)
            .arg(now_rfc3339())
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
