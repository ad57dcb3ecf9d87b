//! Test harness: real RabbitMQ and Redis, the mock provider on 127.0.0.1:0, a fresh
//! namespace per test (cleaned up at the end), and in-process workers.
//!
//! Services: `FLUXQ_TEST_AMQP_URL` / `FLUXQ_TEST_REDIS_URL`, else the local defaults,
//! else containers started with testcontainers where a Docker engine answers; if none
//! of these works the test fails with one line saying what is missing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod scratch;
pub mod services;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fluxq_common::{DelayTiers, Lane, Names, ProviderKind, RetryPolicy};
use fluxq_mock_provider::{MockConfig, MockProvider, Stats};
use fluxq_wire::RedisStore;
use fluxq_wire::amqp;
use fluxq_wire::headers;
use fluxq_wire::store::BatchStatus;
use fluxq_worker::WorkerConfig;
use fluxq_worker::config::Endpoint;
use fluxq_worker::secret::ApiKey;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Everything one test needs.
pub struct Harness {
    pub names: Names,
    pub amqp_url: String,
    pub redis_url: String,
    pub mock: MockProvider,
    pub output: tempfile::TempDir,
    pub redis: ConnectionManager,
    pub records: RedisStore,
    pub conn: Connection,
    pub channel: Channel,
}

/// A worker running in this process.
pub struct WorkerHandle {
    pub shutdown: CancellationToken,
    pub join: JoinHandle<Result<(), fluxq_worker::WorkerError>>,
}

impl WorkerHandle {
    /// Asks it to stop (as SIGTERM does) and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(60), self.join).await;
        let r = r
            .expect("worker did not stop within 60 s")
            .expect("worker task panicked");
        r.expect("worker returned an error");
    }
}

/// A dead-lettered message.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub body: Vec<u8>,
    pub reason: String,
    pub attempts: Option<i64>,
}

impl Harness {
    /// A fresh namespace, declared topology, and a mock provider started with `mock`.
    pub async fn new(mock: MockConfig) -> Self {
        let svc = services::get().await.clone();
        Self::with_services(svc, mock).await
    }

    /// As [`Harness::new`], on the given RabbitMQ and Redis.
    pub async fn with_services(svc: services::Services, mock: MockConfig) -> Self {
        // Logs of in-process workers, when RUST_LOG asks for them.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let names =
            Names::new(&format!("t{}", &Uuid::new_v4().simple().to_string()[..10])).unwrap();
        let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), mock)
            .await
            .expect("start the mock provider");
        let redis = fluxq_wire::redis::connect(&svc.redis_url)
            .await
            .expect("connect to Redis");
        let conn = amqp::connect(&svc.amqp_url, "fluxq-test")
            .await
            .expect("connect to RabbitMQ");
        let channel = amqp::confirm_channel(&conn).await.expect("open a channel");
        let h = Self {
            records: RedisStore::new(redis.clone(), names.clone()),
            names,
            amqp_url: svc.amqp_url.clone(),
            redis_url: svc.redis_url.clone(),
            mock,
            output: tempfile::tempdir().expect("temp dir"),
            redis,
            conn,
            channel,
        };
        let tiers = DelayTiers::for_policy(&h.worker_config().retry);
        amqp::declare_topology(&h.channel, &h.names, &tiers)
            .await
            .expect("declare topology");
        h
    }

    /// A worker configuration for this test: the mock as BFL, short retries and polls.
    pub fn worker_config(&self) -> WorkerConfig {
        let mut c = WorkerConfig::defaults(self.names.clone());
        c.amqp_url = fluxq_wire::SecretUrl::new(self.amqp_url.clone());
        c.redis_url = fluxq_wire::SecretUrl::new(self.redis_url.clone());
        let bfl = Endpoint {
            url: self.mock.base_url().parse().unwrap(),
            key: ApiKey::new(self.mock.api_key()),
        };
        c.endpoints.set(ProviderKind::Bfl, bfl);
        c.output_dir = self.output.path().to_path_buf();
        c.metrics_addr = Some(([127, 0, 0, 1], 0).into()); // never the shared :9090
        c.retry.base = Duration::from_millis(100);
        c.retry.cap = Duration::from_secs(1);
        c.poll.initial = Duration::from_millis(50);
        c.poll.max = Duration::from_millis(200);
        c.shutdown_grace = Duration::from_secs(10);
        c.lease = Duration::from_secs(5);
        c
    }

    /// The environment of a `worker` process pointed at this test's services.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RUST_LOG", "info".into()),
            ("FLUXQ_AMQP_URL", self.amqp_url.clone()),
            ("FLUXQ_REDIS_URL", self.redis_url.clone()),
            ("FLUXQ_NAMESPACE", self.names.namespace().into()),
            ("FLUXQ_BFL_URL", self.mock.base_url()),
            ("BFL_API_KEY", self.mock.api_key().into()),
            ("FLUXQ_OUTPUT_DIR", self.output_path().display().to_string()),
        ]
    }

    /// Starts a worker in this process.
    pub fn spawn_worker(&self, config: WorkerConfig) -> WorkerHandle {
        let shutdown = CancellationToken::new();
        let join = tokio::spawn(fluxq_worker::run(config, shutdown.clone()));
        WorkerHandle { shutdown, join }
    }

    /// Submits jobs the way `producer submit` does (validated, recorded, confirmed).
    pub async fn submit(&self, jobs: &[serde_json::Value], batch: &str, lane: Lane) -> u64 {
        let text: String = jobs.iter().map(|j| format!("{j}\n")).collect();
        let prepared =
            fluxq_producer::submit::prepare(text.as_bytes(), Some(batch), ProviderKind::Bfl)
                .expect("valid jobs");
        let tiers = DelayTiers::for_policy(&self.worker_config().retry);
        let mut source = amqp::ChannelSource::new(
            &self.amqp_url,
            "fluxq-test-producer",
            self.names.clone(),
            tiers,
        );
        let n = fluxq_producer::submit::publish(
            &prepared,
            &mut source,
            &self.records,
            &self.names,
            lane,
            ProviderKind::Bfl,
        )
        .await
        .expect("publish");
        source.close().await;
        n
    }

    /// Publishes raw bytes to a lane, as any AMQP client could.
    pub async fn publish_raw(&self, body: &[u8], lane: Lane) {
        let props = amqp::job_properties("", FieldTable::default());
        amqp::publish_confirmed(
            &self.channel,
            &self.names.jobs_exchange(),
            lane.as_str(),
            body,
            props,
        )
        .await
        .expect("publish raw");
    }

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

    /// Deletes the namespace's queues, exchanges and keys.
    pub async fn cleanup(self) {
        let tiers = DelayTiers::for_policy(&self.worker_config().retry);
        self.cleanup_with_tiers(&tiers).await;
    }

    /// As [`Harness::cleanup`], for a test that declared other delay tiers too. The
    /// delay queues of the default retry policy (what worker processes started with
    /// [`Harness::process_env`] declare) are always deleted as well.
    pub async fn cleanup_with_tiers(self, extra: &DelayTiers) {
        let mut conn = self.redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.names.namespace()))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: Result<(), _> = conn.del(chunk).await;
        }
        // A test that restarted its broker has no channel left there to clean with.
        if let Ok(ch) = self.conn.create_channel().await {
            let own = DelayTiers::for_policy(&self.worker_config().retry);
            let default = DelayTiers::for_policy(&RetryPolicy::default());
            amqp::delete_topology(&ch, &self.names, &[&own, &default, extra])
                .await
                .expect("delete the test's queues");
            let _ = self.conn.close(200, "done".into()).await;
        }
        self.mock.shutdown().await;
    }
}

/// A mock provider whose every task takes exactly `ms` milliseconds.
pub fn fixed_latency(ms: u64) -> MockConfig {
    let d = Duration::from_millis(ms);
    MockConfig {
        latency_min: d,
        latency_max: d,
        ..MockConfig::default()
    }
}

/// A job as a user would write it, with a prompt unique to the test.
pub fn job(prompt: &str, seed: u64) -> serde_json::Value {
    serde_json::json!({
        "id": Uuid::new_v4().to_string(),
        "model": "flux-2-pro",
        "prompt": prompt,
        "width": 512,
        "height": 512,
        "seed": seed,
    })
}

/// The id of a job built by [`job`].
pub fn id_of(job: &serde_json::Value) -> Uuid {
    job["id"].as_str().unwrap().parse().unwrap()
}
