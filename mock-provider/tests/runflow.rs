//! Runflow's model-runs API over real HTTP: a run from `queued` to `succeeded` with
//! its image, the journal of what was received, costs by Runflow's price table,
//! searching by `client_ref`, `Idempotency-Key`, the output shapes, and counters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_mock_provider::{KnobsPatch, MockConfig, RunflowOutputShape};
use fluxq_testkit::mock::Harness;
use serde_json::{Value, json};

const FLEX: &str = "black-forest-labs/flux-2-flex";
const PRO: &str = "black-forest-labs/flux-2-pro";

fn latency(ms: u64) -> MockConfig {
    MockConfig {
        latency_min: Duration::from_millis(ms),
        latency_max: Duration::from_millis(ms),
        ..MockConfig::default()
    }
}

/// The seed page's FLUX 2 Flex parameters: a preset size, guidance 3.5, 28 steps, jpeg.
fn seed_page_body(client_ref: &str) -> Value {
    json!({
        "input": {
            "prompt": "a lighthouse at dusk, long exposure",
            "image_size": "landscape_4_3",
            "guidance_scale": 3.5,
            "num_inference_steps": 28,
            "output_format": "jpeg",
            "safety_tolerance": "2",
            "enable_safety_checker": true,
            "seed": 42,
        },
        "metadata": { "fluxq_job": client_ref },
        "client_ref": client_ref,
    })
}

fn sized(model_prompt: &str, size: Value) -> Value {
    json!({ "input": { "prompt": model_prompt, "image_size": size } })
}

#[tokio::test]
async fn a_run_is_queued_then_running_then_succeeds_with_a_real_image() {
    let h = Harness::start(latency(300)).await;
    let body = seed_page_body("job-1");
    let (status, created, _) = h.runflow_create(FLEX, &body, Some("job-1:1")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status_code"], "queued");
    assert_eq!(created["model_id"], FLEX);
    assert_eq!(created["client_ref"], "job-1");
    assert_eq!(created["metadata"], json!({ "fluxq_job": "job-1" }));
    assert_eq!(created["input"], body["input"]);
    assert_eq!(
        (created["cost"].clone(), created["output"].clone()),
        (Value::Null, Value::Null)
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let (_, running) = h.runflow_get(&format!("/v1/runs/{id}")).await;
    assert_eq!(
        running["status_code"], "running",
        "no cap: it starts at once"
    );
    assert!(running["started_at"].is_string() && running["completed_at"].is_null());

    let done = h.runflow_until_final(&id).await;
    assert_eq!(done["status_code"], "succeeded", "{done}");
    assert_eq!(done["cost"], "0.05", "1024x768 is one megapixel: 0.05 USD");
    assert!(done["duration_ms"].as_u64().unwrap() >= 300, "{done}");
    assert!(done["failure_code"].is_null());
    let output = &done["output"]["outputs"][0];
    assert_eq!(
        (output["type"].as_str(), output["content_type"].as_str()),
        (Some("image"), Some("image/jpeg"))
    );
    let image = h
        .http
        .get(output["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    let bytes = image.bytes().await.unwrap();
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff], "a JPEG");

    let journal = h.mock.runflow_requests();
    assert_eq!(
        journal,
        vec![json!({ "model_id": FLEX, "idempotency_key": "job-1:1", "body": body })],
        "the request exactly as received"
    );
    let (status, over_http) = h.get_json(&h.url("/_mock/runflow/requests")).await;
    assert_eq!((status, over_http), (200, json!(journal)));
    let stats = h.mock.stats();
    let rf = &stats.by_provider.runflow;
    assert_eq!(
        (
            rf.submit_requests,
            rf.submissions,
            rf.images,
            rf.micro_usd_billed
        ),
        (1, 1, 1, 50_000)
    );
    assert!(rf.polls >= 2);
    assert_eq!(
        (
            stats.ready,
            stats.downloads,
            stats.by_provider.bfl.submissions
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn costs_follow_runflows_table_with_megapixels_rounded_up() {
    let h = Harness::start(MockConfig::default()).await;
    let cases = [
        (FLEX, json!({ "width": 1024, "height": 1024 }), "0.05"),
        (FLEX, json!({ "width": 1920, "height": 1080 }), "0.10"),
        (FLEX, json!("square"), "0.05"),
        (FLEX, json!("square_hd"), "0.05"),
        (PRO, json!({ "width": 1024, "height": 1024 }), "0.03"),
        (PRO, json!({ "width": 1920, "height": 1080 }), "0.045"),
    ];
    for (model, size, want) in &cases {
        let run = h
            .runflow_ok(model, &sized("a red kite", size.clone()))
            .await;
        let done = h.runflow_until_final(run["id"].as_str().unwrap()).await;
        assert_eq!(done["cost"], *want, "{model} {size}");
    }
    let mut refs = sized("a red kite", json!("square_hd"));
    refs["input"]["image_urls"] =
        json!(["https://example.com/a.png", "data:image/png;base64,aGk="]);
    let run = h.runflow_ok(FLEX, &refs).await;
    let done = h.runflow_until_final(run["id"].as_str().unwrap()).await;
    assert_eq!(
        done["cost"], "0.15",
        "each reference image is billed as a megapixel"
    );
    let billed = h.mock.stats().by_provider.runflow.micro_usd_billed;
    assert_eq!(
        billed,
        50_000 + 100_000 + 50_000 + 50_000 + 30_000 + 45_000 + 150_000
    );
}

#[tokio::test]
async fn runs_are_found_by_client_ref_and_only_with_the_key() {
    let h = Harness::start(latency(50)).await;
    let first = h.runflow_ok(FLEX, &seed_page_body("job-a")).await;
    let second = h.runflow_ok(FLEX, &seed_page_body("job-a")).await;
    let other = h
        .runflow_ok(
            PRO,
            &json!({ "input": { "prompt": "x" }, "client_ref": "job-b" }),
        )
        .await;
    let (status, page) = h.runflow_get("/v1/runs?q=client_ref:job-a").await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{page}");
    assert!(
        ids.contains(&first["id"].as_str().unwrap())
            && ids.contains(&second["id"].as_str().unwrap())
    );
    assert_eq!(page["next"], Value::Null);
    let (_, page) = h
        .runflow_get("/v1/runs?q=client_ref%3A%22job-b%22&limit=5")
        .await;
    assert_eq!(page["items"][0]["id"], other["id"]);
    let (_, none) = h.runflow_get("/v1/runs?q=client_ref:job-z").await;
    assert_eq!(none["items"], json!([]));
    let (_, all) = h.runflow_get("/v1/runs").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    let (status, bad) = h.runflow_get("/v1/runs?q=status_code:succeeded").await;
    assert_eq!(
        (status, bad["errors"][0]["field"].as_str()),
        (422, Some("q"))
    );
    let (status, bad) = h.runflow_get("/v1/runs?q=client_ref:a&limit=501").await;
    assert_eq!(
        (status, bad["errors"][0]["field"].as_str()),
        (422, Some("limit"))
    );
    let anonymous = h
        .http
        .get(h.url("/v1/runs?q=client_ref:job-a"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(h.mock.stats().by_provider.runflow.lookups, 4);
}

#[tokio::test]
async fn an_idempotency_key_replays_its_run_and_refuses_another_body() {
    let h = Harness::start(latency(100)).await;
    let body = seed_page_body("job-k");
    let (status, first, _) = h.runflow_create(FLEX, &body, Some("job-k:1")).await;
    assert_eq!(status, 201);
    let (status, again, headers) = h.runflow_create(FLEX, &body, Some("job-k:1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(headers["idempotent-replayed"], "true");
    let mut changed = body.clone();
    changed["input"]["seed"] = json!(43);
    let (status, conflict, _) = h.runflow_create(FLEX, &changed, Some("job-k:1")).await;
    assert_eq!(
        (status, conflict["code"].as_str()),
        (409, Some("CONFLICT")),
        "{conflict}"
    );
    let (status, _, _) = h
        .runflow_create(PRO, &body_for_pro(), Some("job-k:1"))
        .await;
    assert_eq!(status, 409, "the same key for another model");
    let (status, fresh, _) = h.runflow_create(FLEX, &body, Some("job-k:2")).await;
    assert_eq!(status, 201);
    assert_ne!(fresh["id"], first["id"]);
    let rf = h.mock.stats().by_provider.runflow;
    assert_eq!(
        (
            rf.submissions,
            rf.idempotent_replays,
            rf.conflicts,
            rf.micro_usd_billed
        ),
        (2, 1, 2, 100_000)
    );

    h.mock.update(KnobsPatch {
        runflow_idempotency: Some(false),
        ..KnobsPatch::default()
    });
    let (status, ignored, _) = h.runflow_create(FLEX, &changed, Some("job-k:1")).await;
    assert_eq!(status, 201, "the key is ignored: {ignored}");
    assert_ne!(ignored["id"], first["id"]);
    assert_eq!(h.mock.stats().by_provider.runflow.submissions, 3);
}

fn body_for_pro() -> Value {
    let mut body = seed_page_body("job-k");
    let input = body["input"].as_object_mut().unwrap();
    input.remove("guidance_scale");
    input.remove("num_inference_steps");
    body
}

#[tokio::test]
async fn the_output_url_is_where_the_shape_knob_says_and_signed_afresh() {
    let h = Harness::start(MockConfig {
        runflow_output_shape: RunflowOutputShape::ImageUrls,
        ..MockConfig::default()
    })
    .await;
    let run = h.runflow_ok(FLEX, &sized("a fox", json!("square"))).await;
    let id = run["id"].as_str().unwrap();
    let done = h.runflow_until_final(id).await;
    let url = done["output"]["image_urls"][0].as_str().unwrap().to_owned();
    assert_eq!(h.http.get(&url).send().await.unwrap().status(), 200);
    h.mock.update(KnobsPatch {
        runflow_output_shape: Some(RunflowOutputShape::Image),
        download_ttl_ms: Some(60_000),
        ..KnobsPatch::default()
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, again) = h.runflow_get(&format!("/v1/runs/{id}")).await;
    let fresh = again["output"]["image"]["url"].as_str().unwrap();
    assert_ne!(fresh, url, "re-signed on every read");
    assert_eq!(h.http.get(fresh).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn runflow_sits_next_to_bfl_and_runware_on_one_port() {
    let h = Harness::start(MockConfig::default()).await;
    let bfl_id = h.submit_ok("a heron", 3).await;
    let run = h.runflow_ok(FLEX, &sized("a heron", json!("square"))).await;
    let (status, _) = h.runflow_get(&format!("/v1/runs/{bfl_id}")).await;
    assert_eq!(status, 404, "a BFL task is not a Runflow run");
    let bfl = h.poll(run["id"].as_str().unwrap()).await;
    assert_eq!(
        bfl["status"], "Task not found",
        "a Runflow run is not a BFL task"
    );
    let (status, unknown) = h.runflow_get("/v1/runs/not-a-run").await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("RUN_NOT_FOUND"))
    );
    let (status, me) = h.runflow_get("/v1/auth/me").await;
    assert_eq!(status, 200, "{me}");
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.by_provider.bfl.submissions,
            stats.by_provider.runflow.submissions,
            stats.submissions
        ),
        (1, 1, 2)
    );
}
