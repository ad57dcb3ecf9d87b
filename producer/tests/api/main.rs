//! The HTTP API (`producer serve`, the real binary) against real RabbitMQ and Redis,
//! with the mock provider and a worker running the jobs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub use fluxq_testkit::*;
}

mod auth;
mod browser;
mod callbacks;
mod dashboard;
mod dashboard_auth;
mod dashboard_controls;
mod dead;
mod docs;
mod enqueue;
mod events;
mod lanes;
mod server;
mod spend;
mod sse;
