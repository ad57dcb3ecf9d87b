//! What the job record's scripts answer, as types.

use fluxq_common::{JobStatus, MicroUsd};

/// A provider task recorded for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    pub polling_url: String,
}

/// What counting a submission found; only [`Counted::Attempt`] may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Counted: submissions made for the job, this one included.
    Attempt(u32),
    /// Another execution holds the job's lease.
    NotOurs,
    /// The provider account's breaker is open, for this reason.
    Blocked(String),
    /// The job is final already (another execution finished it).
    Final(JobStatus),
    /// A provider task is recorded for the job (by an execution whose lease lapsed):
    /// it is to be resumed, not paid for again.
    TaskRecorded(String),
    /// Refused and ended `cancelled` in the same step: its batch (or the job) was
    /// cancelled (`budget` false), or its estimate did not fit in its batch's budget
    /// (`budget` true). `reason` is the cancel's reason or `budget: batch budget of X
    /// USD reached`. The message is acknowledged, not dead-lettered.
    Cancelled { reason: String, budget: bool },
}

/// What the submit gate checks besides the job itself.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    /// The job's batch (its cancel mark and budget).
    pub batch: Option<&'a str>,
    /// The key of the provider account's breaker hash.
    pub breaker: &'a str,
    /// The submission's price-table estimate, reserved against the batch's budget.
    pub estimate: MicroUsd,
}

/// What claiming a job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to run: submissions made so far, and the task to resume if one is recorded.
    Claimed {
        attempts: u32,
        task: Option<TaskRef>,
    },
    /// Already final: acknowledge without calling the provider.
    Final(JobStatus),
    /// Another delivery of the same job is running now.
    Busy,
    /// The id belongs to another job (its first valid message had other fields; the
    /// record is in batch `batch`): the message moves nothing and is dead-lettered.
    Conflict { batch: String },
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: JobStatus,
    pub error: String,
    pub image_url: String,
    pub image_path: String,
}

/// Result of a guarded write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The write happened.
    Done,
    /// Nothing to do: the job was already final (or the task already recorded).
    AlreadyDone,
    /// Another execution holds the job's lease.
    NotOurs,
}

/// What a final write did, and what the job was charged in all when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub written: Written,
    /// The job's total charge; zero unless `written` is [`Written::Done`].
    pub charged: MicroUsd,
}

impl Finished {
    pub(crate) fn from_reply(reply: &[i64]) -> Self {
        let code = reply.first().copied().unwrap_or(-1);
        let charged = reply.get(1).copied().unwrap_or(0);
        Self {
            written: Written::from_code(code),
            charged: MicroUsd(u64::try_from(charged).unwrap_or(0)),
        }
    }
}

impl Written {
    pub(crate) fn from_code(code: i64) -> Self {
        match code {
            1 => Written::Done,
            0 => Written::AlreadyDone,
            _ => Written::NotOurs,
        }
    }
}
