//! Benchmark of the HTTP API (not a test: it prints figures). `cargo bench -p
//! fluxq-producer --bench api` runs, against the local RabbitMQ and Redis, the
//! release `producer` binary on a scratch namespace, `BENCH_RUNS` times (default 3):
//! 1. bulk: `BENCH_BATCHES` (default 10) `POST /v1/jobs` of 1,000-job arrays, one
//!    after the other; jobs accepted per second end to end (a 202 means every job is
//!    recorded in Redis and confirmed by RabbitMQ);
//! 2. the same number of jobs from a file through `producer submit` (process start,
//!    validation, records, confirmed publishing), for comparison;
//! 3. single jobs: `BENCH_REQUESTS` (default 10,000) `POST /v1/jobs` of one job each
//!    from `BENCH_CLIENTS` (default 200) concurrent clients; latency p50/p99/max and
//!    requests per second.
//!
//! Nothing consumes the jobs; the namespace's queues and keys are removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxq_common::{DelayTiers, RetryPolicy};
use fluxq_testkit::{namespace, services};
use fluxq_wire::{amqp, redis as records};
use serde_json::json;

const TOKEN: &str = "bench-token-0123456789abcdef";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn job(tag: &str, i: u64) -> serde_json::Value {
    json!({"model": "flux-2-pro", "prompt": format!("{tag} product {i}"), "width": 1024, "height": 1024, "seed": i})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One run: (bulk jobs/s, submit jobs/s, single p50, p99, max, requests/s).
async fn run(
    svc: &services::Services,
    run_no: u64,
) -> (f64, f64, Duration, Duration, Duration, f64) {
    let names = namespace::fresh("bench", 8);
    let conn = amqp::connect(&svc.amqp_url, "fluxq-bench").await.unwrap();
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    amqp::declare_topology(&conn, &names, &tiers).await.unwrap();
    let redis = records::connect(&svc.redis_url).await.unwrap();
    let (child, base) =
        fluxq_testkit::process::serve_api(svc, names.namespace(), TOKEN, &std::env::temp_dir())
            .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();

    let batches = env_or("BENCH_BATCHES", 10);
    let bodies: Vec<String> = (0..batches)
        .map(|b| {
            let jobs: Vec<_> = (0..1000)
                .map(|i| job(&format!("r{run_no}b{b}"), i))
                .collect();
            json!({ "jobs": jobs }).to_string()
        })
        .collect();
    let start = Instant::now();
    for body in bodies {
        let resp = client
            .post(format!("{base}/v1/jobs?batch=bulk-{run_no}"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    }
    let bulk = (batches * 1000) as f64 / start.elapsed().as_secs_f64();

    let file = tempfile::NamedTempFile::new().unwrap();
    let text: String = (0..batches * 1000)
        .map(|i| format!("{}\n", job(&format!("file{run_no}"), i)))
        .collect();
    std::fs::write(file.path(), text).unwrap();
    let start = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_producer"))
        .args([
            "submit",
            file.path().to_str().unwrap(),
            "--batch",
            &format!("file-{run_no}"),
        ])
        .env("FLUXQ_AMQP_URL", &svc.amqp_url)
        .env("FLUXQ_REDIS_URL", &svc.redis_url)
        .env("FLUXQ_NAMESPACE", names.namespace())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let submit = (batches * 1000) as f64 / start.elapsed().as_secs_f64();

    let requests = env_or("BENCH_REQUESTS", 10_000);
    let clients = env_or("BENCH_CLIENTS", 200);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return lat;
                }
                let body = job(&format!("single{run_no}"), i).to_string();
                let t = Instant::now();
                let resp = client
                    .post(format!("{base}/v1/jobs?batch=single-{run_no}"))
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let _ = resp.bytes().await;
                lat.push(t.elapsed());
                assert_eq!(status, 202);
            }
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rps = requests as f64 / start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let figures = (
        bulk,
        submit,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        *lat.last().unwrap(),
        rps,
    );
    drop(child);
    namespace::cleanup(&conn, &redis, &names, &[&tiers]).await;
    figures
}

#[tokio::main]
async fn main() {
    let svc = services::get().await.clone();
    let runs = env_or("BENCH_RUNS", 3);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut all = Vec::new();
    for r in 0..runs {
        let f = run(&svc, r).await;
        println!(
            "run {}: bulk {:.0} jobs/s; producer submit {:.0} jobs/s; single p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} requests/s",
            r + 1,
            f.0,
            f.1,
            ms(f.2),
            ms(f.3),
            ms(f.4),
            f.5
        );
        all.push(f);
    }
    let range = |v: Vec<f64>, digits: usize| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.digits$}–{hi:.digits$}")
    };
    println!("over {runs} runs:");
    println!(
        "  POST /v1/jobs, 1,000-job arrays: {} jobs/s accepted (recorded, confirmed)",
        range(all.iter().map(|f| f.0).collect(), 0)
    );
    println!(
        "  producer submit FILE:            {} jobs/s",
        range(all.iter().map(|f| f.1).collect(), 0)
    );
    println!(
        "  single-job POST, {} clients: p50 {} ms, p99 {} ms, {} requests/s",
        env_or("BENCH_CLIENTS", 200),
        range(all.iter().map(|f| ms(f.2)).collect(), 1),
        range(all.iter().map(|f| ms(f.3)).collect(), 1),
        range(all.iter().map(|f| f.5).collect(), 0)
    );
}
