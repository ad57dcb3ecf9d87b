//! Completion callbacks (`producer serve`, or `producer notify` on its own): when a
//! job that carries a `callback_url` reaches a final status, its final record is
//! POSTed there, signed (docs/api.md#completion-callbacks).
//!
//! Driven from `{ns}:events` through a Redis consumer group, so any number of
//! notifiers share the work, each event is taken by one, and one that dies loses
//! nothing: [`intake`] moves each event's callback into `{ns}:callbacks:due`;
//! [`deliver`] takes due callbacks under a claim, POSTs, and records every attempt on
//! the job (`callback_status`, `callback_attempts`), retrying with exponential backoff
//! until `FLUXQ_CALLBACK_MAX_AGE` has passed.
//!
//! - [`args`]: flags and variables; [`policy`]: which URLs may be called;
//!   [`sign`]: the signature header.

pub mod args;
pub mod deliver;
pub mod intake;
pub mod policy;
pub mod sign;

use std::sync::Arc;
use std::time::Duration;

use fluxq_common::Names;
use fluxq_wire::{RedisStore, StoreError};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use args::{NotifyArgs, Settings};
use deliver::{Deliverer, Outcome};
use intake::Intake;

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("connect to Redis: {0}")]
    Redis(#[from] StoreError),
    #[error("the callbacks' HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// How long an idle notifier waits on the events stream per read.
const BLOCK: Duration = Duration::from_secs(1);
/// How often entries left by silent notifiers are looked for.
const RECLAIM_EVERY: Duration = Duration::from_secs(15);
/// Longest sleep of the delivery loop when nothing is due.
const IDLE: Duration = Duration::from_secs(1);

/// A name for this notifier in the consumer group: host, process and a random part.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "producer".into());
    let tag: u32 = rand::random();
    format!("{host}-{}-{tag:08x}", std::process::id())
}

/// Delivers callbacks until `shutdown`; deliveries in flight then finish (each is
/// bounded by the timeout) and what was taken but not sent is due again after its claim.
pub async fn run(
    settings: Settings,
    redis_url: &str,
    names: Names,
    shutdown: CancellationToken,
) -> Result<(), NotifyError> {
    let settings = Arc::new(settings);
    let store = RedisStore::new(fluxq_wire::redis::connect(redis_url).await?, names.clone());
    let reader = fluxq_wire::redis::connect(redis_url).await?;
    let consumer = consumer_name();
    let mut intake = Intake::new(reader, names, consumer.clone());
    intake.ensure_group(settings.max_age).await?;
    let deliverer = Deliverer::new(store, settings.clone())?;
    info!(%consumer, "Delivering completion callbacks.");
    let wake = Arc::new(Notify::new());
    let reading = tokio::spawn(read_events(intake, wake.clone(), shutdown.clone()));
    deliver_due(&deliverer, settings.concurrency, &wake, &shutdown).await;
    let _ = reading.await;
    Ok(())
}

/// Takes the events stream in, waking the delivery loop when callbacks were queued.
async fn read_events(mut intake: Intake, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut reclaim_at = tokio::time::Instant::now();
    while !shutdown.is_cancelled() {
        if tokio::time::Instant::now() >= reclaim_at {
            reclaim_at = tokio::time::Instant::now() + RECLAIM_EVERY;
            match intake.reclaim().await {
                Ok(n) if n > 0 => {
                    info!(callbacks = n, "Took over events another notifier left.");
                    wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "Claiming pending events failed."),
            }
        }
        let read = tokio::select! {
            r = intake.read_new(BLOCK) => r,
            () = shutdown.cancelled() => break,
        };
        match read {
            Ok(0) => {}
            Ok(_) => wake.notify_one(),
            Err(e) => {
                warn!(error = %e, "Reading the events stream failed; trying again.");
                tokio::select! {
                    () = tokio::time::sleep(BLOCK) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
}

/// Takes what is due, as many as there are free delivery slots, and delivers each.
async fn deliver_due(
    deliverer: &Deliverer,
    concurrency: usize,
    wake: &Notify,
    shutdown: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    while !shutdown.is_cancelled() {
        let free = slots.available_permits();
        let taken = if free == 0 {
            Ok(None)
        } else {
            deliverer.take(free).await.map(Some)
        };
        let wait = match taken {
            Ok(Some(t)) if !t.ids.is_empty() => {
                for id in t.ids {
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        break;
                    };
                    let (d, claim) = (deliverer.clone(), t.claim.clone());
                    tracker.spawn(async move {
                        report(&id, d.deliver(&id, &claim).await);
                        drop(permit);
                    });
                }
                continue;
            }
            Ok(Some(_)) => match deliverer.next_due().await {
                Ok(Some(at)) => {
                    Duration::from_millis(at.saturating_sub(deliver::now_ms())).min(IDLE)
                }
                Ok(None) => IDLE,
                Err(e) => {
                    warn!(error = %e, "Reading the callbacks due failed.");
                    IDLE
                }
            },
            // Every slot busy: wait for one to free up.
            Ok(None) => Duration::from_millis(20),
            Err(e) => {
                warn!(error = %e, "Taking the callbacks due failed; trying again.");
                IDLE
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
            () = shutdown.cancelled() => {}
        }
    }
    tracker.close();
    tracker.wait().await;
}

fn report(id: &str, outcome: Result<Outcome, StoreError>) {
    match outcome {
        Ok(Outcome::Delivered) => info!(job_id = id, "Callback delivered."),
        Ok(Outcome::Retry { error, .. }) => {
            info!(job_id = id, %error, "Callback not accepted; it will be tried again.");
        }
        Ok(Outcome::Failed(why)) => warn!(job_id = id, %why, "Callback given up."),
        Ok(Outcome::Refused(why)) => warn!(job_id = id, %why, "Callback URL refused."),
        Ok(Outcome::Drop) => {}
        Err(e) => warn!(job_id = id, error = %e, "Recording a callback attempt failed."),
    }
}
