//! Dead letters over HTTP: listed (filtered, paged) without being taken from the
//! queue, and replayed as `producer replay-dead` does.

use std::time::Duration;

use fluxq_common::Lane;
use serde_json::json;

use crate::server::{READ, Server, env};
use crate::support::{Harness, fixed_latency};

#[tokio::test]
async fn dead_letters_are_listed_in_place_and_replayed() {
    let h = Harness::new(fixed_latency(50)).await;
    let worker = h.spawn_worker(h.worker_config());
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        let batch = if i < 2 { "dead-a" } else { "dead-b" };
        // Valid JSON with an unknown field: dead-lettered with the reason.
        let body = json!({"id": id, "batch": batch, "model": "flux-2-pro", "prompt": "p", "colour": "red"});
        h.publish_raw(body.to_string().as_bytes(), Lane::Bulk).await;
    }
    let dead = h.names.dead_queue();
    let start = tokio::time::Instant::now();
    while h.queue_depth(&dead).await < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "3 dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    let s = Server::start(&env(&h), &[]).await;
    let (code, all) = s.get("/v1/dead", Some(READ)).await;
    assert_eq!(code, 200, "{all}");
    assert_eq!(
        (all["examined"].as_u64(), all["matching"].as_u64()),
        (Some(3), Some(3))
    );
    let listed: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "in queue order"
    );
    assert!(
        all["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{all}"
    );
    assert_eq!(h.queue_depth(&dead).await, 3, "listing takes nothing away");

    let (_, page1) = s.get("/v1/dead?batch=dead-a&limit=1", Some(READ)).await;
    assert_eq!(page1["items"][0]["id"], ids[0].as_str());
    assert_eq!(page1["matching"], 2);
    let cursor = page1["next_cursor"].as_u64().unwrap();
    let (_, page2) = s
        .get(
            &format!("/v1/dead?batch=dead-a&limit=1&cursor={cursor}"),
            Some(READ),
        )
        .await;
    assert_eq!(
        page2["items"][0]["id"],
        ids[1].as_str(),
        "the order survived the first listing"
    );
    assert!(page2["next_cursor"].is_null());
    let (_, by_reason) = s.get("/v1/dead?reason=nothing-like-this", Some(READ)).await;
    assert_eq!(by_reason["matching"], 0);

    let (code, _, r) = s
        .post("/v1/dead/replay", &json!({"batch": "dead-b"}), &[])
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        (
            r["examined"].as_u64(),
            r["replayed"].as_u64(),
            r["kept"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(h.queue_depth(&dead).await, 2);
    assert_eq!(
        h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await,
        1,
        "replayed to its lane"
    );
    h.cleanup().await;
}
