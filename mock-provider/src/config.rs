//! The mock's start-up configuration, [`MockConfig`], and how run-time patches apply to it.

use std::time::Duration;

use crate::knobs::{Knobs, KnobsPatch};

/// Everything the mock can be told at start. `Default` is permissive: no latency, no
/// cap, no faults, unlimited credits, key `mock-key`, 10-minute task and URL lifetimes.
#[derive(Clone, PartialEq)]
pub struct MockConfig {
    /// The one API key accepted (BFL: `x-key`; Runware: `Authorization: Bearer`).
    pub api_key: String,
    /// Shortest generation time, measured from submit.
    pub latency_min: Duration,
    /// Longest generation time; each task draws uniformly from `latency_min..=latency_max`.
    pub latency_max: Duration,
    /// Cap on tasks submitted and not yet final; a submit beyond it gets 429.
    pub max_in_flight: Option<u32>,
    /// Fraction (0–1) of submits answered 500 or 503 at random; nothing is billed.
    pub submit_fail_rate: f64,
    /// Fraction (0–1) of polls answered 500 or 503 at random.
    pub poll_fail_rate: f64,
    /// Fraction (0–1) of accepted tasks that end `Error` instead of `Ready` (still billed).
    pub error_rate: f64,
    /// Fraction (0–1) of submits answered 429 at random, whatever the load.
    pub throttle_rate: f64,
    /// Fraction (0–1) of accepted (and billed) tasks whose answer is cut off mid-body,
    /// as a connection lost after the provider took the task.
    pub drop_after_accept_rate: f64,
    /// A prompt containing this word (case-insensitive) is moderated: `Request Moderated`
    /// when the task's seed is even, `Content Moderated` when it is odd.
    pub moderation_word: Option<String>,
    /// Submits whose prompt contains this word are refused with 422, like a
    /// provider-side rule fluxq cannot check in advance.
    pub reject_word: Option<String>,
    /// Credit balance (1 credit = 0.01 USD); `None` is unlimited.
    pub credits: Option<f64>,
    /// How long a final task is remembered before it answers `Task not found`.
    pub task_ttl: Duration,
    /// How long a `result.sample` URL stays valid after the task became `Ready`.
    pub download_ttl: Duration,
    /// Seed for the mock's random choices; `None` seeds from the OS.
    pub rng_seed: Option<u64>,
    /// The `retry_after` (seconds) announced with every 429.
    pub retry_after_secs: u64,
    /// Base of the URLs handed out (`polling_url`, `result.sample`). `None` uses the
    /// `Host` the client called, which suits both localhost and containers.
    pub public_url: Option<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            api_key: "mock-key".to_owned(),
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
            max_in_flight: None,
            submit_fail_rate: 0.0,
            poll_fail_rate: 0.0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            drop_after_accept_rate: 0.0,
            moderation_word: None,
            reject_word: None,
            credits: None,
            task_ttl: Duration::from_secs(600),
            download_ttl: Duration::from_secs(600),
            rng_seed: None,
            retry_after_secs: 1,
            public_url: None,
        }
    }
}

impl std::fmt::Debug for MockConfig {
    /// Like the derived impl, with the API key redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockConfig")
            .field("api_key", &"<redacted>")
            .field("knobs", &Knobs::from_config(self))
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl MockConfig {
    /// Applies a patch; rates are clamped to 0–1 and a `latency_max` below
    /// `latency_min` is raised to it. The API key cannot be changed at run time.
    pub fn apply(&mut self, patch: &KnobsPatch) {
        let ms = Duration::from_millis;
        if let Some(v) = patch.latency_min_ms {
            self.latency_min = ms(v);
        }
        if let Some(v) = patch.latency_max_ms {
            self.latency_max = ms(v);
        }
        self.latency_max = self.latency_max.max(self.latency_min);
        if let Some(v) = patch.max_in_flight {
            self.max_in_flight = v;
        }
        for (field, value) in [
            (&mut self.submit_fail_rate, patch.submit_fail_rate),
            (&mut self.poll_fail_rate, patch.poll_fail_rate),
            (&mut self.error_rate, patch.error_rate),
            (&mut self.throttle_rate, patch.throttle_rate),
            (
                &mut self.drop_after_accept_rate,
                patch.drop_after_accept_rate,
            ),
        ] {
            if let Some(v) = value {
                *field = clamp_rate(v);
            }
        }
        if let Some(v) = &patch.moderation_word {
            self.moderation_word = v.clone();
        }
        if let Some(v) = &patch.reject_word {
            self.reject_word = v.clone();
        }
        if let Some(v) = patch.credits {
            self.credits = v;
        }
        if let Some(v) = patch.task_ttl_ms {
            self.task_ttl = ms(v);
        }
        if let Some(v) = patch.download_ttl_ms {
            self.download_ttl = ms(v);
        }
        if let Some(v) = patch.rng_seed {
            self.rng_seed = v;
        }
        if let Some(v) = patch.retry_after_secs {
            self.retry_after_secs = v;
        }
    }

    /// The same config with its rates clamped and its latency range ordered.
    pub(crate) fn normalized(mut self) -> Self {
        self.latency_max = self.latency_max.max(self.latency_min);
        for rate in [
            &mut self.submit_fail_rate,
            &mut self.poll_fail_rate,
            &mut self.error_rate,
            &mut self.throttle_rate,
            &mut self.drop_after_accept_rate,
        ] {
            *rate = clamp_rate(*rate);
        }
        self
    }
}

/// A rate outside 0–1 (or NaN) is clamped into it.
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}
