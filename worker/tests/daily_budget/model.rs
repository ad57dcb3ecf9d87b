//! The daily budget's scripts driven at random against a model of what they must do,
//! compared after every step: a reservation is refused exactly when spent + the other
//! reservations + it would pass the budget, a charge replaces its job's reservation,
//! the breaker closes exactly when the refused estimate fits again; and, charges
//! never above their estimates, spent + reserved never passes the budget.

use std::collections::HashMap;

use fluxq_common::MicroUsd;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::Harness;
use fluxq_worker::limiter::daily::{DailyBudget, Reserved};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use uuid::Uuid;

const CAP: u64 = 300_000;

/// What the scripts must hold.
#[derive(Debug, Default)]
struct Model {
    spent: u64,
    reserved: HashMap<Uuid, u64>,
    /// The estimate refused while the budget's breaker is open.
    open: Option<u64>,
}

impl Model {
    fn others(&self, id: &Uuid) -> u64 {
        self.reserved
            .iter()
            .filter(|(j, _)| *j != id)
            .map(|(_, m)| m)
            .sum()
    }

    fn reserve(&mut self, id: Uuid, need: u64) -> bool {
        if self.spent + self.others(&id) + need > CAP {
            self.open = Some(need);
            return false;
        }
        self.reserved.insert(id, need);
        true
    }

    fn charge(&mut self, id: &Uuid, amount: u64) -> u64 {
        self.reserved.remove(id);
        self.spent += amount;
        self.spent
    }

    fn reopen(&mut self) -> Option<bool> {
        let need = self.open?;
        let all: u64 = self.reserved.values().sum();
        let room = self.spent + all + need <= CAP;
        if room {
            self.open = None;
        }
        Some(room)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_do_what_the_model_says_at_every_step() {
    let h = Harness::new(MockConfig::default()).await;
    let account = "bfl:fedcba9876543210";
    let budget = DailyBudget::new(h.redis.clone(), h.names.clone(), account, MicroUsd(CAP));
    let breaker = h.names.breaker_key(account);
    let jobs: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let mut rng = StdRng::seed_from_u64(11);
    let mut model = Model::default();
    let (mut refused, mut closed) = (0, 0);
    for step in 0..600 {
        let id = jobs[rng.random_range(0..jobs.len())];
        match rng.random_range(0..10) {
            0..=4 => {
                let need = [20_000, 30_000, 45_000][rng.random_range(0..3)];
                let got = budget.reserve(&id, MicroUsd(need), &breaker).await.unwrap();
                let want = model.reserve(id, need);
                assert_eq!(
                    got == Reserved::Yes,
                    want,
                    "step {step}: reserve {need} for {id}: {model:?}"
                );
                refused += u32::from(!want);
            }
            5..=8 => {
                // A charge is at most the job's estimate (0: released, no charge).
                let held = model.reserved.get(&id).copied().unwrap_or(0);
                let amount = if held == 0 {
                    0
                } else {
                    rng.random_range(0..=held)
                };
                let spent = budget.charged(&id, MicroUsd(amount)).await.unwrap();
                assert_eq!(spent.0, model.charge(&id, amount), "step {step}: charge");
            }
            _ => {
                let got = budget.reopen(&breaker).await.unwrap();
                let want = model.reopen();
                assert_eq!(got, want, "step {step}: reopen: {model:?}");
                closed += u32::from(want == Some(true));
            }
        }
        let all: u64 = model.reserved.values().sum();
        assert!(
            model.spent + all <= CAP,
            "step {step}: over the budget: {model:?}"
        );
        let open: bool = h.redis.clone().exists(&breaker).await.unwrap();
        assert_eq!(open, model.open.is_some(), "step {step}: the breaker");
        if model.spent > CAP * 3 / 4 {
            // A new day, as far as the model goes: start from nothing again.
            let _: () = h
                .redis
                .clone()
                .del(
                    h.names
                        .daily_spend_key(account, &fluxq_worker::limiter::daily::today()),
                )
                .await
                .unwrap();
            model.spent = 0;
        }
    }
    assert!(
        refused > 10 && closed > 3,
        "the walk reached the budget: {refused} refusals, {closed} reopenings"
    );
    h.cleanup().await;
}
