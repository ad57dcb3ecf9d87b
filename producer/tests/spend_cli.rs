//! `producer cancel`, `resume`, `budget` and `submit --budget-usd` as a user runs
//! them (the real binary, real RabbitMQ and Redis): messages, exit codes, and what
//! `producer status` shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use fluxq_common::{DelayTiers, RetryPolicy};
use fluxq_testkit::process::run_producer;
use fluxq_testkit::{namespace, services};
use fluxq_wire::amqp;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_resume_and_budget_say_what_they_did() {
    let svc = services::get().await.clone();
    let names = namespace::fresh("p", 10);
    let conn = amqp::connect(&svc.amqp_url, "fluxq-spend-cli")
        .await
        .unwrap();
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    amqp::declare_topology(&conn, &names, &tiers).await.unwrap();
    let redis = fluxq_wire::redis::connect(&svc.redis_url).await.unwrap();
    let ns = names.namespace();
    let run = |args: &[&str], stdin: Option<&str>| run_producer(&svc, ns, args, stdin);

    let input: String = (0..4)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"model": "flux-2-pro", "prompt": format!("cli {i}")})
            )
        })
        .collect();
    let out = run(
        &[
            "submit",
            "-",
            "--batch",
            "cli-spend",
            "--budget-usd",
            "0.10",
        ],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["status", "cli-spend"], None);
    let said = text(&out);
    assert!(
        said.contains("(succeeded 0, failed 0, moderated 0), cost 0 USD"),
        "{said}"
    );
    assert!(
        said.contains("budget 0.1 USD, spent 0 USD, reserved 0 USD (in flight), left 0.1 USD"),
        "{said}"
    );

    let out = run(&["cancel", "cli-spend", "--reason", "wrong template"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("batch cancelled; 4 job(s) cancelled now, 0 already at the provider"),
        "{}",
        text(&out)
    );
    let out = run(&["cancel", "cli-spend"], None);
    assert!(out.status.success());
    assert!(
        text(&out).starts_with("batch already cancelled; 0 job(s)"),
        "{}",
        text(&out)
    );
    let out = run(&["status", "cli-spend"], None);
    let said = text(&out);
    assert!(
        said.contains("4 done (succeeded 0, failed 0, moderated 0, cancelled 4)"),
        "{said}"
    );
    assert!(said.contains("cancelled: wrong template"), "{said}");
    assert!(said.contains("finished "), "{said}");

    let out = run(&["cancel", "no-such-batch"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no batch named \"no-such-batch\""));
    let out = run(&["cancel"], None);
    assert_eq!(out.status.code(), Some(2), "batch or --job is required");
    let out = run(&["budget", "cli-spend", "--usd", "ten"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(&["resume", "cli-spend"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("4 cancelled job(s) reopened"),
        "{}",
        text(&out)
    );
    let out = run(&["budget", "cli-spend", "--usd", "2.00"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("budget 2 USD (was 0.1 USD)"),
        "{}",
        text(&out)
    );
    let out = run(&["status", "cli-spend"], None);
    assert!(
        text(&out).contains("in progress: 4 to go"),
        "{}",
        text(&out)
    );

    namespace::cleanup(&conn, &redis, &names, &[&tiers]).await;
}
