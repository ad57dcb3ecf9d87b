//! The limits of every provider account this worker has a key for, built at start.

use fluxq_common::{Names, ProviderKind};
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;

use super::pool::PoolKeys;
use super::{Account, Breaker, DailyBudget, PoolConfig, RateLimiter, SlotPool};
use crate::config::LimitsConfig;
use crate::secret::ApiKey;

/// One provider account's limits.
#[derive(Debug, Clone)]
pub struct ProviderLimits {
    pub account: Account,
    pub pool: SlotPool,
    pub submit_rate: RateLimiter,
    pub poll_rate: RateLimiter,
    pub breaker: Breaker,
    pub daily: DailyBudget,
}

/// The limits per provider with a key here (collected from one per account).
#[derive(Debug, Default)]
pub struct Limits(Vec<(ProviderKind, ProviderLimits)>);

impl Limits {
    /// The limits of every account (a provider and its key) this worker uses; their
    /// pools' managers stop with `stop`.
    pub fn for_accounts<'a>(
        conn: &ConnectionManager,
        names: &Names,
        accounts: impl IntoIterator<Item = (ProviderKind, &'a ApiKey)>,
        config: &LimitsConfig,
        worker_id: &str,
        stop: &CancellationToken,
    ) -> Self {
        let limits = accounts.into_iter().map(|(kind, key)| {
            let l = for_account(conn, names, kind, key, config, worker_id, stop);
            (kind, l)
        });
        Self(limits.collect())
    }

    /// `kind`'s limits; `None` for a provider without a key here.
    pub fn get(&self, kind: ProviderKind) -> Option<&ProviderLimits> {
        self.all().find(|(k, _)| *k == kind).map(|(_, l)| l)
    }

    /// Every configured account, with its provider.
    pub fn all(&self) -> impl Iterator<Item = (ProviderKind, &ProviderLimits)> {
        self.0.iter().map(|(k, l)| (*k, l))
    }
}

/// Builds an account's limits; its pool's manager stops with `stop`.
pub fn for_account(
    conn: &ConnectionManager,
    names: &Names,
    kind: ProviderKind,
    key: &ApiKey,
    config: &LimitsConfig,
    worker_id: &str,
    stop: &CancellationToken,
) -> ProviderLimits {
    let account = Account::new(kind, key);
    let a = account.as_str();
    let keys = PoolKeys {
        slots: names.limiter_key(a, "slots"),
        state: names.limiter_key(a, "state"),
        interactive_waiting: names.limiter_key(a, "interactive_waiting"),
        waiting: names.limiter_key(a, "waiting"),
    };
    let pool_config = PoolConfig {
        max: u32::from(config.provider_concurrency),
        lease: config.slot_lease,
        interactive_weight: config.interactive_weight,
    };
    ProviderLimits {
        pool: SlotPool::start(conn.clone(), keys, pool_config, worker_id, stop.clone()),
        submit_rate: RateLimiter::new(
            conn.clone(),
            names.limiter_key(a, "rate:submit"),
            config.submit_rate,
        ),
        poll_rate: RateLimiter::new(
            conn.clone(),
            names.limiter_key(a, "rate:poll"),
            config.poll_rate,
        ),
        breaker: Breaker::new(conn.clone(), names.breaker_key(a)),
        daily: DailyBudget::new(conn.clone(), names.clone(), a, config.daily_budget),
        account,
    }
}
