//! `producer status` and `producer submit --wait`: a batch's counts and cost.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use fluxq_common::MicroUsd;
use fluxq_wire::store::{BatchStatus, FailedJob};
use fluxq_wire::{RedisStore, StoreError};

/// How many failed jobs `status` lists.
pub const MAX_LISTED_FAILURES: usize = 50;

/// One line summing a batch up; a second part when submits may have been charged
/// without the provider confirming it.
pub fn summary(batch: &str, s: &BatchStatus) -> String {
    // `cancelled` only when there are some: the line stays as it was for every
    // batch that never met spend control.
    let cancelled = if s.cancelled > 0 {
        format!(", cancelled {}", s.cancelled)
    } else {
        String::new()
    };
    let mut line = format!(
        "batch {batch}: {} jobs, {} done (succeeded {}, failed {}, moderated {}{cancelled}), cost {} USD",
        s.total,
        s.done(),
        s.succeeded,
        s.failed,
        s.moderated,
        s.cost
    );
    if s.ambiguous_submits > 0 {
        line.push_str(&unconfirmed(s));
    }
    line
}

/// `; possibly charged, unconfirmed: X USD in N submits`.
fn unconfirmed(s: &BatchStatus) -> String {
    format!(
        "; possibly charged, unconfirmed: {} USD in {} submit{}",
        s.unconfirmed,
        s.ambiguous_submits,
        if s.ambiguous_submits == 1 { "" } else { "s" }
    )
}

/// `budget X USD, spent Y USD, reserved Z USD, left W USD`; without a budget
/// `reserved Z USD (in flight)` while money is reserved, else nothing.
pub fn spend(s: &BatchStatus) -> String {
    match s.budget {
        Some(b) => format!(
            "budget {b} USD, spent {} USD, reserved {} USD (in flight), left {} USD\n",
            s.cost,
            s.reserved,
            MicroUsd(b.0.saturating_sub(s.cost.0 + s.reserved.0 + s.unconfirmed.0))
        ),
        None if s.reserved.0 > 0 => format!("reserved {} USD (in flight)\n", s.reserved),
        None => String::new(),
    }
}

/// The full report `producer status` prints.
pub fn report(batch: &str, s: &BatchStatus, failed: &[FailedJob]) -> String {
    let mut out = summary(batch, s);
    out.push('\n');
    if let Some(c) = &s.created_at {
        out.push_str(&format!("created {c}\n"));
    }
    out.push_str(&spend(s));
    if let Some(r) = &s.cancel_reason {
        out.push_str(&format!("cancelled: {r}\n"));
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

/// The fleet's provider limits as Redis holds them, one line per account (see
/// [`crate::read::accounts`] for what is read and how).
pub async fn limiter_report(records: &RedisStore) -> Result<String, StoreError> {
    let mut out = String::new();
    for a in crate::read::accounts(records).await? {
        let max = a.max.map_or_else(|| "?".to_owned(), |m| m.to_string());
        let limit = a.effective_limit.map_or(max.clone(), |l| format!("{l:.1}"));
        let cooldown = if a.cooldown_ms > 0 {
            format!("{} ms left", a.cooldown_ms)
        } else {
            "none".to_owned()
        };
        let breaker = match &a.breaker_since {
            Some(since) => format!(
                "breaker OPEN since {since}: {}",
                a.breaker_reason.as_deref().unwrap_or("")
            ),
            None => "breaker closed".to_owned(),
        };
        out.push_str(&format!(
            "provider account {}: {} in flight, effective limit {limit} of {max}, cool-down {cooldown}, {} throttled; {breaker}{}\n",
            a.account, a.in_flight, a.throttled, spend_part(&a)
        ));
    }
    Ok(out)
}

/// One account's spend today against its daily budget, for the account lines.
fn spend_part(a: &crate::read::AccountView) -> String {
    match &a.daily_budget_usd {
        Some(b) => format!("; today {} of {b} USD daily budget", a.spent_today_usd),
        None => format!("; today {} USD (no daily budget)", a.spent_today_usd),
    }
}

/// `producer status` without a batch: every provider account (slots, limit, breaker,
/// today's spend against the daily budget) and every lane (paused or running).
pub async fn fleet_report(records: &RedisStore) -> Result<String, StoreError> {
    let mut out = limiter_report(records).await?;
    if out.is_empty() {
        out.push_str("no provider account has been used yet\n");
    }
    let paused = crate::lanes::paused(records).await?;
    for lane in fluxq_common::Lane::ALL {
        match paused.get(&lane) {
            Some(since) => out.push_str(&format!("lane {lane}: PAUSED since {since}\n")),
            None => out.push_str(&format!("lane {lane}: running\n")),
        }
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
            "ok {} failed {} moderated {} cancelled {} cost {} USD",
            s.succeeded, s.failed, s.moderated, s.cancelled, s.cost
        ));
        if s.is_finished() {
            bar.finish();
            return Ok(s);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submits_possibly_charged_are_shown_with_their_estimate() {
        let mut s = BatchStatus {
            total: 2,
            failed: 2,
            ..BatchStatus::default()
        };
        assert!(!summary("b", &s).contains("possibly"));
        s.ambiguous_submits = 4;
        s.unconfirmed = MicroUsd(120_000);
        assert!(
            summary("b", &s).ends_with("; possibly charged, unconfirmed: 0.12 USD in 4 submits"),
            "{}",
            summary("b", &s)
        );
    }
}
