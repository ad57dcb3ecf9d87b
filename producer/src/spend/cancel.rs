//! Cancelling a batch or one job (see `cancel_batch.lua`, `cancel_job.lua`).

use std::fmt;

use fluxq_common::JobStatus;
use fluxq_wire::RedisStore;
use fluxq_wire::store::{BatchCancel, JobCancel};
use uuid::Uuid;

use super::{DEFAULT_REASON, SpendError};

/// What cancelling a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled now (or `already` before: the first reason is kept): `cancelled`
    /// jobs ended now, `in_flight` left to finish at the provider (paid for).
    Cancelled {
        already: bool,
        cancelled: u64,
        in_flight: u64,
    },
    /// The batch had finished before: nothing changed.
    AlreadyFinished,
}

impl fmt::Display for CancelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelOutcome::Cancelled {
                already,
                cancelled,
                in_flight,
            } => {
                if *already {
                    f.write_str("batch already cancelled; ")?;
                } else {
                    f.write_str("batch cancelled; ")?;
                }
                write!(
                    f,
                    "{cancelled} job(s) cancelled now, {in_flight} already at the provider (they finish and are paid for)"
                )
            }
            CancelOutcome::AlreadyFinished => {
                f.write_str("batch already finished; nothing to cancel")
            }
        }
    }
}

/// What cancelling one job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCancelOutcome {
    Cancelled,
    /// At the provider (or being submitted): it finishes and is paid for; it is not
    /// submitted again.
    InFlight,
    /// Final already, in this status (`cancelled` included).
    AlreadyFinal(JobStatus),
}

impl fmt::Display for JobCancelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobCancelOutcome::Cancelled => f.write_str("job cancelled"),
            JobCancelOutcome::InFlight => f.write_str(
                "job already at the provider: it finishes and is paid for, and is not submitted again",
            ),
            JobCancelOutcome::AlreadyFinal(JobStatus::Cancelled) => {
                f.write_str("job already cancelled")
            }
            JobCancelOutcome::AlreadyFinal(s) => write!(f, "job already finished ({s})"),
        }
    }
}

/// Cancels `batch`: from the moment this returns no worker submits a job of it;
/// its jobs not yet submitted end `cancelled` with `reason` (default
/// [`DEFAULT_REASON`]). Harmless on a batch cancelled or finished before.
pub async fn cancel_batch(
    store: &RedisStore,
    batch: &str,
    reason: Option<&str>,
) -> Result<CancelOutcome, SpendError> {
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or(DEFAULT_REASON);
    match store.cancel_batch(batch, reason).await? {
        BatchCancel::Missing => Err(SpendError::NotFound(format!("no batch named {batch:?}"))),
        BatchCancel::Finished => Ok(CancelOutcome::AlreadyFinished),
        BatchCancel::Cancelled {
            already,
            cancelled,
            in_flight,
        } => Ok(CancelOutcome::Cancelled {
            already,
            cancelled,
            in_flight,
        }),
    }
}

/// Cancels one job (see [`JobCancelOutcome`]).
pub async fn cancel_job(
    store: &RedisStore,
    id: &Uuid,
    reason: Option<&str>,
) -> Result<JobCancelOutcome, SpendError> {
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or(DEFAULT_REASON);
    match store.cancel_job(id, reason).await? {
        JobCancel::Missing => Err(SpendError::NotFound(format!("no job {id}"))),
        JobCancel::Cancelled => Ok(JobCancelOutcome::Cancelled),
        JobCancel::InFlight => Ok(JobCancelOutcome::InFlight),
        JobCancel::Final(s) => Ok(JobCancelOutcome::AlreadyFinal(s)),
    }
}
