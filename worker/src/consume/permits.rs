//! How many jobs one worker process runs at once, per lane ([`Permits`]).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The jobs one worker process runs at once: `FLUXQ_CONCURRENCY` bulk jobs, and for
/// interactive jobs an eighth more (at least one) on top, so an interactive job
/// delivered to a worker whose every permit a bulk backlog holds (waiting for
/// provider slots) still starts at once and asks for a slot ahead of bulk.
#[derive(Debug)]
pub(super) struct Permits {
    all: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
}

impl Permits {
    pub(super) fn new(concurrency: u16) -> Self {
        let all = usize::from(concurrency) + usize::from(interactive_reserve(concurrency));
        Self {
            all: Arc::new(Semaphore::new(all)),
            bulk: Arc::new(Semaphore::new(usize::from(concurrency))),
        }
    }

    /// Waits for a permit any job needs; `None` once the permits are closed.
    pub(super) async fn any(&self) -> Option<OwnedSemaphorePermit> {
        self.all.clone().acquire_owned().await.ok()
    }

    /// Waits for the permit a bulk job needs as well; `None` once they are closed.
    pub(super) async fn bulk(&self) -> Option<OwnedSemaphorePermit> {
        self.bulk.clone().acquire_owned().await.ok()
    }
}

/// Permits only interactive jobs may take, on top of `concurrency`.
pub(crate) fn interactive_reserve(concurrency: u16) -> u16 {
    (concurrency / 8).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_jobs_get_an_eighth_more_permits_on_top_of_bulk() {
        assert_eq!(interactive_reserve(1), 1);
        assert_eq!(interactive_reserve(32), 4);
        assert_eq!(interactive_reserve(1000), 125);
        let p = Permits::new(32);
        assert_eq!(p.all.available_permits(), 36);
        assert_eq!(
            p.bulk.available_permits(),
            32,
            "bulk runs FLUXQ_CONCURRENCY"
        );
    }
}
