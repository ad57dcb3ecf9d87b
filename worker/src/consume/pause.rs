//! Pausing consumption while Redis is down or a provider account is blocked
//! ([`Pause`]), and the waits that end each pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Ctx;
use crate::reconnect;

/// Why the consume loop takes no deliveries now: jobs raise a cause (a Redis write
/// failed; a provider account is blocked), and the loop, before its next delivery,
/// waits until the cause is gone and clears it.
#[derive(Debug, Default)]
pub struct Pause {
    redis_down: AtomicBool,
    account_blocked: AtomicBool,
}

impl Pause {
    /// A Redis write failed: consumption pauses until Redis answers.
    pub fn set_redis_down(&self) {
        self.redis_down.store(true, Ordering::Relaxed);
    }

    /// Whether consumption waits for Redis.
    pub fn redis_down(&self) -> bool {
        self.redis_down.load(Ordering::Relaxed)
    }

    fn clear_redis_down(&self) {
        self.redis_down.store(false, Ordering::Relaxed);
    }

    /// A provider account is blocked: consumption pauses until every account works.
    pub fn set_account_blocked(&self) {
        self.account_blocked.store(true, Ordering::Relaxed);
    }

    /// Whether consumption waits for a blocked provider account.
    pub fn account_blocked(&self) -> bool {
        self.account_blocked.load(Ordering::Relaxed)
    }

    fn clear_account_blocked(&self) {
        self.account_blocked.store(false, Ordering::Relaxed);
    }
}

/// Pauses consumption until Redis answers again; `false` if shutdown came first.
pub(super) async fn wait_for_redis(ctx: &Ctx, shutdown: &CancellationToken) -> bool {
    let mut backoff = reconnect::backoff();
    loop {
        match ctx.store.ping().await {
            Ok(()) => {
                ctx.pause.clear_redis_down();
                info!("Redis answers again; consuming.");
                return true;
            }
            Err(e) => {
                let wait = backoff.next().unwrap_or(Duration::from_secs(10));
                warn!(error = %e, retry_in = ?wait, "Redis is not answering; consumption paused.");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Pauses consumption while a provider account's breaker is open, probing the account
/// (one worker in the fleet at a time) and closing the breaker when it works again;
/// one the daily budget opened closes once the budget has room (a new UTC day, a
/// raised budget).
/// `false` if shutdown came first.
pub(super) async fn wait_for_accounts(ctx: &Ctx, shutdown: &CancellationToken) -> bool {
    loop {
        let mut any_open = false;
        for (kind, limits) in ctx.limits.all() {
            let state = match limits.breaker.state().await {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "Could not read the account breaker; trying again.");
                    any_open = true;
                    continue;
                }
            };
            let Some(state) = state else { continue };
            any_open = true;
            // The daily budget's breaker closes when the budget has room, not when the
            // provider answers a probe.
            match limits.daily.reopen(limits.breaker.key()).await {
                Ok(None) => {}
                Ok(Some(closed)) => {
                    if closed {
                        info!(provider = %kind, account = limits.account.as_str(), since = %state.since, "Daily budget has room again; breaker closed.");
                    }
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "Could not check the daily budget; trying again.");
                    continue;
                }
            }
            if !limits
                .breaker
                .take_probe(&ctx.worker_id, ctx.breaker_probe)
                .await
                .unwrap_or(false)
            {
                continue;
            }
            match ctx.providers.probe(kind).await {
                Ok(()) => {
                    if limits.breaker.close().await.is_ok() {
                        info!(provider = %kind, account = limits.account.as_str(), since = %state.since, "Provider account works again; breaker closed.");
                    }
                }
                Err(f) => {
                    info!(provider = %kind, reason = %f.reason, "Provider account still blocked.")
                }
            }
        }
        if !any_open {
            ctx.pause.clear_account_blocked();
            info!("No provider account is blocked; consuming.");
            return true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            () = tokio::time::sleep((ctx.breaker_probe / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_raised_and_cleared_on_its_own() {
        let p = Pause::default();
        assert!(!p.redis_down() && !p.account_blocked());
        p.set_redis_down();
        assert!(p.redis_down() && !p.account_blocked());
        p.set_account_blocked();
        p.clear_redis_down();
        assert!(!p.redis_down() && p.account_blocked());
        p.clear_account_blocked();
        assert!(!p.redis_down() && !p.account_blocked());
    }
}
