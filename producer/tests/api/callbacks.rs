//! Completion callbacks end to end: two notifiers (`producer serve` and a `producer
//! notify`, restarted midway) deliver from the events stream to a local receiver that
//! fails the first 3 deliveries of each job; the 4th arrives, its signature verifies,
//! each job is delivered once, and every attempt is on the job's record. A URL to an
//! internal address is refused without being called.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fluxq_producer::notify::sign;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::server::{READ, Server, env};
use crate::support::{Harness, fixed_latency};

const SECRET: &str = "whsec-callback-test-0123456789";
/// Deliveries of each job the receiver answers 503 before it accepts one.
const FAILURES: u32 = 3;

#[derive(Debug, Default)]
struct Seen {
    /// Requests per job id.
    requests: HashMap<String, u32>,
    /// Accepted (2xx) deliveries per job id.
    accepted: HashMap<String, u32>,
    bad_signatures: u32,
    bodies: HashMap<String, serde_json::Value>,
}

type Shared = Arc<Mutex<Seen>>;

async fn hook(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers
        .get(sign::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp() as u64;
    let mut s = seen.lock().unwrap();
    if sign::verify(SECRET.as_bytes(), header, &body, now, 300).is_err() {
        s.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let n = s.requests.entry(id.clone()).or_default();
    *n += 1;
    if *n <= FAILURES {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    *s.accepted.entry(id.clone()).or_default() += 1;
    s.bodies.insert(id, v);
    StatusCode::NO_CONTENT
}

async fn receiver() -> (String, Shared) {
    let seen: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), seen)
}

/// `producer notify` with `env`, once it said it runs.
async fn notifier(env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_producer"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .arg("notify")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some("delivering completion callbacks"));
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_until_accepted_once_and_recorded() {
    let h = Harness::new(fixed_latency(50)).await;
    let (addr, seen) = receiver().await;
    let mut e = env(&h);
    e.extend([
        ("FLUXQ_CALLBACK_SECRET", SECRET.to_owned()),
        ("FLUXQ_CALLBACK_ALLOW_HOSTS", addr.clone()),
        ("FLUXQ_CALLBACK_BACKOFF_MS", "200".to_owned()),
        ("FLUXQ_CALLBACK_BACKOFF_MAX_MS", "1000".to_owned()),
        ("FLUXQ_CALLBACK_TIMEOUT_MS", "2000".to_owned()),
    ]);
    let s = Server::start(&e, &[]).await;
    let mut second = notifier(&e).await;
    let worker = h.spawn_worker(h.worker_config());

    let url = format!("http://{addr}/hook?source=test");
    let jobs: Vec<_> = (0..6)
        .map(|i| json!({"model": "flux-2-pro", "prompt": format!("callback {i}"), "width": 512, "height": 512, "callback_url": url}))
        .collect();
    let mut all = jobs.clone();
    all.push(
        json!({"model": "flux-2-pro", "prompt": "internal", "width": 512, "height": 512,
        "callback_url": "https://169.254.169.254/latest/meta-data/"}),
    );
    all.push(json!({"model": "flux-2-pro", "prompt": "no callback", "width": 512, "height": 512}));
    let (code, _, body) = s
        .post("/v1/jobs?batch=cb", &json!({"jobs": all}), &[])
        .await;
    assert_eq!(code, 202, "{body}");
    let mut ids: Vec<String> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    // One more published straight to RabbitMQ, as another service would: the worker
    // makes its record, callback included.
    let direct = uuid::Uuid::new_v4().to_string();
    let raw = json!({"id": direct, "batch": "cb-direct", "model": "flux-2-pro", "prompt": "direct",
        "width": 512, "height": 512, "callback_url": url});
    h.publish_raw(raw.to_string().as_bytes(), fluxq_common::Lane::Bulk)
        .await;
    ids.push(direct);
    let with_callback: Vec<String> = ids[..6].iter().chain(&ids[8..]).cloned().collect();

    // Restart the second notifier while deliveries are under way.
    let start = tokio::time::Instant::now();
    while seen.lock().unwrap().requests.values().sum::<u32>() < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no delivery began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = second.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), second.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the notifier stops cleanly: {status}");
    let _restarted = notifier(&e).await;

    for id in &with_callback {
        let start = tokio::time::Instant::now();
        loop {
            let (_, job) = s.get(&format!("/v1/jobs/{id}"), Some(READ)).await;
            if job["callback"]["status"] == "delivered" {
                assert_eq!(job["callback"]["attempts"], FAILURES + 1, "{job}");
                assert_eq!(job["callback"]["url"], url.as_str());
                assert!(job["callback"]["delivered_at"].is_string(), "{job}");
                assert!(job["callback"]["last_error"].is_null(), "{job}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "callback of {id} not delivered: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (_, refused) = s.get(&format!("/v1/jobs/{}", ids[6]), Some(READ)).await;
    let start = tokio::time::Instant::now();
    let mut refused = refused;
    while refused["callback"]["status"] != "refused" {
        assert!(start.elapsed() < Duration::from_secs(30), "{refused}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        refused = s.get(&format!("/v1/jobs/{}", ids[6]), Some(READ)).await.1;
    }
    assert!(
        refused["callback"]["last_error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{refused}"
    );
    assert_eq!(refused["callback"]["attempts"], 0, "never called");
    let (_, plain) = s.get(&format!("/v1/jobs/{}", ids[7]), Some(READ)).await;
    assert!(plain.get("callback").is_none(), "{plain}");

    // Give a duplicate delivery the time to show up, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.bad_signatures, 0, "every signature verifies");
    assert_eq!(
        seen.requests.len(),
        7,
        "only the jobs with a callback: {seen:?}"
    );
    for id in &with_callback {
        assert_eq!(seen.requests[id], FAILURES + 1, "{id}: {seen:?}");
        assert_eq!(seen.accepted[id], 1, "{id} delivered once");
        let body = &seen.bodies[id];
        assert_eq!(body["status"], "succeeded");
        assert!(body["batch"].as_str().unwrap().starts_with("cb"), "{body}");
        assert!(body["cost_usd"].is_string(), "{body}");
        assert!(
            body.get("callback").is_none(),
            "the body is the job's record"
        );
    }
    worker.stop().await;
    h.cleanup().await;
}
