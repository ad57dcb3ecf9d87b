//! Runware end to end through real RabbitMQ, Redis and the mock provider over HTTP:
//! the documented seed requests (snapshotted), a batch split across BFL and Runware,
//! a lost connection and transient errors reusing the taskUUID; in [`results`],
//! several results per job, a provider without a key, the default provider, and
//! final answers (moderation, validation).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod results;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fluxq_common::{Lane, MicroUsd, ProviderKind};
use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::{Harness, id_of, job};
use fluxq_worker::WorkerConfig;
use fluxq_worker::config::Endpoint;
use fluxq_worker::secret::ApiKey;
use serde_json::{Value, json};
use uuid::Uuid;

/// The harness's worker configuration with the mock as Runware too.
fn with_runware(h: &Harness) -> WorkerConfig {
    let mut c = h.worker_config();
    let runware = Endpoint {
        url: format!("{}/v1", h.mock.base_url()).parse().unwrap(),
        key: ApiKey::new(h.mock.api_key()),
    };
    c.endpoints.set(ProviderKind::Runware, runware);
    c
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn runware_job(prompt: &str, seed: u64) -> Value {
    let mut j = job(prompt, seed);
    j["provider"] = json!("runware");
    j
}

/// The `imageInference` tasks the mock received for `prompt`.
fn sent(h: &Harness, prompt: &str) -> Vec<Value> {
    h.mock
        .runware_requests()
        .into_iter()
        .filter(|t| t["positivePrompt"] == prompt)
        .collect()
}

fn cost(rec: &HashMap<String, String>) -> MicroUsd {
    MicroUsd::parse_usd(&rec["cost_usd"]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_examples_are_sent_as_documented_and_cost_what_the_docs_say() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(with_runware(&h));
    let mut jobs = Vec::new();
    for (name, usd) in [
        ("runware_flux2_pro", "0.045"),
        ("runware_flux2_flex", "0.24"),
    ] {
        let mut j = fixture(&format!("{name}.job.json"));
        j["id"] = json!(Uuid::new_v4());
        jobs.push((name, usd, j));
    }
    let bodies: Vec<Value> = jobs.iter().map(|(_, _, j)| j.clone()).collect();
    h.submit(&bodies, "seeds", Lane::Interactive).await;
    let batch = h.wait_batch("seeds", 2, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 2, "{batch:?}");

    for (name, usd, j) in &jobs {
        let rec = h.job(&id_of(j)).await;
        assert_eq!(
            (rec["status"].as_str(), rec["provider"].as_str()),
            ("succeeded", "runware")
        );
        assert_eq!(rec["cost_usd"], *usd, "{name}");
        let requests = sent(&h, j["prompt"].as_str().unwrap());
        assert_eq!(requests.len(), 1, "{name}: one request");
        let mut request = requests[0].clone();
        let task_uuid = Uuid::parse_str(request["taskUUID"].as_str().unwrap()).unwrap();
        assert_eq!(task_uuid.get_version_num(), 4);
        assert_eq!(rec["provider_task_id"], task_uuid.to_string());
        request["taskUUID"] = json!("<taskUUID>");
        let expected = fixture(&format!("{name}.request.json"));
        assert_eq!(
            json!([request]),
            expected,
            "{name}: the JSON sent differs from the snapshot"
        );
        let bytes = std::fs::read(&rec["image_path"]).unwrap();
        image::load_from_memory(&bytes).expect("the stored file is an image");
    }
    assert_eq!(batch.cost.to_string(), "0.285");
    let stats = h.stats();
    assert_eq!(
        MicroUsd(stats.by_provider.runware.micro_usd_billed),
        batch.cost
    );
    assert_eq!(
        (
            stats.by_provider.runware.submissions,
            stats.by_provider.bfl.submissions
        ),
        (2, 0)
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_split_across_bfl_and_runware_succeeds_with_costs_per_provider() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(with_runware(&h));
    let jobs: Vec<Value> = (0..40)
        .map(|i| {
            let prompt = format!("split mug {i}");
            if i % 2 == 1 {
                runware_job(&prompt, i)
            } else {
                job(&prompt, i)
            }
        })
        .collect();
    assert_eq!(h.submit(&jobs, "split", Lane::Bulk).await, 40);
    let batch = h.wait_batch("split", 40, Duration::from_secs(60)).await;
    assert_eq!((batch.succeeded, batch.failed, batch.moderated), (40, 0, 0));

    let stats = h.stats();
    let mut by_provider: HashMap<String, MicroUsd> = HashMap::new();
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        let want = j.get("provider").and_then(Value::as_str).unwrap_or("bfl");
        assert_eq!(
            (rec["status"].as_str(), rec["provider"].as_str()),
            ("succeeded", want)
        );
        assert_eq!(rec["attempts"], "1");
        let billed = stats.billed_by_prompt[j["prompt"].as_str().unwrap()];
        assert_eq!(
            cost(&rec).0,
            billed,
            "the job's cost is what the provider billed"
        );
        let sum = by_provider.entry(want.to_owned()).or_default();
        *sum = sum.saturating_add(cost(&rec));
    }
    for kind in [ProviderKind::Bfl, ProviderKind::Runware] {
        let p = stats.by_provider.get(kind);
        assert_eq!(p.submissions, 20, "{kind}: one task per job");
        assert_eq!(
            by_provider[kind.as_str()],
            MicroUsd(p.micro_usd_billed),
            "{kind}: costs add up"
        );
    }
    assert_eq!(batch.cost, MicroUsd(stats.micro_usd_billed));
    let events = h.events().await;
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str()).collect();
    assert_eq!(
        (events.len(), ids.len()),
        (40, 40),
        "each job once in the stream"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_and_transient_errors_reuse_the_task_uuid() {
    let h = Harness::new(MockConfig::default()).await;
    h.mock.update(KnobsPatch {
        drop_after_accept_rate: Some(0.5),
        submit_fail_rate: Some(0.5),
        poll_fail_rate: Some(0.2),
        ..Default::default()
    });
    let mut config = with_runware(&h);
    config.retry.max_attempts = 30;
    let worker = h.spawn_worker(config);
    let jobs: Vec<Value> = (0..12)
        .map(|i| runware_job(&format!("lossy lamp {i}"), i))
        .collect();
    h.submit(&jobs, "lossy", Lane::Bulk).await;
    let batch = h.wait_batch("lossy", 12, Duration::from_secs(90)).await;
    assert_eq!(batch.succeeded, 12, "{batch:?}");

    let stats = h.stats();
    let rw = &stats.by_provider.runware;
    assert!(
        rw.dropped_responses > 0 && rw.conflicts > 0,
        "answers were lost and retried: {rw:?}"
    );
    assert!(stats.submit_errors > 0, "{stats:?}");
    let mut retried = 0;
    for j in &jobs {
        let prompt = j["prompt"].as_str().unwrap();
        let rec = h.job(&id_of(j)).await;
        assert_eq!(
            stats.submissions_by_prompt[prompt], 1,
            "{prompt}: the mock saw one task"
        );
        let uuids: HashSet<String> = sent(&h, prompt)
            .iter()
            .map(|t| t["taskUUID"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            uuids.len(),
            1,
            "{prompt}: every retry reused the taskUUID: {uuids:?}"
        );
        assert!(uuids.contains(&rec["provider_task_id"]));
        retried += u32::from(rec["attempts"] != "1");
    }
    assert!(retried > 0, "some jobs needed more than one submit");
    assert_eq!(
        batch.cost,
        MicroUsd(stats.micro_usd_billed),
        "nothing was paid twice"
    );
    assert_eq!(
        (batch.ambiguous_submits, batch.unconfirmed),
        (0, MicroUsd(0)),
        "a lost Runware answer is not ambiguous: the retry reuses the taskUUID"
    );
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_ended_in_error_is_replaced_under_a_new_task_uuid() {
    let h = Harness::new(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let mut config = with_runware(&h);
    config.retry.max_attempts = 3;
    let worker = h.spawn_worker(config);
    let j = runware_job("always failing vase", 5);
    h.submit(std::slice::from_ref(&j), "erring", Lane::Bulk)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "failed", Duration::from_secs(30))
        .await;
    assert_eq!(rec["attempts"], "3");
    assert!(rec["error"].contains("timeoutProvider"), "{rec:?}");
    assert_eq!(
        rec["cost_usd"], "0",
        "Runware charged nothing for failed tasks"
    );
    let uuids: HashSet<String> = sent(&h, "always failing vase")
        .iter()
        .map(|t| t["taskUUID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(uuids.len(), 3, "each new task had its own taskUUID");
    assert_eq!(h.stats().by_provider.runware.conflicts, 0);
    let dead = h.dead_letters(1, Duration::from_secs(10)).await;
    assert!(dead[0].reason.contains("timeoutProvider"), "{:?}", dead[0]);
    worker.stop().await;
    h.cleanup().await;
}
