//! A job's identity is its first valid message: a copy that reuses the id, invalid or
//! with other fields, is dead-lettered and moves nothing; and batch names that look
//! like other keys (`b` and `b:failed`) never share a Redis key.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_copy_of_a_queued_job_leaves_the_job_alone() {
    let h = Harness::new(MockConfig::default()).await;
    let real = job("a mug with a handle", 1);
    let id = id_of(&real);
    h.submit(std::slice::from_ref(&real), "ident-a", Lane::Bulk)
        .await;
    assert_eq!(h.job(&id).await["status"], "queued");
    // The same id with a typo: invalid, and it must not fail the queued job.
    let mut copy = real.clone();
    copy["colour"] = serde_json::json!("red");
    copy["batch"] = serde_json::json!("ident-a");
    h.publish_raw(&serde_json::to_vec(&copy).unwrap(), Lane::Interactive)
        .await;
    let worker = h.spawn_worker(h.worker_config());
    let dead = h.dead_letters(1, Duration::from_secs(30)).await;
    assert!(dead[0].reason.contains("colour"), "{:?}", dead[0].reason);
    let batch = h.wait_batch("ident-a", 1, Duration::from_secs(30)).await;
    assert_eq!((batch.total, batch.succeeded, batch.failed), (1, 1, 0));
    assert_eq!(h.job(&id).await["status"], "succeeded");
    assert_eq!(h.stats().submit_requests, 1, "the job ran once");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_copy_in_another_batch_moves_neither_batch_twice() {
    let h = Harness::new(MockConfig::default()).await;
    let real = job("a teapot on a shelf", 2);
    let id = id_of(&real);
    h.submit(std::slice::from_ref(&real), "ident-first", Lane::Bulk)
        .await;
    let mut copy = real.clone();
    copy["batch"] = serde_json::json!("ident-second");
    h.publish_raw(&serde_json::to_vec(&copy).unwrap(), Lane::Interactive)
        .await;
    let worker = h.spawn_worker(h.worker_config());
    let dead = h.dead_letters(1, Duration::from_secs(30)).await;
    assert!(
        dead[0].reason.contains("id already used"),
        "{:?}",
        dead[0].reason
    );
    let first = h
        .wait_batch("ident-first", 1, Duration::from_secs(30))
        .await;
    assert_eq!((first.total, first.succeeded), (1, 1));
    let second = h.records.batch("ident-second").await.unwrap();
    assert!(
        second.as_ref().is_none_or(|s| s.done() == 0),
        "the copy's batch counted nothing: {second:?}"
    );
    let rec = h.job(&id).await;
    assert_eq!(rec["batch"], "ident-first");
    assert_eq!(h.stats().submit_requests, 1);
    // Once more, now that the job is final: still nothing moves.
    h.publish_raw(&serde_json::to_vec(&copy).unwrap(), Lane::Bulk)
        .await;
    let again = h.dead_letters(1, Duration::from_secs(30)).await;
    assert!(
        again[0].reason.contains("id already used"),
        "{:?}",
        again[0].reason
    );
    let first = h.records.batch("ident-first").await.unwrap().unwrap();
    assert_eq!((first.total, first.succeeded), (1, 1));
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_named_b_and_b_failed_keep_their_own_keys() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(h.worker_config());
    // Batch `kb` gets a failed job (an invalid message with a readable id) …
    let bad = serde_json::json!({"id": uuid::Uuid::new_v4(), "batch": "kb", "model": "flux-2-pro",
        "prompt": "x", "width": 100, "height": 512});
    h.publish_raw(&serde_json::to_vec(&bad).unwrap(), Lane::Bulk)
        .await;
    let ok = job("a lamp", 3);
    h.submit(std::slice::from_ref(&ok), "kb", Lane::Bulk).await;
    // … and batch `kb:failed`, whose hash once was `kb`'s failed set, succeeds.
    let other: Vec<_> = (0..3).map(|i| job(&format!("a chair {i}"), i)).collect();
    h.submit(&other, "kb:failed", Lane::Bulk).await;
    let kb = h.wait_batch("kb", 2, Duration::from_secs(30)).await;
    assert_eq!((kb.total, kb.succeeded, kb.failed), (2, 1, 1));
    let kbf = h.wait_batch("kb:failed", 3, Duration::from_secs(30)).await;
    assert_eq!((kbf.total, kbf.succeeded, kbf.failed), (3, 3, 0));
    let failed = h.records.failed_jobs("kb", 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.contains("width"), "{failed:?}");
    assert!(
        h.records
            .failed_jobs("kb:failed", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let finals = h
        .events()
        .await
        .into_iter()
        .filter(|e| e["batch"].starts_with("kb"))
        .count();
    assert_eq!(finals, 5, "one event per job");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_from_before_fingerprints_keeps_its_batch() {
    use redis::AsyncCommands;
    let h = Harness::new(MockConfig::default()).await;
    let j = job("a vase recorded long ago", 4);
    let id = id_of(&j);
    // A queued record as an older producer wrote it: no fingerprint.
    let _: () = h
        .redis
        .clone()
        .hset_multiple(
            h.names.job_key(&id),
            &[
                ("status", "queued"),
                ("attempts", "0"),
                ("batch", "ident-old"),
            ],
        )
        .await
        .unwrap();
    let mut copy = j.clone();
    copy["batch"] = serde_json::json!("ident-new");
    h.publish_raw(&serde_json::to_vec(&copy).unwrap(), Lane::Bulk)
        .await;
    let worker = h.spawn_worker(h.worker_config());
    let dead = h.dead_letters(1, Duration::from_secs(30)).await;
    assert!(dead[0].reason.contains("id already used"), "{:?}", dead[0]);
    assert!(h.records.batch("ident-new").await.unwrap().is_none());
    assert_eq!(h.job(&id).await["status"], "queued");
    assert_eq!(h.stats().submit_requests, 0);
    worker.stop().await;
    h.cleanup().await;
}
