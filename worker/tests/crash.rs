//! Crash safety: a worker killed with SIGKILL after its provider accepted a task
//! leaves the task recorded; the redelivered job resumes polling that task (after the
//! dead worker's lease lapses) instead of paying for a new one. A finished job
//! delivered again is acknowledged without calling the provider. The gate before
//! each submission keeps a job whose lease lapsed while it waited, resumes a task
//! recorded meanwhile, and skips a job finished meanwhile.

use fluxq_testkit::process::WorkerProcess;

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, fixed_latency, id_of, job};
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_resumes_its_paid_task() {
    let h = Harness::new(fixed_latency(3000)).await;
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

/// Waits until every job is claimed (`running`) and one of them holds the only
/// provider slot (its submission counted); returns the ids of the others, which wait
/// for the slot.
async fn waiting_for_the_slot(h: &Harness, ids: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let start = tokio::time::Instant::now();
    loop {
        let mut waiting = Vec::new();
        let mut submitted = 0;
        for id in ids {
            let rec = h.job(id).await;
            match (
                rec.get("status").map(String::as_str),
                rec.get("attempts").map(String::as_str),
            ) {
                (Some("running"), Some("0")) => waiting.push(*id),
                (Some("running"), Some("1")) => submitted += 1,
                _ => {}
            }
        }
        if submitted == 1 && waiting.len() == ids.len() - 1 {
            return waiting;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the jobs were not claimed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The gate before every submission, with jobs waiting for a provider slot: one whose
/// lease lapsed (Redis unreachable for longer than the lease) and that nobody took is
/// submitted once it gets the slot, not dropped; one for which an execution with a
/// lapsed lease recorded a task meanwhile resumes that task, not paying again; one
/// that another execution finished meanwhile is not submitted at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submit_gate_keeps_jobs_whose_lease_lapsed_while_they_waited() {
    let h = Harness::new(fixed_latency(1500)).await;
    let mut c = h.worker_config();
    c.limits.provider_concurrency = 1;
    c.lease = Duration::from_secs(30); // renewed every 10 s: not during the test
    let worker = h.spawn_worker(c);
    let jobs: Vec<_> = (0..4).map(|i| job(&format!("gated mug {i}"), i)).collect();
    let ids: Vec<_> = jobs.iter().map(id_of).collect();
    h.submit(&jobs, "gate", Lane::Bulk).await;
    let waiting = waiting_for_the_slot(&h, &ids).await;
    let prompt_of = |id: &uuid::Uuid| {
        let i = ids.iter().position(|x| x == id).unwrap();
        format!("gated mug {i}")
    };
    let (lapsed, recorded, finished) = (waiting[0], waiting[1], waiting[2]);
    let mut conn = h.redis.clone();

    // The lapsed lease: gone, and nobody took it.
    let _: () = conn.del(h.names.lease_key(&lapsed)).await.unwrap();
    // A task accepted for an execution whose lease lapsed, recorded by it.
    let i = ids.iter().position(|x| *x == recorded).unwrap() as u64;
    let accepted: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/flux-2-pro", h.mock.base_url()))
        .header("x-key", h.mock.api_key())
        .json(&serde_json::json!({"prompt": prompt_of(&recorded), "width": 512, "height": 512, "seed": i}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = accepted["id"].as_str().unwrap().to_owned();
    let key = h.names.job_key(&recorded);
    let _: () = conn
        .hset_multiple(
            &key,
            &[
                ("provider_task_id", task.as_str()),
                ("polling_url", accepted["polling_url"].as_str().unwrap()),
            ],
        )
        .await
        .unwrap();
    let _: () = conn.hincr(&key, "attempts", 1).await.unwrap();
    // Finished by another execution.
    let _: () = conn
        .hset(h.names.job_key(&finished), "status", "succeeded")
        .await
        .unwrap();

    for id in [lapsed, recorded] {
        h.wait_status(&id, "succeeded", Duration::from_secs(30))
            .await;
    }
    let stats = h.stats();
    let submissions = |id: &uuid::Uuid| {
        stats
            .submissions_by_prompt
            .get(&prompt_of(id))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(submissions(&lapsed), 1, "the lapsed job was submitted once");
    assert_eq!(h.job(&lapsed).await["attempts"], "1");
    assert_eq!(
        submissions(&recorded),
        1,
        "the recorded task was not paid again"
    );
    assert_eq!(
        h.job(&recorded).await["provider_task_id"],
        task,
        "it resumed"
    );
    assert_eq!(
        submissions(&finished),
        0,
        "the finished job was not submitted"
    );
    let start = tokio::time::Instant::now();
    while h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a message stayed queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.queue_depth(&h.names.dead_queue()).await, 0);
    worker.stop().await;
    h.cleanup().await;
}
