//! A task's life over real HTTP: submit, Pending with progress, Ready, download,
//! expiry of the image URL and of the task itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_mock_provider::MockConfig;
use fluxq_testkit::fixed_latency;
use fluxq_testkit::mock::Harness;
use serde_json::json;

#[tokio::test]
async fn submit_poll_ready_and_download_a_real_image() {
    let h = Harness::start(fixed_latency(300)).await;
    let (status, body) = h
        .submit(
            "flux-2-pro",
            json!({ "prompt": "a red fox", "seed": 7, "width": 1536, "height": 1024 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        body["polling_url"],
        format!("{}/v1/get_result?id={id}", h.mock.base_url())
    );
    assert_eq!(body["cost"], 4.5, "pro 1536x1024 is 0.045 USD");
    assert_eq!(body["input_mp"], 0.0);
    assert_eq!(body["output_mp"], 1.5);

    let pending = h.poll(id).await;
    assert_eq!(pending["status"], "Pending");
    let progress = pending["progress"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&progress), "{pending}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let later = h.poll(id).await;
    assert!(
        later["progress"].as_f64().unwrap() > progress,
        "progress rises: {later}"
    );

    let ready = h.poll_until_final(id).await;
    assert_eq!(ready["status"], "Ready", "{ready}");
    assert_eq!(ready["id"], id);
    assert_eq!(ready["result"]["seed"], 7);
    assert_eq!(ready["result"]["prompt"], "a red fox");
    let sample = ready["result"]["sample"].as_str().unwrap();
    assert!(
        sample.starts_with(&format!("{}/_mock/images/{id}?exp=", h.mock.base_url())),
        "{sample}"
    );

    let response = h.http.get(sample).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let first = response.bytes().await.unwrap();
    let image = image::load_from_memory(&first).unwrap();
    assert_eq!((image.width(), image.height()), (64, 64));

    let other = h.submit_ok("a red fox", 8).await;
    let other = h.poll_until_final(&other).await;
    let second = h
        .http
        .get(other["result"]["sample"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let second = second.bytes().await.unwrap();
    assert_ne!(first, second, "another seed gives another image");

    let stats = h.mock.stats();
    assert_eq!(
        (
            stats.submissions,
            stats.ready,
            stats.downloads,
            stats.in_flight
        ),
        (2, 2, 2, 0)
    );
    assert_eq!(stats.max_in_flight_seen, 1);
    h.mock.shutdown().await;
}

#[tokio::test]
async fn images_come_in_the_requested_format() {
    let h = Harness::start(MockConfig::default()).await;
    for (format, content_type) in [
        ("png", "image/png"),
        ("webp", "image/webp"),
        ("jpeg", "image/jpeg"),
    ] {
        let (status, body) = h
            .submit(
                "flux-2-max",
                json!({ "prompt": "a kite", "output_format": format }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let ready = h.poll_until_final(body["id"].as_str().unwrap()).await;
        let response = h
            .http
            .get(ready["result"]["sample"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        let bytes = response.bytes().await.unwrap();
        let guessed = image::guess_format(&bytes).unwrap();
        assert_eq!(guessed.extensions_str()[0].replace("jpg", "jpeg"), format);
        image::load_from_memory(&bytes).unwrap();
    }
}

#[tokio::test]
async fn unknown_ids_are_task_not_found() {
    let h = Harness::start(MockConfig::default()).await;
    for id in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let body = h.poll(id).await;
        assert_eq!(body["status"], "Task not found", "{body}");
        assert_eq!(body["id"], id);
    }
    let (status, _) = h.get_json(&h.url("/v1/get_result")).await;
    assert_eq!(status, 422, "the id is required");
    assert_eq!(h.mock.stats().not_found, 2);
}

#[tokio::test]
async fn image_urls_expire_and_cannot_be_forged() {
    let config = MockConfig {
        download_ttl: Duration::from_millis(200),
        ..MockConfig::default()
    };
    let h = Harness::start(config).await;
    let id = h.submit_ok("a boat", 1).await;
    let ready = h.poll_until_final(&id).await;
    let sample = ready["result"]["sample"].as_str().unwrap().to_owned();
    assert_eq!(h.http.get(&sample).send().await.unwrap().status(), 200);

    let (base, sig) = sample.rsplit_once("&sig=").unwrap();
    let forged = format!("{base}&sig={}", "0".repeat(sig.len()));
    assert_eq!(h.http.get(&forged).send().await.unwrap().status(), 403);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.http.get(&sample).send().await.unwrap().status(),
        403,
        "expired"
    );
    let stats = h.mock.stats();
    assert_eq!((stats.downloads, stats.downloads_refused), (1, 2));
}

#[tokio::test]
async fn finished_tasks_are_forgotten_after_the_task_ttl() {
    let config = MockConfig {
        task_ttl: Duration::from_millis(200),
        ..MockConfig::default()
    };
    let h = Harness::start(config).await;
    let id = h.submit_ok("a bell", 1).await;
    assert_eq!(h.poll(&id).await["status"], "Ready");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.poll(&id).await["status"], "Task not found");
    assert_eq!(h.mock.stats().tasks_stored, 0, "memory is given back");
}
