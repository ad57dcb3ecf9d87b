//! The mock provider in tests: a configuration whose tasks take a fixed time, and an
//! HTTP client for the mock's API (submit, poll, download) in [`client`].

mod client;

use std::time::Duration;

use fluxq_mock_provider::MockConfig;

pub use client::Harness;

/// A mock provider whose every task takes exactly `ms` milliseconds.
pub fn fixed_latency(ms: u64) -> MockConfig {
    let d = Duration::from_millis(ms);
    MockConfig {
        latency_min: d,
        latency_max: d,
        ..MockConfig::default()
    }
}
