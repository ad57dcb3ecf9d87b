//! Runflow end to end through real RabbitMQ, Redis and the mock provider over HTTP:
//! the seed page's request (snapshotted) and the price table, a batch across BFL,
//! Runware and Runflow whose cost is the mock's bill and whose status shows three
//! accounts; faults (5xx, lost answers found again by `client_ref`, a lookup that
//! fails, 402 and a top-up, 422, failed downloads) in [`faults`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod faults;

use std::collections::HashMap;
use std::time::Duration;

use fluxq_common::{Lane, MicroUsd, ProviderKind};
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};
use fluxq_worker::WorkerConfig;
use fluxq_worker::config::Endpoint;
use fluxq_worker::limiter::Account;
use fluxq_worker::secret::ApiKey;
use serde_json::{Value, json};
use uuid::Uuid;

/// The harness's worker configuration with the mock as Runware and Runflow too.
pub(crate) fn with_providers(h: &Harness) -> WorkerConfig {
    let mut c = h.worker_config();
    let key = || ApiKey::new(h.mock.api_key());
    let runware = Endpoint {
        url: format!("{}/v1", h.mock.base_url()).parse().unwrap(),
        key: key(),
    };
    let runflow = Endpoint {
        url: h.mock.base_url().parse().unwrap(),
        key: key(),
    };
    c.endpoints.set(ProviderKind::Runware, runware);
    c.endpoints.set(ProviderKind::Runflow, runflow);
    c
}

pub(crate) fn runflow_job(prompt: &str, seed: u64) -> Value {
    let mut j = job(prompt, seed);
    j["provider"] = json!("runflow");
    j
}

/// The run creations the mock received for `prompt`, as `{model_id,
/// idempotency_key, body}`.
pub(crate) fn created(h: &Harness, prompt: &str) -> Vec<Value> {
    h.mock
        .runflow_requests()
        .into_iter()
        .filter(|r| r["body"]["input"]["prompt"] == prompt)
        .collect()
}

/// The run the mock holds under `id`, read through its API.
pub(crate) async fn run_at_mock(h: &Harness, id: &str) -> Value {
    let url = format!("{}/v1/runs/{id}", h.mock.base_url());
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(h.mock.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "run {id} at the mock");
    resp.json().await.unwrap()
}

/// The Runflow account's name in Redis.
pub(crate) fn runflow_account(h: &Harness) -> String {
    Account::new(ProviderKind::Runflow, &ApiKey::new(h.mock.api_key()))
        .as_str()
        .to_owned()
}

pub(crate) fn cost(rec: &HashMap<String, String>) -> MicroUsd {
    MicroUsd::parse_usd(&rec["cost_usd"]).unwrap()
}

/// `producer status BATCH`, run in-process against this test's namespace.
pub(crate) async fn producer_status(h: &Harness, batch: &str) -> String {
    use clap::Parser;
    let cli = fluxq_producer::config::Cli::try_parse_from([
        "producer",
        "--amqp-url",
        &h.amqp_url,
        "--redis-url",
        &h.redis_url,
        "--namespace",
        h.names.namespace(),
        "status",
        batch,
    ])
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    fluxq_producer::commands::run(cli, &mut out, &mut err)
        .await
        .unwrap();
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_page_is_sent_as_documented_and_costs_what_the_table_says() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(with_providers(&h));
    let mut seed = fixture("runflow_flux2_flex.job.json");
    seed["id"] = json!(Uuid::new_v4());
    let flex = |prompt: &str, size: Value| {
        let mut j = runflow_job(prompt, 3);
        j["model"] = json!("flux-2-flex");
        j.as_object_mut().unwrap().remove("width");
        j.as_object_mut().unwrap().remove("height");
        for (k, v) in size.as_object().unwrap() {
            j[k] = v.clone();
        }
        j
    };
    let mut pro = runflow_job("a wide pro harbour", 4);
    (pro["width"], pro["height"]) = (json!(1920), json!(1088));
    let jobs = [
        (seed, "0.05"),
        (
            flex("a small flex square", json!({"size": "square"})),
            "0.05",
        ),
        (
            flex(
                "a wide flex harbour",
                json!({"width": 1920, "height": 1088}),
            ),
            "0.1",
        ),
        (pro, "0.045"),
    ];
    let bodies: Vec<Value> = jobs.iter().map(|(j, _)| j.clone()).collect();
    h.submit(&bodies, "rf-seeds", Lane::Interactive).await;
    let batch = h.wait_batch("rf-seeds", 4, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 4, "{batch:?}");

    for (j, usd) in &jobs {
        let id = id_of(j);
        let rec = h.job(&id).await;
        let prompt = j["prompt"].as_str().unwrap();
        assert_eq!(
            (rec["status"].as_str(), rec["provider"].as_str()),
            ("succeeded", "runflow"),
            "{prompt}"
        );
        assert_eq!(rec["cost_usd"], *usd, "{prompt}: the table's price");
        assert_eq!(rec["attempts"], "1");
        let run = run_at_mock(&h, &rec["provider_task_id"]).await;
        assert_eq!(run["client_ref"], id.to_string(), "the run is the job's");
        assert_eq!(run["metadata"], json!({ "fluxq_job": id.to_string() }));
        assert_eq!(created(&h, prompt).len(), 1, "{prompt}: one run created");
        let bytes = std::fs::read(&rec["image_path"]).unwrap();
        image::load_from_memory(&bytes).expect("the stored file is an image");
    }

    let seed = &jobs[0].0;
    let sent = created(&h, seed["prompt"].as_str().unwrap()).remove(0);
    let text = sent
        .to_string()
        .replace(&id_of(seed).to_string(), "<job id>");
    let sent: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        sent,
        fixture("runflow_flux2_flex.request.json"),
        "the request the mock received differs from the snapshot"
    );

    assert_eq!(batch.cost.to_string(), "0.245");
    let stats = h.stats();
    let rf = &stats.by_provider.runflow;
    assert_eq!(MicroUsd(rf.micro_usd_billed), batch.cost, "cost = the bill");
    assert_eq!((rf.submissions, rf.lookups), (4, 0));
    assert_eq!(stats.downloads, 4);
    assert_eq!(stats.downloads_with_key, 0, "image URLs get no key");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_across_three_providers_costs_the_bill_and_shows_three_accounts() {
    let h = Harness::new(MockConfig::default()).await;
    let worker = h.spawn_worker(with_providers(&h));
    let providers = ["bfl", "runware", "runflow"];
    let jobs: Vec<Value> = (0..30)
        .map(|i| {
            let mut j = job(&format!("three-way kettle {i}"), i);
            j["provider"] = json!(providers[i as usize % 3]);
            j
        })
        .collect();
    assert_eq!(h.submit(&jobs, "three", Lane::Bulk).await, 30);
    let batch = h.wait_batch("three", 30, Duration::from_secs(60)).await;
    assert_eq!((batch.succeeded, batch.failed, batch.moderated), (30, 0, 0));

    let stats = h.stats();
    let mut by_provider: HashMap<String, MicroUsd> = HashMap::new();
    for j in &jobs {
        let rec = h.job(&id_of(j)).await;
        let want = j["provider"].as_str().unwrap();
        assert_eq!(
            (rec["status"].as_str(), rec["provider"].as_str()),
            ("succeeded", want)
        );
        let billed = stats.billed_by_prompt[j["prompt"].as_str().unwrap()];
        assert_eq!(cost(&rec).0, billed, "the job's cost is what was billed");
        let sum = by_provider.entry(want.to_owned()).or_default();
        *sum = sum.saturating_add(cost(&rec));
    }
    for kind in [
        ProviderKind::Bfl,
        ProviderKind::Runware,
        ProviderKind::Runflow,
    ] {
        let p = stats.by_provider.get(kind);
        assert_eq!(p.submissions, 10, "{kind}: one task per job");
        assert_eq!(
            by_provider[kind.as_str()],
            MicroUsd(p.micro_usd_billed),
            "{kind}: costs add up"
        );
    }
    assert_eq!(
        batch.cost,
        MicroUsd(stats.micro_usd_billed),
        "cost = the bill"
    );

    let report = producer_status(&h, "three").await;
    assert!(report.contains("30 done (succeeded 30"), "{report}");
    let accounts: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("provider account "))
        .collect();
    assert_eq!(accounts.len(), 3, "{report}");
    for p in providers {
        let line = format!("provider account {p}:");
        assert!(accounts.iter().any(|a| a.starts_with(&line)), "{report}");
    }
    assert!(report.contains(&runflow_account(&h)), "{report}");
    worker.stop().await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_s_own_cost_is_recorded_and_an_impossible_one_is_replaced_by_the_estimate() {
    let h = Harness::new(MockConfig {
        cost_override: Some(json!("0.123456")),
        ..MockConfig::default()
    })
    .await;
    let worker = h.spawn_worker(with_providers(&h));
    let j = runflow_job("a priced pear", 1);
    h.submit(std::slice::from_ref(&j), "rf-cost", Lane::Bulk)
        .await;
    let rec = h
        .wait_status(&id_of(&j), "succeeded", Duration::from_secs(30))
        .await;
    assert_eq!(
        rec["cost_usd"], "0.123456",
        "the run's cost, not the table's"
    );

    // A cost that is not valid money is neither added as it is nor dropped: the
    // price-table estimate (flux-2-pro 512x512 at Runflow: 0.03) is recorded in its
    // place and the job's `charge_error` says what Runflow reported.
    let bad = [json!(1e30), json!("-0.05"), json!("NaN")];
    for (i, raw) in bad.iter().enumerate() {
        h.mock.update(fluxq_mock_provider::KnobsPatch {
            cost_override: Some(Some(raw.clone())),
            ..Default::default()
        });
        let j = runflow_job(&format!("a mispriced pear {i}"), i as u64);
        h.submit(std::slice::from_ref(&j), "rf-badcost", Lane::Bulk)
            .await;
        let rec = h
            .wait_status(&id_of(&j), "succeeded", Duration::from_secs(30))
            .await;
        assert_eq!(rec["cost_usd"], "0.03", "{raw}: {rec:?}");
        assert!(
            rec.get("charge_error").is_some_and(|e| e.contains("cost")),
            "{raw}: {rec:?}"
        );
        assert_eq!(rec["attempts"], "1", "not submitted again");
    }
    assert_eq!(h.stats().by_provider.runflow.submissions, 4);
    worker.stop().await;
    h.cleanup().await;
}
