//! Who may see and do what on the dashboard: no session → the login page; a wrong
//! token → refused; a read token sees no controls and cannot POST; a form without this
//! session's CSRF token is refused; a write session's control acts.

use std::time::Duration;

use fluxq_common::Lane;
use serde_json::json;

use crate::browser::{Browser, csrf, strip};
use crate::server::{READ, Server, WRITE, env};
use crate::support::{Harness, fixed_latency};

#[tokio::test]
async fn sessions_scopes_and_csrf_guard_the_dashboard() {
    let h = Harness::new(fixed_latency(30)).await;
    let worker = h.spawn_worker(h.worker_config());
    let id = uuid::Uuid::new_v4().to_string();
    // An unknown field: dead-lettered at once.
    let body = json!({"id": id, "batch": "dash-auth", "model": "flux-2-pro", "prompt": "p", "colour": "red"});
    h.publish_raw(body.to_string().as_bytes(), Lane::Bulk).await;
    let dead = h.names.dead_queue();
    let start = tokio::time::Instant::now();
    while h.queue_depth(&dead).await < 1 {
        assert!(start.elapsed() < Duration::from_secs(30), "a dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    let s = Server::start(&env(&h), &[]).await;

    let anon = Browser::new(&s);
    let p = anon.get("/batches/dash-auth").await;
    assert_eq!(p.status, 303);
    assert_eq!(
        p.location.as_deref(),
        Some("/login?next=%2Fbatches%2Fdash-auth")
    );
    assert_eq!(anon.get("/login").await.status, 200);
    assert_eq!(
        anon.get("/jobs/x/thumbnail").await.status,
        303,
        "images too"
    );
    let mut wrong = Browser::new(&s);
    assert_eq!(wrong.login("not-a-token-at-all-0000").await.status, 401);
    assert!(wrong.cookie.is_none());
    assert_eq!(
        s.get("/v1/batches/dash-auth", None).await.0,
        401,
        "the API still wants its bearer token"
    );

    let reader = Browser::logged_in(&s, READ).await;
    let cookie = reader.cookie.clone().unwrap();
    assert!(cookie.starts_with("fluxq_session="));
    let page = reader.page("/batches/dash-auth").await;
    assert!(!page.contains("replay-dead"), "no controls for read");
    let dead_page = reader.page("/dead").await;
    assert!(!dead_page.contains("Confirm"), "no replay for read");
    let token = csrf(&page);
    let p = reader
        .post("/batches/dash-auth/replay-dead", &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 403, "read scope");

    let writer = Browser::logged_in(&s, WRITE).await;
    let page = writer.page("/batches/dash-auth").await;
    assert!(page.contains("/batches/dash-auth/replay-dead"));
    let p = writer
        .post("/batches/dash-auth/replay-dead", &[("csrf", "0123")])
        .await;
    assert_eq!(p.status, 403, "a wrong CSRF token");
    let p = writer
        .post("/batches/dash-auth/replay-dead", &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 403, "another session's CSRF token");
    assert_eq!(h.queue_depth(&dead).await, 1, "nothing replayed yet");
    let p = writer
        .post("/batches/dash-auth/replay-dead", &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    let back = p.location.unwrap();
    assert!(back.starts_with("/batches/dash-auth?done="), "{back}");
    assert!(strip(&writer.page(&back).await).contains("Replayed 1 dead letter"));
    assert_eq!(h.queue_depth(&dead).await, 0);
    assert_eq!(h.queue_depth(&h.names.lane_queue(Lane::Bulk)).await, 1);

    let out = writer.post("/logout", &[("csrf", &csrf(&page))]).await;
    assert_eq!(out.status, 303);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    h.cleanup().await;
}
