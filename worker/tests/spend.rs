//! Spend control end to end: cancelling a batch mid-run stops its submissions at
//! once, a budget admits exactly what fits (also under concurrency), raising it
//! reopens what it cancelled, and resuming brings cancelled jobs back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxq_common::{Lane, MicroUsd};
use fluxq_producer::spend::{self, CancelOutcome};
use fluxq_testkit::{Harness, WorkerHandle, id_of, job};
use fluxq_wire::amqp::ChannelSource;

/// A job the price table (and the mock) prices at 0.045 USD: FLUX.2 [pro], 1536×1024.
fn job_045(prompt: &str, seed: u64) -> serde_json::Value {
    let mut j = job(prompt, seed);
    j["width"] = 1536.into();
    j["height"] = 1024.into();
    j
}

fn source(h: &Harness) -> ChannelSource {
    let tiers = fluxq_common::DelayTiers::for_policy(&h.worker_config().retry);
    ChannelSource::new(&h.amqp_url, "fluxq-test-spend", h.names.clone(), tiers)
}

fn workers(h: &Harness, n: usize, concurrency: u16, fleet: u16) -> Vec<WorkerHandle> {
    (0..n)
        .map(|_| {
            let mut c = h.worker_config();
            c.concurrency = concurrency;
            c.limits.provider_concurrency = fleet;
            h.spawn_worker(c)
        })
        .collect()
}

async fn stop(ws: Vec<WorkerHandle>) {
    for w in ws {
        w.stop().await;
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every event of the batch, one per job: (id, status).
async fn events_of(h: &Harness, batch: &str) -> Vec<(String, String)> {
    h.events()
        .await
        .into_iter()
        .filter(|e| e.get("batch").map(String::as_str) == Some(batch))
        .map(|e| (e["id"].clone(), e["status"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_batch_stops_submissions_at_once() {
    let h = Harness::new(fluxq_testkit::fixed_latency(1000)).await;
    let jobs: Vec<_> = (0..300)
        .map(|n| job(&format!("cancel me {n}"), n))
        .collect();
    h.submit(&jobs, "cancel-mid", Lane::Bulk).await;
    let ws = workers(&h, 3, 32, 48);
    loop {
        let s = h.records.batch("cancel-mid").await.unwrap().unwrap();
        if s.succeeded >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcome = spend::cancel_batch(&h.records, "cancel-mid", Some("wrong template"))
        .await
        .unwrap();
    let returned = now_ms();
    let CancelOutcome::Cancelled {
        already: false,
        cancelled,
        in_flight,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    let s = h
        .wait_batch("cancel-mid", 300, Duration::from_secs(60))
        .await;
    assert_eq!(s.succeeded + s.cancelled, 300, "{s:?}");
    assert_eq!((s.failed, s.moderated), (0, 0), "{s:?}");
    assert!(s.cancelled >= cancelled, "{s:?} {cancelled}");
    assert!(
        s.succeeded >= 100 && s.succeeded <= 100 + in_flight + 48,
        "{s:?}"
    );
    assert!(s.finished_at.is_some());
    let stats = h.stats();
    let last = stats.last_submit_ms();
    assert!(
        last <= returned + 1000,
        "a submission reached the mock {} ms after the cancel returned",
        last - returned
    );
    assert_eq!(stats.submissions, s.succeeded, "submitted = succeeded");
    assert_eq!(s.cost.0, stats.micro_usd_billed, "recorded = billed");
    assert_eq!(s.reserved, MicroUsd(0), "{s:?}");
    let events = events_of(&h, "cancel-mid").await;
    assert_eq!(events.len(), 300, "one event per job");
    let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.0).collect();
    assert_eq!(ids.len(), 300);
    for j in jobs.iter().take(300) {
        let rec = h.job(&id_of(j)).await;
        if rec["status"] == "cancelled" {
            assert_eq!(rec["error"], "cancelled: wrong template");
        }
    }
    println!(
        "cancel-mid: succeeded {}, cancelled {} ({cancelled} by the call, {in_flight} in flight), last submit {} ms before the cancel returned",
        s.succeeded,
        s.cancelled,
        returned as i64 - last as i64
    );
    // Harmless again; says so.
    let again = spend::cancel_batch(&h.records, "cancel-mid", None)
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            CancelOutcome::Cancelled {
                already: true,
                cancelled: 0,
                ..
            }
        ),
        "{again:?}"
    );
    stop(ws).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_admits_exactly_what_fits_and_raising_it_reopens_the_rest() {
    let h = Harness::new(fluxq_testkit::fixed_latency(50)).await;
    let jobs: Vec<_> = (0..100)
        .map(|n| job_045(&format!("budget {n}"), n))
        .collect();
    h.records
        .set_budget("budget", MicroUsd::parse_usd("1.00").unwrap(), true)
        .await
        .unwrap();
    h.submit(&jobs, "budget", Lane::Bulk).await;
    let ws = workers(&h, 1, 32, 24);
    let s = h.wait_batch("budget", 100, Duration::from_secs(60)).await;
    assert_eq!((s.succeeded, s.cancelled, s.failed), (22, 78, 0), "{s:?}");
    assert_eq!(s.cost, MicroUsd(990_000), "{s:?}");
    assert_eq!(s.reserved, MicroUsd(0), "{s:?}");
    assert_eq!(h.stats().submissions, 22);
    let cancelled = jobs.iter().map(id_of).collect::<Vec<_>>();
    let mut budget_errors = 0;
    for id in &cancelled {
        let rec = h.job(id).await;
        if rec["status"] == "cancelled" {
            assert_eq!(
                rec["error"],
                "cancelled: budget: batch budget of 1 USD reached"
            );
            assert_eq!(rec["cancel_kind"], "budget");
            budget_errors += 1;
        }
    }
    assert_eq!(budget_errors, 78);
    // Raising it reopens the 78 and publishes their kept messages again.
    let mut src = source(&h);
    let o = spend::set_budget(
        &h.records,
        &mut src,
        "budget",
        MicroUsd::parse_usd("2.00").unwrap(),
    )
    .await
    .unwrap();
    src.close().await;
    assert_eq!(o.resumed.reopened, 78, "{o:?}");
    let s = h.wait_batch("budget", 100, Duration::from_secs(60)).await;
    assert_eq!((s.succeeded, s.cancelled), (44, 56), "{s:?}");
    assert_eq!(s.cost, MicroUsd(1_980_000), "{s:?}");
    assert_eq!(h.stats().submissions, 44);
    assert_eq!(h.stats().micro_usd_billed, s.cost.0);
    stop(ws).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_concurrency_the_recorded_cost_never_exceeds_the_budget() {
    let h = Harness::new(fluxq_testkit::fixed_latency(200)).await;
    let jobs: Vec<_> = (0..400)
        .map(|n| job_045(&format!("crowd {n}"), n))
        .collect();
    let budget = MicroUsd::parse_usd("5.00").unwrap();
    h.records.set_budget("crowd", budget, true).await.unwrap();
    h.submit(&jobs, "crowd", Lane::Bulk).await;
    let ws = workers(&h, 3, 32, 96);
    let mut max_seen = MicroUsd(0);
    let s = loop {
        let s = h.records.batch("crowd").await.unwrap().unwrap();
        assert!(s.cost.0 + s.reserved.0 <= budget.0, "over budget: {s:?}");
        max_seen = max_seen.max(s.cost);
        if s.is_finished() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!((s.succeeded, s.cancelled), (111, 289), "{s:?}");
    assert_eq!(s.cost, MicroUsd(4_995_000), "{s:?}");
    assert_eq!(h.stats().micro_usd_billed, s.cost.0, "recorded = billed");
    println!(
        "crowd: 400 jobs, budget 5.00, {} succeeded, cost {}",
        s.succeeded, s.cost
    );
    stop(ws).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reopens_cancelled_jobs_and_a_finished_batch_cannot_be_cancelled() {
    let h = Harness::new(fluxq_testkit::fixed_latency(20)).await;
    let jobs: Vec<_> = (0..10).map(|n| job(&format!("resume {n}"), n)).collect();
    h.submit(&jobs, "resume", Lane::Bulk).await;
    // No worker yet: nothing was submitted, so everything is cancelled at once.
    let o = spend::cancel_batch(&h.records, "resume", None)
        .await
        .unwrap();
    assert_eq!(
        o,
        CancelOutcome::Cancelled {
            already: false,
            cancelled: 10,
            in_flight: 0
        }
    );
    let s = h.wait_batch("resume", 10, Duration::from_secs(5)).await;
    assert_eq!(s.cancelled, 10);
    // A worker acks the messages, keeping them for a resume.
    let ws = workers(&h, 1, 8, 8);
    let queue = h.names.lane_queue(Lane::Bulk);
    let start = tokio::time::Instant::now();
    while h.queue_depth(&queue).await > 0 || start.elapsed() < Duration::from_millis(500) {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.stats().submissions, 0);
    let mut src = source(&h);
    let r = spend::resume_batch(&h.records, &mut src, "resume")
        .await
        .unwrap();
    assert_eq!(r.reopened, 10, "{r:?}");
    let s = h.wait_batch("resume", 10, Duration::from_secs(30)).await;
    assert_eq!((s.succeeded, s.cancelled), (10, 0), "{s:?}");
    assert_eq!(s.cancel_reason, None);
    assert_eq!(h.stats().submissions, 10, "each job submitted once");
    // Finished: cancelling says so and changes nothing.
    let o = spend::cancel_batch(&h.records, "resume", None)
        .await
        .unwrap();
    assert_eq!(o, CancelOutcome::AlreadyFinished);
    let err = spend::cancel_batch(&h.records, "no-such-batch", None).await;
    assert!(matches!(err, Err(spend::SpendError::NotFound(_))));
    src.close().await;
    stop(ws).await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_cancelled_and_resumed_in_chunks() {
    let h = Harness::new(fluxq_testkit::fixed_latency(20)).await;
    let jobs: Vec<_> = (0..2_500).map(|n| job(&format!("large {n}"), n)).collect();
    h.submit(&jobs, "large", Lane::Bulk).await;
    let o = spend::cancel_batch(&h.records, "large", None)
        .await
        .unwrap();
    assert_eq!(
        o,
        CancelOutcome::Cancelled {
            already: false,
            cancelled: 2_500,
            in_flight: 0
        },
        "three chunks of the index"
    );
    let s = h.records.batch("large").await.unwrap().unwrap();
    assert!(s.is_finished() && s.cancelled == 2_500, "{s:?}");
    assert_eq!(events_of(&h, "large").await.len(), 2_500);
    let mut src = source(&h);
    let r = spend::resume_batch(&h.records, &mut src, "large")
        .await
        .unwrap();
    src.close().await;
    // Nothing was delivered, so every message is still in its queue: none is kept,
    // none published twice.
    assert_eq!((r.reopened, r.republished), (2_500, 0), "{r:?}");
    let s = h.records.batch("large").await.unwrap().unwrap();
    assert_eq!((s.cancelled, s.done()), (0, 0), "{s:?}");
    assert!(s.finished_at.is_none());
    assert_eq!(h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await, 2_500);
    h.cleanup().await;
}
