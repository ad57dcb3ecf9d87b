//! A delivery of a `cancelled` job: its message is kept in Redis (`{ns}:parked:{id}`)
//! and acknowledged, not dead-lettered, so `producer resume` (or a raised budget)
//! can publish it again.

use fluxq_common::Lane;
use lapin::message::Delivery;
use tracing::{debug, info};
use uuid::Uuid;

use super::ConcludeError;
use super::settle::Settle;
use crate::Ctx;

/// Parks the message of cancelled job `id` and acks it; a job resumed meanwhile is
/// `queued` again, so its delivery is handed back to run.
pub async fn park(ctx: &Ctx, d: &Delivery, lane: Lane, id: &Uuid) -> Result<Settle, ConcludeError> {
    match ctx.store.park(id, &d.data, lane).await? {
        None => {
            debug!("Job is cancelled; its message is kept for a resume and acknowledged.");
            Ok(Settle::Ack)
        }
        Some(Some(status)) if !status.is_final() => {
            info!(%status, "Job was resumed meanwhile; handing the message back to run.");
            Ok(Settle::HandBack)
        }
        Some(_) => Ok(Settle::Ack),
    }
}
