//! The account circuit breaker: 402 (no credits) or 403 (bad key) opens it for the
//! whole fleet. While it is open no worker submits, no job is failed for it, and the
//! jobs wait in RabbitMQ; one worker at a time probes the account and closes it when
//! the account works again. `{ns}:breaker:{account}` says why and since when.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use fluxq_wire::StoreError;

/// Why the breaker is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    pub reason: String,
    /// RFC 3339 UTC.
    pub since: String,
}

/// One account's breaker.
#[derive(Clone)]
pub struct Breaker {
    conn: ConnectionManager,
    key: String,
    probe_key: String,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker").field("key", &self.key).finish()
    }
}

impl Breaker {
    pub fn new(conn: ConnectionManager, key: String) -> Self {
        let probe_key = format!("{key}:probe");
        Self {
            conn,
            key,
            probe_key,
        }
    }

    /// The Redis hash that says the breaker is open (checked where attempts are counted).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Opens the breaker; `true` if this call opened it (it was closed).
    pub async fn open(&self, reason: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let now = fluxq_wire::now_rfc3339();
        let opened: bool = conn.hset_nx(&self.key, "since", &now).await?;
        let _: () = conn.hset(&self.key, "reason", reason).await?;
        Ok(opened)
    }

    /// The breaker's state: `None` when closed.
    pub async fn state(&self) -> Result<Option<BreakerState>, StoreError> {
        let mut conn = self.conn.clone();
        let (since, reason): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&self.key)
            .arg("since")
            .arg("reason")
            .query_async(&mut conn)
            .await?;
        Ok(since.map(|since| BreakerState {
            since,
            reason: reason.unwrap_or_default(),
        }))
    }

    pub async fn close(&self) -> Result<(), StoreError> {
        let _: () = self.conn.clone().del(&self.key).await?;
        Ok(())
    }

    /// Takes the right to probe the account for `every` (one prober in the fleet).
    pub async fn take_probe(&self, owner: &str, every: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.probe_key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(every.as_millis().max(1) as u64)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }
}
