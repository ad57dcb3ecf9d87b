//! The job records in Redis as every fluxq binary reads and changes them, through the
//! atomic Lua scripts of [`crate::lua`].
//!
//! A job is claimed under a lease (`{ns}:lease:{id}`) so two deliveries of one job
//! never run at once; every later write checks the lease or the job's status, so a
//! final status, the batch counters, the cost and the event move exactly once.
//!
//! - [`types`]: what the scripts answer.
//! - [`lifecycle`]: claim, the submit gate, task, retrying, finish, reject, leases.
//! - [`results`]: Runware task UUIDs, charges reported with results, image lists,
//!   paid images not downloaded, submits whose answer was lost.
//! - [`batch`]: creating queued records, batch counters, failed jobs, reopening.
//! - [`spend`]: cancelling and resuming batches and jobs, budgets, parked messages.
//! - [`durable`]: waiting for replicas (and the AOF) after outcome writes.

use std::sync::Arc;

use fluxq_common::Names;
use redis::aio::ConnectionManager;

pub use crate::redis::{StoreError, connect, now_rfc3339};
pub use batch::{BatchStatus, FailedJob};
pub use durable::{MAX_WAIT, WaitFor};
pub use results::Ambiguous;
pub use spend::{BatchCancel, JobCancel, JobResume, Parked};
pub use types::{Claim, Counted, Finished, Gate, Outcome, TaskRef, Written};

mod batch;
mod durable;
mod lifecycle;
mod results;
mod spend;
mod types;

use crate::lua::JobScripts;

/// Job records in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    names: Names,
    scripts: &'static JobScripts,
    /// Set by [`RedisStore::wait_for_replicas`]: outcome writes wait for replicas.
    durable: Option<Arc<durable::Durable>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.names.namespace())
            .field("durable", &self.durable)
            .finish()
    }
}

impl RedisStore {
    pub fn new(conn: ConnectionManager, names: Names) -> Self {
        Self {
            conn,
            names,
            scripts: JobScripts::get(),
            durable: None,
        }
    }

    /// Makes every outcome-writing script (`finish`, `reject`, `retrying`) return
    /// only once `wait.replicas` replicas hold the write (and, on Redis 7.2+ with its
    /// AOF on, once it is fsynced), through a connection of its own to `url`; an
    /// outcome not durable in time is an error ([`StoreError::NotDurable`]), so its
    /// message is not acknowledged.
    pub async fn wait_for_replicas(mut self, url: &str, wait: WaitFor) -> Result<Self, StoreError> {
        let tick = format!(
            "{}:durable:{}",
            self.names.namespace(),
            uuid::Uuid::new_v4().simple()
        );
        self.durable = Some(durable::Durable::connect(url, wait, tick).await?);
        Ok(self)
    }

    /// Whether outcome writes wait for replicas, and whether for the AOF as well.
    pub fn waits_for(&self) -> Option<(WaitFor, bool)> {
        self.durable.as_ref().map(|d| (d.wait(), d.waits_for_aof()))
    }

    /// Returns once every write answered so far is as durable as configured (at once
    /// when nothing is configured). Called before acknowledging a message whose
    /// outcome Redis holds.
    pub async fn durable(&self) -> Result<(), StoreError> {
        match &self.durable {
            Some(d) => d.settle().await,
            None => Ok(()),
        }
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The namespace of every key.
    pub fn namespace(&self) -> &str {
        self.names.namespace()
    }

    /// A connection for callers that read keys of their own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
