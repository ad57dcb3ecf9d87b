//! Shutdown as Kubernetes does it: SIGTERM stops consumption, jobs in flight finish
//! within the grace period and the process exits 0; what cannot finish in time is
//! handed back with its provider task recorded, and the next worker resumes that
//! task instead of paying for a new one. A second signal exits at once, and the
//! next worker still resumes every recorded task. The API key never reaches logs or
//! Redis.

use fluxq_testkit::process::WorkerProcess;

use std::process::Stdio;
use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, fixed_latency, id_of, job};
use redis::AsyncCommands;
use tokio::io::AsyncReadExt;

const KEY: &str = "sk-fluxq-test-7f3a9c-secret";

fn slow(ms: u64) -> MockConfig {
    MockConfig {
        api_key: KEY.into(),
        ..fixed_latency(ms)
    }
}

async fn wait_in_flight(h: &Harness, n: u64) {
    let start = tokio::time::Instant::now();
    while h.mock.summary().in_flight < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {n} tasks in flight: {:?}",
            h.mock.summary()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_jobs_in_flight_finish_exits_zero_and_never_logs_the_key() {
    let h = Harness::new(slow(1500)).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .env("FLUXQ_AMQP_URL", &h.amqp_url)
        .env("FLUXQ_REDIS_URL", &h.redis_url)
        .env("FLUXQ_NAMESPACE", h.names.namespace())
        .env("FLUXQ_BFL_URL", h.mock.base_url())
        .env("BFL_API_KEY", KEY)
        .env("FLUXQ_OUTPUT_DIR", h.output_path())
        .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0")
        .env("FLUXQ_RETRY_BASE_MS", "100")
        .env("FLUXQ_RETRY_CAP", "1")
        .env("FLUXQ_SHUTDOWN_GRACE", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the worker binary");
    let jobs: Vec<_> = (0..5)
        .map(|i| job(&format!("graceful stool {i}"), i))
        .collect();
    h.submit(&jobs, "graceful", Lane::Bulk).await;
    wait_in_flight(&h, 5).await;

    let pid = child.id().expect("worker pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(25), child.wait())
        .await
        .expect("worker exits within the grace period")
        .unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");

    let batch = h.records.batch("graceful").await.unwrap().unwrap();
    assert_eq!(
        batch.succeeded, 5,
        "jobs in flight finished before exit: {batch:?}"
    );
    assert_eq!(h.stats().submissions, 5);

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert!(
        logs.contains("Shutdown requested"),
        "the worker logged its shutdown:\n{logs}"
    );
    assert!(
        logs.contains("Provider accepted the task"),
        "debug logs were on:\n{logs}"
    );
    assert!(
        !logs.contains(KEY) && !out.contains(KEY),
        "the API key appeared in the worker's output"
    );
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "a clean shutdown logs no error (lapin reports one if a channel is dropped as the connection closes): {errors:?}"
    );

    let mut conn = h.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", h.names.namespace()))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if kind == "hash" {
            let fields: std::collections::HashMap<String, String> =
                conn.hgetall(&key).await.unwrap();
            assert!(
                fields.values().all(|v| !v.contains(KEY)),
                "{key} holds the API key"
            );
        }
    }
    assert!(
        h.events()
            .await
            .iter()
            .all(|e| e.values().all(|v| !v.contains(KEY)))
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_not_finished_within_the_grace_is_handed_back_and_resumed_without_resubmitting() {
    let h = Harness::new(slow(2500)).await;
    let mut config = h.worker_config();
    config.shutdown_grace = Duration::from_millis(300);
    let first = h.spawn_worker(config);
    let jobs: Vec<_> = (0..4)
        .map(|i| job(&format!("handed-back lamp {i}"), i))
        .collect();
    h.submit(&jobs, "handback", Lane::Bulk).await;
    wait_in_flight(&h, 4).await;
    first.stop().await;

    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["status"], "running", "{rec:?}");
        assert!(
            !rec["provider_task_id"].is_empty(),
            "the task is recorded for the next worker"
        );
        let lease: Option<String> = h
            .redis
            .clone()
            .get(h.names.lease_key(&id_of(j)))
            .await
            .unwrap();
        assert_eq!(lease, None, "the lease was released");
    }
    assert_eq!(
        h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await,
        4,
        "messages were handed back"
    );

    let second = h.spawn_worker(h.worker_config());
    let batch = h.wait_batch("handback", 4, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 4);
    let stats = h.stats();
    assert_eq!(
        stats.submissions, 4,
        "the second worker resumed the recorded tasks"
    );
    for j in &jobs {
        assert_eq!(h.job(&id_of(j)).await["attempts"], "1");
    }
    second.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_next_worker_resumes_everything() {
    let h = Harness::new(slow(4000)).await;
    let mut env = h.process_env();
    env.push(("FLUXQ_SHUTDOWN_GRACE", "20".into()));
    env.push(("FLUXQ_LEASE", "3".into())); // what the exit leaves held lapses soon
    let mut worker = WorkerProcess::start(&env);
    let jobs: Vec<_> = (0..3)
        .map(|i| job(&format!("impatient vase {i}"), i))
        .collect();
    h.submit(&jobs, "impatient", Lane::Bulk).await;
    wait_in_flight(&h, 3).await;

    let signalled = tokio::time::Instant::now();
    worker.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.terminate();
    let status = worker.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "exited at once, not after the 4 s tasks or the 20 s grace"
    );
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["status"], "running", "{rec:?}");
        assert!(!rec["provider_task_id"].is_empty(), "{rec:?}");
    }

    let next = h.spawn_worker(h.worker_config());
    let batch = h.wait_batch("impatient", 3, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 3);
    assert_eq!(h.stats().submissions, 3, "the recorded tasks were resumed");
    assert_eq!(batch.cost.0, h.stats().micro_usd_billed);
    next.stop().await;
    h.cleanup().await;
}
