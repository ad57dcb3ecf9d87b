//! A faithful simulator of the providers' HTTP APIs (BFL and Runware, sharing one
//! simulation) for fluxq's demo, tests and benchmarks, with knobs for latency,
//! concurrency caps, faults, lost connections, moderation and credits, and exact
//! counters (in total and per provider).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fluxq_mock_provider::{MockConfig, MockProvider};
//! let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), MockConfig::default()).await?;
//! println!("BFL at {0}/v1/{{model}}, Runware at {0}/v1, key {1}", mock.base_url(), mock.api_key());
//! mock.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`MockConfig`], the start-up configuration.
//! - [`knobs`]: [`KnobsPatch`] (run-time changes) and [`Knobs`] (in force).
//! - [`server`]: the [`MockProvider`] handle: start, inspect, reconfigure, stop.
//! - `app`: the axum route table and the state handlers share.
//! - `bfl`: BFL's endpoints: submit validation, poll answers, credits, error bodies.
//! - `runware`: Runware's task-array endpoint `POST /v1`: `imageInference` (sync and
//!   async), `getResponse`, the `errors` envelope, `conflictTaskUUID`, cost in USD.
//! - `cut`: answers cut off mid-body (`drop_after_accept_rate`).
//! - `sim`: the provider-agnostic simulation: tasks, in-flight cap, billing, faults,
//!   [`Stats`].
//! - `delivery` and `images`: signed expiring image URLs and the images behind them.
//! - `admin`: `/_mock/stats`, `/_mock/config`, `/_mock/reset-stats`; Runware's
//!   received tasks at `/_mock/runware/requests`.
//!
//! # Behaviour worth knowing
//! - A prompt containing the moderation word ends `Request Moderated` (at once) when
//!   the task's seed is even and `Content Moderated` (after the latency) when odd.
//! - A task is in flight from its submit until its latency elapses, polled or not.
//! - Every accepted submit is billed at once, at `fluxq_common::pricing`'s prices,
//!   reference images counted as one megapixel each, times Runware's `numberResults`.
//!   A Runware task that will fail is not billed: Runware reports a cost only with a
//!   successful result (unconfirmed; the safe reading).
//! - Runware: a `taskUUID` already known is refused with `conflictTaskUUID` (nothing
//!   billed); a failed task answers `timeoutProvider`, a moderated one
//!   `contentModerated`, an unknown one `taskNotFound` (the last two codes unconfirmed).
//!   Image `n` of a task has seed `seed + n`.
//! - URLs handed out use the `Host` the client called unless `public_url` is set.
//! - Webhook fields are accepted and echoed as BFL does, but no webhook is ever called.
//! - Memory: a task is kept until `task_ttl` after it finishes (about 200 bytes each);
//!   at most 256 encoded images are cached. Lower `task_ttl` for long, fast runs.
//!   `GET /_mock/stats?maps=false` ([`MockProvider::summary`]) skips the per-prompt maps.

pub mod config;
pub mod knobs;
pub mod server;

mod admin;
mod app;
mod bfl;
mod cut;
mod delivery;
mod images;
mod runware;
mod sim;

pub use bfl::UNLIMITED_CREDITS;
pub use config::MockConfig;
pub use knobs::{Knobs, KnobsPatch};
pub use server::MockProvider;
pub use sim::{ByProvider, ProviderStats, Stats};
