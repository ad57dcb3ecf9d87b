//! `producer status` and `producer submit --wait`: a batch's counts and cost.

use std::collections::BTreeSet;
use std::time::Duration;

use redis::AsyncCommands;

use indicatif::{ProgressBar, ProgressStyle};

use fluxq_wire::store::{BatchStatus, FailedJob};
use fluxq_wire::{RedisStore, StoreError};

/// How many failed jobs `status` lists.
pub const MAX_LISTED_FAILURES: usize = 50;

/// One line summing a batch up.
pub fn summary(batch: &str, s: &BatchStatus) -> String {
    format!(
        "batch {batch}: {} jobs, {} done (succeeded {}, failed {}, moderated {}), cost {} USD",
        s.total,
        s.done(),
        s.succeeded,
        s.failed,
        s.moderated,
        s.cost
    )
}

/// The full report `producer status` prints.
pub fn report(batch: &str, s: &BatchStatus, failed: &[FailedJob]) -> String {
    let mut out = summary(batch, s);
    out.push('\n');
    if let Some(c) = &s.created_at {
        out.push_str(&format!("created {c}\n"));
    }
    match &s.finished_at {
        Some(f) => out.push_str(&format!("finished {f}\n")),
        None => out.push_str(&format!(
            "in progress: {} to go\n",
            s.total.saturating_sub(s.done())
        )),
    }
    if !failed.is_empty() {
        out.push_str("failed jobs:\n");
        for f in failed {
            out.push_str(&format!("  {}: {}\n", f.id, f.error));
        }
        if (failed.len() as u64) < s.failed {
            out.push_str(&format!(
                "  ... and {} more\n",
                s.failed - failed.len() as u64
            ));
        }
    }
    out
}

/// The fleet's provider limits as Redis holds them, one line per account: slots in
/// flight and the effective limit (`{ns}:limiter:{account}:*`), the shared cool-down,
/// 429s seen, and whether the account's breaker is open (`{ns}:breaker:{account}`).
/// Accounts are found with `SCAN` (never `KEYS`, which blocks Redis for the fleet).
pub async fn limiter_report(records: &RedisStore) -> Result<String, StoreError> {
    let names = records.names().clone();
    let mut conn = records.connection();
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
            let mut iter = conn.scan_match::<_, String>(&pattern).await?;
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
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut out = String::new();
    for a in accounts {
        let state: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(names.limiter_key(&a, "state"))
            .query_async(&mut conn)
            .await?;
        let used: u64 = redis::cmd("ZCOUNT")
            .arg(names.limiter_key(&a, "slots"))
            .arg(now_ms)
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        let limit = state.get("limit").and_then(|l| l.parse::<f64>().ok());
        let max = state.get("max").cloned().unwrap_or_else(|| "?".into());
        let cooldown = state
            .get("cooldown_until")
            .and_then(|c| c.parse::<i64>().ok())
            .filter(|c| *c > now_ms)
            .map_or("none".to_owned(), |c| format!("{} ms left", c - now_ms));
        let throttled = state
            .get("throttled")
            .cloned()
            .unwrap_or_else(|| "0".into());
        let breaker: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(names.breaker_key(&a))
            .query_async(&mut conn)
            .await?;
        let breaker = match (breaker.get("since"), breaker.get("reason")) {
            (Some(since), reason) => format!(
                "breaker OPEN since {since}: {}",
                reason.map_or("", String::as_str)
            ),
            _ => "breaker closed".to_owned(),
        };
        let limit = limit.map_or(max.clone(), |l| format!("{l:.1}"));
        out.push_str(&format!(
            "provider account {a}: {used} in flight, effective limit {limit} of {max}, cool-down {cooldown}, {throttled} throttled; {breaker}\n"
        ));
    }
    Ok(out)
}

/// Shows a progress bar until every job of the batch is final; returns the final counts.
pub async fn wait(
    records: &RedisStore,
    batch: &str,
    every: Duration,
) -> Result<BatchStatus, StoreError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let s = records.batch(batch).await?.unwrap_or_default();
        bar.set_length(s.total);
        bar.set_position(s.done());
        bar.set_message(format!(
            "ok {} failed {} moderated {} cost {} USD",
            s.succeeded, s.failed, s.moderated, s.cost
        ));
        if s.is_finished() {
            bar.finish();
            return Ok(s);
        }
        tokio::time::sleep(every).await;
    }
}
