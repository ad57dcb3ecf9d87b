//! Every refusal the BFL API gives, with its status and body: 403, 422, 429, 402,
//! and injected 500/503 on submit and poll.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_mock_provider::MockConfig;
use fluxq_testkit::fixed_latency;
use fluxq_testkit::mock::Harness;
use serde_json::{Value, json};

#[tokio::test]
async fn a_missing_or_wrong_key_is_forbidden() {
    let h = Harness::start(MockConfig::default()).await;
    let url = h.url("/v1/flux-2-pro");
    let body = json!({ "prompt": "a cat" });
    let without = h.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(without.status(), 403);
    assert_eq!(
        without.json::<Value>().await.unwrap(),
        json!({ "detail": "Not authenticated" })
    );
    let wrong = h
        .http
        .post(&url)
        .header("x-key", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let credits = h.http.get(h.url("/v1/credits")).send().await.unwrap();
    assert_eq!(credits.status(), 403);
    let stats = h.mock.stats();
    assert_eq!(
        (stats.submit_requests, stats.submissions, stats.unauthorized),
        (2, 0, 3)
    );
}

/// The single `detail` entry of a 422, checked for BFL's documented shape.
async fn only_error(h: &Harness, model: &str, body: Value) -> Value {
    let (status, answer) = h.submit(model, body).await;
    assert_eq!(status, 422, "{answer}");
    let detail = answer["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 1, "{answer}");
    let error = detail[0].clone();
    assert!(
        error["msg"].is_string() && error["type"].is_string(),
        "{error}"
    );
    error
}

#[tokio::test]
async fn invalid_bodies_are_422_with_pydantic_details() {
    let h = Harness::start(MockConfig::default()).await;
    let width = only_error(&h, "flux-2-pro", json!({ "prompt": "a cat", "width": 100 })).await;
    assert_eq!(width["loc"], json!(["body", "width"]));
    assert_eq!(width["type"], "value_error");
    let steps = only_error(&h, "flux-2-pro", json!({ "prompt": "a cat", "steps": 20 })).await;
    assert_eq!(steps["loc"], json!(["body", "steps"]));
    assert_eq!(steps["type"], "extra_forbidden");
    let missing = only_error(&h, "flux-2-max", json!({ "seed": 1 })).await;
    assert_eq!(
        (missing["loc"].clone(), missing["type"].clone()),
        (json!(["body", "prompt"]), json!("missing"))
    );
    let small = only_error(&h, "flux-2-flex", json!({ "prompt": "a", "height": 32 })).await;
    assert_eq!(small["type"], "greater_than_equal");
    let huge = only_error(
        &h,
        "flux-2-pro",
        json!({ "prompt": "a", "width": 4096, "height": 2048 }),
    )
    .await;
    assert_eq!(huge["loc"], json!(["body"]));
    let guidance = only_error(&h, "flux-2-flex", json!({ "prompt": "a", "guidance": 12 })).await;
    assert_eq!(guidance["loc"], json!(["body", "guidance"]));
    let format = only_error(
        &h,
        "flux-2-pro",
        json!({ "prompt": "a", "output_format": "gif" }),
    )
    .await;
    assert_eq!(format["type"], "literal_error");
    let tolerance = only_error(
        &h,
        "flux-2-pro",
        json!({ "prompt": "a", "safety_tolerance": 6 }),
    )
    .await;
    assert_eq!(tolerance["loc"], json!(["body", "safety_tolerance"]));

    let flex = json!({
        "prompt": "a cat", "steps": 28, "guidance": 3.5, "prompt_upsampling": false,
        "width": 1344, "height": 768, "input_image": "https://example.com/a.png",
        "input_image_2": "https://example.com/b.png", "input_image_3": "aGVsbG8=",
        "safety_tolerance": 2, "output_format": "png", "seed": null,
    });
    let (status, body) = h.submit("flux-2-flex", flex).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["cost"], 24.0,
        "flex 1344x768 with three references is 0.24 USD"
    );
    assert_eq!(body["input_mp"], 3.0);
    let (status, _) = h.submit("flux-2-dev", json!({ "prompt": "a cat" })).await;
    assert_eq!(status, 404, "no hosted FLUX.2 [dev]");
    let stats = h.mock.stats();
    assert_eq!(
        (stats.invalid, stats.submissions, stats.submit_requests),
        (8, 1, 10)
    );
}

#[tokio::test]
async fn the_in_flight_cap_answers_429_until_a_task_finishes() {
    let config = MockConfig {
        max_in_flight: Some(2),
        retry_after_secs: 3,
        ..fixed_latency(400)
    };
    let h = Harness::start(config).await;
    h.submit_ok("one", 1).await;
    h.submit_ok("two", 2).await;
    let response = h
        .http
        .post(h.url("/v1/flux-2-pro"))
        .header("x-key", h.mock.api_key())
        .json(&json!({ "prompt": "three" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "rate_limit_exceeded");
    assert_eq!(body["retry_after"], 3);
    assert!(body["message"].is_string());

    tokio::time::sleep(Duration::from_millis(500)).await;
    h.submit_ok("three", 3).await;
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.throttled,
            stats.throttled_at_cap,
            stats.max_in_flight_seen
        ),
        (1, 1, 2)
    );
    assert_eq!(stats.in_flight, 1, "the first two finished unpolled");
    assert_eq!(stats.submissions_by_prompt.get("three"), Some(&1));
}

#[tokio::test]
async fn submits_stop_with_402_when_credits_run_out() {
    let h = Harness::start(MockConfig {
        credits: Some(7.0),
        ..MockConfig::default()
    })
    .await;
    h.submit_ok("first", 1).await;
    h.submit_ok("second", 2).await;
    let (status, body) = h.submit("flux-2-pro", json!({ "prompt": "third" })).await;
    assert_eq!(status, 402);
    assert_eq!(body, json!({ "detail": "Insufficient credits" }));
    let (status, credits) = h.get_json_with_key("/v1/credits").await;
    assert_eq!(status, 200);
    assert_eq!(credits["credits"], 1.0);
    let stats = h.mock.stats();
    assert_eq!(
        (stats.insufficient_credits, stats.micro_usd_billed),
        (1, 60_000)
    );
    assert_eq!(stats.credits_remaining, Some(1.0));
}

#[tokio::test]
async fn a_flapping_account_refuses_its_first_submits_while_reporting_credits() {
    let h = Harness::start(MockConfig {
        refuse_credits_first: 2,
        ..MockConfig::default()
    })
    .await;
    for _ in 0..2 {
        let (status, _) = h.submit("flux-2-pro", json!({ "prompt": "flap" })).await;
        assert_eq!(status, 402);
        let (status, credits) = h.get_json_with_key("/v1/credits").await;
        assert_eq!(status, 200);
        assert!(credits["credits"].as_f64().unwrap() > 0.0, "{credits}");
    }
    h.submit_ok("flap", 1).await;
    // Setting the knob again refuses that many more.
    h.mock.update(fluxq_mock_provider::KnobsPatch {
        refuse_credits_first: Some(1),
        ..Default::default()
    });
    let (status, _) = h.submit("flux-2-pro", json!({ "prompt": "flap" })).await;
    assert_eq!(status, 402);
    h.submit_ok("flap", 2).await;
    let stats = h.mock.stats();
    assert_eq!((stats.insufficient_credits, stats.submissions), (3, 2));
}

#[tokio::test]
async fn injected_faults_answer_500_or_503_and_bill_nothing() {
    let config = MockConfig {
        submit_fail_rate: 1.0,
        poll_fail_rate: 1.0,
        rng_seed: Some(1),
        ..MockConfig::default()
    };
    let h = Harness::start(config).await;
    let mut seen = Vec::new();
    for _ in 0..20 {
        let (status, _) = h.submit("flux-2-pro", json!({ "prompt": "x" })).await;
        seen.push(status);
        let (status, _) = h.get_json(&h.url("/v1/get_result?id=x")).await;
        seen.push(status);
    }
    assert!(seen.contains(&500) && seen.contains(&503), "{seen:?}");
    assert!(seen.iter().all(|s| *s == 500 || *s == 503), "{seen:?}");
    let stats = h.mock.stats();
    assert_eq!(
        (stats.submit_errors, stats.poll_errors, stats.server_errors),
        (20, 20, 40)
    );
    assert_eq!(
        (
            stats.submissions,
            stats.micro_usd_billed,
            stats.tasks_stored
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_throttle_rate_answers_429_at_random() {
    let h = Harness::start(MockConfig {
        throttle_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let (status, body) = h.submit("flux-2-pro", json!({ "prompt": "x" })).await;
    assert_eq!(
        (status, body["error"].clone()),
        (429, json!("rate_limit_exceeded"))
    );
    let stats = h.mock.stats();
    assert_eq!((stats.throttled, stats.throttled_at_cap), (1, 0));
}
