//! `producer pause|resume --lane`, `producer daily-budget` and `producer status`
//! without a batch (the fleet view), run as the binary.

use fluxq_common::{Lane, MicroUsd};

use super::{Ns, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_are_paused_and_resumed_and_the_fleet_view_says_so() {
    let ns = Ns::new().await;
    let out = ns.producer(&["pause", "--lane", "bulk"], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("paused lane bulk: "), "{stdout}");
    let paused = fluxq_producer::lanes::paused(&ns.records).await.unwrap();
    let since = paused.get(&Lane::Bulk).cloned().unwrap();
    let again = text(&ns.producer(&["pause", "--lane", "bulk"], None)).0;
    assert_eq!(
        again,
        format!("lane bulk was already paused (since {since})\n")
    );

    let out = ns.producer(&["status"], None);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains(&format!("lane bulk: PAUSED since {since}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("lane interactive: running\n"), "{stdout}");
    assert!(
        stdout.contains("no provider account has been used yet"),
        "{stdout}"
    );

    let out = ns.producer(&["resume", "--lane", "bulk"], None);
    assert_eq!(
        text(&out).0,
        "resumed lane bulk: workers consume it again within 2 s\n"
    );
    assert!(
        fluxq_producer::lanes::paused(&ns.records)
            .await
            .unwrap()
            .is_empty()
    );
    let again = text(&ns.producer(&["resume", "--lane", "bulk"], None)).0;
    assert_eq!(again, "lane bulk was not paused\n");
    let out = ns.producer(&["resume"], None);
    assert_eq!(out.status.code(), Some(2), "resume needs to be told what");
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_is_set_and_cleared_in_redis() {
    let ns = Ns::new().await;
    let out = ns.producer(&["daily-budget", "--usd", "12.5"], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("12.5 USD"), "{stdout}");
    let set = fluxq_producer::daily_budget::get(&ns.records)
        .await
        .unwrap();
    assert_eq!(set, Some(MicroUsd(12_500_000)));
    let out = ns.producer(&["daily-budget", "--usd", "a lot"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--usd: must be an amount of USD"));
    let out = ns.producer(&["daily-budget", "--usd", "1", "--clear"], None);
    assert_eq!(out.status.code(), Some(2), "one or the other");
    let out = ns.producer(&["daily-budget", "--clear"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fluxq_producer::daily_budget::get(&ns.records)
            .await
            .unwrap(),
        None
    );
    ns.cleanup().await;
}
