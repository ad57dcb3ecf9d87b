//! Failure classification: what a provider's answer means for the job.
//!
//! Modeled on vector's `RetryLogic::is_retriable_error`: one pure function per kind of
//! evidence (HTTP status, provider task status, network error), each returning a
//! [`FailureKind`] the worker acts on.

use std::fmt;
use std::time::Duration;

/// What kind of failure happened, which decides what the worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// May succeed if tried again later (5xx, network errors, a task that errored).
    Transient,
    /// The provider is at its limit (429); try later without charging an attempt.
    Throttled,
    /// Can never succeed as sent (400, 404, 422): fail the job, dead-letter it.
    Permanent,
    /// The provider refused the prompt or the output: final, never retried.
    Moderated,
    /// The account cannot work (401, 402 no credits, 403 bad key): stop submitting.
    AccountBlocked,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Throttled => "throttled",
            FailureKind::Permanent => "permanent",
            FailureKind::Moderated => "moderated",
            FailureKind::AccountBlocked => "account_blocked",
        }
    }

    /// Whether the job should be attempted again later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            FailureKind::Transient | FailureKind::Throttled | FailureKind::AccountBlocked
        )
    }
}

/// A classified failure with a human-readable reason (never containing secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: String,
    /// How long the provider asked us to wait, if it said.
    pub retry_after: Option<Duration>,
    /// A retryable failure of uncertain meaning (an unknown provider error code) is
    /// retried only while fewer than this many attempts were made.
    pub attempt_cap: Option<u32>,
    /// The request was sent and its answer lost (a timeout, a reset, a body cut off
    /// or unreadable, a gateway that gave up waiting): the provider may have acted on
    /// it. `false` when it never left (connect refused, DNS, TLS) or was answered.
    pub answer_lost: bool,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            retry_after: None,
            attempt_cap: None,
            answer_lost: false,
        }
    }

    /// Marks the failure as a request sent whose answer was lost (see
    /// [`Failure::answer_lost`]).
    pub fn with_answer_lost(mut self) -> Self {
        self.answer_lost = true;
        self
    }

    /// Caps the attempts after which this failure is no longer retried.
    pub fn with_attempt_cap(mut self, cap: u32) -> Self {
        self.attempt_cap = Some(cap);
        self
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        Self::new(FailureKind::Transient, reason)
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::new(FailureKind::Permanent, reason)
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.kind.as_str())
    }
}

/// Classifies an HTTP status from a provider (BFL's documented codes; others by class).
pub fn classify_http_status(status: u16) -> FailureKind {
    match status {
        429 => FailureKind::Throttled,
        401..=403 => FailureKind::AccountBlocked,
        408 => FailureKind::Transient,
        400..=499 => FailureKind::Permanent,
        _ => FailureKind::Transient,
    }
}

/// Whether an HTTP status is a gateway's answer for a request it forwarded and then
/// lost the provider's answer to (502 bad gateway, 504 and 524 timeouts): the
/// provider may have acted on it.
pub fn gateway_lost_answer(status: u16) -> bool {
    matches!(status, 502 | 504 | 524)
}

/// What a BFL poll status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Still working (`Pending`, or any status not in the documented list).
    InProgress,
    /// `Ready`: the image is at `result.sample`.
    Ready,
    /// The task ended without an image.
    Failed(FailureKind),
}

/// Classifies BFL's poll `status` field. Unknown statuses count as still in progress
/// (the caller's deadline bounds the wait), as providers.md advises.
pub fn classify_bfl_status(status: &str) -> PollOutcome {
    match status {
        "Ready" => PollOutcome::Ready,
        "Pending" => PollOutcome::InProgress,
        "Request Moderated" | "Content Moderated" => PollOutcome::Failed(FailureKind::Moderated),
        // The task failed after it was charged; a new submission may succeed.
        "Error" => PollOutcome::Failed(FailureKind::Transient),
        // Unknown or expired: the task is gone, so submitting again is the only way on.
        "Task not found" => PollOutcome::Failed(FailureKind::Transient),
        _ => PollOutcome::InProgress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_classify_as_documented() {
        let table = [
            (400, FailureKind::Permanent),
            (401, FailureKind::AccountBlocked),
            (402, FailureKind::AccountBlocked),
            (403, FailureKind::AccountBlocked),
            (404, FailureKind::Permanent),
            (408, FailureKind::Transient),
            (422, FailureKind::Permanent),
            (429, FailureKind::Throttled),
            (500, FailureKind::Transient),
            (502, FailureKind::Transient),
            (503, FailureKind::Transient),
            (504, FailureKind::Transient),
        ];
        for (status, kind) in table {
            assert_eq!(classify_http_status(status), kind, "{status}");
        }
    }

    #[test]
    fn bfl_statuses_classify_as_documented() {
        use PollOutcome::*;
        assert_eq!(classify_bfl_status("Pending"), InProgress);
        assert_eq!(classify_bfl_status("Ready"), Ready);
        assert_eq!(classify_bfl_status("Error"), Failed(FailureKind::Transient));
        assert_eq!(
            classify_bfl_status("Request Moderated"),
            Failed(FailureKind::Moderated)
        );
        assert_eq!(
            classify_bfl_status("Content Moderated"),
            Failed(FailureKind::Moderated)
        );
        assert_eq!(
            classify_bfl_status("Task not found"),
            Failed(FailureKind::Transient)
        );
        assert_eq!(classify_bfl_status("Queued"), InProgress);
    }

    #[test]
    fn only_gateways_that_forwarded_the_request_lose_answers() {
        for s in [502, 504, 524] {
            assert!(gateway_lost_answer(s), "{s}");
        }
        for s in [200, 400, 429, 500, 503, 521, 522] {
            assert!(!gateway_lost_answer(s), "{s}");
        }
        assert!(!Failure::transient("x").answer_lost);
        assert!(Failure::transient("x").with_answer_lost().answer_lost);
    }

    #[test]
    fn retryability() {
        assert!(FailureKind::Transient.is_retryable());
        assert!(FailureKind::Throttled.is_retryable());
        assert!(!FailureKind::Permanent.is_retryable());
        assert!(!FailureKind::Moderated.is_retryable());
    }
}
