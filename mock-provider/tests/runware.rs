//! Runware's task API over real HTTP: async and sync delivery, `getResponse`, several
//! results, cost in USD, the error envelope, `conflictTaskUUID`, a connection lost
//! after the task was taken, and counters per provider.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::fixed_latency;
use fluxq_testkit::mock::Harness;
use serde_json::{Value, json};

fn pro(uuid: &str, prompt: &str) -> Value {
    json!({
        "taskType": "imageInference", "taskUUID": uuid, "model": "bfl:5@1",
        "positivePrompt": prompt, "width": 1536, "height": 1024, "seed": 73410,
        "outputType": "URL", "outputFormat": "PNG", "deliveryMethod": "async", "includeCost": true,
    })
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn async_task_is_processing_then_succeeds_with_cost_and_real_images() {
    let h = Harness::start(fixed_latency(200)).await;
    let id = uuid();
    let mut task = pro(&id, "a glass teapot");
    task["numberResults"] = json!(3);
    let (status, body) = h.runware(json!([task])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": [{"taskType": "imageInference", "taskUUID": id}]})
    );

    let (_, pending) = h
        .runware(json!([{"taskType": "getResponse", "taskUUID": id}]))
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 3);
    assert!(
        pending["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "processing")
    );

    let (status, done) = h.runware_until_final(&id).await;
    assert_eq!(status, 200, "{done}");
    let items = done["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mut bodies = Vec::new();
    for (n, item) in items.iter().enumerate() {
        assert_eq!(
            (item["status"].as_str(), item["taskUUID"].as_str()),
            (Some("success"), Some(id.as_str()))
        );
        assert_eq!(item["cost"], 0.045, "pro 1536x1024 is 0.045 USD per image");
        assert_eq!(item["seed"], 73410 + n as i64);
        let response = h
            .http
            .get(item["imageURL"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.unwrap();
        image::load_from_memory(&bytes).unwrap();
        bodies.push(bytes);
    }
    assert!(
        bodies[0] != bodies[1] && bodies[1] != bodies[2],
        "each result is its own image"
    );

    let stats = h.mock.stats();
    let rw = &stats.by_provider.runware;
    assert_eq!(
        (rw.submissions, rw.images, rw.micro_usd_billed),
        (1, 3, 135_000)
    );
    assert_eq!(stats.by_provider.bfl.submissions, 0);
    assert_eq!((stats.submissions, stats.micro_usd_billed), (1, 135_000));
    assert!(rw.polls >= 2);
}

#[tokio::test]
async fn sync_delivery_answers_with_the_results() {
    let h = Harness::start(fixed_latency(50)).await;
    let id = uuid();
    let mut task = pro(&id, "a sync lamp");
    task["deliveryMethod"] = json!("sync");
    task["model"] = json!("bfl:6@1");
    task["width"] = json!(1344);
    task["height"] = json!(768);
    task["steps"] = json!(32);
    task["CFGScale"] = json!(3.5);
    task["inputs"] =
        json!({"referenceImages": ["https://x/1.jpg", "https://x/2.jpg", "https://x/3.jpg"]});
    let (status, body) = h.runware(json!([task])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["status"], "success");
    assert_eq!(body["data"][0]["cost"], 0.24, "the flex seed example");
    assert_eq!(
        h.mock.runware_requests(),
        vec![task.clone()],
        "the journal keeps the task as sent"
    );
    let (status, journal) = h.get_json(&h.url("/_mock/runware/requests")).await;
    assert_eq!((status, journal), (200, json!([task])));
}

#[tokio::test]
async fn keys_are_checked_and_errors_use_the_envelope() {
    let h = Harness::start(MockConfig::default()).await;
    let id = uuid();
    let response = h
        .http
        .post(h.url("/v1"))
        .json(&json!([pro(&id, "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "missingApiKey");
    let response = h
        .http
        .post(h.url("/v1"))
        .header("x-key", h.mock.api_key())
        .bearer_auth("wrong")
        .json(&json!([pro(&id, "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["errors"][0]["code"],
        "invalidApiKey"
    );

    let mut small = pro(&uuid(), "x");
    small["width"] = json!(240);
    let mut steps_on_pro = pro(&uuid(), "x");
    steps_on_pro["steps"] = json!(20);
    let mut typo = pro(&uuid(), "x");
    typo["postivePrompt"] = json!("x");
    for (task, code, parameter) in [
        (small, "invalidWidth", "width"),
        (steps_on_pro, "invalidSteps", "steps"),
        (typo, "invalidParameter", "postivePrompt"),
    ] {
        let (status, body) = h.runware(json!([task.clone()])).await;
        assert_eq!(status, 400, "{body}");
        let e = &body["errors"][0];
        assert_eq!(
            (e["code"].as_str(), e["parameter"].as_str()),
            (Some(code), Some(parameter)),
            "{body}"
        );
        assert_eq!(e["taskUUID"], task["taskUUID"]);
    }
    // One good and one bad task: each on its own, answered 200.
    let good = uuid();
    let mut bad = pro(&uuid(), "x");
    bad["model"] = json!("bfl:99@1");
    let (status, body) = h.runware(json!([pro(&good, "good"), bad])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["taskUUID"], good.as_str());
    assert_eq!(body["errors"][0]["code"], "invalidModel");
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.by_provider.runware.unauthorized,
            stats.by_provider.runware.invalid
        ),
        (2, 4)
    );
    assert_eq!(stats.by_provider.runware.submissions, 1);
}

#[tokio::test]
async fn a_known_task_uuid_conflicts_and_is_billed_once() {
    let h = Harness::start(MockConfig::default()).await;
    let id = uuid();
    assert_eq!(h.runware(json!([pro(&id, "once")])).await.0, 200);
    let (status, body) = h.runware(json!([pro(&id, "once")])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], "conflictTaskUUID");
    assert_eq!(body["errors"][0]["taskUUID"], id.as_str());
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.submissions,
            stats.by_provider.runware.conflicts,
            stats.micro_usd_billed
        ),
        (1, 1, 45_000)
    );
    // BFL's poll does not see Runware's task.
    let bfl = h.poll(&id).await;
    assert_eq!(bfl["status"], "Task not found");
}

#[tokio::test]
async fn failed_tasks_are_error_entries_and_not_billed() {
    let h = Harness::start(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let id = uuid();
    assert_eq!(h.runware(json!([pro(&id, "doomed")])).await.0, 200);
    let (status, body) = h.runware_until_final(&id).await;
    assert_eq!(status, 400, "{body}");
    let e = &body["errors"][0];
    assert_eq!(
        (
            e["code"].as_str(),
            e["status"].as_str(),
            e["taskUUID"].as_str()
        ),
        (Some("timeoutProvider"), Some("error"), Some(id.as_str()))
    );
    assert_eq!(h.mock.stats().micro_usd_billed, 0);

    let (_, body) = h
        .runware(json!([{"taskType": "getResponse", "taskUUID": uuid()}]))
        .await;
    assert_eq!(body["errors"][0]["code"], "taskNotFound");

    h.mock.update(KnobsPatch {
        error_rate: Some(0.0),
        poll_fail_rate: Some(1.0),
        ..Default::default()
    });
    let (status, body) = h
        .runware(json!([{"taskType": "getResponse", "taskUUID": id}]))
        .await;
    assert!(status >= 500, "{body}");
    assert!(
        body["errors"][0].get("taskUUID").is_none(),
        "a server fault names no task: {body}"
    );
}

#[tokio::test]
async fn a_connection_lost_after_accepting_leaves_the_task_to_poll() {
    let h = Harness::start(MockConfig {
        drop_after_accept_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let id = uuid();
    let response = h
        .http
        .post(h.url("/v1"))
        .bearer_auth(h.mock.api_key())
        .json(&json!([pro(&id, "lost")]))
        .send()
        .await;
    let lost = match response {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(lost, "the answer must not arrive whole");
    h.mock.update(KnobsPatch {
        drop_after_accept_rate: Some(0.0),
        ..Default::default()
    });
    let (status, body) = h.runware(json!([pro(&id, "lost")])).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (400, Some("conflictTaskUUID"))
    );
    let (_, done) = h.runware_until_final(&id).await;
    assert_eq!(done["data"][0]["status"], "success");
    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.submissions,
            stats.dropped_responses,
            stats.by_provider.runware.dropped_responses
        ),
        (1, 1, 1)
    );
}
