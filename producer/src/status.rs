//! `producer status` and `producer submit --wait`: a batch's counts and cost.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::records::{BatchStatus, FailedJob, Records, StoreError};

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
pub async fn limiter_report(records: &Records) -> Result<String, StoreError> {
    let ns = records.namespace().to_owned();
    let mut conn = records.connection();
    let mut accounts = std::collections::BTreeSet::new();
    for pattern in [format!("{ns}:limiter:*:state"), format!("{ns}:breaker:*")] {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await?;
        for k in keys {
            let rest = k.strip_prefix(&format!("{ns}:")).unwrap_or(&k);
            let account = if let Some(a) = rest
                .strip_prefix("limiter:")
                .and_then(|r| r.strip_suffix(":state"))
            {
                a
            } else if let Some(a) = rest
                .strip_prefix("breaker:")
                .filter(|a| !a.ends_with(":probe"))
            {
                a
            } else {
                continue;
            };
            accounts.insert(account.to_owned());
        }
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut out = String::new();
    for a in accounts {
        let state: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{ns}:limiter:{a}:state"))
            .query_async(&mut conn)
            .await?;
        let used: u64 = redis::cmd("ZCOUNT")
            .arg(format!("{ns}:limiter:{a}:slots"))
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
            .arg(format!("{ns}:breaker:{a}"))
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
    records: &Records,
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
