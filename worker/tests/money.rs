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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_whose_answer_was_lost_are_bounded_and_accounted() {
    let h = Harness::new(MockConfig {
        drop_after_accept_rate: 1.0,
        ..fluxq_testkit::fixed_latency(100)
    })
    .await;
    let jobs: Vec<_> = (0..4)
        .map(|n| job(&format!("an answer lost {n}"), n))
        .collect();
    h.submit(&jobs, "money-lost", Lane::Bulk).await;
    let worker = h.spawn_worker(h.worker_config());
    let batch = h.wait_batch("money-lost", 4, Duration::from_secs(90)).await;
    assert_eq!((batch.succeeded, batch.failed), (0, 4), "{batch:?}");
    let stats = h.stats();
    let max_ambiguous = 2; // FLUXQ_MAX_AMBIGUOUS_SUBMITS's default
    for j in &jobs {
        let prompt = j["prompt"].as_str().unwrap();
        let rec = h.job(&id_of(j)).await;
        assert_eq!(
            stats.submissions_by_prompt[prompt], max_ambiguous,
            "{prompt}: no submission past the limit"
        );
        assert_eq!(
            rec["ambiguous_submits"],
            max_ambiguous.to_string(),
            "{rec:?}"
        );
        assert!(
            rec["error"].contains("possibly charged"),
            "{:?}",
            rec["error"]
        );
        assert_eq!(rec["cost_usd"], "0", "nothing confirmed");
    }
    assert_eq!(batch.ambiguous_submits, 4 * max_ambiguous);
    assert_eq!(
        batch.cost.0 + batch.unconfirmed.0,
        stats.micro_usd_billed,
        "cost + unconfirmed = what the provider billed"
    );
    let dead = h.dead_letters(4, Duration::from_secs(10)).await;
    assert!(
        dead.iter().all(|d| d.reason.contains("possibly charged")),
        "{dead:?}"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_charges_are_recorded_and_alerted_not_dropped() {
    use fluxq_mock_provider::KnobsPatch;
    use fluxq_testkit::process::{WorkerProcess, get};
    let h = Harness::new(fluxq_testkit::fixed_latency(100)).await;
    let mut env = h.process_env();
    env.push(("FLUXQ_POLL_INITIAL_MS", "50".into()));
    let worker = WorkerProcess::start(&env);
    let addr = worker.metrics_addr().await;
    let price = MicroUsd(30_000); // flux-2-pro, 512×512: the price table's estimate
    for (n, reported) in [
        serde_json::json!(1e30),
        serde_json::json!(-3),
        serde_json::json!("NaN"),
    ]
    .into_iter()
    .enumerate()
    {
        h.mock.update(KnobsPatch {
            cost_override: Some(Some(reported.clone())),
            ..Default::default()
        });
        let j = job(&format!("a charge of {reported}"), n as u64);
        h.submit(std::slice::from_ref(&j), "money-charge", Lane::Bulk)
            .await;
        let rec = h
            .wait_status(&id_of(&j), "succeeded", Duration::from_secs(30))
            .await;
        assert!(
            rec.get("charge_error").is_some_and(|e| e.contains("cost")),
            "{reported}: the bad charge is recorded on the job: {rec:?}"
        );
        assert_eq!(
            MicroUsd::parse_usd(&rec["cost_usd"]),
            Some(price),
            "{reported}: the estimate is recorded in its place"
        );
    }
    let stats = h.stats();
    assert_eq!(stats.submissions, 3, "each job paid once");
    let batch = h.records.batch("money-charge").await.unwrap().unwrap();
    assert_eq!(batch.cost, MicroUsd(stats.micro_usd_billed));
    let (_, text) = get(addr, "/metrics").await;
    assert!(
        text.lines()
            .any(|l| l == "fluxq_invalid_charges_total{provider=\"bfl\"} 3"),
        "{text}"
    );
    worker
        .wait_log("an ERROR about the charge", |v| {
            v["level"] == "ERROR" && v["message"].as_str().is_some_and(|m| m.contains("charge"))
        })
        .await;
    drop(worker);
    h.cleanup().await;
}
