//! Draining on shutdown: the jobs in flight get the grace period to finish, then are
//! cancelled and get [`HAND_BACK_TIMEOUT`] to hand their messages back.
//!
//! With the consumers' cancel and the teardown (each within [`TEARDOWN_TIMEOUT`]),
//! the worker exits within `FLUXQ_SHUTDOWN_GRACE` + 11 s of SIGTERM (the pod allows
//! 40 s for the default 25).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How long ending a session (cancelling the consumers; closing the channels and the
/// connection) may take; past it the connection is dropped.
pub(crate) const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long jobs cancelled after the grace period get to hand their messages back.
pub(crate) const HAND_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits for the jobs `tracker` holds: `grace` to finish, then (with `jobs_cancel`
/// cancelled) [`HAND_BACK_TIMEOUT`] to hand back what they hold.
pub(crate) async fn drain(tracker: &TaskTracker, grace: Duration, jobs_cancel: &CancellationToken) {
    tracker.close();
    info!(in_flight = tracker.len(), grace = ?grace, "Stopping: finishing the jobs in flight.");
    if tokio::time::timeout(grace, tracker.wait()).await.is_ok() {
        return;
    }
    warn!(
        handing_back = tracker.len(),
        "Grace period over: handing back unfinished jobs."
    );
    jobs_cancel.cancel();
    if tokio::time::timeout(HAND_BACK_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        // Their deliveries return to the queues when the connection closes, and
        // their records (provider tasks included) are in Redis for the next worker.
        warn!(
            left = tracker.len(),
            "Some jobs could not hand back in time; the broker requeues them."
        );
    }
}
