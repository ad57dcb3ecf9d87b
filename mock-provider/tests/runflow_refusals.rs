//! Every way Runflow's API refuses or fails, over real HTTP: 401, 402
//! `INSUFFICIENT_CREDIT` and the balance, 422 with `errors[]` naming the fields,
//! runs `queued` at the cap then 429 `RATE_LIMITED` past the queue, injected 5xx,
//! answers lost after the run was taken, and runs that fail (not billed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::mock::Harness;
use serde_json::{Value, json};

const FLEX: &str = "black-forest-labs/flux-2-flex";

fn prompt(text: &str) -> Value {
    json!({ "input": { "prompt": text, "image_size": "square_hd" } })
}

#[tokio::test]
async fn every_endpoint_wants_the_bearer_key() {
    let h = Harness::start(MockConfig::default()).await;
    let create = h.url(&format!("/v1/models/{FLEX}/runs"));
    for key in [None, Some("nope")] {
        let mut request = h.http.post(&create).json(&prompt("a"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (body["code"].as_str(), body["errors"].clone()),
            (Some("UNAUTHORIZED"), Value::Null)
        );
    }
    for path in [
        "/v1/runs/x",
        "/v1/runs?q=client_ref:a",
        "/v1/auth/me",
        "/v1/billing/balance",
    ] {
        let response = h
            .http
            .get(h.url(path))
            .header("x-key", h.mock.api_key())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with BFL's header only");
    }
    let stats = h.mock.stats();
    assert_eq!(
        (stats.by_provider.runflow.unauthorized, stats.submissions),
        (6, 0)
    );
    assert!(
        h.mock.runflow_requests().is_empty(),
        "refused requests are not journaled"
    );
}

#[tokio::test]
async fn insufficient_credit_is_402_until_a_top_up() {
    // 4 credits = 0.04 USD, less than one Flex megapixel.
    let h = Harness::start(MockConfig {
        credits: Some(4.0),
        ..MockConfig::default()
    })
    .await;
    let (status, balance) = h.runflow_get("/v1/billing/balance").await;
    assert_eq!(
        (status, balance),
        (200, json!({ "balance": "0.04", "currency": "USD" }))
    );
    let (status, refused, _) = h.runflow_create(FLEX, &prompt("a cat"), None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (402, Some("INSUFFICIENT_CREDIT")),
        "{refused}"
    );
    h.mock.update(KnobsPatch {
        credits: Some(Some(10.0)),
        ..KnobsPatch::default()
    });
    let run = h.runflow_ok(FLEX, &prompt("a cat")).await;
    assert_eq!(
        h.runflow_until_final(run["id"].as_str().unwrap()).await["cost"],
        "0.05"
    );
    let (_, balance) = h.runflow_get("/v1/billing/balance").await;
    assert_eq!(balance["balance"], "0.05", "0.10 less the run");
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.insufficient_credits,
            stats.by_provider.runflow.submissions
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn invalid_runs_are_422_with_every_field_named() {
    let h = Harness::start(MockConfig::default()).await;
    let fields = |answer: &Value| -> Vec<String> {
        answer["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let bad = json!({
        "input": {
            "prompt": "a cat", "guidance_scale": 12, "num_inference_steps": 1,
            "output_format": "webp", "safety_tolerance": 2, "image_size": { "width": 5000, "height": 512 },
            "colour": "red",
        },
        "client_ref": "x".repeat(256),
        "extra": true,
    });
    let (status, answer, _) = h.runflow_create(FLEX, &bad, None).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("VALIDATION_ERROR")),
        "{answer}"
    );
    let mut got = fields(&answer);
    got.sort();
    assert_eq!(
        got,
        [
            "client_ref",
            "extra",
            "input.colour",
            "input.guidance_scale",
            "input.image_size.width",
            "input.num_inference_steps",
            "input.output_format",
            "input.safety_tolerance",
        ]
    );
    assert!(answer["errors"][0]["message"].is_string());
    let cases = [
        (json!({ "input": {} }), "input.prompt"),
        (json!({}), "input"),
        (
            json!({ "input": { "prompt": "a", "image_size": "huge" } }),
            "input.image_size",
        ),
        (
            json!({ "input": { "prompt": "a", "image_size": { "width": 512 } } }),
            "input.image_size.height",
        ),
        (
            json!({ "input": { "prompt": "a", "image_urls": "one" } }),
            "input.image_urls",
        ),
        (
            json!({ "input": { "prompt": "a" }, "metadata": [1] }),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let (status, answer, _) = h.runflow_create(FLEX, &body, None).await;
        assert_eq!(
            (status, fields(&answer)),
            (422, vec![field.to_owned()]),
            "{body}"
        );
    }
    let pro = json!({ "input": { "prompt": "a", "num_inference_steps": 28 } });
    let (status, answer, _) = h
        .runflow_create("black-forest-labs/flux-2-pro", &pro, None)
        .await;
    assert_eq!(
        (status, fields(&answer)),
        (422, vec!["input.num_inference_steps".to_owned()])
    );
    let (status, answer, _) = h
        .runflow_create("black-forest-labs/flux-2-max", &prompt("a"), None)
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("MODEL_NOT_FOUND"))
    );
    let raw = h
        .http
        .post(h.url(&format!("/v1/models/{FLEX}/runs")))
        .bearer_auth(h.mock.api_key())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let stats = h.mock.stats();
    assert_eq!(
        (stats.by_provider.runflow.invalid, stats.submissions),
        (9, 0)
    );
    assert_eq!(
        h.mock.runflow_requests().last().unwrap()["body"],
        "{not json"
    );
}

#[tokio::test]
async fn at_the_cap_runs_stay_queued_and_past_the_queue_get_429() {
    let h = Harness::start(MockConfig {
        latency_min: Duration::from_millis(300),
        latency_max: Duration::from_millis(300),
        max_in_flight: Some(1),
        runflow_max_queued: Some(1),
        retry_after_secs: 2,
        ..MockConfig::default()
    })
    .await;
    let first = h.runflow_ok(FLEX, &prompt("one")).await;
    let second = h.runflow_ok(FLEX, &prompt("two")).await;
    assert_eq!(second["status_code"], "queued");
    assert!(second["started_at"].is_null());
    let (status, refused, headers) = h.runflow_create(FLEX, &prompt("three"), None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{refused}"
    );
    assert_eq!(headers["retry-after"], "2");
    let (status, _) = h.submit("flux-2-pro", json!({ "prompt": "bfl" })).await;
    assert_eq!(status, 429, "queued runs hold the account's slots");

    let (_, still) = h
        .runflow_get(&format!("/v1/runs/{}", second["id"].as_str().unwrap()))
        .await;
    assert_eq!(still["status_code"], "queued", "{still}");
    let done_first = h.runflow_until_final(first["id"].as_str().unwrap()).await;
    let done_second = h.runflow_until_final(second["id"].as_str().unwrap()).await;
    assert_eq!(done_second["status_code"], "succeeded");
    assert!(
        done_second["started_at"].as_str().unwrap() >= done_first["completed_at"].as_str().unwrap(),
        "the queued run started when the first freed its slot: {done_first} {done_second}"
    );
    assert!(done_second["duration_ms"].as_u64().unwrap() >= 300);
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.by_provider.runflow.queued,
            stats.throttled_at_cap,
            stats.by_provider.runflow.submissions
        ),
        (1, 2, 2)
    );

    h.mock.update(KnobsPatch {
        retry_after_secs: Some(0),
        runflow_max_queued: Some(Some(0)),
        ..KnobsPatch::default()
    });
    let _third = h.runflow_ok(FLEX, &prompt("three")).await;
    let (status, _, headers) = h.runflow_create(FLEX, &prompt("four"), None).await;
    assert_eq!(status, 429);
    assert!(
        headers.get("retry-after").is_none(),
        "retry_after_secs 0 sends none"
    );
}

#[tokio::test]
async fn injected_faults_answer_500_or_503_with_runflows_codes() {
    let h = Harness::start(MockConfig {
        submit_fail_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let (status, fault, _) = h.runflow_create(FLEX, &prompt("a"), None).await;
    assert!(status == 500 || status == 503, "{status}");
    let code = if status == 503 {
        "MODEL_UNAVAILABLE"
    } else {
        "INTERNAL_ERROR"
    };
    assert_eq!(fault["code"], code);
    h.mock.update(KnobsPatch {
        submit_fail_rate: Some(0.0),
        poll_fail_rate: Some(1.0),
        lookup_fail_rate: Some(1.0),
        ..KnobsPatch::default()
    });
    let run = h.runflow_ok(FLEX, &prompt("a")).await;
    let (status, _) = h
        .runflow_get(&format!("/v1/runs/{}", run["id"].as_str().unwrap()))
        .await;
    assert!(status == 500 || status == 503);
    let (status, _) = h.runflow_get("/v1/runs?q=client_ref:a").await;
    assert!(status == 500 || status == 503);
    let stats = h.mock.stats();
    assert_eq!(
        (stats.submit_errors, stats.poll_errors, stats.lookup_errors),
        (1, 1, 1)
    );
    assert_eq!(
        stats.by_provider.runflow.micro_usd_billed, 50_000,
        "a failed create is not billed"
    );
}

#[tokio::test]
async fn a_dropped_answer_leaves_a_billed_run_found_by_client_ref_or_its_key() {
    let h = Harness::start(MockConfig {
        drop_after_accept_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let mut body = prompt("a lost answer");
    body["client_ref"] = json!("job-lost");
    let sent = h
        .http
        .post(h.url(&format!("/v1/models/{FLEX}/runs")))
        .bearer_auth(h.mock.api_key())
        .header("Idempotency-Key", "job-lost:1")
        .json(&body)
        .send()
        .await;
    let lost = match sent {
        Err(_) => true,
        Ok(response) => response.json::<Value>().await.is_err(),
    };
    assert!(lost, "the answer must not be readable");
    let (_, page) = h.runflow_get("/v1/runs?q=client_ref:job-lost").await;
    let found = page["items"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{page}");
    let (status, replay, _) = h.runflow_create(FLEX, &body, Some("job-lost:1")).await;
    assert_eq!(status, 201, "a replay is never cut off: {replay}");
    assert_eq!(replay["id"], found[0]["id"]);
    let rf = h.mock.stats().by_provider.runflow;
    assert_eq!(
        (
            rf.submissions,
            rf.dropped_responses,
            rf.idempotent_replays,
            rf.micro_usd_billed
        ),
        (1, 1, 1, 50_000)
    );
}

#[tokio::test]
async fn failed_and_moderated_runs_fail_unbilled() {
    let h = Harness::start(MockConfig {
        moderation_word: Some("forbidden".to_owned()),
        reject_word: Some("refused".to_owned()),
        ..MockConfig::default()
    })
    .await;
    let mut even = prompt("a forbidden thing");
    even["input"]["seed"] = json!(2);
    let mut odd = even.clone();
    odd["input"]["seed"] = json!(3);
    for (body, code) in [(even, "INPUT_MODERATED"), (odd, "OUTPUT_MODERATED")] {
        let run = h.runflow_ok(FLEX, &body).await;
        let done = h.runflow_until_final(run["id"].as_str().unwrap()).await;
        assert_eq!(
            (done["status_code"].as_str(), done["failure_code"].as_str()),
            (Some("failed"), Some(code))
        );
        assert_eq!(
            (done["cost"].as_str(), done["output"].clone()),
            (Some("0.00"), Value::Null)
        );
        assert!(done["failure_message"].is_string() && done["failure_stage_code"].is_string());
    }
    let (status, refused, _) = h
        .runflow_create(FLEX, &prompt("a refused thing"), None)
        .await;
    assert_eq!(
        (status, refused["errors"][0]["field"].as_str()),
        (422, Some("input.prompt"))
    );
    h.mock.update(KnobsPatch {
        error_rate: Some(1.0),
        ..KnobsPatch::default()
    });
    let run = h.runflow_ok(FLEX, &prompt("unlucky")).await;
    let done = h.runflow_until_final(run["id"].as_str().unwrap()).await;
    assert_eq!(done["failure_code"], "GENERATION_FAILED");
    let stats = h.mock.stats();
    assert_eq!(
        (stats.moderated, stats.errors, stats.micro_usd_billed),
        (2, 1, 0)
    );
    assert_eq!(stats.by_provider.runflow.submissions, 3);
}
