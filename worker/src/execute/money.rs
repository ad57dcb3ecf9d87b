//! What the steps of a job share about money: writes about it retried through Redis
//! outages rather than lost, a reported charge that is not valid money alerted on,
//! a submit whose answer was lost counted as possibly charged, at most
//! `FLUXQ_MAX_AMBIGUOUS_SUBMITS` times per job, and the job's reservation against its
//! account's daily budget replaced by its charge ([`daily_charged`]).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use fluxq_common::{Charge, Failure, JobSpec, MicroUsd, pricing};
use fluxq_wire::store::Written;
use tracing::{error, warn};
use uuid::Uuid;

use super::Job;
use crate::Ctx;
use fluxq_wire::StoreError;

/// How a write about money (a paid task, a charge) is retried through a Redis
/// outage: up to about a minute, rather than lose it.
pub(super) fn money_write_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(20)
        .with_jitter()
}

/// A charge the provider reported for `task` that is not valid money: its estimate
/// is recorded instead (with the error, on the job's record); here it is counted
/// in `fluxq_invalid_charges_total` and logged at ERROR for an operator.
pub(super) fn alert_invalid_charge(ctx: &Ctx, spec: &JobSpec, task: &str, charge: &Charge) {
    if let Some(e) = charge.error() {
        ctx.metrics.invalid_charge(spec.provider);
        error!(task_id = %task, error = %e, recorded_usd = %charge.amount(),
            "Provider reported an invalid charge; recorded the price-table estimate instead.");
    }
}

/// The job's charge `charge` was recorded (`written`: counted now, or already
/// before): its reservation against the account's daily budget is replaced by it (by
/// nothing when already counted, so a resumed job never adds it twice). Retried
/// through short Redis outages; if it still fails, the reservation stays until it
/// expires (the budget errs on the side of spending less) and the job goes on.
pub(super) async fn daily_charged(job: &Job<'_>, charge: MicroUsd, written: Written) {
    let Job {
        ctx, spec, limits, ..
    } = *job;
    let counted = if written == Written::Done {
        charge
    } else {
        MicroUsd(0)
    };
    let daily = &limits.daily;
    let r = (|| daily.charged(&spec.id, counted))
        .retry(money_write_backoff().with_max_times(5))
        .await;
    match r {
        Ok(spent) => ctx.metrics.daily_spend(limits.account.as_str(), spent),
        Err(e) => {
            warn!(error = %e, "Could not count the charge in the daily budget; its reservation stays.")
        }
    }
}

/// The price-table estimate of one submission of `spec` (every image it asks for).
pub(super) fn submit_estimate(spec: &JobSpec) -> MicroUsd {
    let one = pricing::estimate(
        spec.provider,
        spec.model,
        spec.width,
        spec.height,
        spec.reference_images.len(),
    );
    MicroUsd(one.0.saturating_mul(u64::from(spec.number_results.max(1))))
}

/// A submit was sent and its answer `lost`: the provider may have accepted and
/// billed it. Counts it (with its estimate) in the job's record and its batch, and
/// says how the job goes on: retried as transient while it has made fewer than
/// `FLUXQ_MAX_AMBIGUOUS_SUBMITS` of them, else failed for good with that reason.
pub(super) async fn answer_lost(job: &Job<'_>, lost: Failure) -> Result<Failure, StoreError> {
    let Job { ctx, spec, .. } = *job;
    let estimate = submit_estimate(spec);
    let token = Uuid::new_v4();
    let batch = spec.batch.as_deref();
    let counted = (|| {
        ctx.store
            .record_ambiguous_submit(&spec.id, batch, estimate, &token)
    })
    .retry(money_write_backoff())
    .notify(|e, d| warn!(error = %e, retry_in = ?d, "Could not record the lost answer yet."))
    .await?;
    ctx.metrics.ambiguous_submit(spec, estimate);
    // Possibly charged: it counts against the daily budget at its estimate.
    daily_charged(job, estimate, fluxq_wire::store::Written::Done).await;
    let (n, max) = (counted.submits, ctx.max_ambiguous_submits);
    if n >= max {
        error!(ambiguous_submits = n, unconfirmed_usd = %counted.unconfirmed, reason = %lost.reason,
            "Submit answers lost again; the job fails rather than risk paying once more.");
        return Ok(Failure::permanent(format!(
            "{n} submits sent whose answer was lost (possibly charged, unconfirmed: {} USD); not submitting again: {}",
            counted.unconfirmed, lost.reason
        )));
    }
    warn!(ambiguous_submits = n, max, estimate_usd = %estimate, reason = %lost.reason,
        "Submit sent and its answer lost: possibly charged; recorded as unconfirmed.");
    Ok(Failure::transient(format!(
        "submit sent and its answer lost (possibly charged, unconfirmed: {estimate} USD; {n} of at most {max}): {}",
        lost.reason
    )))
}
