//! The daily budget per provider account (`FLUXQ_DAILY_BUDGET_USD`): its scripts
//! against the real Redis (reserve, refuse and open the breaker, replace a reservation
//! by the charge, reopen on room or a new day, the override), and end to end with
//! BFL (charged at submit) and Runware (charged with the result): exactly the jobs
//! that fit are paid for, the breaker opens with the reason, no job fails, and raising
//! the budget runs the rest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

mod model;

use std::collections::HashMap;
use std::time::Duration;

use fluxq_common::{Lane, MicroUsd, Model, ProviderKind, pricing};
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::{Harness, fixed_latency, job};
use fluxq_worker::WorkerConfig;
use fluxq_worker::config::Endpoint;
use fluxq_worker::limiter::Account;
use fluxq_worker::limiter::daily::{self, DailyBudget, Reserved};
use fluxq_worker::secret::ApiKey;
use redis::AsyncCommands;
use uuid::Uuid;

const ACCOUNT: &str = "bfl:0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_refusals_charges_and_reopening_follow_the_budget() {
    let h = Harness::new(MockConfig::default()).await;
    let mut conn = h.redis.clone();
    let budget = DailyBudget::new(h.redis.clone(), h.names.clone(), ACCOUNT, MicroUsd(100_000));
    let breaker = h.names.breaker_key(ACCOUNT);
    let reserved_key = h.names.daily_reserved_key(ACCOUNT);
    let spend_key = h.names.daily_spend_key(ACCOUNT, &daily::today());
    let [a, b, c, d, e] = [(); 5].map(|()| Uuid::new_v4());
    let m = MicroUsd(30_000);

    // A reservation left by a job that never came back is dropped once expired.
    let _: () = conn.hset(&reserved_key, "gone", "90000:1").await.unwrap();
    for id in [&a, &b, &c] {
        assert_eq!(
            budget.reserve(id, m, &breaker).await.unwrap(),
            Reserved::Yes
        );
    }
    assert_eq!(
        budget.reserve(&a, m, &breaker).await.unwrap(),
        Reserved::Yes,
        "a job's own reservation is replaced, not counted twice"
    );
    let refused = budget.reserve(&d, m, &breaker).await.unwrap();
    assert_eq!(
        refused,
        Reserved::Refused("daily budget of 0.1 USD reached".into())
    );
    let open: HashMap<String, String> = conn.hgetall(&breaker).await.unwrap();
    assert_eq!(open["reason"], "daily budget of 0.1 USD reached");
    assert_eq!(open["daily_budget_day"], daily::today());
    assert_eq!(open["daily_budget_need"], "30000");
    assert!(open.contains_key("since"));
    let held: HashMap<String, String> = conn.hgetall(&reserved_key).await.unwrap();
    assert_eq!(held.len(), 3, "the refused job reserved nothing: {held:?}");
    let state: String = conn
        .hget(
            h.names.limiter_key(ACCOUNT, "state"),
            "daily_budget_micro_usd",
        )
        .await
        .unwrap();
    assert_eq!(
        state, "100000",
        "the configured budget is published for status"
    );

    // The real charge replaces a reservation; 20 + 60 reserved + 30 needed > 100.
    assert_eq!(
        budget.charged(&a, MicroUsd(20_000)).await.unwrap(),
        MicroUsd(20_000)
    );
    let ttl: i64 = conn.ttl(&spend_key).await.unwrap();
    assert!(
        ttl > 86_400,
        "the day's spend expires after two days: {ttl}"
    );
    assert_eq!(budget.reopen(&breaker).await.unwrap(), Some(false));
    // A release (a task ended without a charge) makes room: 20 + 30 + 30 <= 100.
    assert_eq!(
        budget.charged(&b, MicroUsd(0)).await.unwrap(),
        MicroUsd(20_000)
    );
    assert_eq!(budget.reopen(&breaker).await.unwrap(), Some(true));
    assert!(!conn.exists::<_, bool>(&breaker).await.unwrap());
    assert_eq!(
        budget.reopen(&breaker).await.unwrap(),
        None,
        "closed already"
    );

    // The override wins over the configured budget: lower, then none at all.
    let _: () = conn.set(h.names.daily_budget_key(), 50_000).await.unwrap();
    let refused = budget
        .reserve(&e, MicroUsd(40_000), &breaker)
        .await
        .unwrap();
    assert_eq!(
        refused,
        Reserved::Refused("daily budget of 0.05 USD reached".into())
    );
    let _: () = conn.set(h.names.daily_budget_key(), 0).await.unwrap();
    assert_eq!(
        budget.reopen(&breaker).await.unwrap(),
        Some(true),
        "no budget: room"
    );
    assert_eq!(
        budget
            .reserve(&e, MicroUsd(400_000), &breaker)
            .await
            .unwrap(),
        Reserved::Yes
    );
    let _: () = conn.del(h.names.daily_budget_key()).await.unwrap();

    // A breaker opened the day before closes on the new day; one opened for another
    // reason (402) is left to the provider probe.
    let _: () = conn
        .hset_multiple(
            &breaker,
            &[
                ("since", "x"),
                ("reason", "r"),
                ("daily_budget_day", "2000-01-01"),
                ("daily_budget_need", "1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(budget.reopen(&breaker).await.unwrap(), Some(true));
    let _: () = conn
        .hset_multiple(&breaker, &[("since", "x"), ("reason", "402: no credits")])
        .await
        .unwrap();
    assert_eq!(budget.reopen(&breaker).await.unwrap(), None);
    assert!(conn.exists::<_, bool>(&breaker).await.unwrap(), "left open");
    let _: () = conn.set(h.names.daily_budget_key(), 1).await.unwrap();
    let refused = budget.reserve(&e, m, &breaker).await.unwrap();
    assert_eq!(refused, Reserved::Blocked("402: no credits".into()));
    let kept: HashMap<String, String> = conn.hgetall(&breaker).await.unwrap();
    assert!(
        !kept.contains_key("daily_budget_day"),
        "still the 402's breaker: {kept:?}"
    );
    h.cleanup().await;
}

/// The price of one of the tests' jobs at `provider` (512x512 FLUX.2 [pro]), as the
/// mock charges it (its prices are the table's).
fn price(provider: ProviderKind) -> MicroUsd {
    pricing::estimate(provider, Model::Flux2Pro, 512, 512, 0)
}

fn account(h: &Harness, provider: ProviderKind) -> String {
    Account::new(provider, &ApiKey::new(h.mock.api_key()))
        .as_str()
        .to_owned()
}

/// Waits until the account's breaker is open, and returns its reason.
async fn breaker_reason(h: &Harness, account: &str) -> String {
    let key = h.names.breaker_key(account);
    let start = tokio::time::Instant::now();
    loop {
        let reason: Option<String> = h.redis.clone().hget(&key, "reason").await.unwrap();
        if let Some(r) = reason {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `n` jobs at `provider` with a budget that fits `fit` of them: exactly `fit`
/// are paid for, the breaker opens with the reason and nothing fails; a raised budget
/// (the override) runs the rest.
async fn budget_holds(provider: ProviderKind, n: u64, fit: u64) {
    let h = Harness::new(fixed_latency(300)).await;
    let one = price(provider);
    let mut c: WorkerConfig = h.worker_config();
    if provider == ProviderKind::Runware {
        let runware = Endpoint {
            url: format!("{}/v1", h.mock.base_url()).parse().unwrap(),
            key: ApiKey::new(h.mock.api_key()),
        };
        c.endpoints.set(ProviderKind::Runware, runware);
    }
    c.concurrency = 8;
    c.limits.breaker_probe = Duration::from_millis(300);
    c.limits.daily_budget = MicroUsd(one.0 * fit);
    let workers = [h.spawn_worker(c.clone()), h.spawn_worker(c)];
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let mut j = job(&format!("budgeted {provider} mug {i}"), i);
            j["provider"] = serde_json::json!(provider.as_str());
            j
        })
        .collect();
    h.submit(&jobs, "budgeted", Lane::Bulk).await;

    let account = account(&h, provider);
    let reason = breaker_reason(&h, &account).await;
    let cap = MicroUsd(one.0 * fit);
    assert_eq!(reason, format!("daily budget of {cap} USD reached"));
    // Jobs past the gate finish; give them time, then nothing more moves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = h.stats();
    let batch = h.records.batch("budgeted").await.unwrap().unwrap();
    eprintln!(
        "{provider}: {} submitted, {} billed, batch {batch:?}",
        stats.submissions, stats.micro_usd_billed
    );
    assert_eq!(
        stats.submissions, fit,
        "exactly the jobs the budget fits were sent"
    );
    assert_eq!(stats.micro_usd_billed, cap.0, "and paid for");
    assert_eq!(
        (batch.succeeded, batch.failed),
        (fit, 0),
        "none failed: {batch:?}"
    );
    assert_eq!(batch.cost, cap);
    let spent: u64 = h
        .redis
        .clone()
        .get(h.names.daily_spend_key(&account, &daily::today()))
        .await
        .unwrap();
    assert_eq!(spent, cap.0, "the day's spend is what was charged");
    let report = fluxq_producer::status::fleet_report(&h.records)
        .await
        .unwrap();
    assert!(
        report.contains("breaker OPEN since")
            && report.contains(&format!("today {cap} of {cap} USD daily budget")),
        "{report}"
    );
    assert_eq!(h.queue_depth(&h.names.dead_queue()).await, 0);
    let slots: u64 = h
        .redis
        .clone()
        .zcount(
            h.names.limiter_key(&account, "slots"),
            fluxq_worker::limiter::now_ms(),
            "+inf",
        )
        .await
        .unwrap();
    assert_eq!(
        slots, 0,
        "a refused submission gives its provider slot back"
    );

    // Raised without a redeploy: the rest run.
    fluxq_producer::daily_budget::set(&h.records, Some(MicroUsd(one.0 * n)))
        .await
        .unwrap();
    let done = h.wait_batch("budgeted", n, Duration::from_secs(60)).await;
    assert_eq!((done.succeeded, done.failed), (n, 0));
    assert_eq!(h.stats().submissions, n, "each job paid for once");
    for j in &jobs {
        let attempts = h.job(&fluxq_testkit::id_of(j)).await["attempts"].clone();
        assert_eq!(attempts, "1", "waiting at the budget spent no attempt");
    }
    assert_eq!(done.cost, MicroUsd(one.0 * n));
    let accounts = fluxq_producer::read::accounts(&h.records).await.unwrap();
    let a = accounts.iter().find(|a| a.account == account).unwrap();
    assert_eq!(a.spent_today_micro_usd, one.0 * n);
    assert_eq!(
        a.reserved_micro_usd, 0,
        "every reservation replaced by its charge"
    );
    assert_eq!(a.daily_budget_usd, Some(MicroUsd(one.0 * n).to_string()));
    assert!(!a.breaker_open);
    for w in workers {
        w.stop().await;
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bfl_jobs_stop_at_the_daily_budget_and_resume_when_it_is_raised() {
    budget_holds(ProviderKind::Bfl, 25, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runware_reservations_hold_until_the_charge_with_the_result() {
    budget_holds(ProviderKind::Runware, 20, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_share_one_budget_from_the_environment() {
    use fluxq_testkit::process::WorkerProcess;
    let h = Harness::new(fixed_latency(200)).await;
    let one = price(ProviderKind::Bfl);
    let cap = MicroUsd(one.0 * 4);
    let mut env = h.process_env();
    env.extend([
        ("FLUXQ_DAILY_BUDGET_USD", cap.to_string()),
        ("FLUXQ_CONCURRENCY", "8".to_owned()),
    ]);
    let workers: Vec<_> = (0..3).map(|_| WorkerProcess::start(&env)).collect();
    let jobs: Vec<_> = (0..24)
        .map(|i| job(&format!("shared budget plate {i}"), i))
        .collect();
    h.submit(&jobs, "shared", Lane::Bulk).await;
    let reason = breaker_reason(&h, &account(&h, ProviderKind::Bfl)).await;
    assert_eq!(reason, format!("daily budget of {cap} USD reached"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = h.stats();
    assert_eq!(
        (stats.submissions, stats.micro_usd_billed),
        (4, cap.0),
        "{stats:?}"
    );
    let batch = h.records.batch("shared").await.unwrap().unwrap();
    assert_eq!((batch.succeeded, batch.failed), (4, 0));
    for w in &workers {
        w.terminate();
    }
    for mut w in workers {
        assert!(w.wait_exit(Duration::from_secs(60)).await.success());
    }
    h.cleanup().await;
}
