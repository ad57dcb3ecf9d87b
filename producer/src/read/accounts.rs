//! Each provider account's limiter and breaker state as Redis holds it: slots in flight
//! and the effective limit (`{ns}:limiter:{account}:*`), the shared cool-down, 429s seen,
//! and whether the account's breaker is open (`{ns}:breaker:{account}`).

use std::collections::{BTreeSet, HashMap};

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
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut pipe = redis::pipe();
    for a in &accounts {
        pipe.hgetall(names.limiter_key(a, "state"))
            .zcount(names.limiter_key(a, "slots"), now_ms, "+inf")
            .hgetall(names.breaker_key(a));
    }
    let values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    let mut rows = Vec::with_capacity(accounts.len());
    let mut values = values.into_iter();
    let corrupt = |e: redis::ParsingError| StoreError::Corrupt {
        key: names.limiter_key("*", "state"),
        what: e.to_string(),
    };
    while let (Some(s), Some(n), Some(b)) = (values.next(), values.next(), values.next()) {
        let state: HashMap<String, String> = redis::from_redis_value(s).map_err(corrupt)?;
        let in_flight: u64 = redis::from_redis_value(n).map_err(corrupt)?;
        let breaker: HashMap<String, String> = redis::from_redis_value(b).map_err(corrupt)?;
        rows.push((state, in_flight, breaker));
    }
    Ok(accounts
        .into_iter()
        .zip(rows)
        .map(|(account, (state, in_flight, breaker))| AccountView {
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
        })
        .collect())
}
