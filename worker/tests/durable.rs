//! Durable before ack (`FLUXQ_REDIS_WAIT_REPLICAS`): against a primary and a replica
//! of the test's own, a job's message is acknowledged only once its outcome is on
//! the replica; while the replica does not answer, the message stays in RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

use std::collections::HashMap;
use std::time::Duration;

use fluxq_common::Lane;
use fluxq_testkit::servers::Redis;
use fluxq_testkit::services::{self, Services};
use fluxq_testkit::{Harness, fixed_latency, id_of, job};
use fluxq_wire::store::WaitFor;
use redis::AsyncCommands;
use uuid::Uuid;

/// The job's record as the replica holds it.
async fn on_replica(replica: &Redis, h: &Harness, id: &Uuid) -> HashMap<String, String> {
    let client = redis::Client::open(replica.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    conn.hgetall(h.names.job_key(id)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_acked_only_once_its_outcome_is_on_the_replica() {
    let primary = Redis::start().await;
    let replica = Redis::replica_of(&primary).await;
    let svc = Services {
        amqp_url: services::get().await.amqp_url.clone(),
        redis_url: primary.url(),
    };
    let h = Harness::with_services(svc, fixed_latency(100)).await;
    let mut config = h.worker_config();
    config.money.redis_wait = Some(WaitFor {
        replicas: 1,
        timeout: Duration::from_millis(300),
    });
    let lane = h.names.lane_queue(Lane::Bulk);

    // With the replica up: the job finishes, is acked, and the replica has it.
    let worker = h.spawn_worker(config.clone());
    let first = job("a replicated mug", 1);
    h.submit(std::slice::from_ref(&first), "durable", Lane::Bulk)
        .await;
    h.wait_batch("durable", 1, Duration::from_secs(30)).await;
    let rec = on_replica(&replica, &h, &id_of(&first)).await;
    assert_eq!(rec.get("status").map(String::as_str), Some("succeeded"));

    // The replica stops answering: the outcome is written on the primary, but the
    // message is not acknowledged; it is back in its queue when the worker stops.
    replica.signal("STOP");
    let second = job("an unreplicated mug", 2);
    h.submit(std::slice::from_ref(&second), "durable", Lane::Bulk)
        .await;
    h.wait_status(&id_of(&second), "succeeded", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.stop().await;
    assert_eq!(
        h.queue_depth(&lane).await,
        1,
        "the message of an outcome no replica acknowledged is still in RabbitMQ"
    );

    // The replica answers again: the redelivery finds the job final, waits for the
    // replica and acknowledges; the provider was paid once.
    replica.signal("CONT");
    let worker = h.spawn_worker(config);
    let start = tokio::time::Instant::now();
    while h.queue_depth(&lane).await > 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never acked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rec = on_replica(&replica, &h, &id_of(&second)).await;
    assert_eq!(rec.get("status").map(String::as_str), Some("succeeded"));
    assert_eq!(h.stats().submissions, 2, "each job paid once");
    worker.stop().await;
    h.cleanup().await;
}
