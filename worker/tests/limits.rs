//! Provider capacity across the fleet: the global in-flight limit holds with several
//! worker processes, workers that join late get their share of the slots, a killed
//! worker's slots come back within the lease, running out of credits opens the
//! account breaker without failing any job, 429s never spend the retry budget, and
//! interactive jobs overtake a bulk backlog.

use fluxq_testkit::process::WorkerProcess;

use std::collections::HashMap;
use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::{Harness, fixed_latency, id_of, job};
use fluxq_worker::limiter::Account;
use fluxq_worker::secret::ApiKey;
use redis::AsyncCommands;

fn account(h: &Harness) -> String {
    Account::new(
        fluxq_common::ProviderKind::Bfl,
        &ApiKey::new(h.mock.api_key()),
    )
    .as_str()
    .to_owned()
}

/// The environment of worker process `id` in a fleet sharing `cap` provider slots.
fn fleet_env(h: &Harness, id: &str, concurrency: u16, cap: u16) -> Vec<(&'static str, String)> {
    let mut env = h.process_env();
    env.extend([
        ("FLUXQ_WORKER_ID", format!("{}-{id}", h.names.namespace())),
        ("FLUXQ_CONCURRENCY", concurrency.to_string()),
        ("FLUXQ_PROVIDER_CONCURRENCY", cap.to_string()),
    ]);
    env
}

/// Stops worker processes as Kubernetes does and checks they exit cleanly.
async fn stop_all(workers: Vec<WorkerProcess>) {
    for w in &workers {
        w.terminate();
    }
    for mut w in workers {
        let status = w.wait_exit(Duration::from_secs(60)).await;
        assert!(status.success(), "worker exited with {status}");
    }
}

/// Live slot leases of an account, by worker id.
async fn slots_by_worker(h: &Harness) -> HashMap<String, usize> {
    let key = h.names.limiter_key(&account(h), "slots");
    let now = fluxq_worker::limiter::now_ms();
    let members: Vec<String> = h
        .redis
        .clone()
        .zrangebyscore(key, now, "+inf")
        .await
        .unwrap_or_else(|e| panic!("read the slots: {e}"));
    let mut by = HashMap::new();
    for m in members {
        let worker = m.rsplit_once(':').map_or(m.as_str(), |(w, _)| w);
        *by.entry(worker.to_owned()).or_default() += 1;
    }
    by
}

/// Checks that each job was submitted to the provider within `bound` of `published`.
async fn assert_submitted_within(
    h: &Harness,
    jobs: &[serde_json::Value],
    published: chrono::DateTime<chrono::Utc>,
    bound: Duration,
) {
    for j in jobs {
        let rec = h.job(&id_of(j)).await;
        let submitted = chrono::DateTime::parse_from_rfc3339(&rec["submitted_at"])
            .unwrap_or_else(|e| panic!("submitted_at of {rec:?}: {e}"));
        let wait = (submitted.with_timezone(&chrono::Utc) - published)
            .to_std()
            .unwrap_or_default();
        assert!(
            wait < bound,
            "interactive job waited {wait:?} behind the backlog"
        );
    }
}

/// The fleet's limit for the provider in the fleet tests. The mock itself has no cap:
/// what it saw in flight is what the fleet sent, so a limiter that lets more through
/// fails the test instead of being hidden by the mock's own refusals.
const FLEET_LIMIT: u16 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_never_exceed_the_providers_cap() {
    let h = Harness::new(fixed_latency(300)).await;
    let workers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|id| WorkerProcess::start(&fleet_env(&h, id, 32, FLEET_LIMIT)))
        .collect();
    let jobs: Vec<_> = (0..96)
        .map(|i| job(&format!("capped bowl {i}"), i))
        .collect();
    h.submit(&jobs, "capped", Lane::Bulk).await;
    let batch = h.wait_batch("capped", 96, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 96);
    let stats = h.stats();
    assert!(
        stats.max_in_flight_seen <= u64::from(FLEET_LIMIT),
        "the provider saw {} in flight, above the fleet's limit of {FLEET_LIMIT}",
        stats.max_in_flight_seen
    );
    assert!(
        stats.max_in_flight_seen >= 6,
        "the cap was used: {}",
        stats.max_in_flight_seen
    );
    stop_all(workers).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_workers_get_their_share_and_interactive_jobs_start_at_once() {
    let h = Harness::new(fixed_latency(250)).await;
    let bulk: Vec<_> = (0..400)
        .map(|i| job(&format!("shared backlog {i}"), i))
        .collect();
    h.submit(&bulk, "backlog", Lane::Bulk).await;
    let mut workers = vec![WorkerProcess::start(&fleet_env(
        &h,
        "first",
        16,
        FLEET_LIMIT,
    ))];
    let first = format!("{}-first", h.names.namespace());
    let start = tokio::time::Instant::now();
    while slots_by_worker(&h).await.get(&first) != Some(&usize::from(FLEET_LIMIT)) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the first worker never held all {FLEET_LIMIT} slots"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first worker holds every slot and has jobs waiting for more; the late ones
    // must still get a share (8 / 3: two or three each) within a few task rounds.
    for id in ["second", "third"] {
        workers.push(WorkerProcess::start(&fleet_env(&h, id, 16, FLEET_LIMIT)));
    }
    let joined = tokio::time::Instant::now();
    let mut most: HashMap<String, usize> = HashMap::new();
    while most.len() < 3 || most.values().any(|n| *n < 2) {
        assert!(
            joined.elapsed() < Duration::from_secs(10),
            "slots held at most, per worker, 10 s after two joined: {most:?}"
        );
        for (w, n) in slots_by_worker(&h).await {
            let m = most.entry(w).or_default();
            *m = (*m).max(n);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let urgent: Vec<_> = (0..5)
        .map(|i| job(&format!("urgent across the fleet {i}"), i))
        .collect();
    let published = chrono::Utc::now();
    h.submit(&urgent, "urgent", Lane::Interactive).await;
    h.wait_batch("urgent", 5, Duration::from_secs(20)).await;
    let backlog = h.records.batch("backlog").await.unwrap().unwrap();
    assert!(
        backlog.done() < 400,
        "the backlog was still there: {backlog:?}"
    );
    assert_submitted_within(&h, &urgent, published, Duration::from_secs(2)).await;
    let batch = h.wait_batch("backlog", 400, Duration::from_secs(90)).await;
    assert_eq!(batch.succeeded, 400);
    let seen = h.stats().max_in_flight_seen;
    assert!(
        seen <= u64::from(FLEET_LIMIT),
        "the provider saw {seen} in flight, above the fleet's limit of {FLEET_LIMIT}"
    );
    stop_all(workers).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_slots_return_to_the_fleet_within_the_lease() {
    let h = Harness::new(fixed_latency(1500)).await;
    let mut env = h.process_env();
    env.extend([
        ("FLUXQ_PROVIDER_CONCURRENCY", "4".into()),
        ("FLUXQ_SLOT_LEASE", "3".into()),
        ("FLUXQ_LEASE", "3".into()),
    ]);
    let mut doomed = WorkerProcess::start(&env);
    let jobs: Vec<_> = (0..12)
        .map(|i| job(&format!("orphaned slot {i}"), i))
        .collect();
    h.submit(&jobs, "orphans", Lane::Bulk).await;
    let slots_key = h.names.limiter_key(&account(&h), "slots");
    let mut conn = h.redis.clone();
    let live = |mut conn: redis::aio::ConnectionManager, key: String| async move {
        let now = fluxq_worker::limiter::now_ms();
        let n: u64 = conn.zcount(key, now, "+inf").await.unwrap();
        n
    };
    let start = tokio::time::Instant::now();
    while live(conn.clone(), slots_key.clone()).await < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the worker never held 4 slots"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await;
    let killed_at = tokio::time::Instant::now();
    while live(conn.clone(), slots_key.clone()).await > 0 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "slots of the killed worker still held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let returned_after = killed_at.elapsed();
    assert!(
        returned_after <= Duration::from_millis(3500),
        "returned after {returned_after:?}"
    );

    let mut c = h.worker_config();
    c.limits.provider_concurrency = 4;
    let survivor = h.spawn_worker(c);
    let batch = h.wait_batch("orphans", 12, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 12, "no job lost");
    assert!(
        h.stats().max_in_flight_seen <= 4 + 4,
        "resumed tasks plus new ones stay bounded"
    );
    let _: () = conn.del(&slots_key).await.unwrap();
    survivor.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_credits_opens_the_breaker_without_failing_jobs() {
    // 512x512 pro costs 3 credits: enough for three jobs.
    let h = Harness::new(MockConfig {
        credits: Some(9.0),
        ..fixed_latency(100)
    })
    .await;
    let mut c = h.worker_config();
    c.limits.provider_concurrency = 2;
    c.limits.breaker_probe = Duration::from_millis(300);
    let worker = h.spawn_worker(c);
    let jobs: Vec<_> = (0..12)
        .map(|i| job(&format!("unpaid plate {i}"), i))
        .collect();
    h.submit(&jobs, "credits", Lane::Bulk).await;

    let breaker = h.names.breaker_key(&account(&h));
    let mut conn = h.redis.clone();
    let start = tokio::time::Instant::now();
    loop {
        let open: bool = conn.exists(&breaker).await.unwrap();
        if open {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason: String = conn.hget(&breaker, "reason").await.unwrap();
    assert!(reason.contains("402"), "{reason}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batch = h.records.batch("credits").await.unwrap().unwrap();
    assert_eq!(
        (batch.succeeded, batch.failed),
        (3, 0),
        "paid jobs done, none failed: {batch:?}"
    );
    let stats = h.stats();
    assert!(
        stats.insufficient_credits <= 3,
        "the breaker opened within a few submits: {}",
        stats.insufficient_credits
    );
    assert_eq!(h.queue_depth(&h.names.dead_queue()).await, 0);
    let waiting = h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await;
    assert!(waiting > 0, "the unpaid jobs wait in RabbitMQ");
    let report = fluxq_producer::status::limiter_report(&h.records)
        .await
        .unwrap();
    assert!(
        report.contains("breaker OPEN") && report.contains("402"),
        "{report}"
    );

    h.mock.update(KnobsPatch {
        credits: Some(Some(1000.0)),
        ..Default::default()
    });
    let done = h.wait_batch("credits", 12, Duration::from_secs(30)).await;
    assert_eq!((done.succeeded, done.failed), (12, 0));
    let open: bool = conn.exists(&breaker).await.unwrap();
    assert!(!open, "the breaker closed");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_never_spends_the_retry_budget() {
    let h = Harness::new(MockConfig {
        throttle_rate: 0.2,
        retry_after_secs: 0,
        ..fixed_latency(50)
    })
    .await;
    let mut c = h.worker_config();
    c.retry.max_attempts = 1;
    let worker = h.spawn_worker(c);
    let jobs: Vec<_> = (0..40)
        .map(|i| job(&format!("throttled cup {i}"), i))
        .collect();
    h.submit(&jobs, "throttled", Lane::Bulk).await;
    let batch = h.wait_batch("throttled", 40, Duration::from_secs(60)).await;
    assert_eq!(
        batch.succeeded, 40,
        "one attempt each was enough: {batch:?}"
    );
    assert!(h.stats().throttled > 0, "the mock throttled some submits");
    for j in &jobs {
        assert_eq!(h.job(&id_of(j)).await["attempts"], "1");
    }
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_jobs_overtake_a_bulk_backlog() {
    let h = Harness::new(fixed_latency(300)).await;
    let mut c = h.worker_config();
    c.concurrency = 8;
    c.limits.provider_concurrency = 4;
    let worker = h.spawn_worker(c);
    let bulk: Vec<_> = (0..2000)
        .map(|i| job(&format!("backlog item {i}"), i))
        .collect();
    h.submit(&bulk, "backlog", Lane::Bulk).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let urgent: Vec<_> = (0..5)
        .map(|i| job(&format!("urgent item {i}"), i))
        .collect();
    let published = chrono::Utc::now();
    h.submit(&urgent, "urgent", Lane::Interactive).await;
    h.wait_batch("urgent", 5, Duration::from_secs(20)).await;
    assert_submitted_within(&h, &urgent, published, Duration::from_secs(2)).await;
    let backlog = h.records.batch("backlog").await.unwrap().unwrap();
    assert!(
        backlog.done() < 1000,
        "the backlog was still there: {backlog:?}"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opened_elsewhere_stops_every_submit_here() {
    let h = Harness::new(fixed_latency(50)).await;
    let breaker = h.names.breaker_key(&account(&h));
    let mut conn = h.redis.clone();
    // Another worker saw a 402 and holds the right to probe for the next 3 s.
    let _: () = conn
        .hset_multiple(
            &breaker,
            &[
                ("since", "2026-12-01T00:00:00Z"),
                ("reason", "402: opened elsewhere"),
            ],
        )
        .await
        .unwrap();
    let _: () = conn
        .pset_ex(format!("{breaker}:probe"), "another-worker", 3_000)
        .await
        .unwrap();
    let mut c = h.worker_config();
    c.limits.breaker_probe = Duration::from_millis(300);
    let worker = h.spawn_worker(c);
    let jobs: Vec<_> = (0..6).map(|i| job(&format!("held cup {i}"), i)).collect();
    h.submit(&jobs, "held", Lane::Bulk).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.stats().submissions, 0, "nothing is sent while it is open");
    let batch = h.records.batch("held").await.unwrap().unwrap();
    assert_eq!(batch.done(), 0, "no job ends while it is open: {batch:?}");
    for j in &jobs {
        assert_eq!(
            h.job(&id_of(j)).await["attempts"],
            "0",
            "no attempt counted"
        );
    }

    // The probe right passes to this worker, whose probe finds the account working.
    let done = h.wait_batch("held", 6, Duration::from_secs(30)).await;
    assert_eq!((done.succeeded, done.failed), (6, 0));
    assert_eq!(h.stats().submissions, 6);
    let open: bool = conn.exists(&breaker).await.unwrap();
    assert!(!open, "the breaker closed");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_submits_grow_a_throttled_limit_back_to_the_maximum() {
    let h = Harness::new(MockConfig {
        throttle_rate: 0.5,
        retry_after_secs: 0,
        ..fixed_latency(20)
    })
    .await;
    let mut c = h.worker_config();
    c.limits.provider_concurrency = 8;
    let worker = h.spawn_worker(c);
    let state = h.names.limiter_key(&account(&h), "state");
    let mut conn = h.redis.clone();
    let limit = |v: Option<String>| v.and_then(|l| l.parse::<f64>().ok());

    let first: Vec<_> = (0..30)
        .map(|i| job(&format!("throttled jug {i}"), i))
        .collect();
    h.submit(&first, "throttled", Lane::Bulk).await;
    let mut lowest = f64::MAX;
    while h
        .records
        .batch("throttled")
        .await
        .unwrap()
        .is_none_or(|b| !b.is_finished())
    {
        let l: Option<String> = conn.hget(&state, "limit").await.unwrap();
        lowest = lowest.min(limit(l).unwrap_or(f64::MAX));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(h.stats().throttled > 0, "the mock throttled some submits");
    assert!(
        lowest < 8.0,
        "429s lowered the fleet's limit (lowest {lowest})"
    );

    h.mock.update(KnobsPatch {
        throttle_rate: Some(0.0),
        ..Default::default()
    });
    let second: Vec<_> = (100..180)
        .map(|i| job(&format!("calm jug {i}"), i))
        .collect();
    h.submit(&second, "calm", Lane::Bulk).await;
    h.wait_batch("calm", 80, Duration::from_secs(60)).await;
    let l: Option<String> = conn.hget(&state, "limit").await.unwrap();
    assert_eq!(limit(l), Some(8.0), "80 accepted submits grew it back");
    worker.stop().await;
    h.cleanup().await;
}
