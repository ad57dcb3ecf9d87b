//! Input that can never run is dead-lettered with its reason, its record (if it has
//! a readable id) says `failed`, and the worker keeps processing good jobs.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_with_reasons_and_good_jobs_go_on() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(h.worker_config());

    let unknown_field_id = Uuid::new_v4();
    let width_id = Uuid::new_v4();
    let long_id = Uuid::new_v4();
    let poison: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not json {".to_vec(), "body"),
        (
            serde_json::to_vec(&serde_json::json!({"id": unknown_field_id, "batch": "poison", "model": "flux-2-pro", "prompt": "x", "colour": "red"})).unwrap(),
            "unknown field `colour`",
        ),
        (
            serde_json::to_vec(&serde_json::json!({"id": width_id, "batch": "poison", "model": "flux-2-pro", "prompt": "x", "width": 100, "height": 512})).unwrap(),
            "width: must be a multiple of 16",
        ),
        (serde_json::to_vec(&serde_json::json!({"batch": "poison", "model": "flux-2-pro", "prompt": "x"})).unwrap(), "missing field `id`"),
        (
            serde_json::to_vec(&serde_json::json!({"id": long_id, "batch": "poison", "model": "flux-2-pro", "prompt": "p".repeat(40_000)})).unwrap(),
            "prompt: must be at most 32000 characters",
        ),
    ];
    for (body, _) in &poison {
        h.publish_raw(body, Lane::Bulk).await;
    }
    let good: Vec<_> = (0..5)
        .map(|i| job(&format!("good teapot {i}"), i))
        .collect();
    h.submit(&good, "good", Lane::Bulk).await;

    let dead = h.dead_letters(poison.len(), Duration::from_secs(30)).await;
    for (body, reason) in &poison {
        let d = dead
            .iter()
            .find(|d| &d.body == body)
            .unwrap_or_else(|| panic!("no dead letter for {reason}"));
        assert!(
            d.reason.contains(reason),
            "reason {:?} should mention {reason:?}",
            d.reason
        );
        assert_eq!(d.attempts, Some(0));
    }
    for id in [unknown_field_id, width_id, long_id] {
        let rec = h.wait_status(&id, "failed", Duration::from_secs(10)).await;
        assert!(rec["error"].starts_with("invalid job:"), "{rec:?}");
        assert_eq!(rec["attempts"], "0");
    }
    let poison_batch = h.records.batch("poison").await.unwrap().unwrap();
    assert_eq!((poison_batch.total, poison_batch.failed), (3, 3));
    assert_eq!(
        h.stats().submit_requests,
        5,
        "nothing invalid reached the provider"
    );

    let batch = h.wait_batch("good", 5, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 5);
    for j in &good {
        assert_eq!(h.job(&id_of(j)).await["status"], "succeeded");
    }
    worker.stop().await;
    h.cleanup().await;
}

/// Bodies over `FLUXQ_MAX_MESSAGE_BYTES` are dead-lettered unread with the sizes in
/// the reason, and good jobs go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_size_limit_are_dead_lettered_unread() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(h.worker_config());
    let padding = "x".repeat(30 * 1024 * 1024);
    let mut bodies = Vec::new();
    for i in 0..4u64 {
        let mut j = job(&format!("huge {i}"), i);
        j["metadata"] = serde_json::json!({ "pad": padding });
        let body = serde_json::to_vec(&j).unwrap();
        h.publish_raw(&body, Lane::Bulk).await;
        bodies.push(body);
    }
    let good = job("small after huge", 9);
    h.submit(std::slice::from_ref(&good), "after-huge", Lane::Bulk)
        .await;
    let dead = h.dead_letters(4, Duration::from_secs(60)).await;
    assert_eq!(dead.len(), 4);
    for d in &dead {
        assert!(bodies.contains(&d.body));
        let expected = format!("message too large ({} bytes, limit 4194304)", d.body.len());
        assert_eq!(d.reason, expected);
    }
    for b in &bodies {
        let id = id_of(&serde_json::from_slice(b).unwrap());
        assert!(
            h.job(&id).await.is_empty(),
            "an unread body leaves no record"
        );
    }
    let batch = h.wait_batch("after-huge", 1, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 1);
    assert_eq!(h.stats().submit_requests, 1);
    worker.stop().await;
    h.cleanup().await;
}
