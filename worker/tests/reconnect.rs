//! Outages: the worker survives a RabbitMQ node killed and restarted, and a Redis
//! killed and restarted, finishing every job without paying twice; its shutdown
//! stays bounded while the broker does not answer; the producer publishes again
//! what the broker had not confirmed. Each test runs its own broker
//! or Redis on free ports, so the machine's services are not disturbed.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::servers::{Rabbit, Redis};
use fluxq_testkit::services::{self, Services};
use fluxq_testkit::{Harness, fixed_latency, job};

async fn wait_succeeded(h: &Harness, batch: &str, n: u64) {
    let start = tokio::time::Instant::now();
    while h
        .records
        .batch(batch)
        .await
        .ok()
        .flatten()
        .map_or(0, |b| b.succeeded)
        < n
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "fewer than {n} succeeded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_survives_a_broker_killed_and_restarted() {
    let rabbit = Rabbit::start().await;
    let svc = Services {
        amqp_url: rabbit.url(),
        redis_url: services::get().await.redis_url.clone(),
    };
    let h = Harness::with_services(svc, fixed_latency(700)).await;
    let worker = h.spawn_worker(h.worker_config());
    let jobs: Vec<_> = (0..40)
        .map(|i| job(&format!("broker outage {i}"), i))
        .collect();
    h.submit(&jobs, "outage", Lane::Bulk).await;
    wait_succeeded(&h, "outage", 5).await;

    rabbit.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    rabbit.boot().await;

    let batch = h.wait_batch("outage", 40, Duration::from_secs(90)).await;
    assert_eq!(batch.succeeded, 40);
    let stats = h.stats();
    assert_eq!(stats.submissions, 40, "no job was paid for twice");
    assert_eq!(batch.cost.0, stats.micro_usd_billed);
    let events = h.events().await;
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!((events.len(), ids.len()), (40, 40), "one event per job");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_survives_redis_killed_and_restarted() {
    let mut redis = Redis::start().await;
    let svc = Services {
        amqp_url: services::get().await.amqp_url.clone(),
        redis_url: redis.url(),
    };
    let h = Harness::with_services(svc, fixed_latency(700)).await;
    let worker = h.spawn_worker(h.worker_config());
    let jobs: Vec<_> = (0..30)
        .map(|i| job(&format!("redis outage {i}"), i))
        .collect();
    h.submit(&jobs, "redis-outage", Lane::Bulk).await;
    wait_succeeded(&h, "redis-outage", 3).await;

    redis.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.boot().await;

    let batch = h
        .wait_batch("redis-outage", 30, Duration::from_secs(90))
        .await;
    assert_eq!(batch.succeeded, 30);
    let stats = h.stats();
    assert_eq!(stats.submissions, 30, "no job was paid for twice");
    assert_eq!(batch.cost.0, stats.micro_usd_billed);
    assert_eq!(h.events().await.len(), 30);
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_publishes_again_what_the_broker_did_not_confirm() {
    let rabbit = Rabbit::start().await;
    let svc = Services {
        amqp_url: rabbit.url(),
        redis_url: services::get().await.redis_url.clone(),
    };
    let h = Harness::with_services(svc, MockConfig::default()).await;
    let jobs: Vec<_> = (0..4000)
        .map(|i| job(&format!("republished {i}"), i))
        .collect();
    let started = tokio::time::Instant::now();
    let submit = async {
        let n = h.submit(&jobs, "republish", Lane::Bulk).await;
        (n, started.elapsed())
    };
    // The broker dies once the producer has begun: it writes each window's records
    // (500 jobs) just before publishing it, so the first record in Redis means the first
    // of eight windows is on its way. A fixed sleep raced a fast publisher on a busy
    // machine (a 400 ms sleep woke after publishing had ended).
    let killer = async {
        loop {
            let begun = h.records.batch("republish").await.ok().flatten();
            if begun.is_some_and(|b| b.total > 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed_at = started.elapsed();
        rabbit.kill().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        rabbit.boot().await;
        killed_at
    };
    let ((published, took), killed_at) = tokio::join!(submit, killer);
    assert_eq!(published, 4000);
    assert!(
        killed_at < took,
        "the broker was killed after {killed_at:?}, once publishing was done ({took:?}): nothing was left unconfirmed"
    );

    let mut config = h.worker_config();
    config.concurrency = 256;
    let worker = h.spawn_worker(config);
    let batch = h
        .wait_batch("republish", 4000, Duration::from_secs(120))
        .await;
    assert_eq!(batch.succeeded, 4000, "every job arrived");
    assert_eq!(
        h.stats().submissions,
        4000,
        "duplicates published twice ran once"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stays_bounded_while_the_broker_does_not_answer() {
    let rabbit = Rabbit::start().await;
    let svc = Services {
        amqp_url: rabbit.url(),
        redis_url: services::get().await.redis_url.clone(),
    };
    let h = Harness::with_services(svc, fixed_latency(15_000)).await;
    let mut config = h.worker_config();
    config.shutdown_grace = Duration::from_millis(500);
    let worker = h.spawn_worker(config);
    let jobs: Vec<_> = (0..3)
        .map(|i| job(&format!("frozen broker {i}"), i))
        .collect();
    h.submit(&jobs, "frozen", Lane::Bulk).await;
    let start = tokio::time::Instant::now();
    while h.stats().submissions < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never 3 submissions"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The broker keeps its connections open but answers nothing: the consumers'
    // cancel, the hand-back nacks and the closes all go unanswered.
    rabbit.signal("STOP");
    let stopping = tokio::time::Instant::now();
    worker.stop().await;
    let took = stopping.elapsed();
    rabbit.signal("CONT");
    // Bound: cancel 3 s + grace 0.5 s + hand back 5 s + teardown 3 s.
    assert!(took < Duration::from_secs(14), "shutdown took {took:?}");
    for j in &jobs {
        let rec = h.job(&fluxq_testkit::id_of(j)).await;
        assert!(
            !rec["provider_task_id"].is_empty(),
            "the task is recorded for the next worker: {rec:?}"
        );
    }

    let next = h.spawn_worker(h.worker_config());
    let batch = h.wait_batch("frozen", 3, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 3);
    assert_eq!(
        h.stats().submissions,
        3,
        "the next worker resumed the tasks"
    );
    next.stop().await;
    h.cleanup().await;
}
