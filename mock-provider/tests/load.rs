//! A short load run in the shape of the benchmark (submit, poll, download per job,
//! hundreds in flight), three rounds in a row: the counters still add up, and the
//! process's resident memory grows by no more than a small bound per job once the
//! first round has warmed it up (read from `/proc/self/status`; this test is a binary
//! of its own so that nothing else runs in the process). Every task is still
//! remembered here (the default `task_ttl`): forgetting is tested in `lifecycle`,
//! on time that does not depend on how busy the machine is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxq_mock_provider::{MockConfig, MockProvider};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const JOBS: usize = 1_000;
const CONCURRENCY: usize = 200;
const ROUNDS: usize = 3;
/// Most the resident set may grow per job from the end of the first round
/// (connections, caches and the allocator warmed up) to the end of the last, in
/// bytes. A remembered task with its counters takes well under 1 KiB; keeping each
/// job's image or answer as well (a few KiB each) would exceed it.
const GROWTH_BOUND_PER_JOB: u64 = 4096;
/// Most the resident set may ever reach, client and runtime included (measured:
/// about 40 MiB).
const PEAK_BOUND_KIB: u64 = 128 * 1024;

/// `VmRSS` and `VmHWM` (the peak) of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn job(http: reqwest::Client, base: String, key: String, i: usize) -> usize {
    let body = json!({ "prompt": format!("load {}", i % 50), "seed": i });
    let submit: Value = http
        .post(format!("{base}/v1/flux-2-pro"))
        .header("x-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let polling_url = submit["polling_url"].as_str().unwrap().to_owned();
    let mut polls = 0;
    loop {
        polls += 1;
        let answer: Value = http
            .get(&polling_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if answer["status"] == "Ready" {
            let image = http
                .get(answer["result"]["sample"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(image.status(), 200);
            assert!(!image.bytes().await.unwrap().is_empty());
            return polls;
        }
        assert_eq!(answer["status"], "Pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `JOBS` jobs through the mock, `CONCURRENCY` at once; returns the polls made.
async fn round(mock: &MockProvider, http: &reqwest::Client, offset: usize) -> usize {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut handles = Vec::with_capacity(JOBS);
    for i in offset..offset + JOBS {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (http, base, key) = (http.clone(), mock.base_url(), mock.api_key().to_owned());
        handles.push(tokio::spawn(async move {
            let polls = job(http, base, key, i).await;
            drop(permit);
            polls
        }));
    }
    let mut polls = 0;
    for handle in handles {
        polls += handle.await.unwrap();
    }
    polls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_jobs_flow_through_with_exact_counters_and_bounded_memory() {
    let latency = (Duration::from_millis(10), Duration::from_millis(40));
    let config = MockConfig {
        latency_min: latency.0,
        latency_max: latency.1,
        ..MockConfig::default()
    };
    let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut polls = 0;
    let mut resident = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let started = Instant::now();
        polls += round(&mock, &http, r * JOBS).await;
        let elapsed = started.elapsed();
        let (rss, peak) = memory_kib();
        eprintln!(
            "round {r}: {JOBS} jobs in {elapsed:?} ({:.0} jobs/s); VmRSS {rss} KiB, VmHWM {peak} KiB",
            JOBS as f64 / elapsed.as_secs_f64()
        );
        resident.push(rss);
    }

    let stats = mock.stats();
    let all = (ROUNDS * JOBS) as u64;
    assert_eq!(
        (stats.submissions, stats.ready, stats.downloads),
        (all, all, all)
    );
    assert_eq!(stats.polls, polls as u64);
    assert_eq!(stats.micro_usd_billed, all * 30_000);
    assert_eq!(stats.submissions_by_prompt.len(), 50);
    assert!(stats.max_in_flight_seen <= CONCURRENCY as u64);
    assert_eq!((stats.in_flight, stats.tasks_stored), (0, all));
    let growth = resident[ROUNDS - 1].saturating_sub(resident[0]) * 1024;
    let measured = ((ROUNDS - 1) * JOBS) as u64;
    assert!(
        growth <= GROWTH_BOUND_PER_JOB * measured,
        "resident memory grew {} bytes per job over rounds 2..={ROUNDS} ({resident:?} KiB)",
        growth / measured
    );
    let (_, peak) = memory_kib();
    assert!(peak <= PEAK_BOUND_KIB, "peak resident memory {peak} KiB");
    mock.shutdown().await;
}
