//! Image providers behind one role trait, [`Provider`], and the registry of those this
//! worker can run jobs at (`register!` below). A job names its provider; one
//! without a key here is refused before anything is sent.
//!
//! Adding a provider is a module here whose client implements [`Provider`] and
//! [`Registered`] (its key and URL settings), and one line in `register!` (its
//! [`ProviderKind`] and its client). The flags and variables of its key and URL, its
//! client in [`Providers`], the fleet's limits of its account and its metrics all
//! follow from that line.

pub mod bfl;
pub mod download;
mod endpoint;
pub mod fetch;
pub mod http;
mod registry;
pub mod runflow;
pub mod runware;

use std::future::Future;

use bytes::Bytes;
use fluxq_common::{Charge, Failure, FailureKind, JobSpec, OutputFormat, ProviderKind};
use uuid::Uuid;

pub use bfl::BflProvider;
pub use endpoint::{Endpoint, Endpoints};
pub use registry::{Providers, Registered, Registration, Settings, key_variables, registration};
pub use runflow::RunflowProvider;
pub use runware::RunwareProvider;

registry::register! {
    Bfl(bfl::BflProvider),
    Runware(runware::RunwareProvider),
    Runflow(runflow::RunflowProvider),
}

/// A task at the provider: its id, and the URL to poll it at (empty for providers
/// with one endpoint for every task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub polling_url: String,
}

/// A task the provider accepted, and what it charged for it (checked: see [`Charge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub task: Task,
    pub charge: Charge,
}

/// What one poll of a task said.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStatus {
    /// Still working; `progress` in 0..=1 when the provider says.
    Pending { progress: Option<f64> },
    /// Done: the images are at `image_urls` (signed URLs that expire soon; several
    /// when the job asked for `number_results`). `charge` is what the provider reports
    /// it charged now, for providers that charge with the result (Runware, Runflow).
    Ready {
        image_urls: Vec<String>,
        charge: Option<Charge>,
    },
    /// The task ended without an image (error, moderation, gone).
    Ended(Failure),
}

/// A downloaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub bytes: Bytes,
    pub format: OutputFormat,
}

/// One provider's API. Errors are classified [`Failure`]s; a failed `poll` request is
/// not a failed task (the caller keeps polling until its deadline).
/// `submit` gets the job's stable task id (kept across retries of one submission):
/// providers whose client chooses the id (Runware's `taskUUID`) use it, and say so
/// with [`Provider::chooses_task_id`]. It also gets the number of this attempt (from
/// 1, counted before the request is sent): providers that key a request by attempt
/// (Runflow's `Idempotency-Key`), or look for an earlier attempt's task before
/// paying again (Runflow's `client_ref` lookup), use it.
pub trait Provider: Send + Sync {
    fn submit(
        &self,
        job: &JobSpec,
        task_id: Uuid,
        attempt: u32,
    ) -> impl Future<Output = Result<Submitted, Failure>> + Send;
    fn poll(
        &self,
        job: &JobSpec,
        task: &Task,
    ) -> impl Future<Output = Result<PollStatus, Failure>> + Send;
    fn download(
        &self,
        url: &str,
        expected: OutputFormat,
    ) -> impl Future<Output = Result<Image, Failure>> + Send;

    /// Checks that the account can work again, for the breaker. By default there is
    /// no such check: the next submit is the probe.
    fn probe(&self) -> impl Future<Output = Result<(), Failure>> + Send {
        async { Ok(()) }
    }

    /// Whether the task id given to `submit` becomes the task's id at the provider:
    /// it is then kept across retries of a submission and forgotten when the task
    /// ends without an image. By default the provider picks its own ids.
    fn chooses_task_id(&self) -> bool {
        false
    }

    /// Whether sending the same submission again never makes a second task (the
    /// provider dedupes it by the task id or an idempotency key): a submit whose
    /// answer was lost is then not ambiguous, a retry finds the first task. By
    /// default, providers whose client chooses the task id.
    fn idempotent_submit(&self) -> bool {
        self.chooses_task_id()
    }

    /// Whether the provider reports its charge with the result rather than with the
    /// accepted submit (whose charge is then 0): the job's reservation against the
    /// daily budget is kept until that charge is known. By default the charge comes
    /// with the submit (BFL).
    fn charges_with_result(&self) -> bool {
        false
    }
}

/// The reason given for a job whose provider has no API key here.
pub fn not_configured(kind: ProviderKind) -> Failure {
    let reason = match registration(kind) {
        Some(r) => format!(
            "provider {kind} is not configured on this worker ({} is not set)",
            r.settings.key_env
        ),
        None => format!("provider {kind} is not supported by this worker"),
    };
    Failure::new(FailureKind::Permanent, reason)
}

/// A provider's `progress` reading if it is usable: a finite number in `0..=1`
/// (anything else, a string such as `"NaN"`, a negative or huge number, is dropped).
pub fn sane_progress(v: Option<&serde_json::Value>) -> Option<f64> {
    v.and_then(serde_json::Value::as_f64)
        .filter(|p| p.is_finite() && (0.0..=1.0).contains(p))
}
