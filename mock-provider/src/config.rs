//! The mock's start-up configuration, [`MockConfig`], and how run-time patches apply to it.

use std::time::Duration;

use serde_json::Value;

use crate::knobs::{Knobs, KnobsPatch, RunflowOutputShape};

/// Everything the mock can be told at start. `Default` is permissive: no latency, no
/// cap, no faults, unlimited credits, key `mock-key`, 10-minute task and URL lifetimes,
/// replies as the providers document them.
#[derive(Clone, PartialEq)]
pub struct MockConfig {
    /// The one API key accepted (BFL: `x-key`; Runware and Runflow:
    /// `Authorization: Bearer`).
    pub api_key: String,
    /// Shortest generation time, measured from submit.
    pub latency_min: Duration,
    /// Longest generation time; each task draws uniformly from `latency_min..=latency_max`.
    pub latency_max: Duration,
    /// Cap on tasks submitted and not yet final; a BFL or Runware submit beyond it
    /// gets 429, a Runflow run beyond it stays `queued` until a slot frees.
    pub max_in_flight: Option<u32>,
    /// Most Runflow runs waiting in `queued` behind `max_in_flight`; one more gets 429
    /// `RATE_LIMITED`. `None`: the queue is unbounded (Runflow's documented behaviour).
    pub runflow_max_queued: Option<u32>,
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
    /// Fraction (0–1) of image downloads answered 500 or 503 (after the URL checked out).
    pub download_fail_rate: f64,
    /// The first this many downloads of each task's image(s) are answered 500 or 503.
    pub download_fail_first: u32,
    /// Fraction (0–1) of searches of runs (Runflow `GET /v1/runs?q=…`) answered 500/503.
    pub lookup_fail_rate: f64,
    /// When set, this raw JSON value replaces `cost` in every answer that reports one
    /// (BFL submit, Runware results, Runflow runs), e.g. `1e30`, `-1` or `"NaN"`. What
    /// is billed (and counted in the stats) does not change.
    pub cost_override: Option<Value>,
    /// When set, this raw JSON value replaces `progress` in BFL `Pending` answers
    /// (e.g. `1e-30`, `-5`, `"soon"`).
    pub poll_progress_override: Option<Value>,
    /// Poll answers (BFL `get_result`, Runware `getResponse`, Runflow runs) carry an
    /// extra `mock_padding` string of this many bytes, streamed; 0 is none.
    pub poll_body_pad_bytes: u64,
    /// When set, images are served as a chunked body of exactly this many bytes
    /// (the real image, then zero bytes, or cut short) without `Content-Length`.
    pub chunked_image_bytes: Option<u64>,
    /// Hand out this URL as BFL's `result.sample` instead of the mock's own signed
    /// delivery URL (a hostile reply: e.g. a cloud metadata address).
    pub sample_url_override: Option<String>,
    /// Whether Runflow honours `Idempotency-Key` on single runs (documented for
    /// batches only): the same key and body replay the run, another body gets 409.
    /// `false` ignores the key, the pessimistic reading.
    pub runflow_idempotency: bool,
    /// Where a succeeded Runflow run puts its image URL.
    pub runflow_output_shape: RunflowOutputShape,
    /// A prompt containing this word (case-insensitive) is moderated: `Request Moderated`
    /// when the task's seed is even, `Content Moderated` when it is odd.
    pub moderation_word: Option<String>,
    /// Submits whose prompt contains this word are refused with 422, like a
    /// provider-side rule fluxq cannot check in advance.
    pub reject_word: Option<String>,
    /// Credit balance (1 credit = 0.01 USD); `None` is unlimited.
    pub credits: Option<f64>,
    /// The first this many submits (from start, or from when the knob is set) are
    /// refused for lack of credits (402, Runware `insufficientCredits`) while
    /// `GET /v1/credits` reports credits: an account whose breaker opens and closes
    /// again and again.
    pub refuse_credits_first: u32,
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
            runflow_max_queued: None,
            submit_fail_rate: 0.0,
            poll_fail_rate: 0.0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            drop_after_accept_rate: 0.0,
            download_fail_rate: 0.0,
            download_fail_first: 0,
            lookup_fail_rate: 0.0,
            cost_override: None,
            poll_progress_override: None,
            poll_body_pad_bytes: 0,
            chunked_image_bytes: None,
            sample_url_override: None,
            runflow_idempotency: true,
            runflow_output_shape: RunflowOutputShape::Outputs,
            moderation_word: None,
            reject_word: None,
            credits: None,
            refuse_credits_first: 0,
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
        if let Some(v) = patch.runflow_max_queued {
            self.runflow_max_queued = v;
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
            (&mut self.download_fail_rate, patch.download_fail_rate),
            (&mut self.lookup_fail_rate, patch.lookup_fail_rate),
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
        if let Some(v) = patch.refuse_credits_first {
            self.refuse_credits_first = v;
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
        self.apply_replies(patch);
    }

    /// The knobs that shape replies rather than outcomes.
    fn apply_replies(&mut self, patch: &KnobsPatch) {
        if let Some(v) = patch.download_fail_first {
            self.download_fail_first = v;
        }
        if let Some(v) = &patch.cost_override {
            self.cost_override = v.clone();
        }
        if let Some(v) = &patch.poll_progress_override {
            self.poll_progress_override = v.clone();
        }
        if let Some(v) = patch.poll_body_pad_bytes {
            self.poll_body_pad_bytes = v;
        }
        if let Some(v) = patch.chunked_image_bytes {
            self.chunked_image_bytes = v;
        }
        if let Some(v) = &patch.sample_url_override {
            self.sample_url_override = v.clone();
        }
        if let Some(v) = patch.runflow_idempotency {
            self.runflow_idempotency = v;
        }
        if let Some(v) = patch.runflow_output_shape {
            self.runflow_output_shape = v;
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
            &mut self.download_fail_rate,
            &mut self.lookup_fail_rate,
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
