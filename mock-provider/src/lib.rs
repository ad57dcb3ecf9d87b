//! A faithful simulator of the providers' HTTP APIs (BFL, Runware and Runflow,
//! sharing one simulation) for fluxq's demo, tests and benchmarks, with knobs for
//! latency, concurrency caps, faults, lost connections, moderation, credits and
//! hostile replies, and exact counters (in total and per provider). The knobs are
//! listed in `mock-provider/README.md` and on [`MockConfig`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fluxq_mock_provider::{MockConfig, MockProvider};
//! let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), MockConfig::default()).await?;
//! println!("BFL at {0}/v1/{{model}}, Runware at {0}/v1, Runflow at {0}/v1/models/…/runs, key {1}",
//!     mock.base_url(), mock.api_key());
//! mock.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`MockConfig`], the start-up configuration.
//! - [`knobs`]: [`KnobsPatch`] (run-time changes) and [`Knobs`] (in force).
//! - [`server`]: the [`MockProvider`] handle: start, inspect, reconfigure, stop.
//! - `app`: the state handlers share, and the router, which merges the routes each
//!   provider module registers (one line per provider).
//! - `bfl`: BFL's endpoints: submit validation, poll answers, credits, error bodies.
//! - `runware`: Runware's task-array endpoint `POST /v1`: `imageInference` (sync and
//!   async), `getResponse`, the `errors` envelope, `conflictTaskUUID`, cost in USD.
//! - `runflow`: Runflow's model runs: `POST /v1/models/{model_id}/runs`,
//!   `GET /v1/runs/{id}`, `GET /v1/runs?q=client_ref:…`, `GET /v1/auth/me`,
//!   `GET /v1/billing/balance`; `Idempotency-Key`, the `{code, message, errors}`
//!   envelope, cost as a USD string by Runflow's own price rules.
//! - `cut`: answers cut off mid-body (`drop_after_accept_rate`).
//! - `hostile`: padded JSON answers and chunked images of any size.
//! - `sim`: the provider-agnostic simulation: tasks, in-flight cap and the queue
//!   behind it, billing, faults, searches, [`Stats`].
//! - `delivery` and `images`: signed expiring image URLs and the images behind them.
//! - `journal`: the last requests received, as sent.
//! - `admin`: `/_mock/stats`, `/_mock/config`, `/_mock/reset-stats`; each provider
//!   module adds its journal (`/_mock/runware/requests`, `/_mock/runflow/requests`).
//!
//! # Behaviour worth knowing
//! - A prompt containing the moderation word ends `Request Moderated` (at once) when
//!   the task's seed is even and `Content Moderated` (after the latency) when odd.
//! - A task is in flight from its submit until its latency elapses, polled or not.
//! - Every accepted submit is billed at once, BFL and Runware at
//!   `fluxq_common::pricing`'s prices, Runflow at its own (Flex 0.05 USD per
//!   megapixel of input and output; [pro] 0.03 + 0.015 per further megapixel),
//!   reference images counted as one megapixel each, times Runware's `numberResults`.
//!   A Runware task or Runflow run that will fail is not billed: Runflow documents
//!   it; Runware reports a cost only with a successful result (unconfirmed; the
//!   safe reading).
//! - Runflow: beyond `max_in_flight` a run is accepted and stays `queued` until a
//!   slot frees (first come first served), up to `runflow_max_queued` waiting; then
//!   429 `RATE_LIMITED`. Queued runs count in `in_flight`, so BFL and Runware submits
//!   get 429 meanwhile (one account, one cap).
//! - Runware: a `taskUUID` already known is refused with `conflictTaskUUID` (nothing
//!   billed); a failed task answers `timeoutProvider`, a moderated one
//!   `contentModerated`, an unknown one `taskNotFound` (the last two codes unconfirmed).
//!   Image `n` of a task has seed `seed + n`.
//! - URLs handed out use the `Host` the client called unless `public_url` is set.
//! - Webhook fields are accepted and echoed as BFL does (Runflow's `callback_url`
//!   too), but no webhook or callback is ever called.
//! - Memory: a task is kept until `task_ttl` after it finishes (about 200 bytes each,
//!   plus a Runflow run's `input` and `metadata`); at most 256 encoded images are
//!   cached, and each journal keeps 256 requests. The per-prompt and per-seed maps of
//!   [`Stats`] grow with the distinct prompts and seeds seen. Lower `task_ttl` for
//!   long, fast runs; `tests/load.rs` measures the resident memory over 3,000 jobs.
//!   `GET /_mock/stats?maps=false` ([`MockProvider::summary`]) skips the per-prompt maps.

pub mod config;
pub mod knobs;
pub mod server;

mod admin;
mod app;
mod bfl;
mod cut;
mod delivery;
mod hostile;
mod images;
mod journal;
mod runflow;
mod runware;
mod sim;

pub use bfl::UNLIMITED_CREDITS;
pub use config::MockConfig;
pub use knobs::{Knobs, KnobsPatch, RunflowOutputShape};
pub use server::MockProvider;
pub use sim::{Api, ByProvider, ProviderStats, Stats};
