//! Scratch namespaces: a fresh one per test (so tests share one broker and one Redis
//! without seeing each other) and the cleanup of everything made under it.
//!
//! The prefixes in use (`t` the worker's tests, `p` the producer's, `d` its dry runs,
//! `bench` the benchmarks) are the ones `scripts/ensure-services` sweeps when a run
//! died before its cleanup.

use fluxq_common::{DelayTiers, Names};
use fluxq_wire::amqp;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// A namespace no other test uses: `prefix` and `len` hex digits of a fresh UUID.
pub fn fresh(prefix: &str, len: usize) -> Names {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Names::new(&format!("{prefix}{}", &id[..len.min(id.len())])).expect("a valid namespace")
}

/// Deletes every Redis key of the namespace. A Redis that does not answer (a test's
/// outage) leaves them, as nothing else could be done.
pub async fn delete_keys(redis: &ConnectionManager, names: &Names) {
    let mut conn = redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", names.namespace()))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = conn.del(chunk).await;
    }
}

/// Deletes the namespace's exchanges and queues, with the delay queues of every
/// policy in `tiers`. A connection whose broker was restarted has no channel left
/// to clean with; its queues went with the broker's data.
pub async fn delete_topology(conn: &lapin::Connection, names: &Names, tiers: &[&DelayTiers]) {
    if let Ok(ch) = conn.create_channel().await {
        amqp::delete_topology(&ch, names, tiers)
            .await
            .expect("delete the test's queues");
        let _ = ch.close(200, "ok".into()).await;
    }
}

/// Both of the above.
pub async fn cleanup(
    conn: &lapin::Connection,
    redis: &ConnectionManager,
    names: &Names,
    tiers: &[&DelayTiers],
) {
    delete_keys(redis, names).await;
    delete_topology(conn, names, tiers).await;
}
