//! Provider capacity shared by the whole fleet, through Redis: how many tasks may be
//! in flight at the provider account ([`pool`]), how fast submits and polls may go
//! ([`rate`]), whether the account can work at all ([`breaker`]), and what it may
//! spend in a UTC day ([`daily`]).
//!
//! An account is a provider and a hash of its API key ([`Account`]): every worker
//! using the same key shares one limit, and the key itself never reaches Redis.

pub mod breaker;
pub mod daily;
pub mod limits;
pub mod pool;
pub mod rate;

use fluxq_common::ProviderKind;
use sha2::{Digest, Sha256};

use crate::secret::ApiKey;

pub use breaker::{Breaker, BreakerState};
pub use daily::{DailyBudget, Reserved};
pub use limits::{Limits, ProviderLimits};
pub use pool::{PoolConfig, Slot, SlotPool};
pub use rate::RateLimiter;

/// A provider account: `bfl:<first 16 hex of sha256(key)>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account(String);

impl Account {
    pub fn new(provider: ProviderKind, key: &ApiKey) -> Self {
        let digest = Sha256::digest(key.expose().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Self(format!("{}:{hex}", provider.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Milliseconds since the Unix epoch (the clock every limiter script is given).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_hash_the_key_and_never_show_it() {
        let a = Account::new(ProviderKind::Bfl, &ApiKey::new("sk-secret"));
        assert!(a.as_str().starts_with("bfl:") && a.as_str().len() == 20);
        assert!(!a.as_str().contains("secret"));
        assert_eq!(
            a,
            Account::new(ProviderKind::Bfl, &ApiKey::new("sk-secret"))
        );
        assert_ne!(a, Account::new(ProviderKind::Bfl, &ApiKey::new("sk-other")));
        assert_ne!(
            a,
            Account::new(ProviderKind::Runware, &ApiKey::new("sk-secret"))
        );
    }
}
