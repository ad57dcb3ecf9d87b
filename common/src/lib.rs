//! fluxq's domain, free of network code: what a job is, how it may move between
//! states, how failures are classified and retried, what it costs, and what every
//! exchange, queue and Redis key is called.
//!
//! # Layout
//! - [`job`]: the job message of the public contract, its vocabulary, and its validation
//!   into a [`job::JobSpec`].
//! - [`state`]: job statuses and their transitions, the specification of the job
//!   record's Lua scripts.
//! - [`failure`]: classification of provider answers into [`failure::FailureKind`]s.
//! - [`retry`]: [`retry::RetryPolicy`] (exponential backoff, full jitter) and delay tiers.
//! - [`charge`]: charges as providers report them, checked ([`charge::Charge`]).
//! - [`pricing`]: exact money ([`pricing::MicroUsd`]) and price estimates per provider and model.
//! - [`names`]: names derived from the namespace.
//! - [`addr`]: internal (non-public) IP addresses, which URLs from outside must not reach.

pub mod addr;
pub mod charge;
pub mod failure;
pub mod job;
pub mod names;
pub mod pricing;
pub mod retry;
pub mod state;

pub use charge::{Charge, ChargeError, CostUnit};
pub use failure::{Failure, FailureKind};
pub use job::{JobMessage, JobSpec, Lane, Model, OutputFormat, ProviderKind, ValidationError};
pub use names::Names;
pub use pricing::MicroUsd;
pub use retry::{Decision, DelayTiers, RetryPolicy};
pub use state::{InvalidTransition, JobEvent, JobStatus, LeaseUse};
