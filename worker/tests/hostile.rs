//! Hostile provider replies (a `progress` of 1e-30, "NaN" or -5, a 10 MB poll
//! answer, a chunked image past the cap) never panic a job or fill memory: the
//! values are clamped or refused and the worker keeps processing other jobs.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};

async fn run_with_progress(progress: serde_json::Value) {
    let mock = MockConfig {
        poll_progress_override: Some(progress.clone()),
        ..fluxq_testkit::fixed_latency(600)
    };
    let h = Harness::new(mock).await;
    let worker = h.spawn_worker(h.worker_config());
    let jobs: Vec<_> = (0..4).map(|i| job(&format!("hostile {i}"), i)).collect();
    h.submit(&jobs, "hostile", Lane::Bulk).await;
    let batch = h.wait_batch("hostile", 4, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 4, "progress {progress}: {batch:?}");
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["status"], "succeeded");
        // A job task that panicked was caught, recorded `retrying` with the panic as its
        // error and run again: it would still succeed, but keep that error.
        assert_eq!(rec.get("error").map_or("", String::as_str), "", "{rec:?}");
    }
    worker.stop().await;
    h.cleanup().await;
}

/// Clamped: the reading is ignored (or the wait capped) and the jobs succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_progress_does_not_panic_the_job() {
    run_with_progress(serde_json::json!(1e-30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_progress_is_ignored() {
    run_with_progress(serde_json::json!("NaN")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_or_huge_progress_is_ignored() {
    run_with_progress(serde_json::json!(-5)).await;
    run_with_progress(serde_json::json!(1e300)).await;
}

/// A chunked image reply (no `Content-Length`) of 200 MB is cut off at the cap
/// (1 MiB here) and the job fails with the reason, without resubmitting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_image_past_the_cap_is_refused() {
    let mock = MockConfig {
        chunked_image_bytes: Some(200_000_000),
        ..fluxq_testkit::fixed_latency(100)
    };
    let h = Harness::new(mock).await;
    let mut config = h.worker_config();
    config.input.max_image_bytes = 1024 * 1024;
    let worker = h.spawn_worker(config);
    let j = job("huge image", 1);
    h.submit(std::slice::from_ref(&j), "huge", Lane::Bulk).await;
    let rec = h
        .wait_status(&id_of(&j), "failed", Duration::from_secs(30))
        .await;
    assert!(
        rec["error"].contains("image larger than 1048576 bytes"),
        "{rec:?}"
    );
    assert_eq!(
        h.stats().submissions,
        1,
        "refused images are not generated again"
    );
    worker.stop().await;
    h.cleanup().await;
}

/// A `Ready` answer whose image URL points at a cloud metadata address (or any host
/// that is neither the provider's nor in `FLUXQ_DOWNLOAD_HOSTS`) is not fetched: the
/// job fails with the reason, the task is not generated again, and the URL's query
/// (a signature) is not in the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_url_on_a_foreign_host_is_not_fetched() {
    let cases = [
        (
            "http://169.254.169.254/latest/meta-data/iam?sig=abc",
            "metadata",
        ),
        ("https://images.example.net/x.jpeg?sig=abc", "foreign"),
        ("file:///etc/passwd", "file"),
    ];
    for (url, name) in cases {
        let mock = MockConfig {
            sample_url_override: Some(url.to_owned()),
            ..fluxq_testkit::fixed_latency(100)
        };
        let h = Harness::new(mock).await;
        let worker = h.spawn_worker(h.worker_config());
        let j = job(&format!("foreign host {name}"), 1);
        h.submit(std::slice::from_ref(&j), "foreign", Lane::Bulk)
            .await;
        let rec = h
            .wait_status(&id_of(&j), "failed", Duration::from_secs(30))
            .await;
        assert!(
            rec["error"].contains("image URL") && rec["error"].contains("not allowed")
                || rec["error"].contains("outside the allowed hosts"),
            "{url}: {rec:?}"
        );
        assert!(!rec["error"].contains("sig=abc"), "{rec:?}");
        assert_eq!(h.stats().submissions, 1, "{url}: not generated again");
        worker.stop().await;
        h.cleanup().await;
    }
}

/// A 10 MB poll answer is not read (over the 1 MiB JSON cap): every poll fails, the
/// job fails at its deadline, and the worker stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_poll_answer_is_not_read() {
    let mock = MockConfig {
        poll_body_pad_bytes: 10_000_000,
        ..fluxq_testkit::fixed_latency(100)
    };
    let h = Harness::new(mock).await;
    let mut config = h.worker_config();
    config.job_deadline = Duration::from_secs(2);
    config.retry.max_attempts = 1;
    let worker = h.spawn_worker(config);
    let j = job("huge poll", 1);
    h.submit(std::slice::from_ref(&j), "huge-poll", Lane::Bulk)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "failed", Duration::from_secs(30))
        .await;
    assert!(rec["error"].contains("no result for task"), "{rec:?}");
    worker.stop().await;
    h.cleanup().await;
}

/// A job task that panics (here on purpose, on its first run) settles its delivery:
/// the record says `retrying` with the reason, the message comes back through a
/// delay queue and the job then succeeds, submitted once; the worker keeps
/// processing other jobs meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_task_settles_its_delivery_and_runs_again() {
    let h = Harness::new(fluxq_testkit::fixed_latency(100)).await;
    let worker = h.spawn_worker(h.worker_config());
    let bad = job(fluxq_worker::fault::PANIC_ONCE, 1);
    let good: Vec<_> = (0..3)
        .map(|i| job(&format!("beside a panic {i}"), i))
        .collect();
    h.submit(std::slice::from_ref(&bad), "panic", Lane::Bulk)
        .await;
    h.submit(&good, "beside", Lane::Bulk).await;
    let rec = h
        .wait_status(&id_of(&bad), "retrying", Duration::from_secs(30))
        .await;
    assert!(
        rec["error"].starts_with("worker error while running the job: injected fault"),
        "{rec:?}"
    );
    assert_eq!(
        h.wait_batch("beside", 3, Duration::from_secs(30))
            .await
            .succeeded,
        3,
        "the other jobs went on"
    );
    let rec = h
        .wait_status(&id_of(&bad), "succeeded", Duration::from_secs(60))
        .await;
    assert_eq!(rec["attempts"], "1", "{rec:?}");
    assert_eq!(
        h.stats()
            .submissions_by_prompt
            .get(fluxq_worker::fault::PANIC_ONCE),
        Some(&1)
    );
    worker.stop().await;
    h.cleanup().await;
}
