//! Runware jobs that make several images, that name a provider without a key, that
//! rely on the default provider, and that end for good (moderation, validation).

use std::time::Duration;

use fluxq_common::{Lane, ProviderKind};
use fluxq_mock_provider::MockConfig;
use serde_json::{Value, json};

use super::with_runware;
use fluxq_testkit::{Harness, id_of, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_results_stores_and_costs_every_image() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(with_runware(&h));
    let mut j = job("three teacups", 11);
    j["provider"] = json!("runware");
    j["number_results"] = json!(3);
    j["width"] = json!(1024);
    j["height"] = json!(1024);
    h.submit(std::slice::from_ref(&j), "multi", Lane::Bulk)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "succeeded", Duration::from_secs(30))
        .await;
    assert_eq!(
        rec["cost_usd"], "0.09",
        "three pro images at 1 MP, 0.03 each"
    );
    let paths: Vec<String> = serde_json::from_str(&rec["image_paths"]).unwrap();
    let urls: Vec<String> = serde_json::from_str(&rec["image_urls"]).unwrap();
    assert_eq!((paths.len(), urls.len()), (3, 3));
    assert_eq!(paths[0], rec["image_path"]);
    assert_eq!(urls[0], rec["image_url"]);
    let id = id_of(&j);
    let mut images = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let suffix = if n == 0 {
            format!("{id}.jpg")
        } else {
            format!("{id}-{}.jpg", n + 1)
        };
        assert!(path.ends_with(&suffix), "{path}");
        let bytes = std::fs::read(path).unwrap();
        image::load_from_memory(&bytes).unwrap();
        images.push(bytes);
    }
    assert!(
        images[0] != images[1] && images[1] != images[2],
        "three different images"
    );
    let stats = h.stats();
    assert_eq!(
        (
            stats.by_provider.runware.submissions,
            stats.by_provider.runware.images
        ),
        (1, 3)
    );
    let batch = h.records.batch("multi").await.unwrap().unwrap();
    assert_eq!(batch.cost.to_string(), "0.09");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_provider_choices_fail_validation_before_any_money_is_spent() {
    let h = Harness::new(MockConfig::default()).await;
    // This worker has a BFL key only.
    let worker = h.spawn_worker(h.worker_config());
    let mut no_key = job("runware without a key", 1);
    no_key["provider"] = json!("runware");
    no_key["batch"] = json!("nokey");
    let mut many_on_bfl = job("two images at bfl", 2);
    many_on_bfl["number_results"] = json!(2);
    many_on_bfl["batch"] = json!("nokey");
    for j in [&no_key, &many_on_bfl] {
        h.publish_raw(&serde_json::to_vec(j).unwrap(), Lane::Bulk)
            .await;
    }
    let dead = h.dead_letters(2, Duration::from_secs(20)).await;
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("RUNWARE_API_KEY")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("number_results") && r.contains("runware")),
        "{reasons:?}"
    );
    for j in [&no_key, &many_on_bfl] {
        let rec = h
            .wait_status(&id_of(j), "failed", Duration::from_secs(10))
            .await;
        assert_eq!(
            rec.get("attempts").map(String::as_str),
            Some("0"),
            "{rec:?}"
        );
    }
    let stats = h.stats();
    assert_eq!(
        (stats.submit_requests, stats.micro_usd_billed),
        (0, 0),
        "nothing reached the provider"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_provider_setting_routes_jobs_that_name_none() {
    let h = Harness::new(MockConfig::default()).await;
    let mut config = with_runware(&h);
    config.default_provider = ProviderKind::Runware;
    let worker = h.spawn_worker(config);
    let j = job("routed by the setting", 3);
    h.publish_raw(&serde_json::to_vec(&j).unwrap(), Lane::Interactive)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(rec["provider"], "runware");
    let stats = h.stats();
    assert_eq!(
        (
            stats.by_provider.runware.submissions,
            stats.by_provider.bfl.submissions
        ),
        (1, 0)
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_and_provider_side_validation_at_runware_are_final() {
    let h = Harness::new(MockConfig {
        moderation_word: Some("forbidden".into()),
        reject_word: Some("reject-me".into()),
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_runware(&h));
    let jobs: Vec<Value> = [("a forbidden picture", 2), ("please reject-me now", 3)]
        .into_iter()
        .map(|(p, seed)| {
            let mut j = job(p, seed);
            j["provider"] = json!("runware");
            j
        })
        .collect();
    h.submit(&jobs, "final-rw", Lane::Bulk).await;
    let batch = h.wait_batch("final-rw", 2, Duration::from_secs(30)).await;
    assert_eq!(
        (batch.succeeded, batch.failed, batch.moderated),
        (0, 1, 1),
        "{batch:?}"
    );
    let moderated = h.job(&id_of(&jobs[0])).await;
    assert!(
        moderated["error"].contains("contentModerated"),
        "{moderated:?}"
    );
    let rejected = h.job(&id_of(&jobs[1])).await;
    assert!(
        rejected["error"].contains("invalidPositivePrompt"),
        "{rejected:?}"
    );
    let stats = h.stats();
    assert_eq!(
        stats.submit_requests_by_prompt["please reject-me now"], 1,
        "not retried"
    );
    assert_eq!(
        stats.submissions_by_prompt["a forbidden picture"], 1,
        "not retried"
    );
    assert_eq!(batch.cost.0, 0, "nothing charged");
    worker.stop().await;
    h.cleanup().await;
}
