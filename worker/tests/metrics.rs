//! `/metrics`, `/healthz` and `/readyz` of the real worker binary, scraped over HTTP
//! while it runs jobs through RabbitMQ, Redis and the mock provider: the counters
//! match what the provider saw and billed, a redelivered job is not counted twice,
//! and readiness follows the connection and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

use fluxq_testkit::process;

use std::collections::HashMap;
use std::time::Duration;

use fluxq_common::{Lane, MicroUsd};
use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::{Harness, job};
use fluxq_wire::amqp;
use fluxq_wire::headers;
use lapin::types::FieldTable;
use process::{WorkerProcess, get, wait_status};

fn worker_env(h: &Harness) -> Vec<(&'static str, String)> {
    let mut env = h.process_env();
    env.extend([
        ("FLUXQ_RETRY_BASE_MS", "100".into()),
        ("FLUXQ_RETRY_CAP", "1".into()),
        ("FLUXQ_POLL_INITIAL_MS", "50".into()),
        ("FLUXQ_POLL_MAX_MS", "200".into()),
        ("FLUXQ_SHUTDOWN_GRACE", "20".into()),
    ]);
    env
}

/// Samples of an OpenMetrics text by `name{labels}` as written.
fn samples(text: &str) -> HashMap<String, f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "not a complete exposition:\n{text}"
    );
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (
                k.to_owned(),
                v.parse().unwrap_or_else(|_| panic!("bad sample {l}")),
            )
        })
        .collect()
}

async fn scrape(addr: std::net::SocketAddr) -> HashMap<String, f64> {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    samples(&text)
}

fn value(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("{key} is not exposed; got {:#?}", m.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_what_the_provider_saw_and_readiness_follows_the_worker() {
    let h = Harness::new(MockConfig {
        moderation_word: Some("forbidden".into()),
        throttle_rate: 0.4,
        retry_after_secs: 0,
        rng_seed: Some(6),
        latency_min: Duration::from_millis(100),
        latency_max: Duration::from_millis(200),
        ..MockConfig::default()
    })
    .await;
    let mut worker = WorkerProcess::start(&worker_env(&h));
    let addr = worker.metrics_addr().await;
    assert_eq!(get(addr, "/healthz").await.0, 200);
    wait_status(addr, "/readyz", 200).await;

    let mut jobs: Vec<_> = (0..9)
        .map(|i| job(&format!("metered teapot {i}"), i))
        .collect();
    jobs.push(job("a forbidden teapot", 99));
    h.submit(&jobs, "metered", Lane::Bulk).await;
    let batch = h.wait_batch("metered", 10, Duration::from_secs(60)).await;
    assert_eq!((batch.succeeded, batch.moderated), (9, 1));

    let stats = h.stats();
    assert!(
        stats.throttled > 0,
        "the mock throttled some submits: {stats:?}"
    );
    // The last job acknowledges its delivery just after its result is in Redis.
    let start = tokio::time::Instant::now();
    let m = loop {
        let m = scrape(addr).await;
        if m.get("fluxq_jobs_in_flight") == Some(&0.0) || start.elapsed() > Duration::from_secs(5) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let finished = |status: &str| {
        value(
            &m,
            &format!(
                "fluxq_jobs_finished_total{{status=\"{status}\",provider=\"bfl\",model=\"flux-2-pro\"}}"
            ),
        )
    };
    assert_eq!(finished("succeeded"), 9.0);
    assert_eq!(finished("moderated"), 1.0);
    let bfl = |name: &str| value(&m, &format!("{name}{{provider=\"bfl\"}}"));
    assert_eq!(
        bfl("fluxq_provider_throttled_total"),
        stats.throttled as f64
    );
    assert_eq!(
        bfl("fluxq_job_attempts_total"),
        (stats.submit_requests - stats.throttled) as f64
    );
    assert_eq!(
        bfl("fluxq_provider_submit_seconds_count"),
        stats.submit_requests as f64
    );
    assert_eq!(bfl("fluxq_polls_total"), stats.polls as f64);
    let cost = value(
        &m,
        "fluxq_cost_micro_usd_total{provider=\"bfl\",model=\"flux-2-pro\"}",
    );
    assert_eq!(
        MicroUsd(cost as u64),
        batch.cost,
        "cost metric = batch cost"
    );
    assert_eq!(
        cost as u64, stats.micro_usd_billed,
        "cost metric = what the provider billed"
    );
    assert_eq!(value(&m, "fluxq_job_duration_seconds_count"), 10.0);
    assert!(value(&m, "fluxq_queue_wait_seconds_count") >= 10.0);
    assert_eq!(value(&m, "fluxq_jobs_in_flight"), 0.0);
    // Every submit request first waited for a provider slot (throttled ones again).
    assert_eq!(
        value(&m, "fluxq_limiter_wait_seconds_count"),
        stats.submit_requests as f64
    );

    // A finished job delivered again is acknowledged, and counted nowhere but in the queue wait.
    let waits = value(&m, "fluxq_queue_wait_seconds_count");
    let mut headers = FieldTable::default();
    let now = chrono::Utc::now().timestamp_millis();
    headers::set_header_int(&mut headers, headers::HDR_PUBLISHED_MS, now);
    let again = serde_json::json!({"id": jobs[0]["id"], "batch": "metered", "model": "flux-2-pro", "prompt": jobs[0]["prompt"], "width": 512, "height": 512, "seed": 0});
    let props = amqp::job_properties(jobs[0]["id"].as_str().unwrap(), headers);
    let body = serde_json::to_vec(&again).unwrap();
    amqp::publish_confirmed(&h.channel, &h.names.jobs_exchange(), "bulk", &body, props)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let m = loop {
        let m = scrape(addr).await;
        if value(&m, "fluxq_queue_wait_seconds_count") > waits
            && value(&m, "fluxq_jobs_in_flight") == 0.0
        {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the duplicate was never taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value(&m, "fluxq_job_duration_seconds_count"), 10.0);
    assert_eq!(
        value(
            &m,
            "fluxq_cost_micro_usd_total{provider=\"bfl\",model=\"flux-2-pro\"}"
        ),
        cost
    );

    // SIGTERM with a job in flight: not ready at once, still alive while it drains.
    h.mock.update(KnobsPatch {
        latency_min_ms: Some(1500),
        latency_max_ms: Some(1500),
        throttle_rate: Some(0.0),
        ..Default::default()
    });
    h.submit(&[job("slow teapot", 7)], "drain", Lane::Bulk)
        .await;
    let start = tokio::time::Instant::now();
    while h.mock.summary().in_flight < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the slow job never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.terminate();
    let why = wait_status(addr, "/readyz", 503).await;
    assert!(why.contains("shutting down"), "{why}");
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive while draining");
    assert_eq!(value(&scrape(addr).await, "fluxq_jobs_in_flight"), 1.0);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(25)).await.code(),
        Some(0)
    );
    assert_eq!(
        h.records.batch("drain").await.unwrap().unwrap().succeeded,
        1
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_rabbitmq_is_unreachable_but_alive() {
    let svc = fluxq_testkit::services::get().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut worker = WorkerProcess::start(&[
        (
            "FLUXQ_AMQP_URL",
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ),
        ("FLUXQ_REDIS_URL", svc.redis_url.clone()),
        ("FLUXQ_NAMESPACE", "tnotready".into()),
    ]);
    let addr = worker.metrics_addr().await;
    worker
        .wait_log("a failed RabbitMQ session", |v| {
            v["message"] == "RabbitMQ session ended; reconnecting."
        })
        .await;
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "not ready: not consuming from RabbitMQ\n")
    );
    worker.terminate();
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// A client that opens a connection and never finishes its request headers is cut
/// off after the header timeout (5 s), and the server goes on answering others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let svc = fluxq_testkit::services::get().await;
    let mut worker = WorkerProcess::start(&[
        ("FLUXQ_AMQP_URL", svc.amqp_url.clone()),
        ("FLUXQ_REDIS_URL", svc.redis_url.clone()),
        ("FLUXQ_NAMESPACE", "tslowloris".into()),
    ]);
    let addr = worker.metrics_addr().await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: fluxq\r\n")
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the half-sent request still holds its connection after 20 s"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "cut off after {:?}",
        start.elapsed()
    );
    assert_eq!(
        get(addr, "/healthz").await.0,
        200,
        "others are still served"
    );
    worker.terminate();
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}
