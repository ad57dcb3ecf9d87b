//! Lanes over HTTP: `GET /v1/lanes` (queue depths, pauses, delay tiers, dead letters),
//! pausing and resuming a lane (write scope; twice is harmless; an unknown lane is
//! 404), and the accounts' spend today against the daily budget.

use std::time::Duration;

use fluxq_common::{Lane, MicroUsd};
use serde_json::json;

use crate::server::{READ, Server, env};
use crate::support::{Harness, fixed_latency, job};

#[tokio::test]
async fn lanes_are_listed_paused_and_resumed() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let jobs: Vec<_> = (0..3).map(|i| job(&format!("waiting {i}"), i)).collect();
    h.submit(&jobs, "waiting", Lane::Bulk).await;

    let (code, view) = s.get("/v1/lanes", Some(READ)).await;
    assert_eq!(code, 200, "{view}");
    let bulk = &view["lanes"][0];
    assert_eq!(bulk["lane"], "bulk");
    assert_eq!(bulk["queue"], h.names.lane_queue(Lane::Bulk).as_str());
    assert_eq!(
        (bulk["messages"].as_u64(), bulk["paused"].as_bool()),
        (Some(3), Some(false))
    );
    assert!(bulk["paused_since"].is_null());
    assert_eq!(view["lanes"][1]["lane"], "interactive");
    assert!(
        view["delay"].as_array().is_some_and(|d| !d.is_empty()),
        "{view}"
    );
    assert_eq!(view["dead"]["queue"], h.names.dead_queue().as_str());
    assert_eq!(view["dead"]["messages"], 0);

    let read_only = s
        .client
        .post(s.url("/v1/lanes/bulk/pause"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), 403, "pausing needs the write scope");
    let (code, _, paused) = s.post("/v1/lanes/bulk/pause", &json!({}), &[]).await;
    assert_eq!(code, 200, "{paused}");
    assert_eq!(
        (paused["paused"].as_bool(), paused["changed"].as_bool()),
        (Some(true), Some(true))
    );
    let since = paused["paused_since"].as_str().unwrap().to_owned();
    let (_, _, again) = s.post("/v1/lanes/bulk/pause", &json!({}), &[]).await;
    assert_eq!(
        (again["changed"].as_bool(), again["paused_since"].as_str()),
        (Some(false), Some(since.as_str()))
    );
    let held = fluxq_producer::lanes::paused(&h.records).await.unwrap();
    assert_eq!(held.get(&Lane::Bulk), Some(&since), "the flag workers read");
    let (_, view) = s.get("/v1/lanes", Some(READ)).await;
    assert_eq!(view["lanes"][0]["paused_since"], since.as_str());
    assert_eq!(view["lanes"][1]["paused"], false);

    let (code, _, missing) = s.post("/v1/lanes/urgent/pause", &json!({}), &[]).await;
    assert_eq!(code, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found");

    let (code, _, resumed) = s.post("/v1/lanes/bulk/resume", &json!({}), &[]).await;
    assert_eq!(code, 200);
    assert_eq!(
        (resumed["paused"].as_bool(), resumed["changed"].as_bool()),
        (Some(false), Some(true))
    );
    let (_, _, again) = s.post("/v1/lanes/bulk/resume", &json!({}), &[]).await;
    assert_eq!(again["changed"], false);
    assert!(
        fluxq_producer::lanes::paused(&h.records)
            .await
            .unwrap()
            .is_empty()
    );
    h.cleanup().await;
}

#[tokio::test]
async fn accounts_show_todays_spend_against_the_daily_budget() {
    let h = Harness::new(fixed_latency(20)).await;
    let mut c = h.worker_config();
    c.limits.daily_budget = MicroUsd(1_000_000);
    let worker = h.spawn_worker(c);
    let s = Server::start(&env(&h), &[]).await;
    let jobs: Vec<_> = (0..2).map(|i| job(&format!("spent {i}"), i)).collect();
    h.submit(&jobs, "spent", Lane::Bulk).await;
    let batch = h.wait_batch("spent", 2, Duration::from_secs(30)).await;
    let (code, accounts) = s.get("/v1/accounts", Some(READ)).await;
    assert_eq!(code, 200);
    let a = &accounts[0];
    assert_eq!(
        a["spent_today_micro_usd"].as_u64(),
        Some(batch.cost.0),
        "{a}"
    );
    assert_eq!(a["spent_today_usd"], batch.cost.to_string().as_str());
    assert_eq!(a["reserved_micro_usd"], 0);
    assert_eq!(a["daily_budget_usd"], "1");
    assert_eq!(
        a["day"],
        chrono::Utc::now().format("%Y-%m-%d").to_string().as_str()
    );
    // The override wins, at once.
    fluxq_producer::daily_budget::set(&h.records, Some(MicroUsd(2_500_000)))
        .await
        .unwrap();
    let (_, accounts) = s.get("/v1/accounts", Some(READ)).await;
    assert_eq!(accounts[0]["daily_budget_usd"], "2.5");
    worker.stop().await;
    h.cleanup().await;
}
