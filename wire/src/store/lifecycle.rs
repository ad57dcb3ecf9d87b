//! A job's lifecycle in Redis, one guarded script per step: claim, the submit gate,
//! the accepted task, retrying, the final write, rejecting an invalid message, leases.

use std::time::Duration;

use fluxq_common::{Charge, JobSpec, JobStatus, MicroUsd};
use uuid::Uuid;

use super::{
    Claim, Counted, Finished, Gate, Outcome, RedisStore, StoreError, TaskRef, Written, now_rfc3339,
};

impl RedisStore {
    /// Creates the job's record if missing, then claims it under `owner`'s lease.
    pub async fn claim(
        &self,
        spec: &JobSpec,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let batch = spec.batch.as_deref().unwrap_or("");
        let metadata = spec
            .metadata
            .as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string());
        let reply: Vec<String> = self
            .scripts
            .claim
            .key(self.names.job_key(&spec.id))
            .key(self.names.batch_key(batch))
            .key(self.names.lease_key(&spec.id))
            .key(self.names.batch_jobs_key(batch))
            .key(self.names.batches_key())
            .arg(now_rfc3339())
            .arg(spec.provider.as_str())
            .arg(spec.model.as_str())
            .arg(batch)
            .arg(metadata.unwrap_or_default())
            .arg(owner)
            .arg(lease.as_millis() as u64)
            .arg(&spec.fingerprint)
            .arg(spec.params_json())
            .invoke_async(&mut self.conn.clone())
            .await?;
        if let Some(url) = spec
            .callback_url
            .as_ref()
            .filter(|_| reply.first().is_some_and(|r| r != "conflict"))
        {
            // A job published without `producer` gets its record here: keep where
            // its completion callback goes (a record that has one keeps it).
            let _: bool = redis::AsyncCommands::hset_nx(
                &mut self.conn.clone(),
                self.names.job_key(&spec.id),
                "callback_url",
                url,
            )
            .await?;
        }
        let corrupt = |what: &str| StoreError::Corrupt {
            key: self.names.job_key(&spec.id),
            what: what.to_owned(),
        };
        match reply.first().map(String::as_str) {
            Some("final") => {
                let st = reply
                    .get(1)
                    .and_then(|s| JobStatus::parse(s))
                    .ok_or_else(|| corrupt("status"))?;
                Ok(Claim::Final(st))
            }
            Some("busy") => Ok(Claim::Busy),
            Some("conflict") => Ok(Claim::Conflict {
                batch: reply.get(1).cloned().unwrap_or_default(),
            }),
            Some("claimed") => {
                let attempts = reply
                    .get(1)
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| corrupt("attempts"))?;
                let task_id = reply.get(2).cloned().unwrap_or_default();
                let polling_url = reply.get(3).cloned().unwrap_or_default();
                let task = (!task_id.is_empty()).then_some(TaskRef {
                    id: task_id,
                    polling_url,
                });
                Ok(Claim::Claimed { attempts, task })
            }
            _ => Err(corrupt("unexpected claim reply")),
        }
    }

    /// Counts a submission about to be sent, if it may be sent now (see
    /// [`Counted`]): the job is not final, the lease is ours (re-taken for `lease` if
    /// it lapsed and nobody took it), no task is recorded, neither the job nor its
    /// batch is cancelled, the account's breaker (the hash at `breaker`) is closed,
    /// and the submission's price-table `estimate` fits in its batch's budget (it is
    /// reserved until its charge is known). Checked in one step with the count, so no
    /// submission is sent once any worker has opened the breaker or finished the job,
    /// or once `producer cancel` has marked the batch. A job refused for a cancel or
    /// the budget is `cancelled` by the same step ([`Counted::Cancelled`]).
    pub async fn count_attempt(
        &self,
        id: &Uuid,
        gate: &Gate<'_>,
        owner: &str,
        lease: Duration,
    ) -> Result<Counted, StoreError> {
        let (code, detail) = self.attempt(id, gate, owner, 1, lease).await?;
        let cancelled = matches!(code, -5 | -6);
        if cancelled {
            self.durable().await?;
        }
        Ok(match code {
            -2 => Counted::Blocked(detail),
            -3 => JobStatus::parse(&detail).map_or(Counted::NotOurs, Counted::Final),
            -4 => Counted::TaskRecorded(detail),
            -5 => Counted::Cancelled {
                reason: detail,
                budget: false,
            },
            -6 => Counted::Cancelled {
                reason: detail,
                budget: true,
            },
            n => u32::try_from(n).map_or(Counted::NotOurs, Counted::Attempt),
        })
    }

    /// Takes back a counted submission the provider refused without creating a task
    /// (429, 402/403), releasing its reservation. `None` if another execution holds
    /// the lease.
    pub async fn uncount_attempt(&self, id: &Uuid, owner: &str) -> Result<Option<u32>, StoreError> {
        let gate = Gate {
            batch: None,
            breaker: "",
            estimate: MicroUsd(0),
        };
        let (code, _) = self.attempt(id, &gate, owner, -1, Duration::ZERO).await?;
        Ok(u32::try_from(code).ok())
    }

    async fn attempt(
        &self,
        id: &Uuid,
        gate: &Gate<'_>,
        owner: &str,
        delta: i64,
        lease: Duration,
    ) -> Result<(i64, String), StoreError> {
        let b = gate.batch.unwrap_or("");
        Ok(self
            .scripts
            .attempt
            .key(self.names.job_key(id))
            .key(self.names.lease_key(id))
            .key(gate.breaker)
            .key(self.names.batch_key(b))
            .key(self.names.batch_cancelled_key(b))
            .key(self.names.events_key())
            .key(self.names.batch_failed_key(b))
            .arg(owner)
            .arg(delta)
            .arg(now_rfc3339())
            .arg(lease.as_millis().max(1) as u64)
            .arg(gate.estimate.0)
            .arg(b)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Records an accepted provider task and its charge, once per task id; an invalid
    /// reported charge is recorded as its estimate, with its error in `charge_error`.
    pub async fn record_task(
        &self,
        id: &Uuid,
        task: &TaskRef,
        charge: &Charge,
    ) -> Result<Written, StoreError> {
        let code: i64 = self
            .scripts
            .task
            .key(self.names.job_key(id))
            .arg(&task.id)
            .arg(&task.polling_url)
            .arg(charge.amount().0)
            .arg(now_rfc3339())
            .arg(charge_error(charge, &task.id))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(Written::from_code(code))
    }

    /// Marks the job `retrying` with the error and frees its lease.
    pub async fn set_retrying(
        &self,
        id: &Uuid,
        owner: &str,
        error: &str,
        keep_task: bool,
    ) -> Result<Written, StoreError> {
        let code: i64 = self
            .scripts
            .retrying
            .key(self.names.job_key(id))
            .key(self.names.lease_key(id))
            .arg(owner)
            .arg(error)
            .arg(now_rfc3339())
            .arg(if keep_task { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        Ok(Written::from_code(code))
    }

    /// Moves the job to its final status (with counters, cost and event) exactly once.
    pub async fn finish(
        &self,
        id: &Uuid,
        batch: Option<&str>,
        owner: &str,
        outcome: &Outcome,
    ) -> Result<Finished, StoreError> {
        let b = batch.unwrap_or("");
        let reply: Vec<i64> = self
            .scripts
            .finish
            .key(self.names.job_key(id))
            .key(self.names.batch_key(b))
            .key(self.names.lease_key(id))
            .key(self.names.events_key())
            .key(self.names.batch_failed_key(b))
            .arg(owner)
            .arg(outcome.status.as_str())
            .arg(now_rfc3339())
            .arg(&outcome.error)
            .arg(&outcome.image_url)
            .arg(&outcome.image_path)
            .arg(b)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        Ok(Finished::from_reply(&reply))
    }

    /// Fails the job of an invalid message (creating its record if needed), unless it
    /// is final already or running under another delivery.
    pub async fn reject(
        &self,
        id: &Uuid,
        batch: Option<&str>,
        error: &str,
    ) -> Result<Finished, StoreError> {
        let b = batch.unwrap_or("");
        let reply: Vec<i64> = self
            .scripts
            .reject
            .key(self.names.job_key(id))
            .key(self.names.batch_key(b))
            .key(self.names.lease_key(id))
            .key(self.names.events_key())
            .key(self.names.batch_failed_key(b))
            .key(self.names.batch_jobs_key(b))
            .key(self.names.batches_key())
            .arg(now_rfc3339())
            .arg(error)
            .arg(b)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        self.durable().await?;
        Ok(Finished::from_reply(&reply))
    }

    /// Extends our lease (re-taking it if it lapsed and nobody else took it).
    /// `false` if another execution holds it now.
    pub async fn renew_lease(
        &self,
        id: &Uuid,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.lease_op(id, owner, lease.as_millis().max(1) as u64)
            .await
    }

    /// Frees our lease so another delivery can run the job at once.
    pub async fn release_lease(&self, id: &Uuid, owner: &str) -> Result<bool, StoreError> {
        self.lease_op(id, owner, 0).await
    }

    async fn lease_op(&self, id: &Uuid, owner: &str, ms: u64) -> Result<bool, StoreError> {
        let code: i64 = self
            .scripts
            .lease
            .key(self.names.lease_key(id))
            .arg(owner)
            .arg("")
            .arg(ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(code == 1)
    }
}

/// What `charge_error` says of an invalid charge of task `task` ('' for a valid one).
pub(super) fn charge_error(charge: &Charge, task: &str) -> String {
    match charge {
        Charge::Invalid { estimate, error } => {
            format!(
                "task {task}: {error}; recorded the price-table estimate of {estimate} USD instead"
            )
        }
        _ => String::new(),
    }
}
