//! fluxq's producer library: publishing jobs to RabbitMQ and reading batch status
//! from Redis. The worker uses the same publishing and topology code.
//!
//! # Layout
//! - [`config`]: command line and environment (shared connection arguments).
//! - [`amqp`]: connecting, declaring the topology, confirmed publishing, headers.
//! - [`records`]: job records and batch counters in Redis (Lua scripts).
//! - [`submit`]: `producer submit`, validation pass then publishing pass.
//! - [`estimate`]: `producer submit --dry-run`, estimated cost by provider and model.
//! - [`status`]: `producer status` and `--wait` progress.
//! - [`replay`]: `producer replay-dead`, publishing dead letters again.

pub mod amqp;
pub mod config;
pub mod estimate;
pub mod records;
pub mod replay;
pub mod status;
pub mod submit;
