//! The dashboard's controls act through the same library code as the command line:
//! cancel a batch and a job, set a budget, pause and resume a lane; read sessions get
//! none of them.

use fluxq_common::Lane;
use redis::AsyncCommands;

use crate::browser::{Browser, csrf, strip, text_of};
use crate::server::{READ, Server, WRITE, env};
use crate::support::{Harness, fixed_latency, id_of, job};

#[tokio::test]
async fn cancel_budget_and_pause_from_the_dashboard() {
    let h = Harness::new(fixed_latency(30)).await;
    // No worker: every job stays queued until the controls act on it.
    let jobs: Vec<_> = (0..5).map(|i| job("a quiet harbour", i)).collect();
    h.submit(&jobs, "dash-cancel", Lane::Bulk).await;
    let single = job("a paper boat", 9);
    h.submit(std::slice::from_ref(&single), "dash-one", Lane::Bulk)
        .await;
    let s = Server::start(&env(&h), &[]).await;
    let b = Browser::logged_in(&s, WRITE).await;

    let page = b.page("/batches/dash-cancel").await;
    assert!(
        page.contains("/batches/dash-cancel/cancel"),
        "a cancel control"
    );
    let token = csrf(&page);
    let p = b
        .post(
            "/batches/dash-budget-missing/budget",
            &[("csrf", &token), ("usd", "1")],
        )
        .await;
    assert_eq!(p.status, 404, "no such batch");
    let p = b
        .post(
            "/batches/dash-cancel/budget",
            &[("csrf", &token), ("usd", "lots")],
        )
        .await;
    assert_eq!(p.status, 422, "not an amount");
    let p = b
        .post(
            "/batches/dash-cancel/budget",
            &[("csrf", &token), ("usd", "2.5")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    assert_eq!(
        text_of(&b.page("/batches/dash-cancel").await, "budget"),
        "$2.5"
    );

    let p = b
        .post(
            "/batches/dash-cancel/cancel",
            &[("csrf", &token), ("reason", "wrong prompts")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    let after = b.page(&p.location.unwrap()).await;
    assert!(
        strip(&after).contains("5 job(s) cancelled now"),
        "{}",
        strip(&after)
    );
    assert_eq!(text_of(&after, "cancelled"), "5");
    assert!(strip(&after).contains("Cancelled: wrong prompts"));
    assert!(strip(&after).contains("5 of 5 done (100 %)"));
    assert!(
        !after.contains("/batches/dash-cancel/cancel"),
        "finished: no cancel"
    );
    let record = h.job(&id_of(&jobs[0])).await;
    assert_eq!(record["status"], "cancelled");

    let id = id_of(&single);
    let jp = b.page(&format!("/jobs/{id}")).await;
    assert!(jp.contains(&format!("/jobs/{id}/cancel")));
    let p = b
        .post(&format!("/jobs/{id}/cancel"), &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    assert_eq!(h.job(&id).await["status"], "cancelled");

    let lanes = b.page("/lanes").await;
    assert!(strip(&lanes).contains("Pause bulk"), "{}", strip(&lanes));
    let p = b
        .post(
            "/lanes",
            &[("csrf", &token), ("lane", "bulk"), ("action", "pause")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    let paused: Option<String> = h
        .redis
        .clone()
        .hget(h.names.paused_lanes_key(), "bulk")
        .await
        .unwrap();
    assert!(paused.is_some(), "bulk paused in Redis");
    let lanes = strip(&b.page("/lanes").await);
    assert!(
        lanes.contains("Resume bulk") && lanes.contains("paused since"),
        "{lanes}"
    );

    let reader = Browser::logged_in(&s, READ).await;
    let seen = reader.page("/lanes").await;
    assert!(!seen.contains("Resume bulk") && seen.contains("paused"));
    let p = reader
        .post(
            "/lanes",
            &[
                ("csrf", &csrf(&seen)),
                ("lane", "bulk"),
                ("action", "resume"),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "read scope");
    let p = b
        .post(
            "/lanes",
            &[("csrf", &token), ("lane", "bulk"), ("action", "resume")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(strip(&b.page("/lanes").await).contains("Pause bulk"));
    h.cleanup().await;
}
