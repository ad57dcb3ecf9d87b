//! Running a claimed job at the provider: submit (or resume the recorded task),
//! poll until it ends, download the image and store it. Returns a [`Step`] for the
//! runner to record; the job's lease is renewed meanwhile.
//!
//! The steps, in order: [`submit`] (a provider slot, the attempt counted, the task
//! recorded), [`poll`] (until the task ends), [`images`] (downloaded and stored).
//! [`money`] holds what they share about money: writes retried through Redis
//! outages, invalid charges alerted on, submits whose answer was lost.

mod fetch;
mod images;
mod money;
mod poll;
mod submit;

use fluxq_common::{Failure, JobSpec, JobStatus, Lane};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::Ctx;
use crate::limiter::ProviderLimits;
use crate::provider::{Client, Provider, Task};
use fluxq_wire::StoreError;
use fluxq_wire::store::TaskRef;
use poll::Polled;
use submit::Submit;

/// Where a claimed job got to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The image is stored.
    Succeeded {
        image_url: String,
        image_path: String,
    },
    /// This attempt failed; `keep_task` keeps the provider task for the next delivery
    /// to resume (it may still finish).
    Failed {
        failure: Failure,
        attempts: u32,
        keep_task: bool,
    },
    /// Shutting down: give the message back; the task is recorded.
    HandBack,
    /// Another execution holds the job now.
    LeaseLost,
    /// Another execution finished the job meanwhile.
    AlreadyFinal(JobStatus),
    /// The provider account is blocked (402/403): the breaker is open; give the
    /// message back and pause until the account works.
    Blocked(String),
}

/// A claimed job at its provider: what every step of its execution needs.
struct Job<'a> {
    ctx: &'a Ctx,
    spec: &'a JobSpec,
    lane: Lane,
    /// The lease's owner (this execution).
    owner: &'a str,
    /// The client and the limits of the provider account the job runs at.
    provider: &'a Client,
    limits: &'a ProviderLimits,
    /// Cancelled when the job must hand back what it holds.
    cancel: &'a CancellationToken,
}

impl Job<'_> {
    /// This attempt failed with `failure`.
    fn failed(&self, failure: Failure, attempts: u32, keep_task: bool) -> Step {
        Step::Failed {
            failure,
            attempts,
            keep_task,
        }
    }
}

/// Runs the job while renewing its lease; a lost lease stops it.
pub async fn execute(
    ctx: &Ctx,
    spec: &JobSpec,
    lane: Lane,
    owner: &str,
    attempts: u32,
    task: Option<TaskRef>,
    cancel: &CancellationToken,
) -> Result<Step, StoreError> {
    let renew = async {
        let every = ctx.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match ctx.store.renew_lease(&spec.id, owner, ctx.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => warn!(error = %e, "Could not renew the job's lease; will try again."),
            }
        }
    };
    let (Some(provider), Some(limits)) = (
        ctx.providers.get(spec.provider),
        ctx.limits.get(spec.provider),
    ) else {
        let failure = crate::provider::not_configured(spec.provider);
        return Ok(Step::Failed {
            failure,
            attempts,
            keep_task: false,
        });
    };
    let job = Job {
        ctx,
        spec,
        lane,
        owner,
        provider,
        limits,
        cancel,
    };
    let step = tokio::select! {
        step = run(&job, attempts, task) => step,
        () = renew => Ok(Step::LeaseLost),
    };
    if let Ok(step) = &step
        && !keeps_task(step)
    {
        // No task of the job is left at the provider: a reservation its charge did not
        // replace (a refused submit, a task ended without a charge) is released.
        money::daily_charged(
            &job,
            fluxq_common::MicroUsd(0),
            fluxq_wire::store::Written::Done,
        )
        .await;
    }
    step
}

/// Whether a task of the job may still be running at the provider after `step`
/// (resumed by a later delivery, or run by another execution).
fn keeps_task(step: &Step) -> bool {
    match step {
        Step::Failed { keep_task, .. } => *keep_task,
        Step::HandBack | Step::LeaseLost => true,
        Step::Succeeded { .. } | Step::AlreadyFinal(_) | Step::Blocked(_) => false,
    }
}

/// Submits (or resumes the recorded task), polls it, stores its images.
async fn run(job: &Job<'_>, mut attempts: u32, task: Option<TaskRef>) -> Result<Step, StoreError> {
    let ctx = job.ctx;
    let (task, slot, submitted) = match task {
        Some(task) => {
            info!(task_id = %task.id, attempts, "Resuming the provider task recorded for this job.");
            let task = Task {
                id: task.id,
                polling_url: task.polling_url,
            };
            // The task is running at the provider: it takes a slot whatever the limit.
            (task, job.limits.pool.acquire_running().await, None)
        }
        None => {
            if attempts >= ctx.retry.max_attempts {
                let failure = Failure::permanent(format!("no attempts left ({attempts} made)"));
                return Ok(job.failed(failure, attempts, false));
            }
            // Fixed before the attempt is counted and kept until its task ends, so a
            // retried submission reuses it (Runware's taskUUID; BFL picks its own).
            let task_id = if job.provider.chooses_task_id() {
                ctx.store.take_task_uuid(&job.spec.id).await?
            } else {
                Uuid::new_v4()
            };
            match submit::submit(job, task_id, &mut attempts).await? {
                Submit::Accepted(task, slot, at) => (task, slot, Some(at)),
                Submit::Stop(step) => return Ok(step),
            }
        }
    };

    let polled = poll::poll(job, &task, submitted).await;
    // The provider no longer counts the task: the slot goes to the next job.
    drop(slot);
    match polled {
        Polled::Ready(urls, charge) => images::store(job, &task, urls, charge, attempts).await,
        Polled::Ended(failure) => {
            images::retire(job, &task).await?;
            Ok(job.failed(failure, attempts, false))
        }
        Polled::Deadline => {
            let failure = Failure::transient(format!(
                "no result for task {} within {:?}",
                task.id, ctx.job_deadline
            ));
            Ok(job.failed(failure, attempts, true))
        }
        Polled::Cancelled => Ok(Step::HandBack),
    }
}
