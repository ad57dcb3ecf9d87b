//! Pausing a lane fleet-wide, with two real worker processes: from a little after
//! `producer pause --lane bulk` returns, no bulk job reaches the provider while the
//! interactive lane keeps running; `/readyz` stays 200 and names the paused lane;
//! after `resume` the backlog drains, each job submitted once, none lost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_producer::lanes::{self, Changed};
use fluxq_testkit::process::{WorkerProcess, get, wait_status};
use fluxq_testkit::{Harness, fixed_latency, id_of, job};

/// How long after the pause returned a bulk submit may still reach the provider: the
/// workers read the flag every 0.5 s, and jobs already started (past their delivery)
/// finish. The contract's bound is 2 s.
const PAUSE_BOUND_MS: u64 = 2_000;

fn now_ms() -> u64 {
    fluxq_worker::limiter::now_ms()
}

/// Every submit time (Unix ms) the mock saw for prompts starting with `prefix`.
fn submit_times(h: &Harness, prefix: &str) -> Vec<u64> {
    let stats = h.stats();
    let mut t: Vec<u64> = stats
        .submit_times_ms_by_prompt
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .flat_map(|(_, t)| t.iter().copied())
        .collect();
    t.sort_unstable();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_lane_starts_nothing_while_the_other_runs_and_resumes_without_loss() {
    let h = Harness::new(fixed_latency(300)).await;
    let mut env = h.process_env();
    env.extend([
        ("FLUXQ_CONCURRENCY", "4".to_owned()),
        ("FLUXQ_POLL_INITIAL_MS", "50".to_owned()),
        ("FLUXQ_POLL_MAX_MS", "200".to_owned()),
    ]);
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|id| {
            let mut e = env.clone();
            e.push(("FLUXQ_WORKER_ID", format!("{}-{id}", h.names.namespace())));
            WorkerProcess::start(&e)
        })
        .collect();
    let mut addrs = Vec::new();
    for w in &workers {
        let addr = w.metrics_addr().await;
        wait_status(addr, "/readyz", 200).await;
        addrs.push(addr);
    }

    let bulk: Vec<_> = (0..120)
        .map(|i| job(&format!("pausable bulk {i}"), i))
        .collect();
    h.submit(&bulk, "paused-bulk", Lane::Bulk).await;
    let start = tokio::time::Instant::now();
    while h
        .records
        .batch("paused-bulk")
        .await
        .unwrap()
        .unwrap()
        .succeeded
        < 10
    {
        assert!(start.elapsed() < Duration::from_secs(30), "bulk never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        lanes::pause(&h.records, Lane::Bulk).await.unwrap(),
        Changed::Done
    );
    let paused_at = now_ms();
    assert!(
        matches!(
            lanes::pause(&h.records, Lane::Bulk).await.unwrap(),
            Changed::Already(Some(_))
        ),
        "pausing twice is harmless"
    );

    // Past the bound, nothing of the lane starts any more; the other lane runs.
    tokio::time::sleep(Duration::from_millis(PAUSE_BOUND_MS + 500)).await;
    let before = submit_times(&h, "pausable bulk");
    let last = *before.last().unwrap();
    let late = last.saturating_sub(paused_at);
    eprintln!(
        "last bulk submit {} ms after the pause returned; {} of 120 submitted",
        last as i64 - paused_at as i64,
        before.len()
    );
    assert!(
        late <= PAUSE_BOUND_MS,
        "a bulk job was submitted {late} ms after the pause"
    );
    assert!(
        before.len() < 120,
        "the pause came before the end of the backlog"
    );
    for addr in &addrs {
        let (status, body) = get(*addr, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "ready; paused lanes: bulk\n")
        );
        let (_, metrics) = get(*addr, "/metrics").await;
        assert!(
            metrics.contains("fluxq_lane_paused{lane=\"bulk\"} 1\n"),
            "{metrics}"
        );
        assert!(metrics.contains("fluxq_lane_paused{lane=\"interactive\"} 0\n"));
    }
    let urgent: Vec<_> = (0..10)
        .map(|i| job(&format!("urgent while paused {i}"), i))
        .collect();
    h.submit(&urgent, "urgent", Lane::Interactive).await;
    let done = h.wait_batch("urgent", 10, Duration::from_secs(20)).await;
    assert_eq!(done.succeeded, 10, "the other lane keeps running");
    let still = submit_times(&h, "pausable bulk");
    assert_eq!(still.len(), before.len(), "no bulk submit while paused");
    let held = h.records.batch("paused-bulk").await.unwrap().unwrap();
    let waiting = h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await;
    assert_eq!(
        u64::from(waiting) + held.done(),
        120,
        "every job not done waits in the lane's queue: {held:?}"
    );
    let view = fluxq_producer::status::fleet_report(&h.records)
        .await
        .unwrap();
    assert!(view.contains("lane bulk: PAUSED since "), "{view}");
    assert!(view.contains("lane interactive: running"), "{view}");

    assert_eq!(
        lanes::resume(&h.records, Lane::Bulk).await.unwrap(),
        Changed::Done
    );
    let resumed_at = now_ms();
    let batch = h
        .wait_batch("paused-bulk", 120, Duration::from_secs(60))
        .await;
    assert_eq!((batch.succeeded, batch.failed), (120, 0), "nothing lost");
    let after = submit_times(&h, "pausable bulk");
    assert_eq!(after.len(), 120, "each bulk job submitted once");
    assert!(
        after[before.len()] >= resumed_at,
        "the rest ran after the resume"
    );
    for j in &bulk {
        assert_eq!(h.job(&id_of(j)).await["attempts"], "1");
    }
    for addr in &addrs {
        assert_eq!(get(*addr, "/readyz").await, (200, "ready\n".to_owned()));
    }
    assert_eq!(h.queue_depth(&h.names.dead_queue()).await, 0);
    for w in &workers {
        w.terminate();
    }
    for mut w in workers {
        assert!(w.wait_exit(Duration::from_secs(60)).await.success());
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_a_lane_is_paused_leaves_it_until_resumed() {
    let h = Harness::new(fixed_latency(50)).await;
    lanes::pause(&h.records, Lane::Interactive).await.unwrap();
    let worker = h.spawn_worker(h.worker_config());
    let urgent: Vec<_> = (0..5)
        .map(|i| job(&format!("held urgent {i}"), i))
        .collect();
    let bulk: Vec<_> = (0..5)
        .map(|i| job(&format!("running bulk {i}"), i))
        .collect();
    h.submit(&urgent, "held", Lane::Interactive).await;
    h.submit(&bulk, "running", Lane::Bulk).await;
    h.wait_batch("running", 5, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        submit_times(&h, "held urgent").is_empty(),
        "nothing of the paused lane ran"
    );
    assert_eq!(
        h.queue_depth(&h.names.lane_queue(Lane::Interactive)).await,
        5
    );

    lanes::resume(&h.records, Lane::Interactive).await.unwrap();
    let resumed_at = now_ms();
    let done = h.wait_batch("held", 5, Duration::from_secs(20)).await;
    assert_eq!(done.succeeded, 5);
    let first = submit_times(&h, "held urgent")[0];
    eprintln!(
        "first submit {} ms after the resume",
        first as i64 - resumed_at as i64
    );
    assert!(first >= resumed_at && first - resumed_at <= PAUSE_BOUND_MS);
    worker.stop().await;
    h.cleanup().await;
}
