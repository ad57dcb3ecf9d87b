//! A job task that panicked: its delivery is still settled (never left unacked),
//! through a delay queue so a message that panics every time does not spin, with the
//! job's record `retrying` and the panic counted and logged.

use std::any::Any;
use std::time::Duration;

use fluxq_common::Lane;
use fluxq_common::job::readable_id;
use fluxq_wire::headers::{self, HDR_ATTEMPTS};
use lapin::message::Delivery;
use tracing::{error, warn};

use super::settle::{self, Settle};
use crate::Ctx;

/// How long a message whose job panicked waits before it runs again.
const PANIC_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Settles the delivery of a job whose task panicked: the record says `retrying` with
/// the reason (if this delivery held the job's lease as `owner`), the message goes
/// to a delay queue (or back to its queue if that cannot be published), and the
/// panic is counted in `fluxq_job_panics_total`.
pub async fn settle(ctx: &Ctx, d: &Delivery, owner: &str, panic: &str) {
    let text: String = panic.chars().take(200).collect();
    let reason = format!("worker error while running the job: {text}");
    ctx.metrics.job_panicked();
    error!(%reason, "A job task panicked; its message will run again.");
    if let Some(id) = readable_id(&d.data)
        && let Err(e) = ctx.store.set_retrying(&id, owner, &reason, true).await
    {
        warn!(error = %e, "Could not record the job as retrying.");
    }
    let lane = Lane::parse(d.routing_key.as_str()).unwrap_or_default();
    let attempts = headers::header_int(&d.properties, HDR_ATTEMPTS).unwrap_or(0);
    let tier = ctx.tiers.pick(PANIC_RETRY_DELAY);
    let how = match settle::republish(ctx, d, lane, tier, attempts, &reason).await {
        Ok(()) => Settle::Ack,
        Err(e) => {
            warn!(error = %e, "Could not delay the message; handing it back.");
            Settle::HandBack
        }
    };
    settle::settle(ctx, d, how).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_read_as_text() {
        let s: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_text(s.as_ref()), "boom");
        let s: Box<dyn Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_text(s.as_ref()), "bang");
        let s: Box<dyn Any + Send> = Box::new(7u8);
        assert_eq!(panic_text(s.as_ref()), "unknown panic");
    }
}
