//! Spend control, as the command line and the HTTP API (and the dashboard) call it:
//! cancelling a batch or a job, resuming them, and a batch's budget.
//!
//! - [`cancel`]: `cancel_batch`, `cancel_job`: from the moment they return, the
//!   submit gate refuses every job they name; jobs not yet submitted end `cancelled`.
//! - [`resume`]: `resume_batch`, `resume_job`, `set_budget`: cancelled jobs `queued`
//!   again and their kept messages published again (with confirms).
//! - [`cli`]: `producer cancel`, `producer resume`, `producer budget`.
//!
//! The rules themselves are the Redis scripts' (`fluxq_wire::lua`, see
//! docs/redis.md); this module says what they did in words a user reads.

mod cancel;
pub mod cli;
mod resume;

pub use cancel::{CancelOutcome, JobCancelOutcome, cancel_batch, cancel_job};
pub use resume::{
    BudgetOutcome, JobResumeOutcome, ResumeOutcome, resume_batch, resume_job, set_budget,
};

use fluxq_wire::StoreError;
use fluxq_wire::amqp::AmqpError;

/// The reason a cancel records when it is given none.
pub const DEFAULT_REASON: &str = "cancelled by an operator";

/// Why a spend-control call failed.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// No such batch or job (the text names it).
    #[error("{0}")]
    NotFound(String),
    /// Redis did not answer or holds something unreadable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// RabbitMQ did not confirm a message published again (the job stays `queued`
    /// with its message kept: running the call again publishes it).
    #[error("publish a resumed job again: {0}")]
    Amqp(#[from] AmqpError),
    /// The command's report could not be written.
    #[error("write the output: {0}")]
    Output(std::io::Error),
}
