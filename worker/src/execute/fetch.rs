//! Fetching a paid task's image: a failed download is retried with backoff and the
//! task polled again for a fresh URL, within the job's deadline. The task is only
//! given up when the provider says it is gone or its image can no longer be fetched.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use fluxq_common::{Failure, FailureKind};
use tokio::time::Instant;
use tracing::{info, warn};

use super::Job;
use crate::provider::{Image, PollStatus, Provider, Task};

/// Why the image of a paid task was not fetched.
pub(super) enum Lost {
    /// The provider says the task or its image is gone: only a new task gives one.
    Unavailable(Failure),
    /// Still failing at the job's deadline; the task is kept for the next delivery.
    Deadline(Failure),
    /// Refused for what it is (larger than the cap, not the format claimed, from a
    /// host outside the allowed ones): fetching it again cannot help.
    Refused(Failure),
    /// Shutting down.
    Cancelled,
}

/// Downloads the `n`th (from 1) image of `task`, first from `url`.
pub(super) async fn fetch(job: &Job<'_>, task: &Task, n: usize, url: &str) -> Result<Image, Lost> {
    let Job {
        ctx,
        spec,
        provider,
        cancel,
        ..
    } = *job;
    let deadline = Instant::now() + ctx.job_deadline;
    let mut url = url.to_owned();
    let mut pauses = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .with_jitter()
        .build();
    loop {
        let download = || provider.download(&url, spec.output_format);
        let failure = tokio::select! {
            _ = cancel.cancelled() => return Err(Lost::Cancelled),
            r = download
                .retry(ExponentialBuilder::default().with_min_delay(Duration::from_millis(200)).with_max_times(3).with_jitter())
                .when(|f: &Failure| f.kind == FailureKind::Transient) => match r {
                    Ok(image) => return Ok(image),
                    Err(f) => f,
                },
        };
        if failure.kind != FailureKind::Transient {
            return Err(Lost::Refused(failure));
        }
        let pause = pauses.next().unwrap_or(Duration::from_secs(10));
        if Instant::now() + pause > deadline {
            return Err(Lost::Deadline(failure));
        }
        warn!(task_id = %task.id, reason = %failure.reason, retry_in = ?pause,
            "Could not download the paid image; polling the task again for a fresh URL.");
        tokio::select! {
            _ = cancel.cancelled() => return Err(Lost::Cancelled),
            () = tokio::time::sleep(pause) => {}
        }
        let polled = tokio::select! {
            _ = cancel.cancelled() => return Err(Lost::Cancelled),
            s = provider.poll(spec, task) => s,
        };
        match polled {
            Ok(PollStatus::Ready { image_urls, .. }) => match image_urls.get(n - 1) {
                Some(fresh) if refused(&failure) && *fresh == url => {
                    return Err(Lost::Unavailable(failure));
                }
                Some(fresh) => {
                    if *fresh != url {
                        info!(task_id = %task.id, "The provider gave a fresh image URL.");
                    }
                    url = fresh.clone();
                }
                None => {
                    return Err(Lost::Unavailable(Failure::transient(format!(
                        "task {} no longer lists image {n}",
                        task.id
                    ))));
                }
            },
            Ok(PollStatus::Ended(ended)) => return Err(Lost::Unavailable(ended)),
            Ok(PollStatus::Pending { .. }) => {}
            Err(f) if answered(&f, &[404, 410]) => return Err(Lost::Unavailable(f)),
            Err(f) => warn!(reason = %f.reason, "Polling the task again failed; will try again."),
        }
    }
}

/// The image URL was refused for good (expired, forged or unknown), not failing.
fn refused(f: &Failure) -> bool {
    answered(f, &[401, 403, 404, 410])
}

/// Whether the request was answered with one of `statuses`.
fn answered(f: &Failure, statuses: &[u16]) -> bool {
    statuses
        .iter()
        .any(|s| f.reason.contains(&format!("answered HTTP {s}")))
}
