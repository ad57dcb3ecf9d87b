//! `producer replay-dead`: after the cause is fixed, dead-lettered jobs run again; the
//! batch's counters and cost come out as if they had succeeded the first time (plus
//! what was really paid), and dead letters that do not match stay dead.

use std::time::Duration;

use fluxq_common::{DelayTiers, Lane, MicroUsd, RetryPolicy};
use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_producer::replay::{ReplayFilter, ReplayReport, replay_dead};
use fluxq_testkit::{Harness, id_of, job};
use fluxq_wire::amqp::ChannelSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_replay_after_the_cause_is_fixed() {
    let h = Harness::new(MockConfig {
        reject_word: Some("blocked".into()),
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(h.worker_config());
    let mut jobs: Vec<_> = (0..6)
        .map(|i| job(&format!("blocked vase {i}"), i))
        .collect();
    jobs.extend((0..4).map(|i| job(&format!("fine vase {i}"), i)));
    h.submit(&jobs, "replay", Lane::Bulk).await;
    h.publish_raw(b"{ not a job", Lane::Bulk).await;
    let first = h.wait_batch("replay", 10, Duration::from_secs(30)).await;
    assert_eq!((first.succeeded, first.failed), (4, 6));
    // Wait until all 7 dead letters (6 rejected + 1 poison) are in the queue.
    let start = tokio::time::Instant::now();
    while h.queue_depth(&h.names.dead_queue()).await < 7 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The provider-side rule is lifted; replay what failed for it.
    h.mock.update(KnobsPatch {
        reject_word: Some(None),
        ..Default::default()
    });
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    let mut source = ChannelSource::new(&h.amqp_url, "fluxq-test-replay", h.names.clone(), tiers);
    let filter = ReplayFilter {
        batch: Some("replay".into()),
        reason_contains: Some("422".into()),
        ..Default::default()
    };
    let report = replay_dead(&mut source, &h.records, &h.names, &filter)
        .await
        .unwrap();
    assert_eq!(
        report,
        ReplayReport {
            examined: 7,
            replayed: 6,
            reopened: 6,
            kept: 1
        }
    );

    let done = h.wait_batch("replay", 10, Duration::from_secs(30)).await;
    assert_eq!(
        (done.total, done.succeeded, done.failed),
        (10, 10, 0),
        "{done:?}"
    );
    assert_eq!(
        done.cost,
        MicroUsd(h.stats().micro_usd_billed),
        "the batch cost is what was billed"
    );
    assert!(
        h.records
            .failed_jobs("replay", 50)
            .await
            .unwrap()
            .is_empty()
    );
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["status"], "succeeded");
        assert_eq!(rec["attempts"], "1");
    }
    // The poison message is still dead, and a second replay changes nothing.
    assert_eq!(h.queue_depth(&h.names.dead_queue()).await, 1);
    let again = replay_dead(&mut source, &h.records, &h.names, &filter)
        .await
        .unwrap();
    assert_eq!(
        again,
        ReplayReport {
            examined: 1,
            replayed: 0,
            reopened: 0,
            kept: 1
        }
    );
    source.close().await;
    worker.stop().await;
    h.cleanup().await;
}
