//! RabbitMQ's delivery limit (quorum queues; RabbitMQ 4 applies 20 unless told
//! otherwise): hand-backs that are not the job's fault never count toward it, a
//! message returned often is refreshed before the broker dead-letters it, one
//! returned too often fails its job with a reason, and queues an older fluxq
//! declared without the limit keep working. Run on both brokers
//! (`FLUXQ_TEST_AMQP_URL` for the RabbitMQ 4 node).
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

use std::time::Duration;

use fluxq_common::{DelayTiers, Lane, MicroUsd};
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, fixed_latency, id_of, job};
use fluxq_wire::amqp::{self, MAX_RETURNS, REFRESH_AT};
use fluxq_wire::headers::{self, HDR_RETURNS};
use lapin::options::{BasicGetOptions, BasicNackOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

/// Takes the lane's one message and nacks it back `times` times, as a worker that
/// keeps losing it would: each return counts in its `x-delivery-count`.
async fn return_unsettled(h: &Harness, lane: Lane, times: i64) {
    let queue = h.names.lane_queue(lane);
    for _ in 0..times {
        let start = tokio::time::Instant::now();
        let m = loop {
            let got = h
                .channel
                .basic_get(queue.as_str().into(), BasicGetOptions::default())
                .await
                .unwrap();
            if let Some(m) = got {
                break m;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no message");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        m.delivery
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_handed_back_25_times_by_a_flapping_breaker_still_completes() {
    let h = Harness::new(MockConfig {
        refuse_credits_first: 25,
        ..fixed_latency(50)
    })
    .await;
    let mut config = h.worker_config();
    config.limits.breaker_probe = Duration::from_millis(100);
    let worker = h.spawn_worker(config);
    let j = job("a mug through a flapping account", 1);
    h.submit(std::slice::from_ref(&j), "flapping", Lane::Bulk)
        .await;
    let batch = h.wait_batch("flapping", 1, Duration::from_secs(180)).await;
    assert_eq!(batch.succeeded, 1, "{batch:?}");
    let stats = h.stats();
    assert_eq!(
        (stats.insufficient_credits, stats.submissions),
        (25, 1),
        "handed back 25 times, then paid once"
    );
    let rec = h.job(&id_of(&j)).await;
    assert_eq!(rec["attempts"], "1", "refused submits are not attempts");
    assert_eq!(batch.cost, MicroUsd(stats.micro_usd_billed));
    worker.stop().await;
    assert_eq!(
        h.queue_depth(&h.names.dead_queue()).await,
        0,
        "nothing was dead-lettered, by fluxq or by the broker"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_returned_often_is_refreshed_and_one_returned_too_often_fails_with_a_reason() {
    let h = Harness::new(fixed_latency(50)).await;
    // Returned more often than the refresh point: refreshed, then run.
    let often = job("a mug returned often", 1);
    h.submit(std::slice::from_ref(&often), "returned", Lane::Bulk)
        .await;
    return_unsettled(&h, Lane::Bulk, REFRESH_AT + 2).await;
    let worker = h.spawn_worker(h.worker_config());
    h.wait_status(&id_of(&often), "succeeded", Duration::from_secs(30))
        .await;
    worker.stop().await;

    // Returned too often in all (earlier copies' returns carried in a header): the
    // job fails and its message is dead-lettered with the reason.
    let doomed = job("a mug returned too often", 2);
    let mut carried = FieldTable::default();
    headers::set_header_int(&mut carried, HDR_RETURNS, MAX_RETURNS - 1);
    amqp::publish_confirmed(
        &h.channel,
        &h.names.jobs_exchange(),
        Lane::Bulk.as_str(),
        &serde_json::to_vec(&doomed).unwrap(),
        amqp::job_properties("", carried),
    )
    .await
    .unwrap();
    return_unsettled(&h, Lane::Bulk, 1).await;
    let worker = h.spawn_worker(h.worker_config());
    let rec = h
        .wait_status(&id_of(&doomed), "failed", Duration::from_secs(30))
        .await;
    assert!(rec["error"].contains("came back to its queue"), "{rec:?}");
    let dead = h.dead_letters(1, Duration::from_secs(10)).await;
    assert!(
        dead[0].reason.contains(&MAX_RETURNS.to_string()),
        "{dead:?}"
    );
    assert_eq!(
        h.stats().submissions,
        1,
        "the doomed job was never submitted"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_declared_without_the_limit_by_an_older_fluxq_keep_working() {
    let h = Harness::new(fixed_latency(50)).await;
    let bulk = h.names.lane_queue(Lane::Bulk);
    let ch = h.conn.create_channel().await.unwrap();
    ch.queue_delete(bulk.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    // The lane queue as fluxq declared it before it set `x-delivery-limit`.
    let s = |v: &str| AMQPValue::LongString(LongString::from(v.as_bytes().to_vec()));
    let mut old = FieldTable::default();
    old.insert("x-queue-type".into(), s("quorum"));
    old.insert("x-dead-letter-strategy".into(), s("at-least-once"));
    old.insert("x-overflow".into(), s("reject-publish"));
    old.insert("x-dead-letter-exchange".into(), s(&h.names.dead_exchange()));
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(bulk.as_str().into(), durable, old)
        .await
        .unwrap();
    let tiers = DelayTiers::for_policy(&h.worker_config().retry);
    let without = amqp::declare_topology(&h.conn, &h.names, &tiers)
        .await
        .unwrap();
    assert_eq!(
        without,
        vec![bulk.clone()],
        "reported, and declared as it is"
    );
    let worker = h.spawn_worker(h.worker_config());
    let jobs: Vec<_> = (0..3)
        .map(|i| job(&format!("an old queue {i}"), i))
        .collect();
    h.submit(&jobs, "old-queue", Lane::Bulk).await;
    let batch = h.wait_batch("old-queue", 3, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 3);
    worker.stop().await;
    h.cleanup().await;
}
