//! Authentication and limits: 401 without a valid token, 403 for a read token on a
//! POST, 429 with Retry-After over the rate, body caps; no tokens, no start.

use serde_json::json;

use crate::server::{READ, Server, WRITE, env};
use crate::support::{Harness, fixed_latency};

#[tokio::test]
async fn tokens_and_scopes_are_enforced() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let (code, body) = s.get("/v1/accounts", None).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let resp = s.client.get(s.url("/v1/accounts")).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (code, _) = s.get("/v1/accounts", Some("reader-token-0123456780")).await;
    assert_eq!(code, 401, "a token one character off is refused");
    let (code, _) = s.get("/v1/accounts", Some(READ)).await;
    assert_eq!(code, 200);
    let job = json!({"model": "flux-2-pro", "prompt": "scopes"});
    let resp = s
        .client
        .post(s.url("/v1/jobs"))
        .bearer_auth(READ)
        .json(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (code, _, _) = s.post("/v1/jobs", &job, &[]).await;
    assert_eq!(code, 202, "the write token may POST");
    let (code, _) = s.get("/v1/accounts", Some(WRITE)).await;
    assert_eq!(code, 200, "and read");
    for public in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        let r = s.client.get(s.url(public)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{public} needs no token");
    }
    h.cleanup().await;
}

#[tokio::test]
async fn over_the_rate_is_429_with_retry_after() {
    let h = Harness::new(fixed_latency(50)).await;
    let mut e = env(&h);
    e.retain(|(k, _)| *k != "FLUXQ_API_RATE");
    e.push(("FLUXQ_API_RATE", "0.1".into()));
    e.push(("FLUXQ_API_BURST", "3".into()));
    let s = Server::start(&e, &[]).await;
    // A cheap request (one Redis read), so the bucket does not refill meanwhile.
    let path = format!("/v1/jobs/{}", uuid::Uuid::new_v4());
    for _ in 0..3 {
        assert_eq!(s.get(&path, Some(READ)).await.0, 404);
    }
    let resp = s
        .client
        .get(s.url(&path))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "one request every 10 s: {wait}");
    assert_eq!(
        s.get(&path, Some(WRITE)).await.0,
        404,
        "buckets are per token"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn bodies_over_the_caps_are_refused() {
    let h = Harness::new(fixed_latency(50)).await;
    let mut e = env(&h);
    e.push(("FLUXQ_MAX_MESSAGE_BYTES", "400".into()));
    e.push(("FLUXQ_API_MAX_REQUEST_BYTES", "2000".into()));
    let s = Server::start(&e, &[]).await;
    let long = json!({"model": "flux-2-pro", "prompt": "x".repeat(500)});
    let (code, _, body) = s
        .post(
            "/v1/jobs",
            &json!({"jobs": [{"model": "flux-2-pro", "prompt": "ok"}, long]}),
            &[],
        )
        .await;
    assert_eq!(
        (code, body["error"]["field"].as_str()),
        (422, Some("jobs[1].body")),
        "{body}"
    );
    let huge = json!({"model": "flux-2-pro", "prompt": "y".repeat(3000)});
    let (code, _, body) = s.post("/v1/jobs", &huge, &[]).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn without_tokens_the_server_refuses_to_start() {
    let h = Harness::new(fixed_latency(50)).await;
    let mut e = env(&h);
    e.retain(|(k, _)| *k != "FLUXQ_API_TOKENS");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_producer"))
        .env_clear()
        .envs(e.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FLUXQ_API_TOKENS") && err.contains("--insecure-no-auth"),
        "{err}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_producer"))
        .env_clear()
        .envs(e.iter().map(|(k, v)| (*k, v.as_str())))
        .env("FLUXQ_API_TOKENS", "ci:secret-value-that-is-long:admin")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("scope must be read or write"), "{err}");
    assert!(
        !err.contains("secret-value"),
        "the token is never printed: {err}"
    );
    let s = Server::start(&e, &["--insecure-no-auth"]).await;
    assert_eq!(s.get("/v1/accounts", None).await.0, 200);
    h.cleanup().await;
}

/// The defaults: at most 1,000 jobs per request, at most 16 MiB per body.
#[tokio::test]
async fn a_request_holds_at_most_1000_jobs_and_16_mib() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let job = json!({"model": "flux-2-pro", "prompt": "one of many", "width": 512, "height": 512});
    let (code, _, body) = s
        .post("/v1/jobs", &json!({"jobs": vec![job.clone(); 1001]}), &[])
        .await;
    assert_eq!(
        (code, body["error"]["field"].as_str()),
        (422, Some("jobs")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 1000 jobs (got 1001)"),
        "{body}"
    );
    // 17 MiB of jobs, each one under the per-job limit.
    let big = json!({"model": "flux-2-pro", "prompt": "p".repeat(30_000)});
    let (code, _, body) = s
        .post("/v1/jobs", &json!({"jobs": vec![big; 600]}), &[])
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    for lane in fluxq_common::Lane::ALL {
        assert_eq!(h.queue_depth(&h.names.lane_queue(lane)).await, 0);
    }
    h.cleanup().await;
}
