//! `producer daily-budget --usd X | --clear`: the daily budget per provider account,
//! set in Redis (`{ns}:daily_budget`, micro-USD) where every worker reads it before
//! each submit; it wins over the workers' `FLUXQ_DAILY_BUDGET_USD`, so an operator
//! raises (or lowers) the budget without a redeploy. An account whose breaker the
//! budget opened resumes within a few seconds of a raise that gives it room.

use fluxq_common::MicroUsd;
use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;

/// Sets the budget (`Some(0)`: no budget, whatever the workers' setting) or, with
/// `None`, clears the override so the workers' `FLUXQ_DAILY_BUDGET_USD` applies.
pub async fn set(store: &RedisStore, usd: Option<MicroUsd>) -> Result<(), StoreError> {
    let key = store.names().daily_budget_key();
    let mut conn = store.connection();
    match usd {
        Some(m) => conn.set::<_, _, ()>(&key, m.0).await?,
        None => conn.del::<_, ()>(&key).await?,
    }
    Ok(())
}

/// The override now, if one is set.
pub async fn get(store: &RedisStore) -> Result<Option<MicroUsd>, StoreError> {
    let key = store.names().daily_budget_key();
    let v: Option<String> = store.connection().get(&key).await?;
    Ok(v.and_then(|v| v.parse().ok()).map(MicroUsd))
}

/// The line the command prints.
pub fn report(usd: Option<MicroUsd>) -> String {
    match usd {
        Some(MicroUsd(0)) => {
            "daily budget per provider account: none (overrides FLUXQ_DAILY_BUDGET_USD)".into()
        }
        Some(m) => {
            format!("daily budget per provider account: {m} USD (overrides FLUXQ_DAILY_BUDGET_USD)")
        }
        None => "daily budget override cleared: the workers' FLUXQ_DAILY_BUDGET_USD applies".into(),
    }
}
