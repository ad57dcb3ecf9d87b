//! Retries wait in the delay queues as the policy says: the gap between two
//! submissions of a job never exceeds the policy's ceiling for that attempt (plus
//! processing time) and never undercuts the shortest tier; after the last attempt
//! the job is dead-lettered with its attempt count.

use std::time::Duration;

use fluxq_common::{DelayTiers, Lane};
use fluxq_mock_provider::{KnobsPatch, MockConfig};
use fluxq_testkit::{Harness, id_of, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_delays_follow_the_policy_and_exhaustion_dead_letters() {
    let h = Harness::new(MockConfig::default()).await;
    h.mock.update(KnobsPatch {
        submit_fail_rate: Some(1.0),
        ..Default::default()
    });
    let mut config = h.worker_config();
    config.retry.base = Duration::from_millis(200);
    config.retry.cap = Duration::from_millis(1600);
    config.retry.max_attempts = 5;
    let policy = config.retry;
    let tiers = DelayTiers::for_policy(&policy);
    fluxq_wire::amqp::declare_topology(&h.conn, &h.names, &tiers)
        .await
        .unwrap();
    let worker = h.spawn_worker(config);

    let jobs: Vec<_> = (0..4)
        .map(|i| job(&format!("doomed chair {i}"), i))
        .collect();
    h.submit(&jobs, "doomed", Lane::Bulk).await;
    let batch = h.wait_batch("doomed", 4, Duration::from_secs(60)).await;
    assert_eq!(batch.failed, 4);

    let stats = h.stats();
    let slack = Duration::from_millis(700);
    for j in &jobs {
        let prompt = j["prompt"].as_str().unwrap();
        let times = &stats.submit_times_ms_by_prompt[prompt];
        assert_eq!(times.len(), 5, "{prompt}: one submit request per attempt");
        for (k, pair) in times.windows(2).enumerate() {
            let gap = Duration::from_millis(pair[1].saturating_sub(pair[0]));
            let attempt = k as u32 + 1;
            assert!(
                gap + Duration::from_millis(50) >= tiers.all()[0],
                "{prompt} gap {k}: {gap:?} below the shortest tier"
            );
            assert!(
                gap <= policy.ceiling(attempt) + slack,
                "{prompt} gap after attempt {attempt}: {gap:?} > {:?}",
                policy.ceiling(attempt)
            );
        }
        let rec = h.job(&id_of(j)).await;
        assert_eq!(rec["status"], "failed");
        assert_eq!(rec["attempts"], "5");
        assert!(rec["error"].contains("gave up after 5 attempts"), "{rec:?}");
    }
    let dead = h.dead_letters(4, Duration::from_secs(10)).await;
    for d in &dead {
        assert_eq!(d.attempts, Some(5));
        assert!(
            d.reason.contains("gave up after 5 attempts")
                && (d.reason.contains("503") || d.reason.contains("500")),
            "{d:?}"
        );
    }
    worker.stop().await;
    h.cleanup_with_tiers(&tiers).await;
}
