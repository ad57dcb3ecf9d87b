//! Polling a task until it ends: through the fleet's poll rate, timed by the learned
//! generation times and the task's `progress` (see [`EndBracket`]), else by the
//! schedule, within the job's deadline.

use std::time::Duration;

use fluxq_common::{Charge, Failure};
use tokio::time::Instant;
use tracing::debug;

use super::Job;
use crate::provider::{PollStatus, Provider, Task};
use crate::schedule::EndBracket;

pub(super) enum Polled {
    /// The image URLs, and a charge reported with them.
    Ready(Vec<String>, Option<Charge>),
    Ended(Failure),
    Deadline,
    Cancelled,
}

/// The bracket's target width: the last poll comes at most this late (plus the
/// margin) after the task's end.
const BRACKET_PRECISION: f64 = 0.012;

/// Past the bracket's end, for the error of the worker's clock against the provider's.
const BRACKET_MARGIN: f64 = 0.003;

/// Polls the task until it ends. `submitted` (when the provider started it, unknown
/// for a resumed task) lets the task's `progress` time the polls (see
/// [`EndBracket`]); otherwise they follow the schedule.
pub(super) async fn poll(job: &Job<'_>, task: &Task, submitted: Option<Instant>) -> Polled {
    let Job {
        ctx,
        spec,
        provider,
        limits,
        cancel,
        ..
    } = *job;
    let started = Instant::now();
    let origin = submitted.unwrap_or(started);
    let deadline = started + ctx.job_deadline;
    let mut bracket = EndBracket::default();
    // First poll near the completion expected from recent tasks, else the schedule's start.
    let mut wait = match ctx.estimates.expected(spec.provider, spec.model) {
        Some(e) => e
            .mul_f64(0.7)
            .max(ctx.poll.initial)
            .saturating_sub(origin.elapsed()),
        None => ctx.poll.wait(0, &mut rand::rng()),
    };
    let mut n = 0u32;
    loop {
        n += 1;
        if Instant::now() + wait > deadline {
            return Polled::Deadline;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Polled::Cancelled,
            () = tokio::time::sleep(wait) => {}
        }
        limits.poll_rate.wait().await;
        ctx.metrics.polled(spec.provider);
        let sent = Instant::now();
        let status = tokio::select! {
            _ = cancel.cancelled() => return Polled::Cancelled,
            s = provider.poll(spec, task) => s,
        };
        // The provider read the task's state between request and answer.
        let read_at = (sent + sent.elapsed() / 2).duration_since(origin);
        wait = ctx.poll.wait(n, &mut rand::rng());
        match status {
            Ok(PollStatus::Pending { progress }) => {
                if submitted.is_some() {
                    bracket.pending(read_at.as_secs_f64(), progress);
                    let now = origin.elapsed().as_secs_f64();
                    if let Some(at) = bracket.next_poll(now, BRACKET_PRECISION, BRACKET_MARGIN) {
                        wait = bounded_wait(at - now, ctx.poll.max);
                    }
                }
                debug!(?progress, polls = n, "Task still in progress.")
            }
            Ok(PollStatus::Ready { image_urls, charge }) => {
                if submitted.is_some() {
                    ctx.estimates.observe(spec.provider, spec.model, read_at);
                }
                debug!(polls = n, images = image_urls.len(), "Task ready.");
                return Polled::Ready(image_urls, charge);
            }
            Ok(PollStatus::Ended(failure)) => return Polled::Ended(failure),
            // A failed poll is never a reason to submit again: keep polling.
            Err(failure) => debug!(reason = %failure.reason, "Poll failed; polling again."),
        }
    }
}

/// `seconds` as a wait of at most `max`: a NaN, negative or huge value (a bracket
/// from a hostile `progress`) never panics, it is clamped.
fn bounded_wait(seconds: f64, max: Duration) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(seconds).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_waits_are_clamped() {
        let max = Duration::from_secs(3);
        assert_eq!(bounded_wait(1e30, max), max);
        assert_eq!(bounded_wait(f64::INFINITY, max), max);
        assert_eq!(bounded_wait(f64::NAN, max), Duration::ZERO);
        assert_eq!(bounded_wait(-5.0, max), Duration::ZERO);
        assert_eq!(bounded_wait(0.5, max), Duration::from_millis(500));
    }
}
