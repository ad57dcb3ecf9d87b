//! A short load run in the shape of the benchmark (submit, poll, download per job,
//! hundreds in flight): the counters still add up and memory stays bounded.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_jobs_flow_through_with_exact_counters() {
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
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
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
    let elapsed = started.elapsed();
    eprintln!(
        "{JOBS} jobs in {elapsed:?}: {:.0} jobs/s",
        JOBS as f64 / elapsed.as_secs_f64()
    );

    let stats = mock.stats();
    assert_eq!(
        (stats.submissions, stats.ready, stats.downloads),
        (JOBS as u64, JOBS as u64, JOBS as u64)
    );
    assert_eq!(stats.polls, polls as u64);
    assert_eq!(stats.micro_usd_billed, JOBS as u64 * 30_000);
    assert_eq!(stats.submissions_by_prompt.len(), 50);
    assert!(stats.max_in_flight_seen <= CONCURRENCY as u64);
    assert_eq!(stats.in_flight, 0);
    mock.shutdown().await;
}
