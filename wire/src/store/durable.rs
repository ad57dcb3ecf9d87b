//! Durable before ack (`FLUXQ_REDIS_WAIT_REPLICAS`): after a script that writes a
//! job's outcome, wait until `replicas` replicas hold it (`WAIT`) and, where the
//! server has `WAITAOF` (Redis 7.2+) and its append-only file is on, until the
//! primary's AOF is fsynced; only then may the message be acknowledged.
//!
//! `WAIT` covers the writes of the connection it runs on, and blocks that connection
//! while it waits, so it runs on a connection of its own, in rounds: each round
//! writes one key on it (after every outcome write it covers was answered; the
//! replication stream is ordered, so a replica that has that write has theirs) and
//! waits once for all of them. Outcome writes waiting meanwhile are covered by the
//! next round: one round trip of waiting serves any number of jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::Mutex;

use super::StoreError;

/// Longest wait for replicas; below the connection's 10 s response timeout.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// How many replicas must hold an outcome before its message is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// Replicas that must acknowledge the write (`WAIT replicas timeout`); at least 1.
    pub replicas: u32,
    /// How long to wait for them before the write counts as not durable (at most
    /// [`MAX_WAIT`]).
    pub timeout: Duration,
}

/// The waiting connection and its rounds.
pub(super) struct Durable {
    conn: Mutex<ConnectionManager>,
    wait: WaitFor,
    /// Whether `WAITAOF 1 0` follows `WAIT`: the server has it and its AOF is on.
    local_aof: bool,
    /// The key each round writes (a counter, expiring an hour after the last round).
    tick_key: String,
    /// Tickets taken (one per outcome write that asked) and covered so far.
    asked: AtomicU64,
    covered: AtomicU64,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("wait", &self.wait)
            .field("local_aof", &self.local_aof)
            .finish_non_exhaustive()
    }
}

impl Durable {
    /// Opens the waiting connection to `url` and asks the server what it offers.
    pub(super) async fn connect(
        url: &str,
        wait: WaitFor,
        tick_key: String,
    ) -> Result<Arc<Self>, StoreError> {
        let mut conn = crate::redis::connect(url).await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .arg("persistence")
            .query_async(&mut conn)
            .await?;
        let local_aof = has_waitaof(&info) && info_field(&info, "aof_enabled") == Some("1");
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            wait: WaitFor {
                replicas: wait.replicas.max(1),
                timeout: wait.timeout.min(MAX_WAIT),
            },
            local_aof,
            tick_key,
            asked: AtomicU64::new(0),
            covered: AtomicU64::new(0),
        }))
    }

    /// What is waited for.
    pub(super) fn wait(&self) -> WaitFor {
        self.wait
    }

    /// Whether the primary's AOF fsync is awaited as well (`WAITAOF 1 0`).
    pub(super) fn waits_for_aof(&self) -> bool {
        self.local_aof
    }

    /// Returns once every write answered before this call is on `replicas` replicas
    /// (and fsynced to the primary's AOF where that is awaited), or the error
    /// saying it is not.
    pub(super) async fn settle(&self) -> Result<(), StoreError> {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut conn = self.conn.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(()); // a round that began after this write covered it
        }
        let upto = self.asked.load(Ordering::SeqCst);
        let ms = self.wait.timeout.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&self.tick_key)
            .arg(upto)
            .arg("PX")
            .arg(3_600_000)
            .ignore()
            .cmd("WAIT")
            .arg(self.wait.replicas)
            .arg(ms);
        if self.local_aof {
            pipe.cmd("WAITAOF").arg(1).arg(0).arg(ms);
        }
        let reply: Vec<redis::Value> = pipe.query_async(&mut *conn).await?;
        let acked = match reply.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => -1,
        };
        if acked < i64::from(self.wait.replicas) {
            return Err(StoreError::NotDurable(format!(
                "{acked} of {} replicas acknowledged within {ms} ms",
                self.wait.replicas
            )));
        }
        if self.local_aof {
            let fsynced = match reply.get(1) {
                Some(redis::Value::Array(v)) => {
                    matches!(v.first(), Some(redis::Value::Int(n)) if *n >= 1)
                }
                _ => false,
            };
            if !fsynced {
                return Err(StoreError::NotDurable(format!(
                    "the append-only file was not fsynced within {ms} ms"
                )));
            }
        }
        self.covered.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

/// A field of `INFO` output (`name:value` lines).
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// Whether the server has `WAITAOF` (Redis 7.2 and later, Valkey 8 and later).
fn has_waitaof(info: &str) -> bool {
    let version = |field| {
        info_field(info, field).map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
        })
    };
    if let Some(valkey) = version("valkey_version") {
        return valkey >= (8, 0);
    }
    version("redis_version").is_some_and(|v| v >= (7, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waitaof_is_used_where_the_server_has_it() {
        assert!(!has_waitaof("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(has_waitaof("redis_version:7.2.4\r\n"));
        assert!(has_waitaof("redis_version:8.0.2\r\n"));
        assert!(has_waitaof(
            "redis_version:7.2.4\r\nvalkey_version:8.1.1\r\n"
        ));
        assert!(!has_waitaof("no version"));
        assert_eq!(
            info_field("aof_enabled:1\r\naof_rewrite:0\r\n", "aof_enabled"),
            Some("1")
        );
        assert_eq!(info_field("aof_enabled_x:1\r\n", "aof_enabled"), None);
    }
}
