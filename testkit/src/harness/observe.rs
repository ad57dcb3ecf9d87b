//! Watching what the worker did: waiting for batches and jobs, reading records, dead
//! letters, queue depths, the events stream and what the mock provider saw.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fluxq_mock_provider::Stats;
use fluxq_wire::headers;
use fluxq_wire::store::BatchStatus;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::FieldTable;
use redis::AsyncCommands;
use uuid::Uuid;

use super::Harness;

/// A dead-lettered message.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub body: Vec<u8>,
    pub reason: String,
    pub attempts: Option<i64>,
}

impl Harness {
    /// Waits until every job of `batch` is final, failing the test after `timeout`.
    pub async fn wait_batch(&self, batch: &str, total: u64, timeout: Duration) -> BatchStatus {
        let start = tokio::time::Instant::now();
        loop {
            // A read may fail while Redis restarts (a test's outage); that is "not yet".
            let s = self
                .records
                .batch(batch)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if s.total == total && s.is_finished() {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "batch {batch} not done after {timeout:?}: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the job's status is `status`.
    pub async fn wait_status(
        &self,
        id: &Uuid,
        status: &str,
        timeout: Duration,
    ) -> HashMap<String, String> {
        let start = tokio::time::Instant::now();
        loop {
            let j = self.job(id).await;
            if j.get("status").map(String::as_str) == Some(status) {
                return j;
            }
            assert!(
                start.elapsed() < timeout,
                "job {id} not {status} after {timeout:?}: {j:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn job(&self, id: &Uuid) -> HashMap<String, String> {
        self.records.job(id).await.unwrap()
    }

    /// Takes every message out of `{ns}.dead`, waiting until `n` have arrived.
    pub async fn dead_letters(&self, n: usize, timeout: Duration) -> Vec<DeadLetter> {
        let start = tokio::time::Instant::now();
        let mut out = Vec::new();
        while out.len() < n {
            let got = self
                .channel
                .basic_get(
                    self.names.dead_queue().as_str().into(),
                    BasicGetOptions::default(),
                )
                .await
                .unwrap();
            match got {
                Some(m) => {
                    let d = m.delivery;
                    out.push(DeadLetter {
                        reason: headers::header_str(&d.properties, headers::HDR_REASON)
                            .unwrap_or_default(),
                        attempts: headers::header_int(&d.properties, headers::HDR_ATTEMPTS),
                        body: d.data.clone(),
                    });
                    d.acker.ack(BasicAckOptions::default()).await.unwrap();
                }
                None => {
                    assert!(
                        start.elapsed() < timeout,
                        "only {} of {n} dead letters after {timeout:?}: {out:?}",
                        out.len()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        out
    }

    /// Messages waiting in a queue now.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let opts = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let ch = self.conn.create_channel().await.unwrap();
        let q = ch
            .queue_declare(queue.into(), opts, FieldTable::default())
            .await
            .unwrap();
        let _ = ch.close(200, "ok".into()).await;
        q.message_count()
    }

    /// Entries of `{ns}:events` as field maps.
    pub async fn events(&self) -> Vec<HashMap<String, String>> {
        let mut conn = self.redis.clone();
        let reply: redis::streams::StreamRangeReply =
            conn.xrange_all(self.names.events_key()).await.unwrap();
        reply
            .ids
            .into_iter()
            .map(|e| {
                e.map
                    .into_iter()
                    .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap_or_default()))
                    .collect()
            })
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.mock.stats()
    }

    pub fn output_path(&self) -> PathBuf {
        self.output.path().to_path_buf()
    }
}
