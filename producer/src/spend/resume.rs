//! Bringing cancelled jobs back: `resume` (a batch or one job) and a raised budget.
//! Each reopened job whose message was kept (`{ns}:parked:{id}`) is published again
//! with confirms; a job whose message was not kept yet still has it in RabbitMQ (or
//! at a worker, which hands it back to run once it sees the job `queued`).

use std::fmt;

use fluxq_common::{JobStatus, MicroUsd};
use fluxq_wire::RedisStore;
use fluxq_wire::amqp::{self, ChannelSource};
use fluxq_wire::headers::{self, HDR_PUBLISHED_MS};
use fluxq_wire::store::{JobResume, Parked};
use lapin::types::FieldTable;
use uuid::Uuid;

use super::SpendError;

/// What resuming a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeOutcome {
    /// Cancelled jobs `queued` again (and kept messages of an interrupted resume).
    pub reopened: u64,
    /// Messages published again (the others were still in RabbitMQ).
    pub republished: u64,
}

impl fmt::Display for ResumeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cancelled job(s) reopened, {} published again",
            self.reopened, self.republished
        )
    }
}

/// What resuming one job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobResumeOutcome {
    /// `queued` again; `republished` if its message was published again.
    Reopened { republished: bool },
    /// Its batch is cancelled: resume the batch.
    BatchCancelled,
    /// Not cancelled (its status): nothing to do.
    NotCancelled(JobStatus),
}

impl fmt::Display for JobResumeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobResumeOutcome::Reopened { .. } => f.write_str("job reopened"),
            JobResumeOutcome::BatchCancelled => {
                f.write_str("the job's batch is cancelled; resume the batch instead")
            }
            JobResumeOutcome::NotCancelled(s) => {
                write!(f, "job is not cancelled ({s}); nothing to do")
            }
        }
    }
}

/// What setting a budget did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetOutcome {
    pub budget: MicroUsd,
    pub previous: Option<MicroUsd>,
    /// Jobs cancelled for the budget reopened (when it was raised) and their
    /// messages published again.
    pub resumed: ResumeOutcome,
}

impl fmt::Display for BudgetOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "budget {} USD", self.budget)?;
        if let Some(p) = self.previous {
            write!(f, " (was {p} USD)")?;
        }
        if self.resumed.reopened > 0 {
            write!(
                f,
                "; {} job(s) cancelled for the budget reopened",
                self.resumed.reopened
            )?;
        }
        Ok(())
    }
}

/// Reopens every `cancelled` job of `batch` and clears its cancel mark, then
/// publishes again the messages kept for them. Safe to run again.
pub async fn resume_batch(
    store: &RedisStore,
    source: &mut ChannelSource,
    batch: &str,
) -> Result<ResumeOutcome, SpendError> {
    let ids = store
        .resume_batch(batch, false)
        .await?
        .ok_or_else(|| SpendError::NotFound(format!("no batch named {batch:?}")))?;
    republish(store, source, &ids).await
}

/// Reopens one `cancelled` job and publishes its kept message again.
pub async fn resume_job(
    store: &RedisStore,
    source: &mut ChannelSource,
    id: &Uuid,
) -> Result<JobResumeOutcome, SpendError> {
    match store.resume_job(id).await? {
        JobResume::Missing => Err(SpendError::NotFound(format!("no job {id}"))),
        JobResume::BatchCancelled => Ok(JobResumeOutcome::BatchCancelled),
        JobResume::NotCancelled(s) => Ok(JobResumeOutcome::NotCancelled(s)),
        JobResume::Reopened => {
            let r = republish(store, source, &[*id]).await?;
            Ok(JobResumeOutcome::Reopened {
                republished: r.republished > 0,
            })
        }
    }
}

/// Sets `batch`'s budget. Raised (and the batch not cancelled), the jobs it had
/// cancelled are reopened and published again.
pub async fn set_budget(
    store: &RedisStore,
    source: &mut ChannelSource,
    batch: &str,
    budget: MicroUsd,
) -> Result<BudgetOutcome, SpendError> {
    let (previous, cancelled) = store
        .set_budget(batch, budget, false)
        .await?
        .ok_or_else(|| SpendError::NotFound(format!("no batch named {batch:?}")))?;
    let raised = previous.is_none_or(|p| budget > p);
    let mut resumed = ResumeOutcome::default();
    if raised && !cancelled {
        let ids = store.resume_batch(batch, true).await?.unwrap_or_default();
        resumed = republish(store, source, &ids).await?;
    }
    Ok(BudgetOutcome {
        budget,
        previous,
        resumed,
    })
}

/// Messages published again per window of confirms.
const WINDOW: usize = 500;

/// Publishes the kept message of each job again (a window at a time, each message
/// confirmed), then forgets the window's messages: an interruption can publish one
/// twice (harmless: a job runs once), never lose one.
async fn republish(
    store: &RedisStore,
    source: &mut ChannelSource,
    ids: &[Uuid],
) -> Result<ResumeOutcome, SpendError> {
    let mut out = ResumeOutcome {
        reopened: ids.len() as u64,
        republished: 0,
    };
    let exchange = store.names().jobs_exchange();
    for window in ids.chunks(WINDOW) {
        let kept: Vec<(Uuid, Parked)> = window
            .iter()
            .copied()
            .zip(store.parked(window).await?)
            .filter_map(|(id, p)| p.map(|p| (id, p)))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let ch = source.channel().await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let publishes = kept.iter().map(|(id, parked)| {
            let mut fresh = FieldTable::default();
            headers::set_header_int(&mut fresh, HDR_PUBLISHED_MS, now_ms);
            let props = amqp::job_properties(&id.to_string(), fresh);
            amqp::publish_confirmed(&ch, &exchange, parked.lane.as_str(), &parked.body, props)
        });
        for confirmed in futures_util::future::join_all(publishes).await {
            confirmed?;
        }
        let done: Vec<Uuid> = kept.iter().map(|(id, _)| *id).collect();
        store.unpark(&done).await?;
        out.republished += done.len() as u64;
    }
    Ok(out)
}
