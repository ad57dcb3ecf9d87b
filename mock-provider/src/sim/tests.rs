//! The simulation on paused time: in-flight accounting, billing and forgetting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::time::Duration;

use fluxq_common::{Model, OutputFormat, ProviderKind, pricing};

use super::*;

fn order(prompt: &str, seed: Option<i64>) -> Order {
    Order {
        api: Api::Bfl,
        model: Model::Flux2Pro,
        prompt: prompt.to_owned(),
        seed,
        width: 1024,
        height: 1024,
        references: 0,
        format: OutputFormat::Jpeg,
        id: None,
        results: 1,
        include_cost: false,
        unit_cost: pricing::estimate(ProviderKind::Bfl, Model::Flux2Pro, 1024, 1024, 0),
        extras: Extras::default(),
    }
}

fn config(latency_ms: (u64, u64)) -> MockConfig {
    MockConfig {
        latency_min: Duration::from_millis(latency_ms.0),
        latency_max: Duration::from_millis(latency_ms.1),
        rng_seed: Some(7),
        ..MockConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn in_flight_counts_until_the_latency_elapses_polled_or_not() {
    let sim = Sim::new(config((100, 300)));
    for i in 0..50 {
        sim.submit(order("p", Some(i))).unwrap();
    }
    assert_eq!(
        (
            sim.stats(true).in_flight,
            sim.stats(true).max_in_flight_seen
        ),
        (50, 50)
    );
    tokio::time::advance(Duration::from_millis(99)).await;
    assert_eq!(
        sim.stats(true).in_flight,
        50,
        "none can finish before latency_min"
    );
    tokio::time::advance(Duration::from_millis(201)).await;
    let stats = sim.stats(true);
    assert_eq!(
        (stats.in_flight, stats.ready, stats.max_in_flight_seen),
        (0, 50, 50)
    );
}

#[tokio::test(start_paused = true)]
async fn pending_progress_rises_then_the_task_is_ready_then_forgotten() {
    let sim = Sim::new(MockConfig {
        task_ttl: Duration::from_secs(60),
        ..config((1000, 1000))
    });
    let id = sim.submit(order("p", None)).unwrap().id;
    tokio::time::advance(Duration::from_millis(250)).await;
    let view = sim.poll(Api::Bfl, Some(id)).unwrap().unwrap();
    assert_eq!(view.status, Status::Pending { progress: 0.25 });
    tokio::time::advance(Duration::from_millis(750)).await;
    assert_eq!(
        sim.poll(Api::Bfl, Some(id)).unwrap().unwrap().status,
        Status::Done(Outcome::Ready)
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(sim.poll(Api::Bfl, Some(id)).unwrap().is_none());
    assert_eq!(
        (sim.stats(true).tasks_stored, sim.stats(true).not_found),
        (0, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn the_cap_frees_a_slot_when_a_task_finishes() {
    let sim = Sim::new(MockConfig {
        max_in_flight: Some(1),
        ..config((100, 100))
    });
    sim.submit(order("a", None)).unwrap();
    let refused = sim.submit(order("b", None)).unwrap_err();
    assert_eq!(
        refused,
        Refusal::AtCapacity {
            cap: 1,
            retry_after_secs: 1
        }
    );
    tokio::time::advance(Duration::from_millis(100)).await;
    sim.submit(order("b", None)).unwrap();
    let stats = sim.stats(true);
    assert_eq!(
        (
            stats.submissions,
            stats.throttled_at_cap,
            stats.max_in_flight_seen
        ),
        (2, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn credits_are_deducted_exactly_and_refused_when_short() {
    let sim = Sim::new(MockConfig {
        credits: Some(3.5),
        ..config((0, 0))
    });
    sim.submit(order("a", None)).unwrap();
    assert_eq!(
        sim.submit(order("b", None)).unwrap_err(),
        Refusal::InsufficientCredits
    );
    assert_eq!(sim.balance(), Some(0.5));
    let stats = sim.stats(true);
    assert_eq!(
        (
            stats.micro_usd_billed,
            stats.insufficient_credits,
            stats.in_flight
        ),
        (30_000, 1, 0)
    );
    sim.apply(&KnobsPatch {
        credits: Some(Some(10.0)),
        ..KnobsPatch::default()
    });
    sim.submit(order("b", None)).unwrap();
    assert_eq!(sim.balance(), Some(7.0));
}

#[test]
fn knobs_patches_clamp_rates_and_order_the_latency_range() {
    let mut config = MockConfig::default();
    config.apply(&KnobsPatch {
        error_rate: Some(3.0),
        latency_min_ms: Some(500),
        ..KnobsPatch::default()
    });
    assert_eq!(config.error_rate, 1.0);
    assert_eq!(config.latency_max, Duration::from_millis(500));
    let patch: KnobsPatch = serde_json::from_str(r#"{"moderation_word": null}"#).unwrap();
    assert_eq!(patch.moderation_word, Some(None));
    let patch: KnobsPatch = serde_json::from_str("{}").unwrap();
    assert_eq!(patch, KnobsPatch::default());
}
