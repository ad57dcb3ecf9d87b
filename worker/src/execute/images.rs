//! After a task is ready: record a charge that came with the result (once per task),
//! download every image (several for `number_results`; see [`fetch`]), store them as `{id}.{ext}`,
//! `{id}-2.{ext}`, …, and say where the job got to.

use backon::Retryable;
use fluxq_common::{Charge, Failure, JobSpec};
use tracing::{error, info, warn};

use super::fetch::{self, Lost};
use super::money::{self, money_write_backoff};
use super::{Job, Step};
use crate::Ctx;
use crate::provider::{Provider, Task};
use fluxq_wire::StoreError;

/// Downloads and stores the images at `urls`, after recording `charge` for `task`.
pub(super) async fn store(
    job: &Job<'_>,
    task: &Task,
    urls: Vec<String>,
    charge: Option<Charge>,
    attempts: u32,
) -> Result<Step, StoreError> {
    let Job { ctx, spec, .. } = *job;
    if let Some(charge) = charge {
        let written = record_charge(ctx, spec, task, &charge).await?;
        money::daily_charged(job, charge.amount(), written).await;
    }
    let failed = |failure, keep_task| job.failed(failure, attempts, keep_task);
    let Some(first_url) = urls.first().cloned() else {
        retire(job, task).await?;
        return Ok(failed(
            Failure::transient(format!("task {} is ready without an image", task.id)),
            false,
        ));
    };
    let mut paths = Vec::with_capacity(urls.len());
    for (n, url) in (1u32..).zip(&urls) {
        let image = match fetch::fetch(job, task, n as usize, url).await {
            Ok(image) => image,
            Err(Lost::Cancelled) => return Ok(Step::HandBack),
            // The task is kept: the next delivery polls it again.
            Err(Lost::Deadline(failure)) => return Ok(failed(failure, true)),
            // Refused for good (too large, not an image, a host not allowed): the job
            // fails with the reason; submitting again would pay for the same refusal.
            Err(Lost::Refused(failure)) => return Ok(failed(failure, true)),
            Err(Lost::Unavailable(failure)) => {
                retire(job, task).await?;
                return Ok(failed(repay(job, failure).await?, false));
            }
        };
        let written = ctx
            .output
            .write_nth(
                spec.batch.as_deref(),
                &spec.id,
                n,
                image.format.extension(),
                image.bytes,
            )
            .await;
        match written {
            Ok(path) => paths.push(path),
            Err(e) => {
                warn!(error = %e, "Could not write the image; will try again.");
                let failure = Failure::transient(format!("writing the image failed: {e}"));
                return Ok(failed(failure, true));
            }
        }
    }
    if urls.len() > 1 {
        ctx.store.record_images(&spec.id, &urls, &paths).await?;
        info!(images = urls.len(), "Stored every image of the job.");
    }
    let image_path = paths.into_iter().next().unwrap_or_default();
    Ok(Step::Succeeded {
        image_url: first_url,
        image_path,
    })
}

/// A paid task's image could not be fetched at all: the job may submit again (an
/// attempt) up to `FLUXQ_MAX_REPAID_DOWNLOADS` times, then it fails for good.
async fn repay(job: &Job<'_>, lost: Failure) -> Result<Failure, StoreError> {
    let Job { ctx, spec, .. } = *job;
    let n = ctx.store.count_repaid_download(&spec.id).await?;
    if n > ctx.max_repaid_downloads {
        error!(repaid = n - 1, reason = %lost.reason, "The image was paid for and could not be downloaded; giving up.");
        return Ok(Failure::permanent(format!(
            "the image was paid for and could not be downloaded ({} resubmission(s) made): {}",
            n - 1,
            lost.reason
        )));
    }
    warn!(repaid = n, reason = %lost.reason, "The paid image can no longer be fetched; the job submits again.");
    Ok(Failure::transient(format!(
        "the image was paid for and could not be downloaded; submitting again: {}",
        lost.reason
    )))
}

/// Records a charge reported with the result, retrying through short Redis outages;
/// it is added once per task however often the job is resumed.
async fn record_charge(
    ctx: &Ctx,
    spec: &JobSpec,
    task: &Task,
    charge: &Charge,
) -> Result<fluxq_wire::store::Written, StoreError> {
    let written = (|| ctx.store.record_result_charge(&spec.id, &task.id, charge))
        .retry(money_write_backoff())
        .notify(|e, d| warn!(error = %e, retry_in = ?d, "Could not record the charge yet."))
        .await?;
    if written == fluxq_wire::store::Written::Done {
        money::alert_invalid_charge(ctx, spec, &task.id, charge);
    }
    info!(task_id = %task.id, charge_usd = %charge.amount(), ?written, "Provider charged for the result.");
    Ok(written)
}

/// A task that ended without usable images: where the worker chose its id (Runware's
/// `taskUUID`), forget it so the next attempt submits a new task (a new id; reusing
/// it would only answer `conflictTaskUUID` for the task that already ended).
pub(super) async fn retire(job: &Job<'_>, task: &Task) -> Result<(), StoreError> {
    if job.provider.chooses_task_id() {
        job.ctx
            .store
            .retire_task_uuid(&job.spec.id, &task.id)
            .await?;
    }
    Ok(())
}
