//! fluxq's producer: validating and publishing jobs, and reporting on batches. The
//! broker topology and the Redis records it shares with the worker are in
//! `fluxq-wire`.
//!
//! # Layout
//! - [`config`]: the command line (subcommands; connection settings from `fluxq-wire`).
//! - [`commands`]: every command, run from parsed arguments (the binary is a thin shell).
//! - [`submit`]: `producer submit`, validation pass then publishing pass.
//! - [`lines`]: numbered, length-capped, UTF-8-checked input lines.
//! - [`estimate`]: `producer submit --dry-run`, estimated cost by provider and model.
//! - [`status`]: `producer status` and `--wait` progress.
//! - [`replay`]: `producer replay-dead`, publishing dead letters again.
//! - [`spend`]: `producer cancel`, `resume`, `budget`: spend control (also the API's).
//! - [`lanes`]: `producer pause|resume --lane`, lanes paused fleet-wide.
//! - [`daily_budget`]: `producer daily-budget`, the budget per provider account per day.
//! - [`read`]: typed views of jobs, batches, accounts, events and dead letters (what
//!   the HTTP API returns).
//! - [`http`]: `producer serve`, the HTTP API.
//! - [`dashboard`]: the web dashboard `producer serve` also serves.
//! - [`notify`]: completion callbacks, delivered by `producer serve` or `producer notify`.

pub mod commands;
pub mod config;
pub mod daily_budget;
pub mod dashboard;
pub mod estimate;
pub mod http;
pub mod lanes;
pub mod lines;
pub mod notify;
pub mod read;
pub mod replay;
pub mod spend;
pub mod status;
pub mod submit;
