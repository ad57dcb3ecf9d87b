//! Pausing consumption while Redis is down or a provider account is blocked, and the
//! waits that end each pause.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Ctx;
use crate::reconnect;

/// Pauses consumption until Redis answers again; `false` if shutdown came first.
pub(super) async fn wait_for_redis(ctx: &Ctx, shutdown: &CancellationToken) -> bool {
    let mut backoff = reconnect::backoff();
    loop {
        match ctx.store.ping().await {
            Ok(()) => {
                ctx.redis_down
                    .store(false, std::sync::atomic::Ordering::Relaxed);
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
/// (one worker in the fleet at a time) and closing the breaker when it works again.
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
            ctx.blocked
                .store(false, std::sync::atomic::Ordering::Relaxed);
            info!("No provider account is blocked; consuming.");
            return true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            () = tokio::time::sleep((ctx.breaker_probe / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))) => {}
        }
    }
}
