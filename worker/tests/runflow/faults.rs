//! Runflow jobs under faults: 5xx on create and poll, creation answers cut off (the
//! run found again by `client_ref`) and a lookup that fails too (an ambiguous
//! submit, never paid twice), a 402 that opens the account breaker and a top-up that
//! closes it, a 422 naming the field, and downloads that fail until the run is read
//! again; plus a moderated run.

use std::collections::HashSet;
use std::time::Duration;

use fluxq_common::{Lane, MicroUsd};
use fluxq_mock_provider::{KnobsPatch, MockConfig, RunflowOutputShape};
use fluxq_testkit::{Harness, id_of};
use redis::AsyncCommands;
use serde_json::Value;

use super::{
    cost, created, producer_status, run_at_mock, runflow_account, runflow_job, with_providers,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundreds_on_create_and_poll_never_make_a_second_run() {
    let h = Harness::new(MockConfig {
        submit_fail_rate: 0.2,
        poll_fail_rate: 0.2,
        ..MockConfig::default()
    })
    .await;
    let mut config = with_providers(&h);
    config.retry.max_attempts = 20;
    let worker = h.spawn_worker(config);
    let jobs: Vec<Value> = (0..30)
        .map(|i| runflow_job(&format!("flaky lantern {i}"), i))
        .collect();
    h.submit(&jobs, "rf-5xx", Lane::Bulk).await;
    let batch = h.wait_batch("rf-5xx", 30, Duration::from_secs(90)).await;
    assert_eq!(batch.succeeded, 30, "{batch:?}");

    let stats = h.stats();
    assert!(
        stats.submit_errors > 0 && stats.poll_errors > 0,
        "faults were injected: {stats:?}"
    );
    let mut retried = 0;
    for j in &jobs {
        let prompt = j["prompt"].as_str().unwrap();
        let rec = h.job(&id_of(j)).await;
        assert_eq!(stats.submissions_by_prompt[prompt], 1, "{prompt}: one run");
        assert_eq!(cost(&rec).0, stats.billed_by_prompt[prompt]);
        retried += u32::from(rec["attempts"] != "1");
    }
    assert!(retried > 0, "some creations failed and were retried");
    let rf = &stats.by_provider.runflow;
    assert!(rf.lookups > 0, "retries looked for an earlier run first");
    assert_eq!(batch.cost, MicroUsd(rf.micro_usd_billed), "cost = the bill");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_creation_answer_is_found_again_by_client_ref() {
    let h = Harness::new(MockConfig {
        drop_after_accept_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_providers(&h));
    let jobs: Vec<Value> = (0..8)
        .map(|i| runflow_job(&format!("dropped dahlia {i}"), i))
        .collect();
    h.submit(&jobs, "rf-drop", Lane::Bulk).await;
    let batch = h.wait_batch("rf-drop", 8, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 8, "{batch:?}");

    let stats = h.stats();
    let rf = &stats.by_provider.runflow;
    assert_eq!(rf.dropped_responses, 8, "every creation answer was cut off");
    assert_eq!(rf.submissions, 8, "one billed run per job");
    for j in &jobs {
        let prompt = j["prompt"].as_str().unwrap();
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["attempts"], "1", "found again within the attempt");
        assert_eq!(created(&h, prompt).len(), 1, "{prompt}: created once");
        let run = run_at_mock(&h, &rec["provider_task_id"]).await;
        assert_eq!(run["client_ref"], id_of(j).to_string());
        assert_eq!(cost(&rec).0, stats.billed_by_prompt[prompt]);
    }
    assert_eq!(batch.cost, MicroUsd(rf.micro_usd_billed), "cost = the bill");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_whose_lookup_fails_is_ambiguous_and_never_paid_twice() {
    let h = Harness::new(MockConfig {
        drop_after_accept_rate: 1.0,
        lookup_fail_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let mut config = with_providers(&h);
    config.retry.max_attempts = 30;
    let worker = h.spawn_worker(config);
    let j = runflow_job("ambiguous amaryllis", 9);
    let id = id_of(&j);
    h.submit(std::slice::from_ref(&j), "rf-ambiguous", Lane::Bulk)
        .await;
    // The first creation's answer is lost and the lookup fails: ambiguous.
    let start = tokio::time::Instant::now();
    loop {
        let rec = h.job(&id).await;
        let error = rec.get("error").cloned().unwrap_or_default();
        if error.starts_with(
            "submit sent and its answer lost (possibly charged, unconfirmed: 0.03 USD; 1 of at most 2): ambiguous submit:",
        ) {
            assert_eq!(rec["status"], "retrying", "{rec:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{rec:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While the lookup keeps failing, nothing is sent again.
    let start = tokio::time::Instant::now();
    loop {
        let rec = h.job(&id).await;
        if rec["attempts"].parse::<u32>().unwrap() >= 3 {
            let error = &rec["error"];
            assert!(error.contains("not submitting again"), "{rec:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{rec:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(created(&h, "ambiguous amaryllis").len(), 1);
    h.mock.update(KnobsPatch {
        drop_after_accept_rate: Some(0.0),
        lookup_fail_rate: Some(0.0),
        ..Default::default()
    });
    let rec = h
        .wait_status(&id, "succeeded", Duration::from_secs(30))
        .await;
    let stats = h.stats();
    assert_eq!(stats.by_provider.runflow.submissions, 1, "one billed run");
    assert_eq!(created(&h, "ambiguous amaryllis").len(), 1, "created once");
    assert_eq!(
        cost(&rec),
        MicroUsd(stats.micro_usd_billed),
        "cost = the bill"
    );
    assert!(stats.lookup_errors > 0);
    assert_eq!(rec["ambiguous_submits"], "1", "{rec:?}");
    let batch = h.records.batch("rf-ambiguous").await.unwrap().unwrap();
    assert_eq!(batch.unconfirmed, MicroUsd(30_000));
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_credit_opens_the_breaker_and_a_top_up_closes_it() {
    let h = Harness::new(MockConfig {
        credits: Some(0.0),
        ..MockConfig::default()
    })
    .await;
    let mut config = with_providers(&h);
    config.limits.breaker_probe = Duration::from_millis(300);
    let worker = h.spawn_worker(config);
    let jobs: Vec<Value> = (0..4)
        .map(|i| runflow_job(&format!("unpaid umbrella {i}"), i))
        .collect();
    h.submit(&jobs, "rf-credit", Lane::Bulk).await;
    let breaker = h.names.breaker_key(&runflow_account(&h));
    let mut conn = h.redis.clone();
    let start = tokio::time::Instant::now();
    while !conn.exists::<_, bool>(&breaker).await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason: String = conn.hget(&breaker, "reason").await.unwrap();
    assert!(reason.contains("402 INSUFFICIENT_CREDIT"), "{reason}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batch = h.records.batch("rf-credit").await.unwrap().unwrap();
    assert_eq!(
        (batch.succeeded, batch.failed),
        (0, 0),
        "none failed: {batch:?}"
    );
    let report = producer_status(&h, "rf-credit").await;
    let line = report
        .lines()
        .find(|l| l.starts_with("provider account runflow:"))
        .unwrap_or_default();
    assert!(
        line.contains("breaker OPEN") && line.contains("402"),
        "{report}"
    );
    assert_eq!(h.stats().by_provider.runflow.submissions, 0);

    h.mock.update(KnobsPatch {
        credits: Some(Some(1000.0)),
        ..Default::default()
    });
    let done = h.wait_batch("rf-credit", 4, Duration::from_secs(30)).await;
    assert_eq!((done.succeeded, done.failed), (4, 0));
    assert!(!conn.exists::<_, bool>(&breaker).await.unwrap(), "closed");
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["attempts"], "1", "a 402 is not an attempt");
    }
    let stats = h.stats();
    assert!(stats.insufficient_credits > 0);
    assert_eq!(stats.by_provider.runflow.submissions, 4);
    assert_eq!(
        done.cost,
        MicroUsd(stats.micro_usd_billed),
        "cost = the bill"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_error_fails_the_job_naming_the_field() {
    let h = Harness::new(MockConfig {
        reject_word: Some("forbidden".into()),
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_providers(&h));
    let j = runflow_job("a forbidden fountain", 2);
    h.submit(std::slice::from_ref(&j), "rf-422", Lane::Bulk)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "failed", Duration::from_secs(30))
        .await;
    assert!(
        rec["error"].starts_with("Runflow submit refused input.prompt (")
            && rec["error"].contains("answered HTTP 422 VALIDATION_ERROR"),
        "{rec:?}"
    );
    assert_eq!(
        (rec["attempts"].as_str(), rec["cost_usd"].as_str()),
        ("1", "0")
    );
    let dead = h.dead_letters(1, Duration::from_secs(10)).await;
    assert!(dead[0].reason.contains("input.prompt"), "{:?}", dead[0]);
    let stats = h.stats();
    assert_eq!(stats.by_provider.runflow.submissions, 0);
    assert_eq!(
        stats.by_provider.runflow.invalid, 1,
        "sent once, not retried"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_downloads_read_the_run_again_and_moderated_runs_are_final() {
    let h = Harness::new(MockConfig {
        download_fail_first: 4,
        runflow_output_shape: RunflowOutputShape::Image,
        moderation_word: Some("gore".into()),
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_providers(&h));
    let fine: Vec<Value> = (0..3)
        .map(|i| runflow_job(&format!("stubborn sunflower {i}"), i))
        .collect();
    let refused = runflow_job("gore in the garden", 4);
    let mut all = fine.clone();
    all.push(refused.clone());
    h.submit(&all, "rf-fetch", Lane::Bulk).await;
    let batch = h.wait_batch("rf-fetch", 4, Duration::from_secs(60)).await;
    assert_eq!((batch.succeeded, batch.moderated), (3, 1), "{batch:?}");

    let stats = h.stats();
    // Four tries of the first URL fail; the run is read again for a fresh one.
    assert_eq!(stats.download_errors, 12, "{stats:?}");
    assert_eq!(stats.downloads, 3);
    let mut urls = HashSet::new();
    for j in &fine {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["attempts"], "1");
        assert_eq!(created(&h, j["prompt"].as_str().unwrap()).len(), 1);
        urls.insert(rec["image_url"].clone());
        std::fs::read(&rec["image_path"]).unwrap();
    }
    assert_eq!(urls.len(), 3);
    let rec = h.job(&id_of(&refused)).await;
    assert_eq!(rec["status"], "moderated");
    assert!(rec["error"].contains("INPUT_MODERATED"), "{rec:?}");
    assert_eq!(rec["cost_usd"], "0", "a failed run is not billed");
    assert_eq!(
        batch.cost,
        MicroUsd(stats.micro_usd_billed),
        "cost = the bill"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_creates_wait_for_retry_after_without_spending_attempts() {
    let h = Harness::new(MockConfig {
        throttle_rate: 0.5,
        retry_after_secs: 2,
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_providers(&h));
    let jobs: Vec<Value> = (0..10)
        .map(|i| runflow_job(&format!("throttled thistle {i}"), i))
        .collect();
    h.submit(&jobs, "rf-429", Lane::Bulk).await;
    let batch = h.wait_batch("rf-429", 10, Duration::from_secs(60)).await;
    assert_eq!(batch.succeeded, 10, "{batch:?}");
    let stats = h.stats();
    assert!(stats.throttled > 0, "429s were answered: {stats:?}");
    assert_eq!(stats.by_provider.runflow.submissions, 10);
    let mut waited = 0;
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["attempts"], "1", "a 429 is not an attempt");
        // Retry-After: 2 is honoured: a throttled job sends again 2 s later at the
        // earliest.
        let times = &stats.submit_times_ms_by_prompt[j["prompt"].as_str().unwrap()];
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= 1_900, "{times:?}");
            waited += 1;
        }
    }
    assert!(waited > 0, "some job was throttled and sent again");
    let mut conn = h.redis.clone();
    let state = h.names.limiter_key(&runflow_account(&h), "state");
    let throttled: u64 = conn.hget(&state, "throttled").await.unwrap();
    assert!(throttled > 0, "the fleet's limit saw the 429s");
    worker.stop().await;
    h.cleanup().await;
}
