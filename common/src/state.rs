//! Job statuses and their legal transitions, as a pure state machine.
//!
//! ```text
//! queued ──start──▶ running ──succeed──▶ succeeded
//!   │                 │  ▲  ├──fail─────▶ failed
//!   │                 │  │  └──moderate─▶ moderated
//!   │           retry ▼  │ start
//!   │              retrying
//!   └──reject (invalid message)──▶ failed
//! ```
//! `running → running` is legal: a job whose worker died is redelivered and resumed.
//! Final statuses accept no event.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

/// What happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEvent {
    /// A worker picked it up (first time, after a retry delay, or redelivered).
    Start,
    /// A transient failure: it waits in a delay queue for another attempt.
    Retry,
    /// The image is stored and the cost recorded.
    Succeed,
    /// It can never succeed (permanent error, attempts exhausted, invalid message).
    Fail,
    /// The provider refused the prompt or the image.
    Moderate,
}

/// An event that is not allowed in the job's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot {event:?}")]
pub struct InvalidTransition {
    pub from: JobStatus,
    pub event: JobEvent,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Retrying,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Moderated,
    ];
    /// The statuses a job ends in; each moves one batch counter of the same name.
    pub const FINAL: [JobStatus; 3] = [
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Moderated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Moderated => "moderated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    /// The status after `event`, or why it is not allowed.
    pub fn apply(self, event: JobEvent) -> Result<JobStatus, InvalidTransition> {
        use JobEvent as E;
        use JobStatus as S;
        let next = match (self, event) {
            (S::Queued | S::Retrying | S::Running, E::Start) => S::Running,
            (S::Running, E::Retry) => S::Retrying,
            (S::Running, E::Succeed) => S::Succeeded,
            (S::Queued | S::Retrying | S::Running, E::Fail) => S::Failed,
            (S::Running, E::Moderate) => S::Moderated,
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{JobEvent as E, JobStatus as S, *};

    #[test]
    fn legal_transitions_table() {
        let table = [
            (S::Queued, E::Start, S::Running),
            (S::Retrying, E::Start, S::Running),
            (S::Running, E::Start, S::Running),
            (S::Running, E::Retry, S::Retrying),
            (S::Running, E::Succeed, S::Succeeded),
            (S::Running, E::Fail, S::Failed),
            (S::Queued, E::Fail, S::Failed),
            (S::Retrying, E::Fail, S::Failed),
            (S::Running, E::Moderate, S::Moderated),
        ];
        for (from, event, to) in table {
            assert_eq!(from.apply(event), Ok(to), "{from} + {event:?}");
        }
    }

    #[test]
    fn final_statuses_accept_nothing_and_illegal_moves_are_errors() {
        let events = [E::Start, E::Retry, E::Succeed, E::Fail, E::Moderate];
        for from in S::FINAL {
            for event in events {
                assert_eq!(from.apply(event), Err(InvalidTransition { from, event }));
            }
        }
        for (from, event) in [
            (S::Queued, E::Succeed),
            (S::Queued, E::Retry),
            (S::Retrying, E::Moderate),
        ] {
            assert!(from.apply(event).is_err(), "{from} + {event:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{s}\"")));
        }
        assert_eq!(S::parse("done"), None);
    }
}
