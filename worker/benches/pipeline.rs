//! Benchmark of the whole pipeline (not a test: it prints figures).
//!
//! `cargo bench -p fluxq-worker --bench pipeline` runs, against the local RabbitMQ and
//! Redis and an in-process mock provider:
//! 1. throughput: 5,000 jobs already queued, one worker process, mock latency 0;
//!    jobs per second from worker start to the batch's last result, and the worker's
//!    peak RSS;
//! 2. in flight: 1,000 jobs at once (mock latency 5 s, `FLUXQ_CONCURRENCY=1000`, no
//!    cap); the worker's peak RSS and each job's time from submit to result.
//!
//! 3. utilization: 3 worker processes, provider cap 24, 600 jobs of 4-6 s;
//! 4. interactive: 50 interactive jobs during a 5,000-job bulk backlog (cap 24, 1 s).
//!
//! Set `BENCH_JOBS`, `BENCH_CONCURRENCY`, `BENCH_POLL_INITIAL_MS`, `BENCH_INFLIGHT_JOBS`
//! to vary them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use fluxq_common::{DelayTiers, Lane, Names, ProviderKind, RetryPolicy};
use fluxq_mock_provider::{MockConfig, MockProvider};
use fluxq_producer::submit;
use fluxq_testkit::{fixed_latency, namespace, services};
use fluxq_wire::RedisStore;
use fluxq_wire::{amqp, redis as records};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    names: Names,
    records: RedisStore,
    redis: redis::aio::ConnectionManager,
    conn: lapin::Connection,
    mock: MockProvider,
    out: tempfile::TempDir,
    svc: services::Services,
}

impl Run {
    async fn new(mock: MockConfig) -> Self {
        let svc = services::get().await.clone();
        let names = namespace::fresh("bench", 8);
        let conn = amqp::connect(&svc.amqp_url, "fluxq-bench").await.unwrap();
        amqp::declare_topology(
            &conn,
            &names,
            &DelayTiers::for_policy(&RetryPolicy::default()),
        )
        .await
        .unwrap();
        let redis = records::connect(&svc.redis_url).await.unwrap();
        let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), mock)
            .await
            .unwrap();
        Self {
            records: RedisStore::new(redis.clone(), names.clone()),
            names,
            redis,
            conn,
            mock,
            out: output_dir(),
            svc,
        }
    }

    async fn publish(&self, n: u64, batch: &str) -> Duration {
        self.publish_to(n, batch, Lane::Bulk).await
    }

    async fn publish_to(&self, n: u64, batch: &str, lane: Lane) -> Duration {
        let text: String = (0..n)
            .map(|i| format!("{{\"model\":\"flux-2-pro\",\"prompt\":\"{batch} product {i}\",\"width\":512,\"height\":512,\"seed\":{i}}}\n"))
            .collect();
        let start = Instant::now();
        let prepared = submit::prepare(text.as_bytes(), Some(batch), ProviderKind::Bfl).unwrap();
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        let mut source =
            amqp::ChannelSource::new(&self.svc.amqp_url, "fluxq-bench", self.names.clone(), tiers);
        submit::publish(
            &prepared,
            &mut source,
            &self.records,
            &self.names,
            lane,
            ProviderKind::Bfl,
        )
        .await
        .unwrap();
        source.close().await;
        start.elapsed()
    }

    /// A worker with the provider's cap off: the fleet limit as high as its concurrency.
    fn worker(&self, concurrency: u64, poll_initial_ms: u64) -> tokio::process::Child {
        self.worker_with(
            concurrency,
            poll_initial_ms,
            &[("FLUXQ_PROVIDER_CONCURRENCY", concurrency.to_string())],
        )
    }

    fn worker_with(
        &self,
        concurrency: u64,
        poll_initial_ms: u64,
        extra: &[(&str, String)],
    ) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .env("FLUXQ_AMQP_URL", &self.svc.amqp_url)
            .env("FLUXQ_REDIS_URL", &self.svc.redis_url)
            .env("FLUXQ_NAMESPACE", self.names.namespace())
            .env("FLUXQ_BFL_URL", self.mock.base_url())
            .env("BFL_API_KEY", self.mock.api_key())
            .env("FLUXQ_OUTPUT_DIR", self.out.path())
            .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0")
            .env("FLUXQ_CONCURRENCY", concurrency.to_string())
            .env("FLUXQ_POLL_INITIAL_MS", poll_initial_ms.to_string())
            .kill_on_drop(true)
            .spawn()
            .expect("start the worker (build it first: cargo build --release -p fluxq-worker)")
    }

    /// Waits for the batch to finish, sampling the worker's peak RSS.
    async fn wait(&self, batch: &str, total: u64, pid: u32) -> (Duration, u64) {
        let start = Instant::now();
        loop {
            let s = self.records.batch(batch).await.unwrap().unwrap_or_default();
            if s.total == total && s.is_finished() {
                assert_eq!(s.succeeded, total, "every job must succeed: {s:?}");
                return (start.elapsed(), peak_rss_kib(pid));
            }
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "batch not done: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn cleanup(self) {
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        namespace::cleanup(&self.conn, &self.redis, &self.names, &[&tiers]).await;
        self.mock.shutdown().await;
    }
}

/// Where the worker writes images: a fresh directory under `BENCH_OUTPUT_DIR`, else
/// under `/dev/shm` (memory) where there is one, else the system's temporary directory.
fn output_dir() -> tempfile::TempDir {
    let base = std::env::var_os("BENCH_OUTPUT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(std::path::PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
        .unwrap_or_else(std::env::temp_dir);
    tempfile::tempdir_in(base).unwrap()
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
    let status = child.wait().await.unwrap();
    assert!(status.success(), "worker exited with {status}");
}

async fn throughput() {
    let jobs = env_or("BENCH_JOBS", 5000);
    let concurrency = env_or("BENCH_CONCURRENCY", 512);
    let poll_initial = env_or("BENCH_POLL_INITIAL_MS", 250);
    let run = Run::new(MockConfig {
        task_ttl: Duration::from_secs(60),
        ..MockConfig::default()
    })
    .await;
    let publish = run.publish(jobs, "throughput").await;
    let child = run.worker(concurrency, poll_initial);
    let pid = child.id().unwrap();
    let (elapsed, rss) = run.wait("throughput", jobs, pid).await;
    stop(child).await;
    let stats = run.mock.summary();
    println!(
        "throughput: {jobs} jobs, 1 worker process, FLUXQ_CONCURRENCY={concurrency}, first poll {poll_initial} ms, mock latency 0"
    );
    println!(
        "  producer: validated, recorded and published (confirmed) in {:.2} s = {:.0} jobs/s",
        publish.as_secs_f64(),
        jobs as f64 / publish.as_secs_f64()
    );
    println!(
        "  worker:   {:.2} s from start to last result = {:.0} jobs/s end to end",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64()
    );
    println!("  worker peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    println!(
        "  provider saw {} submissions, {} polls ({:.2} per job), {} downloads",
        stats.submissions,
        stats.polls,
        stats.polls as f64 / jobs as f64,
        stats.downloads
    );
    run.cleanup().await;
}

async fn in_flight() {
    let jobs = env_or("BENCH_INFLIGHT_JOBS", 1000);
    let latency_ms = 5000;
    let run = Run::new(fixed_latency(latency_ms)).await;
    run.publish(jobs, "inflight").await;
    let child = run.worker(jobs, 500);
    let pid = child.id().unwrap();
    let (elapsed, rss) = run.wait("inflight", jobs, pid).await;
    stop(child).await;
    let stats = run.mock.summary();
    let mut waits = Vec::new();
    let mut conn = run.redis.clone();
    let ids: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:job:*", run.names.namespace()))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in ids {
        let (sub, fin): (String, String) = redis::cmd("HMGET")
            .arg(&key)
            .arg("submitted_at")
            .arg("finished_at")
            .query_async(&mut conn)
            .await
            .unwrap();
        let sub = chrono::DateTime::parse_from_rfc3339(&sub).unwrap();
        let fin = chrono::DateTime::parse_from_rfc3339(&fin).unwrap();
        waits.push((fin - sub).num_milliseconds() as f64 / 1000.0);
    }
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| waits[((waits.len() - 1) as f64 * p).round() as usize];
    let bound = latency_ms as f64 / 1000.0 + 2.0 * 3.0;
    println!("in flight: {jobs} jobs at once, FLUXQ_CONCURRENCY={jobs}, mock latency 5 s, no cap");
    println!(
        "  max in flight at the provider: {}",
        stats.max_in_flight_seen
    );
    println!(
        "  submit to result: p50 {:.2} s, p99 {:.2} s, max {:.2} s (bound 5 s + 2 poll intervals of at most 3 s = {bound:.0} s)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  all {jobs} done {:.2} s after the worker started; polls per job {:.2}",
        elapsed.as_secs_f64(),
        stats.polls as f64 / jobs as f64
    );
    println!("  worker peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    assert!(pct(1.0) <= bound, "a job took longer than the bound");
    run.cleanup().await;
}

/// 3 worker processes against a provider capped at 24 tasks in flight, 600 jobs of
/// 4-6 s: utilization as the provider saw it, 429s, polls per job.
async fn utilization() {
    let jobs = env_or("BENCH_UTIL_JOBS", 600);
    let run = Run::new(MockConfig {
        latency_min: Duration::from_secs(4),
        latency_max: Duration::from_secs(6),
        max_in_flight: Some(24),
        ..MockConfig::default()
    })
    .await;
    run.publish(jobs, "util").await;
    let extra = [("FLUXQ_PROVIDER_CONCURRENCY", "24".to_owned())];
    let children: Vec<_> = (0..3).map(|_| run.worker_with(32, 500, &extra)).collect();
    let pid = children[0].id().unwrap();
    let (elapsed, rss) = run.wait("util", jobs, pid).await;
    for c in children {
        stop(c).await;
    }
    let s = run.mock.summary();
    let span_ms = s
        .last_completion_ms
        .unwrap_or(0)
        .saturating_sub(s.first_submit_ms.unwrap_or(0)) as f64;
    let utilization = s.generation_ms_total as f64 / (24.0 * span_ms);
    println!(
        "utilization: {jobs} jobs of 4-6 s, 3 worker processes x FLUXQ_CONCURRENCY=32, provider cap 24 = FLUXQ_PROVIDER_CONCURRENCY"
    );
    println!(
        "  utilization {:.1}% (generation {:.0} s / (24 x {:.1} s from first submit to last result))",
        utilization * 100.0,
        s.generation_ms_total as f64 / 1000.0,
        span_ms / 1000.0
    );
    println!(
        "  429s: {}; polls per job: {:.2}; max in flight at the provider: {}",
        s.throttled,
        s.polls as f64 / jobs as f64,
        s.max_in_flight_seen
    );
    println!(
        "  wall {:.1} s; one worker's peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        rss as f64 / 1024.0
    );
    run.cleanup().await;
}

/// 50 interactive jobs arriving during a 5,000-job bulk backlog at cap 24 (1 s jobs):
/// the wait from publish to submit.
async fn interactive() {
    let backlog = env_or("BENCH_BACKLOG", 5000);
    let run = Run::new(MockConfig {
        max_in_flight: Some(24),
        ..fixed_latency(1000)
    })
    .await;
    run.publish(backlog, "backlog").await;
    let extra = [("FLUXQ_PROVIDER_CONCURRENCY", "24".to_owned())];
    let children: Vec<_> = (0..3).map(|_| run.worker_with(32, 500, &extra)).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut published = Vec::new();
    for round in 0..5 {
        published.push((chrono::Utc::now(), format!("urgent{round}")));
        run.publish_to(10, &format!("urgent{round}"), Lane::Interactive)
            .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let mut waits = Vec::new();
    let mut conn = run.redis.clone();
    for (at, batch) in &published {
        let _ = run.wait(batch, 10, children[0].id().unwrap()).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:job:*", run.names.namespace()))
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            let (b, sub): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(&key)
                .arg("batch")
                .arg("submitted_at")
                .query_async(&mut conn)
                .await
                .unwrap();
            if b.as_deref() == Some(batch.as_str()) {
                let sub = chrono::DateTime::parse_from_rfc3339(&sub.unwrap()).unwrap();
                waits.push(
                    (sub.with_timezone(&chrono::Utc) - *at).num_milliseconds() as f64 / 1000.0,
                );
            }
        }
    }
    let done = run
        .records
        .batch("backlog")
        .await
        .unwrap()
        .unwrap_or_default()
        .done();
    for c in children {
        stop(c).await;
    }
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| waits[((waits.len() - 1) as f64 * p).round() as usize];
    println!(
        "interactive: 50 interactive jobs published during a {backlog}-job bulk backlog, cap 24, 1 s jobs, 3 workers"
    );
    println!(
        "  publish to submit: p50 {:.2} s, p99 {:.2} s, max {:.2} s (mean generation time 1 s); backlog done meanwhile: {done}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    run.cleanup().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
        if only.as_deref().is_none_or(|o| o == "throughput") {
            throughput().await;
        }
        if only.as_deref().is_none_or(|o| o == "inflight") {
            in_flight().await;
        }
        if only.as_deref().is_none_or(|o| o == "utilization") {
            utilization().await;
        }
        if only.as_deref().is_none_or(|o| o == "interactive") {
            interactive().await;
        }
    });
}
