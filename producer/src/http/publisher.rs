//! A small pool of confirm channels to RabbitMQ, so concurrent requests publish in
//! parallel; each is a reconnecting [`ChannelSource`] used by one request at a time.

use std::sync::atomic::{AtomicUsize, Ordering};

use fluxq_common::{DelayTiers, Names, RetryPolicy};
use fluxq_wire::amqp::ChannelSource;
use tokio::sync::{Mutex, MutexGuard};

/// The pool.
#[derive(Debug)]
pub struct Publishers {
    sources: Vec<Mutex<ChannelSource>>,
    next: AtomicUsize,
}

/// The channel source a producer connection uses (the topology every binary declares).
pub fn channel_source(url: &str, names: &Names) -> ChannelSource {
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    ChannelSource::new(url, "fluxq-producer-api", names.clone(), tiers)
}

impl Publishers {
    pub fn new(url: &str, names: &Names, size: usize) -> Self {
        Self {
            sources: (0..size.max(1))
                .map(|_| Mutex::new(channel_source(url, names)))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A free source if there is one, else the next in turn once it is free.
    pub async fn get(&self) -> MutexGuard<'_, ChannelSource> {
        let n = self.sources.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(g) = self.sources[(start + i) % n].try_lock() {
                return g;
            }
        }
        self.sources[start].lock().await
    }

    /// Closes every connection politely.
    pub async fn close(&self) {
        for s in &self.sources {
            s.lock().await.close().await;
        }
    }
}
