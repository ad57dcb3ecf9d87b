//! What fluxq's tests, benchmarks and chaos runs share. Only ever a dev-dependency.
//!
//! Services: `FLUXQ_TEST_AMQP_URL` / `FLUXQ_TEST_REDIS_URL`, else the local defaults,
//! else containers started with testcontainers where a Docker engine answers; if none
//! of these works the test fails with one line saying what is missing. Nothing is
//! ever skipped.
//!
//! # Layout
//! - [`services`]: finding RabbitMQ and Redis for a test binary (feature `services`).
//! - [`servers`]: a RabbitMQ node and a Redis server of a test's own, on free ports,
//!   to kill and restart (feature `services`).
//! - [`moto`]: an S3-compatible server (moto, from PyPI) on a free port (feature
//!   `services`).
//! - [`namespace`]: a fresh namespace per test and the cleanup of its queues,
//!   exchanges and keys (feature `services`).
//! - [`process`]: the workspace's binaries as processes: the worker with its JSON logs
//!   and metrics address, the producer run to completion (feature `services`).
//! - [`mock`]: a mock provider whose tasks take a fixed time, and an HTTP client for
//!   its API (feature `mock`).
//! - [`harness`]: one test's world for the worker: a namespace with its topology, a
//!   mock, in-process workers, submitting and waiting (feature `harness`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failure panics the test that called it"
)]

#[cfg(feature = "harness")]
pub mod harness;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "services")]
pub mod moto;
#[cfg(feature = "services")]
pub mod namespace;
#[cfg(feature = "services")]
pub mod process;
#[cfg(feature = "services")]
pub mod servers;
#[cfg(feature = "services")]
pub mod services;

#[cfg(feature = "harness")]
pub use harness::{DeadLetter, Harness, WorkerHandle, id_of, job};
#[cfg(feature = "mock")]
pub use mock::fixed_latency;
