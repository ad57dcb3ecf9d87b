//! Fleet-wide request rates (GCRA in a Lua script): submits and polls per second with
//! a burst, shared by every worker of an account.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::now_ms;

/// A shared rate limit; `None` rate means unlimited.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    key: String,
    rate: Option<(f64, u32)>,
    script: Script,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("key", &self.key)
            .field("rate", &self.rate)
            .finish()
    }
}

impl RateLimiter {
    /// `rate`: (requests per second, burst).
    pub fn new(conn: ConnectionManager, key: String, rate: Option<(f64, u32)>) -> Self {
        Self {
            conn,
            key,
            rate,
            script: fluxq_wire::lua::script(include_str!("lua/rate.lua")),
        }
    }

    /// Waits until a request may go; returns how long it waited. A Redis error lets
    /// the request go (the provider's own limits still apply) rather than stall jobs.
    pub async fn wait(&self) -> Duration {
        let Some((rate, burst)) = self.rate else {
            return Duration::ZERO;
        };
        let start = tokio::time::Instant::now();
        loop {
            let wait: Result<u64, _> = self
                .script
                .key(&self.key)
                .arg(now_ms())
                .arg(rate)
                .arg(burst.max(1))
                .invoke_async(&mut self.conn.clone())
                .await;
            match wait {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(ms) => tokio::time::sleep(Duration::from_millis(ms.min(5_000))).await,
            }
        }
    }
}
