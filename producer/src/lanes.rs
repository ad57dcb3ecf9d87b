//! Pausing and resuming a lane fleet-wide (`producer pause|resume --lane …`, `POST
//! /v1/lanes/{lane}/pause|resume`): the lane is a field of `{ns}:paused` (its value
//! the time it was paused), which every worker reads twice a second; a worker that
//! sees its lane there cancels its consumer on it (jobs in flight finish, nothing
//! new starts) and consumes it again once the field is gone.

use std::collections::{BTreeMap, HashMap};

use fluxq_common::Lane;
use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;

/// What pausing or resuming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The lane's state changed now.
    Done,
    /// The lane was already paused (since then) or already running.
    Already(Option<String>),
}

/// Pauses `lane` fleet-wide; pausing a paused lane keeps its first time.
pub async fn pause(store: &RedisStore, lane: Lane) -> Result<Changed, StoreError> {
    let key = store.names().paused_lanes_key();
    let mut conn = store.connection();
    let now = fluxq_wire::now_rfc3339();
    let set: bool = conn.hset_nx(&key, lane.as_str(), &now).await?;
    if set {
        return Ok(Changed::Done);
    }
    let since: Option<String> = conn.hget(&key, lane.as_str()).await?;
    Ok(Changed::Already(since))
}

/// Resumes `lane` fleet-wide.
pub async fn resume(store: &RedisStore, lane: Lane) -> Result<Changed, StoreError> {
    let key = store.names().paused_lanes_key();
    let removed: u64 = store.connection().hdel(&key, lane.as_str()).await?;
    Ok(if removed > 0 {
        Changed::Done
    } else {
        Changed::Already(None)
    })
}

/// The lanes paused now, each with when it was paused (RFC 3339).
pub async fn paused(store: &RedisStore) -> Result<BTreeMap<Lane, String>, StoreError> {
    let key = store.names().paused_lanes_key();
    let all: HashMap<String, String> = store.connection().hgetall(&key).await?;
    Ok(all
        .into_iter()
        .filter_map(|(lane, since)| Lane::parse(&lane).map(|l| (l, since)))
        .collect())
}

/// The line `producer pause` prints.
pub fn pause_report(lane: Lane, changed: &Changed) -> String {
    match changed {
        Changed::Done => format!(
            "paused lane {lane}: workers stop starting its jobs within 2 s (jobs in flight finish)"
        ),
        Changed::Already(since) => format!(
            "lane {lane} was already paused (since {})",
            since.as_deref().unwrap_or("?")
        ),
    }
}

/// The line `producer resume --lane` prints.
pub fn resume_report(lane: Lane, changed: &Changed) -> String {
    match changed {
        Changed::Done => format!("resumed lane {lane}: workers consume it again within 2 s"),
        Changed::Already(_) => format!("lane {lane} was not paused"),
    }
}
