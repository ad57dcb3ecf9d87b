//! Finding a job's run again by its `client_ref` (the job id): after a creation
//! whose answer was lost, and before every attempt after the first. A lost creation
//! whose lookup fails too is an ambiguous submit, classified in [`ambiguous_submit`].

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use fluxq_common::{Failure, FailureKind, JobSpec};
use reqwest::Method;
use tracing::{info, warn};

use super::reply::{self, Run};
use super::{RequestError, RunflowProvider, accepted};
use crate::provider::Submitted;

/// What the reason of an ambiguous submit starts with.
pub const AMBIGUOUS_SUBMIT: &str = "ambiguous submit";

/// Runs of one job a lookup reads (a job makes at most `FLUXQ_MAX_ATTEMPTS`).
const LOOKUP_LIMIT: &str = "50";

/// A lost creation whose `client_ref` lookup failed too: the run may exist and be
/// charged, so the submission is ambiguous. The one place such a submit is
/// classified: a transient failure marked [`Failure::answer_lost`], which the submit
/// step counts (`ambiguous_submits`, the estimate in `unconfirmed_cost_micro_usd`)
/// and bounds by `FLUXQ_MAX_AMBIGUOUS_SUBMITS`, as for BFL.
pub fn ambiguous_submit(lost: &Failure, lookup: &Failure) -> Failure {
    Failure::transient(format!(
        "{AMBIGUOUS_SUBMIT}: {}; looking the run up by client_ref failed too: {}",
        lost.reason, lookup.reason
    ))
    .with_answer_lost()
}

impl RunflowProvider {
    /// `GET /v1/runs?q=client_ref:<job id>`: the job's newest run that may still give
    /// its image, retried a few times through transient failures.
    async fn lookup(&self, job: &JobSpec) -> Result<Option<Run>, Failure> {
        let client_ref = job.id.to_string();
        let query = format!("client_ref:{client_ref}");
        let url = self.url(
            &["v1", "runs"],
            &[("q", query.as_str()), ("limit", LOOKUP_LIMIT)],
        )?;
        let what = "Runflow run lookup";
        let once = || async {
            let answer = self
                .call(what, self.request(Method::GET, url.clone()))
                .await
                .map_err(RequestError::into_failure)?;
            if !answer.is_success() {
                return Err(answer.failure(what));
            }
            let runs = reply::runs_of(&answer.body).ok_or_else(|| {
                Failure::transient(format!(
                    "{what} answered something that is not a list of runs"
                ))
            })?;
            Ok(reply::live_run(runs, &client_ref))
        };
        once.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_times(3)
                .with_jitter(),
        )
        .when(|f: &Failure| f.kind == FailureKind::Transient)
        .await
    }

    /// Before a submission after the first: an earlier attempt's run, if one may
    /// still give the image (its answer or its record may have been lost). When that
    /// cannot be told, nothing is sent.
    pub(super) async fn earlier_run(&self, job: &JobSpec) -> Result<Option<Run>, Failure> {
        self.lookup(job).await.map_err(|f| match f.kind {
            FailureKind::Throttled | FailureKind::AccountBlocked => f,
            _ => Failure::transient(format!(
                "not submitting again: could not tell whether an earlier attempt made a run ({})",
                f.reason
            )),
        })
    }

    /// A creation whose answer was lost: the run found by `client_ref`, else a failure
    /// that lets the next attempt create one, else (the lookup failed) an ambiguous
    /// submit.
    pub(super) async fn find_lost(
        &self,
        job: &JobSpec,
        lost: Failure,
    ) -> Result<Submitted, Failure> {
        match self.lookup(job).await {
            Ok(Some(run)) => {
                info!(run_id = %run.id, status = run.status(), reason = %lost.reason,
                    "The answer to the run creation was lost; found the run by its client_ref.");
                Ok(accepted(run))
            }
            Ok(None) => Err(Failure::transient(format!(
                "{}; Runflow has no run with client_ref {}: the next attempt submits again",
                lost.reason, job.id
            ))),
            Err(lookup) => {
                let f = ambiguous_submit(&lost, &lookup);
                warn!(reason = %f.reason, "Runflow may have made a run that cannot be found.");
                Err(f)
            }
        }
    }
}
