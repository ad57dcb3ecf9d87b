//! The knobs for failing downloads and hostile replies, over real HTTP:
//! `download_fail_first`, `download_fail_rate`, `cost_override`,
//! `poll_progress_override`, `poll_body_pad_bytes` and `chunked_image_bytes`, set at
//! start and through `POST /_mock/config`.

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

/// Submits a BFL task and polls it to `Ready`; returns its image URL.
async fn ready_sample(h: &Harness, prompt: &str) -> String {
    let id = h.submit_ok(prompt, 1).await;
    let done = h.poll_until_final(&id).await;
    assert_eq!(done["status"], "Ready", "{done}");
    done["result"]["sample"].as_str().unwrap().to_owned()
}

async fn status_of(h: &Harness, url: &str) -> u16 {
    h.http.get(url).send().await.unwrap().status().as_u16()
}

async fn set(h: &Harness, patch: Value) -> Value {
    let response = h
        .http
        .post(h.url("/_mock/config"))
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_first_downloads_of_each_task_fail_then_succeed() {
    let h = Harness::start(MockConfig {
        download_fail_first: 2,
        ..MockConfig::default()
    })
    .await;
    for prompt in ["a", "b"] {
        let url = ready_sample(&h, prompt).await;
        let first = status_of(&h, &url).await;
        let second = status_of(&h, &url).await;
        assert!(
            [first, second].iter().all(|s| [500, 503].contains(s)),
            "{first} {second}"
        );
        assert_eq!(status_of(&h, &url).await, 200);
        assert_eq!(status_of(&h, &url).await, 200);
    }
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.download_errors,
            stats.downloads,
            stats.downloads_refused
        ),
        (4, 4, 0)
    );
}

#[tokio::test]
async fn a_download_fail_rate_of_one_fails_every_download_until_lowered() {
    let h = Harness::start(MockConfig::default()).await;
    let url = ready_sample(&h, "a").await;
    let knobs = set(&h, json!({ "download_fail_rate": 1.0 })).await;
    assert_eq!(knobs["download_fail_rate"], 1.0);
    for _ in 0..5 {
        assert!([500, 503].contains(&status_of(&h, &url).await));
    }
    set(&h, json!({ "download_fail_rate": 0.0 })).await;
    assert_eq!(status_of(&h, &url).await, 200);
    let forged = url.replace("sig=", "sig=0");
    set(&h, json!({ "download_fail_rate": 1.0 })).await;
    assert_eq!(
        status_of(&h, &forged).await,
        403,
        "a bad URL is refused before any fault"
    );
    assert_eq!(h.mock.stats().download_errors, 5);
}

#[tokio::test]
async fn a_cost_override_goes_into_every_reply_but_not_the_bill() {
    let h = Harness::start(MockConfig::default()).await;
    set(&h, json!({ "cost_override": 1e30 })).await;
    let response = h
        .http
        .post(h.url("/v1/flux-2-pro"))
        .header("x-key", h.mock.api_key())
        .json(&json!({ "prompt": "a" }))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["cost"].as_f64(), Some(1e30), "{answer}");

    let knobs = set(&h, json!({ "cost_override": "NaN" })).await;
    assert_eq!(knobs["cost_override"], "NaN");
    let run = h
        .runflow_ok(FLEX, &json!({ "input": { "prompt": "a" } }))
        .await;
    assert_eq!(run["cost"], "NaN");
    let done = h.runflow_until_final(run["id"].as_str().unwrap()).await;
    assert_eq!(done["cost"], "NaN");

    set(&h, json!({ "cost_override": -1 })).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let task = json!([{
        "taskType": "imageInference", "taskUUID": uuid, "model": "bfl:5@1", "positivePrompt": "a",
        "outputType": "URL", "includeCost": true,
    }]);
    let (status, answer) = h.runware(task).await;
    assert_eq!(
        (status, answer["data"][0]["cost"].clone()),
        (200, json!(-1)),
        "{answer}"
    );

    set(&h, json!({ "cost_override": null })).await;
    let (_, answer) = h.submit("flux-2-pro", json!({ "prompt": "b" })).await;
    assert_eq!(answer["cost"], 3.0, "unset: the real charge again");
    let stats = h.mock.stats();
    assert_eq!(
        stats.micro_usd_billed,
        30_000 + 50_000 + 30_000 + 30_000,
        "billed as usual"
    );
}

#[tokio::test]
async fn a_progress_override_goes_into_pending_bfl_polls_only() {
    let h = Harness::start(MockConfig {
        latency_min: Duration::from_millis(400),
        latency_max: Duration::from_millis(400),
        poll_progress_override: Some(json!(1e-30)),
        ..MockConfig::default()
    })
    .await;
    let id = h.submit_ok("a", 1).await;
    let text = h
        .http
        .get(h.url(&format!("/v1/get_result?id={id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"progress\":1e-30") && text.contains("Pending"),
        "{text}"
    );
    h.mock.update(KnobsPatch {
        poll_progress_override: Some(Some(json!(-5))),
        ..KnobsPatch::default()
    });
    assert_eq!(h.poll(&id).await["progress"], -5);
    let done = h.poll_until_final(&id).await;
    assert_eq!(
        (done["status"].as_str(), done["progress"].clone()),
        (Some("Ready"), json!(1.0))
    );
}

#[tokio::test]
async fn padded_polls_are_huge_but_valid_json_on_every_api() {
    const PAD: u64 = 10 * 1024 * 1024;
    let h = Harness::start(MockConfig {
        poll_body_pad_bytes: PAD,
        ..MockConfig::default()
    })
    .await;
    let bfl = h.submit_ok("a", 1).await;
    let run = h
        .runflow_ok(FLEX, &json!({ "input": { "prompt": "a" } }))
        .await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let task = json!([{
        "taskType": "imageInference", "taskUUID": uuid, "model": "bfl:5@1", "positivePrompt": "a",
        "outputType": "URL", "deliveryMethod": "async",
    }]);
    let (status, accepted) = h.runware(task).await;
    assert_eq!(status, 200);
    assert!(
        accepted.get("mock_padding").is_none(),
        "submits are not padded"
    );
    let (runflow_url, bfl_url) = (
        h.url(&format!("/v1/runs/{}", run["id"].as_str().unwrap())),
        h.url(&format!("/v1/get_result?id={bfl}")),
    );
    let answers = [
        h.http.get(&bfl_url).send().await.unwrap(),
        h.http
            .get(&runflow_url)
            .bearer_auth(h.mock.api_key())
            .send()
            .await
            .unwrap(),
        h.http
            .post(h.url("/v1"))
            .bearer_auth(h.mock.api_key())
            .json(&json!([{ "taskType": "getResponse", "taskUUID": uuid }]))
            .send()
            .await
            .unwrap(),
    ];
    for response in answers {
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() as u64 > PAD);
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["mock_padding"].as_str().unwrap().len() as u64, PAD);
        assert!(
            body["status"].is_string()
                || body["status_code"].is_string()
                || body["data"].is_array(),
            "the answer itself is intact"
        );
    }
}

#[tokio::test]
async fn chunked_images_have_no_length_and_exactly_the_bytes_asked() {
    let h = Harness::start(MockConfig {
        chunked_image_bytes: Some(5_000_000),
        ..MockConfig::default()
    })
    .await;
    let url = ready_sample(&h, "a").await;
    let response = h.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), 5_000_000);
    assert_eq!(
        &bytes[..3],
        &[0xff, 0xd8, 0xff],
        "the real image comes first"
    );
    set(&h, json!({ "chunked_image_bytes": 10 })).await;
    assert_eq!(
        h.http
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len(),
        10
    );
    set(&h, json!({ "chunked_image_bytes": null })).await;
    let plain = h.http.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-length").is_some());
    assert_eq!(h.mock.stats().downloads, 3);
}
