//! Memory under hostile input (not a test: it prints figures and says whether each
//! bound is met). `cargo bench -p fluxq-worker --bench hostile` runs, against the
//! local RabbitMQ and Redis and an in-process mock provider, one worker process
//! (release build, default concurrency) per scenario:
//! 1. at the limit: 64 valid jobs of just under `FLUXQ_MAX_MESSAGE_BYTES` (4 MiB,
//!    an inline reference image) published in one burst, 32 to each lane so all 64
//!    can be in flight at once; every job runs to a final status; bound: the
//!    worker's peak RSS under 512 MiB;
//! 2. over the limit: 4 messages of 30 MB (valid JSON, a 30 MB `metadata` string),
//!    dead-lettered unread; bound: peak RSS under 128 MiB.
//!
//! Peak RSS is the worker's `VmHWM` from `/proc/<pid>/status`. Exits 1 if a bound is
//! not met.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use fluxq_common::{DelayTiers, Lane, Names, RetryPolicy};
use fluxq_mock_provider::MockProvider;
use fluxq_testkit::{fixed_latency, namespace, services};
use fluxq_wire::RedisStore;
use fluxq_wire::{amqp, redis as records};
use lapin::types::FieldTable;

const LIMIT: usize = 4 * 1024 * 1024;

struct Run {
    names: Names,
    records: RedisStore,
    redis: redis::aio::ConnectionManager,
    conn: lapin::Connection,
    channel: lapin::Channel,
    mock: MockProvider,
    out: tempfile::TempDir,
    svc: services::Services,
}

impl Run {
    async fn new() -> Self {
        let svc = services::get().await.clone();
        let names = namespace::fresh("bench", 8);
        let conn = amqp::connect(&svc.amqp_url, "fluxq-bench").await.unwrap();
        let channel = amqp::confirm_channel(&conn).await.unwrap();
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        amqp::declare_topology(&conn, &names, &tiers).await.unwrap();
        let redis = records::connect(&svc.redis_url).await.unwrap();
        let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), fixed_latency(200))
            .await
            .unwrap();
        Self {
            records: RedisStore::new(redis.clone(), names.clone()),
            names,
            redis,
            conn,
            channel,
            mock,
            out: tempfile::tempdir().unwrap(),
            svc,
        }
    }

    async fn publish(&self, body: &[u8], lane: Lane) {
        let props = amqp::job_properties("", FieldTable::default());
        amqp::publish_confirmed(
            &self.channel,
            &self.names.jobs_exchange(),
            lane.as_str(),
            body,
            props,
        )
        .await
        .unwrap();
    }

    /// A worker with every setting at its default but the connections and the mock.
    fn worker(&self) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
            .env("RUST_LOG", "warn")
            .env("FLUXQ_AMQP_URL", &self.svc.amqp_url)
            .env("FLUXQ_REDIS_URL", &self.svc.redis_url)
            .env("FLUXQ_NAMESPACE", self.names.namespace())
            .env("FLUXQ_BFL_URL", self.mock.base_url())
            .env("BFL_API_KEY", self.mock.api_key())
            .env("FLUXQ_OUTPUT_DIR", self.out.path())
            .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0")
            .kill_on_drop(true)
            .spawn()
            .expect("start the worker")
    }

    async fn cleanup(self) {
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        namespace::cleanup(&self.conn, &self.redis, &self.names, &[&tiers]).await;
        self.mock.shutdown().await;
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn stop(mut child: tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    child.wait().await.unwrap();
}

/// A valid job of exactly `size` bytes: its inline reference image fills it.
fn job_of_size(i: usize, size: usize) -> Vec<u8> {
    let id = uuid::Uuid::new_v4();
    let head = format!(
        r#"{{"id":"{id}","batch":"at-limit","model":"flux-2-pro","prompt":"hostile {i}","width":512,"height":512,"reference_images":["data:image/png;base64,"#
    );
    let tail = r#""]}"#;
    let fill = size - head.len() - tail.len();
    let mut body = head.into_bytes();
    body.extend(std::iter::repeat_n(b'A', fill));
    body.extend_from_slice(tail.as_bytes());
    body
}

/// The worker's resident memory now, once it has started (its baseline).
async fn idle_rss_kib(pid: u32) -> u64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    peak_rss_kib(pid)
}

fn verdict(rss_kib: u64, bound_mib: u64) -> bool {
    let ok = rss_kib < bound_mib * 1024;
    println!(
        "  worker peak RSS: {:.1} MiB (bound {bound_mib} MiB): {}",
        rss_kib as f64 / 1024.0,
        if ok { "met" } else { "NOT MET" }
    );
    ok
}

async fn at_the_limit() -> bool {
    let run = Run::new().await;
    let size = LIMIT - 1024;
    let child = run.worker();
    let pid = child.id().unwrap();
    let start = Instant::now();
    for i in 0..64 {
        let lane = if i % 2 == 0 {
            Lane::Bulk
        } else {
            Lane::Interactive
        };
        run.publish(&job_of_size(i, size), lane).await;
    }
    let published = start.elapsed();
    loop {
        let s = run
            .records
            .batch("at-limit")
            .await
            .unwrap()
            .unwrap_or_default();
        if s.total == 64 && s.is_finished() {
            println!(
                "at the limit: 64 jobs of {size} bytes in one burst (published in {:.1} s), default concurrency",
                published.as_secs_f64()
            );
            println!(
                "  all final after {:.1} s: {} succeeded, {} failed",
                start.elapsed().as_secs_f64(),
                s.succeeded,
                s.failed
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "not done: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ok = verdict(peak_rss_kib(pid), 512);
    stop(child).await;
    run.cleanup().await;
    ok
}

async fn over_the_limit() -> bool {
    let run = Run::new().await;
    let child = run.worker();
    let pid = child.id().unwrap();
    let idle = idle_rss_kib(pid).await;
    let pad = "x".repeat(30_000_000);
    let start = Instant::now();
    for i in 0..4 {
        let id = uuid::Uuid::new_v4();
        let body = format!(
            r#"{{"id":"{id}","model":"flux-2-pro","prompt":"huge {i}","metadata":{{"pad":"{pad}"}}}}"#
        );
        run.publish(body.as_bytes(), Lane::Bulk).await;
    }
    let dead = run.names.dead_queue();
    loop {
        let q = run
            .channel
            .queue_declare(
                dead.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        if q.message_count() >= 4 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "not dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "over the limit: 4 messages of 30 MB dead-lettered unread in {:.1} s (worker at {:.1} MiB before)",
        start.elapsed().as_secs_f64(),
        idle as f64 / 1024.0
    );
    let ok = verdict(peak_rss_kib(pid), 128);
    stop(child).await;
    run.cleanup().await;
    ok
}

#[tokio::main]
async fn main() {
    let a = at_the_limit().await;
    let b = over_the_limit().await;
    if !(a && b) {
        std::process::exit(1);
    }
}
