//! Money safety: a failed download never pays for the image again by itself, and
//! what the provider billed is what the records say.

use std::time::Duration;

use fluxq_common::{Lane, MicroUsd};
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_downloads_are_retried_without_submitting_again() {
    let h = Harness::new(MockConfig {
        download_fail_rate: 0.3,
        download_fail_first: 5,
        ..fluxq_testkit::fixed_latency(100)
    })
    .await;
    let jobs: Vec<_> = (0..8)
        .map(|n| job(&format!("a flaky download {n}"), n))
        .collect();
    h.submit(&jobs, "money-dl5xx", Lane::Bulk).await;
    let worker = h.spawn_worker(h.worker_config());
    let batch = h
        .wait_batch("money-dl5xx", 8, Duration::from_secs(90))
        .await;
    assert_eq!((batch.succeeded, batch.failed), (8, 0), "{batch:?}");
    let stats = h.stats();
    assert!(stats.download_errors >= 8, "{}", stats.download_errors);
    assert_eq!(stats.submissions, 8, "one paid task per job");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_fetched_is_paid_again_at_most_once() {
    let h = Harness::new(MockConfig {
        download_ttl: Duration::ZERO,
        ..fluxq_testkit::fixed_latency(100)
    })
    .await;
    let jobs: Vec<_> = (0..3)
        .map(|n| job(&format!("an expired image {n}"), n))
        .collect();
    h.submit(&jobs, "money-ttl0", Lane::Bulk).await;
    let mut config = h.worker_config();
    config.max_repaid_downloads = 1;
    let worker = h.spawn_worker(config);
    let batch = h.wait_batch("money-ttl0", 3, Duration::from_secs(90)).await;
    assert_eq!((batch.succeeded, batch.failed), (0, 3), "{batch:?}");
    let stats = h.stats();
    assert!(stats.submissions > 0);
    assert_eq!(stats.micro_usd_billed % stats.submissions, 0, "one price");
    let price = stats.micro_usd_billed / stats.submissions;
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        let prompt = j["prompt"].as_str().unwrap();
        let paid = stats.submissions_by_prompt[prompt];
        assert!(paid <= 2, "{prompt}: {paid} submissions");
        assert_eq!(rec["status"], "failed");
        assert!(
            rec["error"].contains("paid for and could not be downloaded"),
            "{:?}",
            rec["error"]
        );
        let cost = MicroUsd::parse_usd(&rec["cost_usd"]).unwrap();
        assert_eq!(cost.0, paid * price, "{prompt}: recorded = billed");
    }
    worker.stop().await;
    h.cleanup().await;
}
