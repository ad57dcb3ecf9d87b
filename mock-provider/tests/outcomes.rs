//! How tasks end (moderation both ways, errors) and whether the counters add up,
//! read through the handle and through the admin endpoints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_mock_provider::{KnobsPatch, MockConfig, Stats};
use fluxq_testkit::fixed_latency;
use fluxq_testkit::mock::Harness;
use serde_json::{Value, json};

#[tokio::test]
async fn the_moderation_word_gives_both_moderated_statuses() {
    let config = MockConfig {
        moderation_word: Some("forbidden".to_owned()),
        ..fixed_latency(50)
    };
    let h = Harness::start(config).await;
    let even = h.submit_ok("a Forbidden fruit", 2).await;
    let odd = h.submit_ok("a forbidden fruit", 3).await;
    let fine = h.submit_ok("an apple", 3).await;
    let request = h.poll(&even).await;
    assert_eq!(
        request["status"], "Request Moderated",
        "final at once: {request}"
    );
    assert!(request["result"].is_null() && request["details"].is_object());
    assert_eq!(
        h.poll_until_final(&odd).await["status"],
        "Content Moderated"
    );
    assert_eq!(h.poll_until_final(&fine).await["status"], "Ready");
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.moderated,
            stats.request_moderated,
            stats.content_moderated
        ),
        (2, 1, 1)
    );
    assert_eq!(stats.submissions, 3, "moderated tasks are still billed");
    assert_eq!(stats.micro_usd_billed, 90_000);
}

#[tokio::test]
async fn the_error_rate_ends_billed_tasks_in_error() {
    let h = Harness::start(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let id = h.submit_ok("doomed", 1).await;
    let body = h.poll(&id).await;
    assert_eq!(body["status"], "Error");
    assert!(body["details"].is_object(), "{body}");
    let stats = h.mock.stats();
    assert_eq!(
        (stats.errors, stats.ready, stats.micro_usd_billed),
        (1, 0, 30_000)
    );
    assert_eq!(stats.errors_by_prompt.get("doomed"), Some(&1));
}

#[tokio::test]
async fn counters_are_exact_under_concurrent_load() {
    let config = MockConfig {
        max_in_flight: Some(10),
        latency_min: Duration::from_millis(1000),
        latency_max: Duration::from_millis(1200),
        ..MockConfig::default()
    };
    let h = Harness::start(config).await;
    let submits = (0..60).map(|i| {
        let http = h.http.clone();
        let url = h.url("/v1/flux-2-pro");
        let key = h.mock.api_key().to_owned();
        async move {
            let body = json!({ "prompt": format!("p{}", i % 3), "seed": i });
            let response = http
                .post(url)
                .header("x-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    });
    let statuses: Vec<u16> = futures_join_all(submits).await;
    let accepted = statuses.iter().filter(|s| **s == 200).count() as u64;
    let throttled = statuses.iter().filter(|s| **s == 429).count() as u64;
    assert_eq!(accepted + throttled, 60, "{statuses:?}");
    assert_eq!(
        accepted, 10,
        "all 60 arrive within the first task's latency"
    );

    let stats = h.mock.stats();
    assert_eq!(
        (stats.submit_requests, stats.submissions, stats.throttled),
        (60, accepted, throttled)
    );
    assert_eq!((stats.in_flight, stats.max_in_flight_seen), (10, 10));
    assert_eq!(stats.submissions_by_prompt.values().sum::<u64>(), accepted);
    assert_eq!(
        stats.billed_by_prompt.values().sum::<u64>(),
        stats.micro_usd_billed
    );
    assert_eq!(stats.micro_usd_billed, accepted * 30_000);
    assert_eq!(stats.credits_billed, accepted as f64 * 3.0);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let stats = h.mock.stats();
    assert_eq!(
        (stats.in_flight, stats.ready),
        (0, accepted),
        "finished without a single poll"
    );
}

/// Runs futures concurrently, in order.
async fn futures_join_all<F: Future<Output = u16> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn admin_endpoints_report_and_change_the_knobs() {
    let h = Harness::start(MockConfig::default()).await;
    h.submit_ok("over http", 5).await;
    let (status, stats) = h.get_json(&h.url("/_mock/stats")).await;
    assert_eq!(status, 200);
    let stats: Stats = serde_json::from_value(stats).unwrap();
    assert_eq!(
        stats.submissions_by_seed_prompt.get("5:over http"),
        Some(&1)
    );
    assert_eq!(stats.billed_by_prompt.get("over http"), Some(&30_000));
    assert_eq!(stats, h.mock.stats());
    let (_, summary) = h.get_json(&h.url("/_mock/stats?maps=false")).await;
    assert_eq!(summary["submissions"], 1);
    assert_eq!(summary["submissions_by_prompt"], json!({}));
    assert_eq!(h.mock.summary().micro_usd_billed, 30_000);

    let patch =
        json!({ "max_in_flight": 0, "credits": 100.0, "latency_min_ms": 10, "latency_max_ms": 20 });
    let response = h
        .http
        .post(h.url("/_mock/config"))
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let knobs: Value = response.json().await.unwrap();
    assert_eq!(
        (knobs["max_in_flight"].clone(), knobs["credits"].clone()),
        (json!(0), json!(100.0))
    );
    let (status, _) = h.submit("flux-2-pro", json!({ "prompt": "capped" })).await;
    assert_eq!(status, 429);

    let unset = json!({ "max_in_flight": null });
    h.http
        .post(h.url("/_mock/config"))
        .json(&unset)
        .send()
        .await
        .unwrap();
    h.submit_ok("uncapped", 1).await;
    h.mock.update(KnobsPatch {
        credits: Some(None),
        ..KnobsPatch::default()
    });
    assert_eq!(h.mock.knobs().credits, None);
    assert_eq!(h.mock.knobs().latency_max_ms, 20);

    let bad = json!({ "no_such_knob": 1 });
    let response = h
        .http
        .post(h.url("/_mock/config"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    let response = h
        .http
        .post(h.url("/_mock/reset-stats"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(h.mock.stats().submissions, 0);
}
