//! Spend control over HTTP: cancelling a batch and a job, resuming, a budget, as
//! `producer cancel`, `resume` and `budget` do; write scope; 404 and 422.

use std::time::Duration;

use fluxq_common::Lane;
use serde_json::json;

use crate::server::{READ, Server, WRITE, env};
use crate::support::{Harness, fixed_latency, id_of, job};

#[tokio::test]
async fn batches_and_jobs_are_cancelled_resumed_and_budgeted_over_http() {
    let h = Harness::new(fixed_latency(20)).await;
    let jobs: Vec<_> = (0..6)
        .map(|n| job(&format!("http cancel {n}"), n))
        .collect();
    h.submit(&jobs, "http-cancel", Lane::Bulk).await;
    let s = Server::start(&env(&h), &[]).await;

    // One job first, then the batch: nothing was submitted, so all end cancelled.
    let one = id_of(&jobs[0]).to_string();
    let (code, _, r) = s
        .post(
            &format!("/v1/jobs/{one}/cancel"),
            &json!({"reason": "just this"}),
            &[],
        )
        .await;
    assert_eq!(
        (code, r["outcome"].as_str()),
        (200, Some("cancelled")),
        "{r}"
    );
    let (code, job) = s.get(&format!("/v1/jobs/{one}"), Some(READ)).await;
    assert_eq!(code, 200);
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["error"], "cancelled: just this");
    assert_eq!(job["cancel_kind"], "cancel");

    let (code, _, r) = s
        .post("/v1/batches/http-cancel/cancel", &json!({}), &[])
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        (r["outcome"].as_str(), r["cancelled"].as_u64()),
        (Some("cancelled"), Some(5)),
        "{r}"
    );
    let (code, _, r) = s
        .post("/v1/batches/http-cancel/cancel", &json!({}), &[])
        .await;
    assert_eq!(
        (code, r["outcome"].as_str()),
        (200, Some("already_cancelled")),
        "{r}"
    );
    let (_, b) = s.get("/v1/batches/http-cancel", Some(READ)).await;
    assert_eq!(
        (b["cancelled"].as_u64(), b["finished"].as_bool()),
        (Some(6), Some(true)),
        "{b}"
    );
    assert_eq!(b["cancel_reason"], "cancelled by an operator");

    // Scopes and unknowns.
    let resp = s
        .client
        .post(s.url("/v1/batches/http-cancel/cancel"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let (code, _, r) = s.post("/v1/batches/nope/cancel", &json!({}), &[]).await;
    assert_eq!(
        (code, r["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{r}"
    );
    let (code, _, _) = s.post("/v1/jobs/not-a-uuid/cancel", &json!({}), &[]).await;
    assert_eq!(code, 404);
    let (code, _, r) = s
        .post("/v1/batches/http-cancel/cancel", &json!({"why": 1}), &[])
        .await;
    assert_eq!(
        (code, r["error"]["field"].as_str()),
        (422, Some("body")),
        "{r}"
    );

    // A budget: 422 for a bad amount, then set.
    let put = |body: serde_json::Value| {
        s.client
            .put(s.url("/v1/batches/http-cancel/budget"))
            .bearer_auth(WRITE)
            .json(&body)
            .send()
    };
    let resp = put(json!({"usd": "1.2345678"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let resp = put(json!({"usd": "0.50"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let r: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(r["budget_usd"], "0.5", "{r}");

    // Resume: a worker runs them all (each message kept or still queued).
    let worker = h.spawn_worker(h.worker_config());
    let (code, _, r) = s
        .post("/v1/batches/http-cancel/resume", &json!({}), &[])
        .await;
    assert_eq!((code, r["reopened"].as_u64()), (200, Some(6)), "{r}");
    let b = h
        .wait_batch("http-cancel", 6, Duration::from_secs(30))
        .await;
    assert_eq!((b.succeeded, b.cancelled), (6, 0), "{b:?}");
    let (_, b) = s.get("/v1/batches/http-cancel", Some(READ)).await;
    assert_eq!(b["budget_usd"], "0.5");
    assert_eq!(b["reserved_usd"], "0");
    let (_, _, r) = s
        .post("/v1/batches/http-cancel/cancel", &json!({}), &[])
        .await;
    assert_eq!(r["outcome"], "already_finished", "{r}");
    worker.stop().await;
    h.cleanup().await;
}
