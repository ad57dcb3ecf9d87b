//! Server-Sent Events of a batch: every final event of a 200-job batch exactly once
//! across a reconnect with `Last-Event-ID`, progress while it runs, `done` at the end.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::server::{READ, Server, env};
use crate::sse;
use crate::support::{Harness, fixed_latency};

#[tokio::test]
async fn every_final_event_arrives_once_across_a_reconnect() {
    let h = Harness::new(fixed_latency(300)).await;
    let s = Server::start(&env(&h), &[]).await;
    let jobs: Vec<_> = (0..200)
        .map(|i| json!({"model": "flux-2-pro", "prompt": format!("sse {i}"), "width": 512, "height": 512}))
        .collect();
    let (code, _, body) = s
        .post("/v1/jobs?batch=sse-200", &json!({"jobs": jobs}), &[])
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["lane"], "bulk", "an array defaults to bulk");
    let mut config = h.worker_config();
    config.concurrency = 16;
    let worker = h.spawn_worker(config);

    let url = s.url("/v1/batches/sse-200/events");
    let open = |last: Option<String>| {
        let mut r = s.client.get(&url).bearer_auth(READ);
        if let Some(l) = last {
            r = r.header("Last-Event-ID", l);
        }
        r.send()
    };
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut last_id = None;
    let mut progress = 0;
    // First connection: 60 job events, then hang up.
    let resp = open(None).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut taken = 0;
    sse::read(resp, |ev| {
        match ev.event.as_str() {
            "job" => {
                let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
                assert_eq!(v["batch"], "sse-200");
                *seen
                    .entry(v["id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                last_id = ev.id.clone();
                taken += 1;
            }
            "progress" => progress += 1,
            other => panic!("unexpected event {other:?} before the batch is done"),
        }
        taken < 60
    })
    .await;
    assert_eq!(taken, 60);
    let partial = h.records.batch("sse-200").await.unwrap().unwrap();
    assert!(
        partial.done() < 200,
        "the reconnect happens while the batch runs: {partial:?}"
    );

    // Second connection resumes after the last event seen, to `done`.
    let mut done = None;
    let resp = open(last_id.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let read = sse::read(resp, |ev| match ev.event.as_str() {
        "job" => {
            let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
            *seen
                .entry(v["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
            true
        }
        "progress" => {
            progress += 1;
            true
        }
        "done" => {
            done = Some(serde_json::from_str::<serde_json::Value>(&ev.data).unwrap());
            true
        }
        other => panic!("unexpected event {other:?}"),
    });
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the stream ends with done once the batch is finished");
    let done = done.expect("a done event");
    assert_eq!(
        (done["total"].as_u64(), done["succeeded"].as_u64()),
        (Some(200), Some(200))
    );
    assert_eq!(seen.len(), 200, "every job's final event arrived");
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "events repeated: {repeated:?}");
    assert!(progress >= 2, "progress events every second while it ran");
    worker.stop().await;
    h.cleanup().await;
}
