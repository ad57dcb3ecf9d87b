//! Connecting to Redis, its error type, and the timestamps records carry.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Errors talking to Redis. Transient from the job's point of view.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record holds something fluxq did not write.
    #[error("corrupt record {key}: {what}")]
    Corrupt { key: String, what: String },
    /// A write is not yet as durable as `FLUXQ_REDIS_WAIT_REPLICAS` asks.
    #[error("Redis write not durable yet: {0}")]
    NotDurable(String),
}

/// Connects with a connection manager that reconnects by itself.
pub async fn connect(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(2);
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// Now, as the contract writes times: RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
