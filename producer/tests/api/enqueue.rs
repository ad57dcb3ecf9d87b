//! Enqueueing over HTTP: a job runs and its image is served; invalid jobs are refused
//! naming the field, with nothing published; the same POST twice makes one job.

use std::time::Duration;

use fluxq_common::Lane;
use serde_json::json;

use crate::server::{READ, Server, env};
use crate::support::{Harness, fixed_latency};

#[tokio::test]
async fn a_job_enqueued_over_http_runs_and_its_image_is_served() {
    let h = Harness::new(fixed_latency(50)).await;
    let worker = h.spawn_worker(h.worker_config());
    let s = Server::start(&env(&h), &[]).await;
    let job = json!({"model": "flux-2-pro", "prompt": "http end to end", "width": 512, "height": 512, "seed": 7});
    let (code, headers, body) = s.post("/v1/jobs", &job, &[]).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        body["lane"], "interactive",
        "a single job defaults to interactive"
    );
    let id = body["jobs"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/jobs/{id}").as_str());

    let done = s.wait_job(&id, "succeeded", Duration::from_secs(60)).await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["model"], "flux-2-pro");
    assert!(done["cost_usd"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    assert_eq!(done["image"], format!("/v1/jobs/{id}/image").as_str());
    let path = done["image_path"].as_str().unwrap().to_owned();

    let resp = s
        .client
        .get(s.url(&format!("/v1/jobs/{id}/image")))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), std::fs::read(&path).unwrap().as_slice());
    let img = image::load_from_memory(&bytes).expect("the served bytes decode as an image");
    assert!(img.width() > 0 && img.height() > 0);

    let batch = done["batch"].as_str().unwrap_or_else(|| panic!("{done}"));
    let (code, b) = s.get(&format!("/v1/batches/{batch}"), Some(READ)).await;
    assert_eq!(code, 200);
    assert_eq!(
        (b["total"].as_u64(), b["succeeded"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(b["cost_usd"], done["cost_usd"]);
    assert_eq!(b["finished"], true);

    let (code, missing) = s
        .get(&format!("/v1/jobs/{}", uuid::Uuid::new_v4()), Some(READ))
        .await;
    assert_eq!(
        (code, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test]
async fn invalid_jobs_are_refused_naming_the_field_and_nothing_is_published() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let bad = json!({"model": "flux-2-pro", "prompt": "odd size", "width": 100, "height": 512});
    let (code, _, body) = s.post("/v1/jobs", &bad, &[]).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["field"], "width");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("multiple of 16"),
        "{body}"
    );

    let bulk = json!({"jobs": [
        {"model": "flux-2-pro", "prompt": "fine"},
        {"model": "flux-2-pro", "prompt": "fine too", "steps": 20},
        {"model": "flux-2-pro", "prompt": "typo", "widht": 512},
    ]});
    let (code, _, body) = s.post("/v1/jobs", &bulk, &[]).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["field"], "jobs[1].steps");
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2, "{body}");
    assert_eq!(
        (details[1]["index"].as_u64(), details[1]["field"].as_str()),
        (Some(2), Some("widht"))
    );

    let (code, _, body) = s
        .post(
            "/v1/jobs?lane=fast",
            &json!({"model": "flux-2-pro", "prompt": "x"}),
            &[],
        )
        .await;
    assert_eq!((code, body["error"]["field"].as_str()), (422, Some("lane")));

    for lane in Lane::ALL {
        assert_eq!(
            h.queue_depth(&h.names.lane_queue(lane)).await,
            0,
            "nothing was published"
        );
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", h.names.namespace()))
        .query_async(&mut h.redis.clone())
        .await
        .unwrap();
    assert!(keys.is_empty(), "nothing was recorded: {keys:?}");
    h.cleanup().await;
}

#[tokio::test]
async fn the_same_post_twice_makes_one_job() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let id = uuid::Uuid::new_v4().to_string();
    let with_id = json!({"id": id, "model": "flux-2-pro", "prompt": "twice by id", "width": 512, "height": 512});
    let (c1, _, first) = s.post("/v1/jobs", &with_id, &[]).await;
    let (c2, _, second) = s.post("/v1/jobs", &with_id, &[]).await;
    assert_eq!((c1, c2), (202, 202), "{first} {second}");
    assert_eq!(first["jobs"][0]["id"], id.as_str());
    assert_eq!(second["jobs"][0]["id"], id.as_str());
    assert_eq!(
        (
            first["jobs"][0]["created"].as_bool(),
            second["jobs"][0]["created"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(
        first["batch"], second["batch"],
        "a retry resolves to the same batch"
    );

    let keyed =
        json!({"model": "flux-2-pro", "prompt": "twice by key", "width": 512, "height": 512});
    let key = [("Idempotency-Key", "order-4711")];
    let (_, _, k1) = s.post("/v1/jobs", &keyed, &key).await;
    let (_, _, k2) = s.post("/v1/jobs", &keyed, &key).await;
    let (_, _, other) = s
        .post("/v1/jobs", &keyed, &[("Idempotency-Key", "order-4712")])
        .await;
    assert_eq!(k1["jobs"][0]["id"], k2["jobs"][0]["id"]);
    assert_ne!(
        k1["jobs"][0]["id"], other["jobs"][0]["id"],
        "another key is another job"
    );

    let worker = h.spawn_worker(h.worker_config());
    for b in [&first["batch"], &k1["batch"]] {
        let st = h
            .wait_batch(b.as_str().unwrap(), 1, Duration::from_secs(60))
            .await;
        assert_eq!((st.total, st.succeeded), (1, 1), "one job, run once");
    }
    h.wait_batch(other["batch"].as_str().unwrap(), 1, Duration::from_secs(60))
        .await;
    let stats = h.stats();
    assert_eq!(
        stats.submissions_by_prompt.get("twice by id"),
        Some(&1),
        "{:?}",
        stats.submissions_by_prompt
    );
    assert_eq!(
        stats.submissions_by_prompt.get("twice by key"),
        Some(&2),
        "two keys, two jobs"
    );
    let events = h.events().await;
    assert_eq!(
        events.iter().filter(|e| e["id"] == id).count(),
        1,
        "one final event"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test]
async fn accounts_show_what_the_limiter_holds() {
    let mock = fluxq_mock_provider::MockConfig {
        throttle_rate: 0.5,
        rng_seed: Some(7),
        retry_after_secs: 0,
        ..fixed_latency(20)
    };
    let h = Harness::new(mock).await;
    let worker = h.spawn_worker(h.worker_config());
    let s = Server::start(&env(&h), &[]).await;
    let jobs: Vec<_> = (0..6)
        .map(|i| json!({"model": "flux-2-pro", "prompt": format!("throttled {i}"), "width": 512, "height": 512}))
        .collect();
    let (code, _, body) = s
        .post("/v1/jobs?batch=acc", &json!({"jobs": jobs}), &[])
        .await;
    assert_eq!(code, 202, "{body}");
    h.wait_batch("acc", 6, Duration::from_secs(90)).await;
    assert!(h.stats().throttled > 0, "the mock throttled some submits");
    let (code, accounts) = s.get("/v1/accounts", Some(READ)).await;
    assert_eq!(code, 200);
    let list = accounts.as_array().unwrap();
    assert_eq!(list.len(), 1, "{accounts}");
    let a = &list[0];
    let name = a["account"].as_str().unwrap();
    assert!(name.starts_with("bfl:"), "{a}");
    let state: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(h.names.limiter_key(name, "state"))
        .query_async(&mut h.redis.clone())
        .await
        .unwrap();
    assert_eq!(
        a["throttled"].as_u64().unwrap().to_string(),
        state["throttled"]
    );
    assert_eq!(a["max"].as_u64().unwrap().to_string(), state["max"]);
    assert_eq!(a["breaker_open"], false);
    worker.stop().await;
    h.cleanup().await;
}

/// A worker storing into S3 (moto) and a server given the same `FLUXQ_OUTPUT_URL` and
/// S3 settings: the image is read back from the bucket; a server without them says
/// 501 naming the setting, and the S3 secret is in no answer.
#[tokio::test]
async fn an_image_stored_in_s3_is_served_from_the_bucket() {
    use fluxq_testkit::moto::Moto;
    use fluxq_wire::ApiKey;
    use fluxq_wire::storage::S3Settings;
    const SECRET: &str = "fluxq-api-s3-secret-51c7";
    let moto = Moto::start().await;
    moto.create_bucket("fluxq-served").await;
    let h = Harness::new(fixed_latency(50)).await;
    let mut config = h.worker_config();
    config.output_url = Some("s3://fluxq-served/renders".parse().unwrap());
    config.s3 = S3Settings {
        endpoint: Some(moto.endpoint.parse().unwrap()),
        region: Some("eu-west-1".into()),
        access_key_id: Some(ApiKey::new("AKIDFLUXQAPI")),
        secret_access_key: Some(ApiKey::new(SECRET)),
        session_token: None,
    };
    let worker = h.spawn_worker(config);
    let mut with_s3 = env(&h);
    with_s3.extend([
        ("FLUXQ_OUTPUT_URL", "s3://fluxq-served/renders/".to_owned()),
        ("FLUXQ_S3_ENDPOINT", moto.endpoint.clone()),
        ("FLUXQ_S3_REGION", "eu-west-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDFLUXQAPI".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
    ]);
    let s = Server::start(&with_s3, &[]).await;
    let job = json!({"model": "flux-2-pro", "prompt": "served from a bucket", "width": 512, "height": 512, "output_format": "png"});
    let (code, _, body) = s.post("/v1/jobs", &job, &[]).await;
    assert_eq!(code, 202, "{body}");
    let id = body["jobs"][0]["id"].as_str().unwrap().to_owned();
    let done = s.wait_job(&id, "succeeded", Duration::from_secs(60)).await;
    assert!(
        done["image_path"]
            .as_str()
            .unwrap()
            .starts_with("s3://fluxq-served/renders/"),
        "{done}"
    );
    let image = |s: &Server| {
        s.client
            .get(s.url(&format!("/v1/jobs/{id}/image")))
            .bearer_auth(READ)
            .send()
    };
    let resp = image(&s).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).expect("the served object decodes as an image");
    assert!(img.width() > 0 && img.height() > 0);

    let plain = Server::start(&env(&h), &[]).await;
    let resp = image(&plain).await.unwrap();
    assert_eq!(resp.status(), 501);
    let text = resp.text().await.unwrap();
    assert!(text.contains("FLUXQ_OUTPUT_URL"), "{text}");
    assert!(!text.contains(SECRET) && !body.to_string().contains(SECRET));
    worker.stop().await;
    h.cleanup().await;
}
