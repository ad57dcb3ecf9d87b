//! The worker's view of Redis: the job lifecycle as atomic Lua scripts.
//!
//! A job is claimed under a lease (`{ns}:lease:{id}`) so two deliveries of one job
//! never run at once; every later write checks the lease or the job's status, so a
//! final status, the batch counters, the cost and the event move exactly once.

use std::time::Duration;

use fluxq_common::{JobSpec, JobStatus, MicroUsd, Names};
use fluxq_producer::records::{LUA_LIB, now_rfc3339};
use redis::Script;
use redis::aio::ConnectionManager;
use uuid::Uuid;

pub use fluxq_producer::records::StoreError;

mod results;

/// A provider task recorded for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    pub polling_url: String,
}

/// What counting a submission found; only [`Counted::Attempt`] may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Counted: submissions made for the job, this one included.
    Attempt(u32),
    /// Another execution holds the job's lease.
    NotOurs,
    /// The provider account's breaker is open, for this reason.
    Blocked(String),
    /// The job is final already (another execution finished it).
    Final(JobStatus),
    /// A provider task is recorded for the job (by an execution whose lease lapsed):
    /// it is to be resumed, not paid for again.
    TaskRecorded(String),
}

/// What claiming a job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to run: submissions made so far, and the task to resume if one is recorded.
    Claimed {
        attempts: u32,
        task: Option<TaskRef>,
    },
    /// Already final: acknowledge without calling the provider.
    Final(JobStatus),
    /// Another delivery of the same job is running now.
    Busy,
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: JobStatus,
    pub error: String,
    pub image_url: String,
    pub image_path: String,
}

/// Result of a guarded write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The write happened.
    Done,
    /// Nothing to do: the job was already final (or the task already recorded).
    AlreadyDone,
    /// Another execution holds the job's lease.
    NotOurs,
}

/// What a final write did, and what the job was charged in all when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub written: Written,
    /// The job's total charge; zero unless `written` is [`Written::Done`].
    pub charged: MicroUsd,
}

impl Finished {
    fn from_reply(reply: &[i64]) -> Self {
        let code = reply.first().copied().unwrap_or(-1);
        let charged = reply.get(1).copied().unwrap_or(0);
        Self {
            written: Written::from_code(code),
            charged: MicroUsd(u64::try_from(charged).unwrap_or(0)),
        }
    }
}

impl Written {
    fn from_code(code: i64) -> Self {
        match code {
            1 => Written::Done,
            0 => Written::AlreadyDone,
            _ => Written::NotOurs,
        }
    }
}

struct Scripts {
    claim: Script,
    attempt: Script,
    task: Script,
    retrying: Script,
    finish: Script,
    reject: Script,
    lease: Script,
}

fn script(body: &str, with_finish: bool) -> Script {
    let finish = if with_finish {
        include_str!("lua/finish_lib.lua")
    } else {
        ""
    };
    Script::new(&format!("{LUA_LIB}\n{finish}\n{body}"))
}

/// Job records in Redis, as the worker changes them.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    names: Names,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.names.namespace())
            .finish()
    }
}

impl RedisStore {
    pub fn new(conn: ConnectionManager, names: Names) -> Self {
        let scripts = Scripts {
            claim: script(include_str!("lua/claim.lua"), false),
            attempt: script(include_str!("lua/attempt.lua"), false),
            task: script(include_str!("lua/task.lua"), false),
            retrying: script(include_str!("lua/retrying.lua"), false),
            finish: script(include_str!("lua/finish.lua"), true),
            reject: script(include_str!("lua/reject.lua"), true),
            lease: script(include_str!("lua/lease.lua"), false),
        };
        Self {
            conn,
            names,
            scripts: std::sync::Arc::new(scripts),
        }
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

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
            .arg(now_rfc3339())
            .arg(spec.provider.as_str())
            .arg(spec.model.as_str())
            .arg(batch)
            .arg(metadata.unwrap_or_default())
            .arg(owner)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
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
    /// it lapsed and nobody took it), no task is recorded, and the account's breaker
    /// (the hash at `breaker`) is closed. Checked in one step with the count, so no
    /// submission is sent once any worker has opened the breaker or finished the job.
    pub async fn count_attempt(
        &self,
        id: &Uuid,
        owner: &str,
        lease: Duration,
        breaker: &str,
    ) -> Result<Counted, StoreError> {
        let (code, detail) = self.attempt(id, owner, breaker, 1, lease).await?;
        Ok(match code {
            -2 => Counted::Blocked(detail),
            -3 => JobStatus::parse(&detail).map_or(Counted::NotOurs, Counted::Final),
            -4 => Counted::TaskRecorded(detail),
            n => u32::try_from(n).map_or(Counted::NotOurs, Counted::Attempt),
        })
    }

    /// Takes back a counted submission the provider refused without creating a task
    /// (429, 402/403). `None` if another execution holds the lease.
    pub async fn uncount_attempt(&self, id: &Uuid, owner: &str) -> Result<Option<u32>, StoreError> {
        let (code, _) = self.attempt(id, owner, "", -1, Duration::ZERO).await?;
        Ok(u32::try_from(code).ok())
    }

    async fn attempt(
        &self,
        id: &Uuid,
        owner: &str,
        breaker: &str,
        delta: i64,
        lease: Duration,
    ) -> Result<(i64, String), StoreError> {
        Ok(self
            .scripts
            .attempt
            .key(self.names.job_key(id))
            .key(self.names.lease_key(id))
            .key(breaker)
            .arg(owner)
            .arg(delta)
            .arg(now_rfc3339())
            .arg(lease.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Records an accepted provider task and its charge, once per task id.
    pub async fn record_task(
        &self,
        id: &Uuid,
        task: &TaskRef,
        charge: MicroUsd,
    ) -> Result<Written, StoreError> {
        let code: i64 = self
            .scripts
            .task
            .key(self.names.job_key(id))
            .arg(&task.id)
            .arg(&task.polling_url)
            .arg(charge.0)
            .arg(now_rfc3339())
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
            .arg(now_rfc3339())
            .arg(error)
            .arg(b)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
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

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
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
