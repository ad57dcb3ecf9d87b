//! Crash safety: a worker killed with SIGKILL after its provider accepted a task
//! leaves the task recorded; the redelivered job resumes polling that task (after the
//! dead worker's lease lapses) instead of paying for a new one. A finished job
//! delivered again is acknowledged without calling the provider.

use crate::process::WorkerProcess;
use crate::support;

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use support::{Harness, id_of, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_resumes_its_paid_task() {
    let latency = Duration::from_secs(3);
    let h = Harness::new(MockConfig {
        latency_min: latency,
        latency_max: latency,
        ..MockConfig::default()
    })
    .await;
    let mut env = h.process_env();
    env.push(("FLUXQ_LEASE", "3".into()));
    let mut doomed = WorkerProcess::start(&env);
    let j = job("resumed after a crash", 5);
    let id = id_of(&j);
    h.submit(std::slice::from_ref(&j), "crash", Lane::Bulk)
        .await;

    let start = tokio::time::Instant::now();
    loop {
        let rec = h.job(&id).await;
        if rec.get("provider_task_id").is_some_and(|t| !t.is_empty()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "task never recorded: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await;
    let task = h.job(&id).await["provider_task_id"].clone();

    let survivor = h.spawn_worker(h.worker_config());
    let rec = h
        .wait_status(&id, "succeeded", Duration::from_secs(30))
        .await;
    assert_eq!(
        rec["provider_task_id"], task,
        "the same task finished the job"
    );
    assert_eq!(rec["attempts"], "1");
    let stats = h.stats();
    assert_eq!(stats.submissions, 1, "the provider was paid once");
    assert_eq!(
        h.records.batch("crash").await.unwrap().unwrap().cost.0,
        stats.micro_usd_billed
    );
    survivor.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_delivered_again_is_acknowledged_without_the_provider() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(h.worker_config());
    let j = job("finished then redelivered", 1);
    h.submit(std::slice::from_ref(&j), "again", Lane::Bulk)
        .await;
    let before = h
        .wait_status(&id_of(&j), "succeeded", Duration::from_secs(20))
        .await;
    let batch_before = h.records.batch("again").await.unwrap().unwrap();

    let body = serde_json::to_vec(&serde_json::json!({"id": j["id"], "batch": "again", "model": "flux-2-pro", "prompt": "finished then redelivered", "seed": 1})).unwrap();
    for lane in [Lane::Bulk, Lane::Interactive, Lane::Bulk] {
        h.publish_raw(&body, lane).await;
    }
    let start = tokio::time::Instant::now();
    while h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await
        + h.queue_depth(&h.names.lane_queue(Lane::Interactive)).await
        > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redeliveries were not consumed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.stats().submit_requests,
        1,
        "no provider call for a final job"
    );
    assert_eq!(h.job(&id_of(&j)).await, before, "the record did not change");
    assert_eq!(
        h.records.batch("again").await.unwrap().unwrap(),
        batch_before,
        "counters moved once"
    );
    assert_eq!(h.events().await.len(), 1);
    worker.stop().await;
    h.cleanup().await;
}
