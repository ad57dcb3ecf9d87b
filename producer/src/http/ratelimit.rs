//! A token bucket per caller: `rate` requests a second on average, `burst` at once;
//! a request over the limit is answered 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ApiError;

/// The buckets of every caller seen.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` of 0 (or less) means unlimited.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `caller`'s bucket, or says how long until one is there.
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, at) = buckets
            .entry(caller.to_owned())
            .or_insert((self.burst, now));
        let refilled =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            let wait = Duration::from_secs_f64((1.0 - refilled) / self.rate);
            Err(ApiError::rate_limited(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let l = RateLimiter::new(10.0, 3.0);
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        assert!(
            l.check("a").is_err(),
            "the fourth request exceeds the burst"
        );
        assert!(l.check("b").is_ok(), "buckets are per caller");
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            l.check("a").is_ok(),
            "a tenth of a second refills one at 10/s"
        );
    }
}
