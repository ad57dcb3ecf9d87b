//! The `worker` binary with only a Runflow key: `FLUXQ_PROVIDER=runflow` sends jobs
//! that name no provider there, and a job for a provider without a key fails naming
//! the missing variable.

use std::time::Duration;

use fluxq_common::{Lane, MicroUsd};
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::process::WorkerProcess;
use fluxq_testkit::{Harness, id_of, job};
use serde_json::json;

use super::created;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_binary_runs_runflow_as_its_default_provider() {
    let h = Harness::new(MockConfig::default()).await;
    let mut worker = WorkerProcess::start(&[
        ("FLUXQ_AMQP_URL", h.amqp_url.clone()),
        ("FLUXQ_REDIS_URL", h.redis_url.clone()),
        ("FLUXQ_NAMESPACE", h.names.namespace().into()),
        ("FLUXQ_PROVIDER", "runflow".into()),
        ("FLUXQ_RUNFLOW_URL", h.mock.base_url()),
        ("RUNFLOW_API_KEY", h.mock.api_key().into()),
        ("FLUXQ_OUTPUT_DIR", h.output_path().display().to_string()),
        ("FLUXQ_POLL_INITIAL_MS", "50".into()),
    ]);
    let defaulted: Vec<_> = (0..3)
        .map(|i| job(&format!("default-provider daisy {i}"), i))
        .collect();
    for j in &defaulted {
        h.publish_raw(&serde_json::to_vec(j).unwrap(), Lane::Bulk)
            .await;
    }
    let mut bfl = job("a keyless bfl daisy", 7);
    bfl["provider"] = json!("bfl");
    h.publish_raw(&serde_json::to_vec(&bfl).unwrap(), Lane::Bulk)
        .await;

    for j in &defaulted {
        let rec = h
            .wait_status(&id_of(j), "succeeded", Duration::from_secs(30))
            .await;
        assert_eq!(rec["provider"], "runflow");
        assert_eq!(rec["cost_usd"], "0.03", "512x512 [pro] at Runflow");
        assert_eq!(created(&h, j["prompt"].as_str().unwrap()).len(), 1);
    }
    let rec = h
        .wait_status(&id_of(&bfl), "failed", Duration::from_secs(30))
        .await;
    assert!(
        rec["error"]
            .contains("provider bfl is not configured on this worker (BFL_API_KEY is not set)"),
        "{rec:?}"
    );
    let stats = h.stats();
    assert_eq!(
        (
            stats.by_provider.runflow.submissions,
            stats.by_provider.bfl.submissions
        ),
        (3, 0)
    );
    assert_eq!(
        MicroUsd(stats.micro_usd_billed),
        MicroUsd(90_000),
        "three runs billed"
    );
    let logs = worker.lines().join("\n");
    assert!(!logs.contains(h.mock.api_key()), "the key is never logged");
    worker.terminate();
    assert_eq!(
        worker.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    h.cleanup().await;
}
