//! Each provider account's limiter and breaker state as Redis holds it: slots in flight
//! and the effective limit (`{ns}:limiter:{account}:*`), the shared cool-down, 429s seen,
//! whether the account's breaker is open (`{ns}:breaker:{account}`), and what it spent
//! today against its daily budget (`{ns}:spend:{account}:{day}`, `{ns}:reserved:{account}`,
//! `{ns}:daily_budget`).

use std::collections::{BTreeSet, HashMap};

use fluxq_common::MicroUsd;
use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;
use serde::Serialize;
use utoipa::ToSchema;

/// Keys `SCAN` looks at per round trip: with millions of job records a listing takes
/// one round trip per this many keys.
const SCAN_COUNT: usize = 2000;

/// One provider account (a provider and a hash of its key, never the key).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AccountView {
    /// `{provider}:{first 16 hex digits of the key's SHA-256}`.
    pub account: String,
    /// Provider slots held now, across the fleet.
    pub in_flight: u64,
    /// The adaptive limit now (`null` before any worker set it).
    pub effective_limit: Option<f64>,
    /// The configured upper bound of the limit.
    pub max: Option<u64>,
    /// Milliseconds of cool-down left after a 429 (`0`: none).
    pub cooldown_ms: i64,
    /// 429s seen.
    pub throttled: u64,
    /// Whether the breaker is open (no submissions are sent while it is).
    pub breaker_open: bool,
    pub breaker_since: Option<String>,
    pub breaker_reason: Option<String>,
    /// Charges recorded today (UTC) for the account, fleet-wide, in micro-USD.
    pub spent_today_micro_usd: u64,
    /// The same as a decimal USD string, e.g. `0.3`.
    pub spent_today_usd: String,
    /// Price-table estimates reserved by jobs whose charge is not known yet, micro-USD.
    pub reserved_micro_usd: u64,
    /// The daily budget per account in USD (`producer daily-budget`, else the workers'
    /// `FLUXQ_DAILY_BUDGET_USD`); `null`: none.
    pub daily_budget_usd: Option<String>,
    /// The UTC day `spent_today_*` is about (`YYYY-MM-DD`).
    pub day: String,
}

/// Every account any worker has written state for, sorted by name. Accounts are
/// found with `SCAN` (never `KEYS`, which blocks Redis for the fleet).
pub async fn accounts(store: &RedisStore) -> Result<Vec<AccountView>, StoreError> {
    let names = store.names().clone();
    let mut conn = store.connection();
    let mut accounts = BTreeSet::new();
    // Each key pattern with its account as the wildcard, and how to read it back.
    let marker = "\u{1}";
    for (pattern, shape) in [
        (
            names.limiter_key("*", "state"),
            names.limiter_key(marker, "state"),
        ),
        (names.breaker_key("*"), names.breaker_key(marker)),
    ] {
        let Some((prefix, suffix)) = shape.split_once(marker) else {
            continue;
        };
        let keys: Vec<String> = {
            let opts = redis::ScanOptions::default()
                .with_pattern(pattern)
                .with_count(SCAN_COUNT);
            let mut iter = conn.scan_options::<String>(opts).await?;
            let mut keys = Vec::new();
            while let Some(k) = iter.next_item().await {
                keys.push(k?);
            }
            keys
        };
        for k in keys {
            let account = k.strip_prefix(prefix).and_then(|r| r.strip_suffix(suffix));
            // `{ns}:breaker:{account}:probe` matches the breaker pattern too.
            if let Some(a) = account.filter(|a| !a.ends_with(":probe")) {
                accounts.insert(a.to_owned());
            }
        }
    }
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let day = now.format("%Y-%m-%d").to_string();
    let mut pipe = redis::pipe();
    pipe.get(names.daily_budget_key());
    for a in &accounts {
        pipe.hgetall(names.limiter_key(a, "state"))
            .zcount(names.limiter_key(a, "slots"), now_ms, "+inf")
            .hgetall(names.breaker_key(a))
            .get(names.daily_spend_key(a, &day))
            .hgetall(names.daily_reserved_key(a));
    }
    let values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    let mut rows = Vec::with_capacity(accounts.len());
    let mut values = values.into_iter();
    let corrupt = |e: redis::ParsingError| StoreError::Corrupt {
        key: names.limiter_key("*", "state"),
        what: e.to_string(),
    };
    let override_budget: Option<u64> = match values.next() {
        Some(v) => redis::from_redis_value::<Option<String>>(v)
            .map_err(corrupt)?
            .and_then(|v| v.parse().ok()),
        None => None,
    };
    while let (Some(s), Some(n), Some(b), Some(sp), Some(r)) = (
        values.next(),
        values.next(),
        values.next(),
        values.next(),
        values.next(),
    ) {
        let state: HashMap<String, String> = redis::from_redis_value(s).map_err(corrupt)?;
        let in_flight: u64 = redis::from_redis_value(n).map_err(corrupt)?;
        let breaker: HashMap<String, String> = redis::from_redis_value(b).map_err(corrupt)?;
        let spent: Option<u64> = redis::from_redis_value(sp).map_err(corrupt)?;
        let reserved: HashMap<String, String> = redis::from_redis_value(r).map_err(corrupt)?;
        let money = Money {
            spent: spent.unwrap_or(0),
            reserved: live_reservations(&reserved, now_ms),
        };
        rows.push((state, in_flight, breaker, money));
    }
    Ok(accounts
        .into_iter()
        .zip(rows)
        .map(
            |(account, (state, in_flight, breaker, money))| AccountView {
                account,
                in_flight,
                effective_limit: state.get("limit").and_then(|l| l.parse().ok()),
                max: state.get("max").and_then(|m| m.parse().ok()),
                cooldown_ms: state
                    .get("cooldown_until")
                    .and_then(|c| c.parse::<i64>().ok())
                    .map_or(0, |c| (c - now_ms).max(0)),
                throttled: state
                    .get("throttled")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                breaker_open: breaker.contains_key("since"),
                breaker_since: breaker.get("since").cloned(),
                breaker_reason: breaker.get("reason").cloned(),
                spent_today_micro_usd: money.spent,
                spent_today_usd: MicroUsd(money.spent).to_string(),
                reserved_micro_usd: money.reserved,
                daily_budget_usd: override_budget
                    .or_else(|| {
                        let configured = state.get("daily_budget_micro_usd");
                        configured.and_then(|b| b.parse().ok())
                    })
                    .filter(|b| *b > 0)
                    .map(|b| MicroUsd(b).to_string()),
                day: day.clone(),
            },
        )
        .collect())
}

/// An account's money today: charges recorded, and estimates reserved.
struct Money {
    spent: u64,
    reserved: u64,
}

/// The sum of reservations (`{micro-USD}:{expiry ms}`) not expired at `now_ms`.
fn live_reservations(all: &HashMap<String, String>, now_ms: i64) -> u64 {
    all.values()
        .filter_map(|v| v.split_once(':'))
        .filter_map(|(m, e)| Some((m.parse::<u64>().ok()?, e.parse::<i64>().ok()?)))
        .filter(|(_, expiry)| *expiry > now_ms)
        .map(|(m, _)| m)
        .sum()
}
