//! Job statuses and their transitions: the specification of what the job record's
//! Lua scripts do to a job's `status` (each [`JobEvent`] is one script; see there).
//!
//! ```text
//!  (no record) ── Create ──▶ queued
//!
//!  any open status
//!  (queued, running, retrying)
//!     ├── Start ──────────▶ running
//!     ├── Retry ──────────▶ retrying
//!     ├── Succeed ────────▶ succeeded
//!     ├── Fail, Reject ───▶ failed ── Reopen (producer replay-dead) ──▶ queued
//!     ├── Moderate ───────▶ moderated
//!     └── Cancel ─────────▶ cancelled ── Resume (producer resume, budget raised) ──▶ queued
//! ```
//! `Cancel` is `producer cancel` (of a job with no provider task and no submission in
//! flight) or the submit gate refusing a job of a cancelled batch or one over its
//! batch's budget.
//! An open status accepts every event but `Create` and `Reopen`, and goes where the
//! arrow points whatever it was: `running → running` is a redelivered job resumed,
//! and a job can end from `queued` or `retrying` too (an execution whose lease lapsed
//! still holds the image it paid for). `Attempt`, `Task` and `ResultCharge` leave the
//! status as it is. A final status accepts only `Task` (a paid task is always
//! recorded) and, for `failed`, `Reopen`.
//!
//! A refused event changes nothing in Redis: no field, no counter, no lease. An
//! accepted one moves each counter once: `Attempt` adds 1 to the job's `attempts`;
//! `Task` and `ResultCharge` add their charge to its `charged_micro_usd`; entering a final status writes one entry to `{ns}:events` and, for a job in a
//! batch, adds 1 to the batch's counter of that name and the job's charge to the
//! batch's cost (and a failed job to the batch's failed set); `Reopen` takes the
//! `failed` count, the cost and the failed-set entry back and resets `attempts` to 0.
//! The lease can refuse an event the status allows: see [`JobEvent::lease`].

use std::fmt;

use serde::{Deserialize, Serialize};

mod event;

pub use event::{JobEvent, LeaseUse};

/// Where a job stands (the `status` field of `{ns}:job:{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Moderated,
    /// Cancelled before it was submitted (`producer cancel`, or its batch's budget).
    Cancelled,
}

/// An event that is not allowed in the job's current status; its script refuses it
/// and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot {event:?}")]
pub struct InvalidTransition {
    pub from: JobStatus,
    pub event: JobEvent,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Retrying,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Moderated,
        JobStatus::Cancelled,
    ];
    /// The statuses a job ends in; each moves one batch counter of the same name.
    pub const FINAL: [JobStatus; 4] = [
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Moderated,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Moderated => "moderated",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    /// The status after `event` on a job whose record exists, or why its script
    /// refuses it. `Ok` with the same status is an accepted event that leaves the
    /// status as it is (a counted attempt, a recorded task, a resumed job).
    pub fn apply(self, event: JobEvent) -> Result<JobStatus, InvalidTransition> {
        use JobEvent as E;
        use JobStatus as S;
        let open = !self.is_final();
        let next = match event {
            E::Start if open => S::Running,
            E::Attempt | E::ResultCharge if open => self,
            E::Task => self,
            E::Retry if open => S::Retrying,
            E::Succeed if open => S::Succeeded,
            E::Fail if open => S::Failed,
            E::Moderate if open => S::Moderated,
            E::Cancel if open => S::Cancelled,
            E::Reopen if self == S::Failed => S::Queued,
            E::Resume if self == S::Cancelled => S::Queued,
            _ => return Err(InvalidTransition { from: self, event }),
        };
        Ok(next)
    }

    /// The status after `event` on a job that has no record yet, if its script
    /// creates one: `create`, `claim` and `reject` first record the job as `queued`
    /// (counting it once in its batch's `total`), then act on it (`reject` only ever
    /// acts on a record it created). The other scripts
    /// only ever run on a job the worker has claimed; on a missing record they would
    /// leave one without `created_at` or a batch `total`, some without a status
    /// (`reopen` refuses), so `None`.
    pub fn on_new_record(event: JobEvent) -> Option<JobStatus> {
        match event {
            JobEvent::Create => Some(JobStatus::Queued),
            JobEvent::Start => JobStatus::Queued.apply(event).ok(),
            // An invalid message fails only a job that has no record: a record that
            // exists belongs to the job's first valid message and is left alone.
            JobEvent::Reject => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
