//! One test's world for the worker: real RabbitMQ and Redis, the mock provider on
//! 127.0.0.1:0, a fresh namespace with its topology (cleaned up at the end), and
//! in-process workers. Submitting is in [`submit`], watching the outcome in
//! [`observe`].

mod observe;
mod submit;

use std::time::Duration;

use fluxq_common::{DelayTiers, Names, ProviderKind, RetryPolicy};
use fluxq_mock_provider::{MockConfig, MockProvider};
use fluxq_wire::RedisStore;
use fluxq_wire::amqp;
use fluxq_worker::WorkerConfig;
use fluxq_worker::config::Endpoint;
use fluxq_worker::secret::ApiKey;
use lapin::{Channel, Connection};
use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::namespace;
use crate::services::{self, Services};

pub use observe::DeadLetter;
pub use submit::{id_of, job};

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

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("names", &self.names)
            .field("amqp_url", &self.amqp_url)
            .field("redis_url", &self.redis_url)
            .field("mock", &self.mock.base_url())
            .finish_non_exhaustive()
    }
}

/// A worker running in this process.
#[derive(Debug)]
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

impl Harness {
    /// A fresh namespace, declared topology, and a mock provider started with `mock`.
    pub async fn new(mock: MockConfig) -> Self {
        let svc = services::get().await.clone();
        Self::with_services(svc, mock).await
    }

    /// As [`Harness::new`], on the given RabbitMQ and Redis.
    pub async fn with_services(svc: Services, mock: MockConfig) -> Self {
        // Logs of in-process workers, when RUST_LOG asks for them.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let names = namespace::fresh("t", 10);
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
        amqp::declare_topology(&h.conn, &h.names, &tiers)
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

    /// Deletes the namespace's queues, exchanges and keys.
    pub async fn cleanup(self) {
        let tiers = DelayTiers::for_policy(&self.worker_config().retry);
        self.cleanup_with_tiers(&tiers).await;
    }

    /// As [`Harness::cleanup`], for a test that declared other delay tiers too. The
    /// delay queues of the default retry policy (what worker processes started with
    /// [`Harness::process_env`] declare) are always deleted as well.
    pub async fn cleanup_with_tiers(self, extra: &DelayTiers) {
        let own = DelayTiers::for_policy(&self.worker_config().retry);
        let default = DelayTiers::for_policy(&RetryPolicy::default());
        namespace::cleanup(
            &self.conn,
            &self.redis,
            &self.names,
            &[&own, &default, extra],
        )
        .await;
        let _ = self.conn.close(200, "done".into()).await;
        self.mock.shutdown().await;
    }
}
