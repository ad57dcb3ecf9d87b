//! The provider slot pool against the real Redis, in a scratch namespace: a slot given
//! back while nobody in its process waits returns to the fleet, where another
//! worker's waiting job takes it; a stopped pool gives back every slot it holds.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::Harness;
use fluxq_worker::limiter::SlotPool;
use fluxq_worker::limiter::pool::{PoolConfig, PoolKeys};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

fn keys(h: &Harness) -> PoolKeys {
    let account = "bfl:0123456789abcdef";
    PoolKeys {
        slots: h.names.limiter_key(account, "slots"),
        state: h.names.limiter_key(account, "state"),
        interactive_waiting: h.names.limiter_key(account, "interactive_waiting"),
        waiting: h.names.limiter_key(account, "waiting"),
    }
}

/// The members of the account's live slot leases.
async fn slots(h: &Harness) -> Vec<String> {
    let now = fluxq_worker::limiter::now_ms();
    h.redis
        .clone()
        .zrangebyscore(keys(h).slots, now, "+inf")
        .await
        .unwrap_or_else(|e| panic!("read the slots: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_nobody_here_waits_for_goes_back_to_the_fleet() {
    let h = Harness::new(MockConfig::default()).await;
    let config = PoolConfig {
        max: 1,
        lease: Duration::from_secs(30),
        interactive_weight: 4,
    };
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let start = |id, stop: &CancellationToken| {
        SlotPool::start(h.redis.clone(), keys(&h), config, id, stop.clone())
    };
    let (a, b) = (start("worker-a", &stop_a), start("worker-b", &stop_b));

    let slot = tokio::time::timeout(Duration::from_secs(5), a.acquire(Lane::Bulk))
        .await
        .expect("worker a gets the free slot within 5 s")
        .expect("the pool is open");
    assert_eq!(slots(&h).await, ["worker-a:1"]);
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.acquire(Lane::Bulk).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "worker b got a slot over the fleet's limit of 1"
    );
    assert_eq!(b.waiting(), 1);

    // Nobody waits in worker a: the slot goes back to Redis (its lease has 30 s
    // left), and worker b's next round takes it.
    drop(slot);
    let slot_b = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("worker b gets the slot given back within 5 s")
        .expect("the waiting task")
        .expect("the pool is open");
    let held = slots(&h).await;
    assert!(
        held.len() == 1 && held[0].starts_with("worker-b:"),
        "the slot is worker b's now: {held:?}"
    );

    // Stopping worker b's pool gives back the slot its job still holds.
    stop_b.cancel();
    let start = tokio::time::Instant::now();
    while !slots(&h).await.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a stopped pool's slots are given back within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(slot_b);
    stop_a.cancel();
    h.cleanup().await;
}
