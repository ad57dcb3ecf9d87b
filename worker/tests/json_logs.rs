//! `FLUXQ_LOG_FORMAT=json` on the real worker binary: every stderr line is one JSON
//! object, and every line about a job (succeeded, moderated, or an invalid message
//! with a readable id) carries its `job_id` and `batch` at the top level.

use fluxq_testkit::process;

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, id_of, job};
use process::WorkerProcess;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_is_json_and_every_line_about_a_job_names_it_and_its_batch() {
    let h = Harness::new(MockConfig {
        moderation_word: Some("forbidden".into()),
        ..MockConfig::default()
    })
    .await;
    let mut worker = WorkerProcess::start(&[
        ("RUST_LOG", "debug".into()),
        ("FLUXQ_AMQP_URL", h.amqp_url.clone()),
        ("FLUXQ_REDIS_URL", h.redis_url.clone()),
        ("FLUXQ_NAMESPACE", h.names.namespace().into()),
        ("FLUXQ_BFL_URL", h.mock.base_url()),
        ("BFL_API_KEY", h.mock.api_key().into()),
        ("FLUXQ_OUTPUT_DIR", h.output_path().display().to_string()),
        ("FLUXQ_POLL_INITIAL_MS", "50".into()),
    ]);
    let jobs = vec![
        job("logged vase 1", 1),
        job("logged vase 2", 2),
        job("a forbidden vase", 3),
    ];
    h.submit(&jobs, "logged", Lane::Bulk).await;
    let invalid = job("an invalid vase", 4);
    let mut body = invalid.clone();
    body["batch"] = "logged-invalid".into();
    body["width"] = 100.into(); // not a multiple of 16
    h.publish_raw(&serde_json::to_vec(&body).unwrap(), Lane::Bulk)
        .await;
    h.wait_batch("logged", 3, Duration::from_secs(30)).await;
    h.wait_status(&id_of(&invalid), "failed", Duration::from_secs(10))
        .await;
    worker.terminate();
    assert_eq!(
        worker.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    assert_eq!(worker.stdout().await, "", "logs go to stderr only");

    let lines = worker.lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("not one JSON object: {l}"),
        })
        .collect();
    assert!(
        parsed
            .iter()
            .all(|v| v["timestamp"].is_string() && v["level"].is_string())
    );

    let expect = jobs
        .iter()
        .map(|j| (id_of(j).to_string(), "logged"))
        .chain([(id_of(&invalid).to_string(), "logged-invalid")]);
    for (id, batch) in expect {
        let about: Vec<_> = lines
            .iter()
            .zip(&parsed)
            .filter(|(l, v)| l.contains(&id) || v.get("job_id").is_some_and(|j| j == id.as_str()))
            .collect();
        assert!(
            about.len() >= 2,
            "few lines about job {id}:\n{}",
            lines.join("\n")
        );
        for (line, v) in about {
            assert_eq!(v["job_id"], id.as_str(), "line without its job id: {line}");
            assert_eq!(v["batch"], batch, "line without its batch: {line}");
        }
    }
    // Every line in a job's span names the job, whatever it is about (and there are
    // such lines: a span renamed or lost would leave nothing to check).
    let in_job_span: Vec<_> = lines
        .iter()
        .zip(&parsed)
        .filter(|(_, v)| v["span"] == "job")
        .collect();
    assert!(
        in_job_span.len() >= jobs.len(),
        "few lines in a job's span:\n{}",
        lines.join("\n")
    );
    for (line, v) in in_job_span {
        assert!(
            v["job_id"].as_str().is_some_and(|j| !j.is_empty()),
            "{line}"
        );
    }
    let terminal = |message: &str| parsed.iter().filter(|v| v["message"] == message).count();
    assert_eq!(terminal("Job succeeded."), 2);
    assert_eq!(terminal("Provider moderated the job; it is final."), 1);
    assert_eq!(terminal("Dead-lettered an invalid message."), 1);
    h.cleanup().await;
}
