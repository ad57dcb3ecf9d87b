//! The job records in Redis as every fluxq binary reads and changes them, through the
//! atomic Lua scripts of [`crate::lua`].
//!
//! A job is claimed under a lease (`{ns}:lease:{id}`) so two deliveries of one job
//! never run at once; every later write checks the lease or the job's status, so a
//! final status, the batch counters, the cost and the event move exactly once.
//!
//! - [`types`]: what the scripts answer.
//! - [`lifecycle`]: claim, the submit gate, task, retrying, finish, reject, leases.
//! - [`results`]: Runware task UUIDs, charges reported with results, image lists.
//! - [`batch`]: creating queued records, batch counters, failed jobs, reopening.

use fluxq_common::Names;
use redis::aio::ConnectionManager;

pub use crate::redis::{StoreError, connect, now_rfc3339};
pub use batch::{BatchStatus, FailedJob};
pub use types::{Claim, Counted, Finished, Outcome, TaskRef, Written};

mod batch;
mod lifecycle;
mod results;
mod types;

use crate::lua::JobScripts;

/// Job records in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    names: Names,
    scripts: &'static JobScripts,
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
        Self {
            conn,
            names,
            scripts: JobScripts::get(),
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
