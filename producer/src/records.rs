//! Job records and batch counters in Redis, as the producer writes and reads them
//! (layout in the public contract: `{ns}:job:{id}`, `{ns}:batch:{batch}`).
//!
//! Every write is a Lua script, so a record is created once and a batch's `total`
//! moves once per job id however often the same job is submitted.

use std::collections::HashMap;

use fluxq_common::{JobSpec, MicroUsd, Names};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

/// Lua helpers shared by every fluxq script; prepend to a script's body.
pub const LUA_LIB: &str = include_str!("lua/lib.lua");

/// Errors talking to Redis. Transient from the job's point of view.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record holds something fluxq did not write.
    #[error("corrupt record {key}: {what}")]
    Corrupt { key: String, what: String },
}

/// Connects with a connection manager that reconnects by itself.
pub async fn connect(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
        .set_response_timeout(Some(std::time::Duration::from_secs(10)))
        .set_number_of_retries(2);
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// Now, as the contract writes times: RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Counters and cost of one batch (`{ns}:batch:{batch}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStatus {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub moderated: u64,
    pub cost: MicroUsd,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
}

impl BatchStatus {
    /// Jobs that reached a final status.
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.moderated
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

/// The producer's view of Redis.
#[derive(Clone)]
pub struct Records {
    conn: ConnectionManager,
    names: Names,
    create: Script,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("namespace", &self.names.namespace())
            .finish()
    }
}

impl Records {
    pub fn new(conn: ConnectionManager, names: Names) -> Self {
        let create = Script::new(&format!("{LUA_LIB}\n{}", include_str!("lua/create.lua")));
        Self {
            conn,
            names,
            create,
        }
    }

    /// Creates `queued` records for jobs that have none, in one round trip.
    /// Returns how many were new.
    pub async fn create_queued(&self, jobs: &[JobSpec]) -> Result<u64, StoreError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = now_rfc3339();
        let mut conn = self.conn.clone();
        // Load once so the pipeline can use EVALSHA; the manager retries NOSCRIPT-free paths.
        let mut load = redis::pipe();
        load.load_script(&self.create);
        let _: () = load.query_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for job in jobs {
            let batch = job.batch.as_deref().unwrap_or("");
            let metadata = job
                .metadata
                .as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string());
            let mut inv = self.create.key(self.names.job_key(&job.id));
            inv.key(self.names.batch_key(batch))
                .arg(&now)
                .arg(job.provider.as_str())
                .arg(job.model.as_str())
                .arg(batch)
                .arg(metadata.unwrap_or_default());
            pipe.invoke_script(&inv);
        }
        let created: Vec<u64> = pipe.query_async(&mut conn).await?;
        Ok(created.iter().sum())
    }

    /// The batch's counters, or `None` if no job of it was ever recorded.
    pub async fn batch(&self, batch: &str) -> Result<Option<BatchStatus>, StoreError> {
        let key = self.names.batch_key(batch);
        let mut conn = self.conn.clone();
        let h: HashMap<String, String> = conn.hgetall(&key).await?;
        if h.is_empty() {
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
            cost: MicroUsd(num("cost_micro_usd")?),
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
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let key = format!("{}:job:{id}", self.names.namespace());
            let error: Option<String> = conn.hget(&key, "error").await?;
            out.push(FailedJob {
                id,
                error: error.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// The namespace of every key.
    pub fn namespace(&self) -> &str {
        self.names.namespace()
    }

    /// A connection for callers running their own scripts.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Reads one job's record (all fields), empty if it does not exist.
    pub async fn job(&self, id: &uuid::Uuid) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hgetall(self.names.job_key(id)).await?)
    }
}
