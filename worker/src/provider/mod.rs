//! Image providers behind one role trait, [`Provider`] (BFL and Runware), and
//! [`Providers`], the set configured in this process (a job names its provider; one
//! without a key is refused before anything is sent).

pub mod bfl;
pub mod http;
pub mod runware;

use std::future::Future;

use bytes::Bytes;
use fluxq_common::{Failure, FailureKind, JobSpec, MicroUsd, OutputFormat, ProviderKind};
use uuid::Uuid;

pub use bfl::BflProvider;
pub use runware::RunwareProvider;

/// A task at the provider: its id, and the URL to poll it at (empty for providers
/// with one endpoint for every task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub polling_url: String,
}

/// A task the provider accepted, and what it charged for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub task: Task,
    pub charge: MicroUsd,
}

/// What one poll of a task said.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStatus {
    /// Still working; `progress` in 0..=1 when the provider says.
    Pending { progress: Option<f64> },
    /// Done: the images are at `image_urls` (signed URLs that expire soon; several
    /// when the job asked for `number_results`). `charge` is what the provider reports
    /// it charged now, for providers that charge with the result (Runware).
    Ready {
        image_urls: Vec<String>,
        charge: Option<MicroUsd>,
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
/// providers whose client chooses the id (Runware's `taskUUID`) use it.
pub trait Provider: Send + Sync {
    fn submit(
        &self,
        job: &JobSpec,
        task_id: Uuid,
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
}

/// The providers this process has keys for.
#[derive(Debug, Default)]
pub struct Providers {
    pub bfl: Option<BflProvider>,
    pub runware: Option<RunwareProvider>,
}

impl Providers {
    /// Whether jobs for `kind` can run here.
    pub fn has(&self, kind: ProviderKind) -> bool {
        match kind {
            ProviderKind::Bfl => self.bfl.is_some(),
            ProviderKind::Runware => self.runware.is_some(),
        }
    }

    fn bfl(&self) -> Result<&BflProvider, Failure> {
        self.bfl
            .as_ref()
            .ok_or_else(|| not_configured(ProviderKind::Bfl))
    }

    fn runware(&self) -> Result<&RunwareProvider, Failure> {
        self.runware
            .as_ref()
            .ok_or_else(|| not_configured(ProviderKind::Runware))
    }

    pub async fn submit(&self, job: &JobSpec, task_id: Uuid) -> Result<Submitted, Failure> {
        match job.provider {
            ProviderKind::Bfl => self.bfl()?.submit(job, task_id).await,
            ProviderKind::Runware => self.runware()?.submit(job, task_id).await,
        }
    }

    pub async fn poll(&self, job: &JobSpec, task: &Task) -> Result<PollStatus, Failure> {
        match job.provider {
            ProviderKind::Bfl => self.bfl()?.poll(job, task).await,
            ProviderKind::Runware => self.runware()?.poll(job, task).await,
        }
    }

    /// Checks that the account can work again (for the breaker): BFL's credit balance
    /// must be positive; Runware has no such endpoint, so its next submit is the probe.
    pub async fn probe(&self, kind: ProviderKind) -> Result<(), Failure> {
        match kind {
            ProviderKind::Bfl => {
                self.bfl
                    .as_ref()
                    .ok_or_else(|| not_configured(kind))?
                    .probe()
                    .await
            }
            ProviderKind::Runware => Ok(()),
        }
    }

    pub async fn download(
        &self,
        kind: ProviderKind,
        url: &str,
        expected: OutputFormat,
    ) -> Result<Image, Failure> {
        match kind {
            ProviderKind::Bfl => self.bfl()?.download(url, expected).await,
            ProviderKind::Runware => self.runware()?.download(url, expected).await,
        }
    }
}

/// The reason given for a job whose provider has no API key here.
pub fn not_configured(kind: ProviderKind) -> Failure {
    let var = match kind {
        ProviderKind::Bfl => "BFL_API_KEY",
        ProviderKind::Runware => "RUNWARE_API_KEY",
    };
    Failure::new(
        FailureKind::Permanent,
        format!("provider {kind} is not configured on this worker ({var} is not set)"),
    )
}
