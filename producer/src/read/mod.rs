//! What the HTTP API (and anything else serving people or programs) reads: typed views
//! of jobs, batches, provider accounts, dead letters and the events stream, built from
//! Redis and RabbitMQ with a fixed number of round trips per view. Nothing here knows
//! about HTTP; each view serializes to the JSON the API returns.
//!
//! - [`job`]: one job's record ([`JobView`]).
//! - [`batch`]: a batch's counters and cost, its failed jobs paged by cursor ([`BatchView`]).
//! - [`batches`]: the recent batches, newest first, with budget and throughput.
//! - [`gallery`]: a batch's jobs in order, paged and filtered; its errors grouped.
//! - [`accounts`]: each provider account's limiter and breaker ([`AccountView`]).
//! - [`events`]: the final-status entries of `{ns}:events`, from a stream id on.
//! - [`dead`]: the dead letters, read through a snapshot that puts every one back.
//! - [`lanes`]: each lane's queue depth and pause, the delay tiers and dead letters
//!   ([`LanesView`]).

pub mod accounts;
pub mod batch;
pub mod batches;
pub mod dead;
pub mod events;
pub mod gallery;
pub mod job;
pub mod lanes;

pub use accounts::{AccountView, accounts};
pub use batch::{BatchView, FailedJobView, FailedPage};
pub use dead::{DeadLetterView, DeadPage};
pub use events::{EventView, StreamId};
pub use job::{CallbackView, JobView};
pub use lanes::{LaneView, LanesView, QueueDepth};
