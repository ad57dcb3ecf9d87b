//! `producer submit --dry-run` against the real RabbitMQ and Redis: it validates every
//! line, prints the estimated cost by provider and model, and publishes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxq_common::Lane;
use fluxq_testkit::process::run_producer;
use fluxq_testkit::{namespace, services};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_estimate_by_provider_and_model_and_publishes_nothing() {
    let svc = services::get().await.clone();
    let names = namespace::fresh("d", 10);
    let ns = names.namespace();
    let lines = [
        r#"{"model":"flux-2-pro","prompt":"a","width":1536,"height":1024,"seed":73410}"#,
        r#"{"model":"flux-2-pro","prompt":"b","width":1536,"height":1024,"provider":"runware"}"#,
        r#"{"model":"flux-2-flex","prompt":"c","width":1344,"height":768,"steps":32,"guidance":3.5,"provider":"runware","reference_images":["https://x/1.jpg","https://x/2.jpg","https://x/3.jpg"]}"#,
        r#"{"model":"flux-2-max","prompt":"d","provider":"runware","number_results":4}"#,
        r#"{"model":"flux-2-flex","prompt":"e","size":"square_hd","guidance":3.5,"steps":28,"provider":"runflow"}"#,
        r#"{"model":"flux-2-flex","prompt":"f","width":1920,"height":1088,"provider":"runflow"}"#,
        r#"{"model":"flux-2-flex","prompt":"g","size":"square","provider":"runflow"}"#,
        r#"{"model":"flux-2-pro","prompt":"h","width":1920,"height":1088,"provider":"runflow"}"#,
    ];
    let out = run_producer(
        &svc,
        ns,
        &["submit", "-", "--batch", "est", "--dry-run"],
        Some(&lines.join("\n")),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("dry run: 8 job(s) in batch est, nothing published"),
        "{stdout}"
    );
    let row = |provider: &str, model: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([provider, model]))
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {provider} {model} row:\n{stdout}"))
    };
    assert_eq!(row("bfl", "flux-2-pro"), "1 1 0.045");
    assert_eq!(row("runware", "flux-2-pro"), "1 1 0.045");
    assert_eq!(row("runware", "flux-2-flex"), "1 1 0.24");
    assert_eq!(row("runware", "flux-2-max"), "1 4 0.28");
    // Runflow's table: Flex 0.05 per megapixel (1024x1024 and 512x512 one each,
    // 1920x1088 two); [pro] 0.03 + 0.015 for the second megapixel.
    assert_eq!(row("runflow", "flux-2-flex"), "3 3 0.2");
    assert_eq!(row("runflow", "flux-2-pro"), "1 1 0.045");
    let total = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["total", "8", "11", "0.855"],
        "{stdout}"
    );

    // Nothing was published or recorded: no queue, no key under the namespace.
    let conn = fluxq_wire::amqp::connect(&svc.amqp_url, "fluxq-dry-run-test")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = names.lane_queue(Lane::Bulk);
    assert!(
        ch.queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
            .is_err(),
        "the lane queue was never declared"
    );
    let _ = conn.close(200, "done".into()).await;
    let mut redis = fluxq_wire::redis::connect(&svc.redis_url).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");

    // A bad line still fails the whole file, with nothing estimated.
    let out = run_producer(
        &svc,
        ns,
        &["submit", "-", "--dry-run"],
        Some(r#"{"model":"flux-2-pro","prompt":"x","number_results":2}"#),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 1: number_results"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runflow_is_a_default_provider_and_refuses_what_it_cannot_run() {
    let svc = services::get().await.clone();
    let names = namespace::fresh("d", 10);
    let ns = names.namespace();
    let line = r#"{"model":"flux-2-flex","prompt":"a","size":"square_hd","steps":28}"#;
    let out = run_producer(
        &svc,
        ns,
        &["--provider", "runflow", "submit", "-", "--dry-run"],
        Some(line),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.split_whitespace().eq([
            "runflow",
            "flux-2-flex",
            "1",
            "1",
            "0.05"
        ])),
        "{stdout}"
    );
    for (line, field) in [
        (
            r#"{"model":"flux-2-max","prompt":"m"}"#,
            "line 1: model: flux-2-max is not available on runflow",
        ),
        (
            r#"{"model":"flux-2-flex","prompt":"s","steps":1}"#,
            "line 1: steps: must be between 2 and 50 for runflow",
        ),
    ] {
        let out = run_producer(
            &svc,
            ns,
            &["--provider", "runflow", "submit", "-", "--dry-run"],
            Some(line),
        );
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{stderr}");
    }
}
