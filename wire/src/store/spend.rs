//! Spend control in Redis: cancelling a batch or a job (the submit gate refuses
//! them from then on), reopening cancelled jobs (`resume`, a raised budget), a
//! batch's budget, and the messages of cancelled jobs kept for a resume.
//!
//! A batch's jobs are walked through its index (`{ns}:jobs:{batch}`) in chunks of
//! [`CHUNK`], one script call each, so no call holds Redis long.

use fluxq_common::{JobStatus, Lane, MicroUsd};
use redis::AsyncCommands;
use uuid::Uuid;

use super::{RedisStore, StoreError, now_rfc3339};

/// Jobs of a batch one script call looks at.
pub const CHUNK: u64 = 1_000;

/// What cancelling a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchCancel {
    /// No job of the batch was ever recorded.
    Missing,
    /// The batch had finished before: nothing changed.
    Finished,
    /// The batch is cancelled: `cancelled` jobs ended now; `in_flight` left to their
    /// workers (a provider task or a submission under way: they are paid for).
    Cancelled {
        /// It was cancelled before (this call kept the first reason).
        already: bool,
        cancelled: u64,
        in_flight: u64,
    },
}

/// What cancelling one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCancel {
    /// Ended `cancelled` now.
    Cancelled,
    /// A provider task or a submission is under way: it runs to the end; the gate
    /// refuses it if it comes back there.
    InFlight,
    /// Final already, in this status.
    Final(JobStatus),
    /// No such job.
    Missing,
}

/// What resuming one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResume {
    /// `queued` again.
    Reopened,
    /// Its batch is cancelled: resume the batch instead.
    BatchCancelled,
    /// Not cancelled (its status).
    NotCancelled(JobStatus),
    /// No such job.
    Missing,
}

/// The message of a cancelled job, kept for a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub body: Vec<u8>,
    pub lane: Lane,
}

impl RedisStore {
    /// Cancels the batch (see `cancel_batch.lua`), every chunk of its jobs.
    pub async fn cancel_batch(&self, batch: &str, reason: &str) -> Result<BatchCancel, StoreError> {
        let (mut cancelled, mut in_flight, mut already) = (0, 0, false);
        let mut start: i64 = 0;
        while start >= 0 {
            let (state, done, busy, next): (String, u64, u64, i64) = self
                .scripts
                .cancel_batch
                .key(self.names.batch_key(batch))
                .key(self.names.batch_cancelled_key(batch))
                .key(self.names.batch_jobs_key(batch))
                .key(self.names.events_key())
                .key(self.names.batch_failed_key(batch))
                .arg(reason)
                .arg(now_rfc3339())
                .arg(batch)
                .arg(start)
                .arg(CHUNK)
                .invoke_async(&mut self.conn.clone())
                .await?;
            match state.as_str() {
                "missing" => return Ok(BatchCancel::Missing),
                "finished" => return Ok(BatchCancel::Finished),
                "already" if start == 0 => already = true,
                _ => {}
            }
            cancelled += done;
            in_flight += busy;
            start = next;
        }
        self.durable().await?;
        Ok(BatchCancel::Cancelled {
            already,
            cancelled,
            in_flight,
        })
    }

    /// Cancels one job (see `cancel_job.lua`).
    pub async fn cancel_job(&self, id: &Uuid, reason: &str) -> Result<JobCancel, StoreError> {
        let batch = self.batch_of(id).await?;
        let reply: Vec<String> = self
            .scripts
            .cancel_job
            .key(self.names.job_key(id))
            .key(self.names.batch_key(&batch))
            .key(self.names.lease_key(id))
            .key(self.names.events_key())
            .key(self.names.batch_failed_key(&batch))
            .arg(reason)
            .arg(now_rfc3339())
            .arg(&batch)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        Ok(match reply.first().map(String::as_str) {
            Some("cancelled") => JobCancel::Cancelled,
            Some("in_flight") => JobCancel::InFlight,
            Some("final") => reply
                .get(1)
                .and_then(|s| JobStatus::parse(s))
                .map_or(JobCancel::Missing, JobCancel::Final),
            _ => JobCancel::Missing,
        })
    }

    /// Reopens the batch's cancelled jobs (only those cancelled for its budget if
    /// `budget_only`; else the batch's cancel mark is cleared first), every chunk.
    /// Returns the jobs whose message is to be published again from
    /// [`RedisStore::parked`] (those without one are still in RabbitMQ), or `None` if
    /// no such batch.
    pub async fn resume_batch(
        &self,
        batch: &str,
        budget_only: bool,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut ids = Vec::new();
        let mut start: i64 = 0;
        while start >= 0 {
            let reply: Vec<String> = self
                .scripts
                .resume
                .key(self.names.batch_key(batch))
                .key(self.names.batch_cancelled_key(batch))
                .key(self.names.batch_jobs_key(batch))
                .arg(now_rfc3339())
                .arg(batch)
                .arg(start)
                .arg(CHUNK)
                .arg(if budget_only { "budget" } else { "" })
                .invoke_async(&mut self.conn.clone())
                .await?;
            let mut reply = reply.into_iter();
            let next: i64 = reply.next().and_then(|n| n.parse().ok()).unwrap_or(-1);
            if next == -2 {
                return Ok(None);
            }
            for id in reply {
                if let Ok(id) = Uuid::parse_str(&id) {
                    ids.push(id);
                }
            }
            start = next;
        }
        self.durable().await?;
        Ok(Some(ids))
    }

    /// Reopens one cancelled job (see `resume_job.lua`).
    pub async fn resume_job(&self, id: &Uuid) -> Result<JobResume, StoreError> {
        let batch = self.batch_of(id).await?;
        let reply: Vec<String> = self
            .scripts
            .resume_job
            .key(self.names.job_key(id))
            .key(self.names.batch_key(&batch))
            .key(self.names.batch_cancelled_key(&batch))
            .arg(now_rfc3339())
            .arg(&batch)
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        Ok(match reply.first().map(String::as_str) {
            Some("reopened") => JobResume::Reopened,
            Some("batch_cancelled") => JobResume::BatchCancelled,
            Some("not_cancelled") => reply
                .get(1)
                .and_then(|s| JobStatus::parse(s))
                .map_or(JobResume::Missing, JobResume::NotCancelled),
            _ => JobResume::Missing,
        })
    }

    /// Sets the batch's budget; `create` makes the batch's hash if it has none (a
    /// budget set before the batch's first job). Returns the previous budget and
    /// whether the batch is cancelled, or `None` if no such batch (and not `create`).
    pub async fn set_budget(
        &self,
        batch: &str,
        budget: MicroUsd,
        create: bool,
    ) -> Result<Option<(Option<MicroUsd>, bool)>, StoreError> {
        let (old, cancelled): (i64, i64) = self
            .scripts
            .budget
            .key(self.names.batch_key(batch))
            .key(self.names.batch_cancelled_key(batch))
            .arg(budget.0)
            .arg(if create { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await?;
        if old == -2 {
            return Ok(None);
        }
        let old = u64::try_from(old).ok().map(MicroUsd);
        Ok(Some((old, cancelled == 1)))
    }

    /// Keeps the message of a cancelled job for a resume (see `park.lua`). Returns
    /// `None` if parked, else the job's status now (`Some(None)`: no record): a job
    /// no longer cancelled (resumed meanwhile) is to run, its delivery handed back.
    pub async fn park(
        &self,
        id: &Uuid,
        body: &[u8],
        lane: Lane,
    ) -> Result<Option<Option<JobStatus>>, StoreError> {
        let reply: String = self
            .scripts
            .park
            .key(self.names.job_key(id))
            .key(self.names.parked_key(id))
            .arg(body)
            .arg(lane.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        if reply == "parked" {
            return Ok(None);
        }
        Ok(Some(JobStatus::parse(&reply)))
    }

    /// The parked message of each job, where one is kept, in one round trip.
    pub async fn parked(&self, ids: &[Uuid]) -> Result<Vec<Option<Parked>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(self.names.parked_key(id))
                .arg("body")
                .arg("lane");
        }
        let rows: Vec<(Option<Vec<u8>>, Option<String>)> =
            pipe.query_async(&mut self.conn.clone()).await?;
        Ok(rows
            .into_iter()
            .map(|(body, lane)| {
                body.map(|body| Parked {
                    body,
                    lane: lane.as_deref().and_then(Lane::parse).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Forgets parked messages (published again), in one round trip.
    pub async fn unpark(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.names.parked_key(id)).collect();
        let _: i64 = self.conn.clone().del(keys).await?;
        Ok(())
    }

    /// Why the batch was cancelled, if it is.
    pub async fn batch_cancel_reason(&self, batch: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .clone()
            .get(self.names.batch_cancelled_key(batch))
            .await?)
    }

    /// The batch in the job's record ('' for none or no record).
    async fn batch_of(&self, id: &Uuid) -> Result<String, StoreError> {
        let b: Option<String> = self
            .conn
            .clone()
            .hget(self.names.job_key(id), "batch")
            .await?;
        Ok(b.unwrap_or_default())
    }
}
