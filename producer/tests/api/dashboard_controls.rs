//! The dashboard's controls act through the same library code as the command line:
//! cancel a batch and a job, set a budget; read sessions get none of them.

use crate::browser::{Browser, csrf, strip, text_of};
use crate::server::{Server, WRITE, env};
use crate::support::{Harness, fixed_latency, id_of, job};
use fluxq_common::Lane;

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

    h.cleanup().await;
}
