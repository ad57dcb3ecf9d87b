//! Run-time knobs: the [`KnobsPatch`] that changes them and the [`Knobs`] in force.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::config::MockConfig;

/// Where a succeeded Runflow run puts its image URL (the official SDK reads all three).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunflowOutputShape {
    /// `output.outputs[] = {type: "image", url, content_type}` (the documented shape).
    #[default]
    Outputs,
    /// `output.image_urls[]`.
    ImageUrls,
    /// `output.image.url`.
    Image,
}

impl RunflowOutputShape {
    /// The shape named as in JSON (`outputs`, `image_urls`, `image`).
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }
}

/// A run-time change of knobs (`POST /_mock/config`, [`crate::MockProvider::update`]).
/// Every field is optional; for the knobs that may be unset, JSON `null` unsets them
/// (`Some(None)`) while an absent field leaves them alone (`None`).
/// `task_ttl_ms` and `download_ttl_ms` apply to tasks submitted afterwards;
/// `credits` sets the balance; `rng_seed` reseeds the random source. The meaning of
/// each knob is documented on [`MockConfig`]'s field of the same name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_min_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_max_ms: Option<u64>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_in_flight: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub runflow_max_queued: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_fail_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_fail_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after_accept_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_fail_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_fail_first: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_fail_rate: Option<f64>,
    /// `null` unsets; any other JSON value is put in replies as it is.
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_override: Option<Option<Value>>,
    /// `null` unsets; any other JSON value is put in replies as it is.
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_progress_override: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_body_pad_bytes: Option<u64>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub chunked_image_bytes: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub sample_url_override: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runflow_idempotency: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runflow_output_shape: Option<RunflowOutputShape>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub moderation_word: Option<Option<String>>,
    /// `null` unsets; a prompt containing it is refused with 422.
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub reject_word: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub credits: Option<Option<f64>>,
    /// Setting it (again) starts counting the refused submits from zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_credits_first: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ttl_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_ttl_ms: Option<u64>,
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    pub rng_seed: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

/// A present field (even `null`) deserializes to `Some`; serde's `default` covers absence.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The knobs in force (`GET /_mock/config`), without the API key. `credits` is the
/// balance left now, not the starting balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knobs {
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub runflow_max_queued: Option<u32>,
    pub submit_fail_rate: f64,
    pub poll_fail_rate: f64,
    pub error_rate: f64,
    pub throttle_rate: f64,
    #[serde(default)]
    pub drop_after_accept_rate: f64,
    #[serde(default)]
    pub download_fail_rate: f64,
    #[serde(default)]
    pub download_fail_first: u32,
    #[serde(default)]
    pub lookup_fail_rate: f64,
    #[serde(default)]
    pub cost_override: Option<Value>,
    #[serde(default)]
    pub poll_progress_override: Option<Value>,
    #[serde(default)]
    pub poll_body_pad_bytes: u64,
    #[serde(default)]
    pub chunked_image_bytes: Option<u64>,
    #[serde(default)]
    pub sample_url_override: Option<String>,
    #[serde(default = "yes")]
    pub runflow_idempotency: bool,
    #[serde(default)]
    pub runflow_output_shape: RunflowOutputShape,
    pub moderation_word: Option<String>,
    pub reject_word: Option<String>,
    pub credits: Option<f64>,
    #[serde(default)]
    pub refuse_credits_first: u32,
    pub task_ttl_ms: u64,
    pub download_ttl_ms: u64,
    pub rng_seed: Option<u64>,
    pub retry_after_secs: u64,
}

impl Knobs {
    pub(crate) fn from_config(c: &MockConfig) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            latency_min_ms: ms(c.latency_min),
            latency_max_ms: ms(c.latency_max),
            max_in_flight: c.max_in_flight,
            runflow_max_queued: c.runflow_max_queued,
            submit_fail_rate: c.submit_fail_rate,
            poll_fail_rate: c.poll_fail_rate,
            error_rate: c.error_rate,
            throttle_rate: c.throttle_rate,
            drop_after_accept_rate: c.drop_after_accept_rate,
            download_fail_rate: c.download_fail_rate,
            download_fail_first: c.download_fail_first,
            lookup_fail_rate: c.lookup_fail_rate,
            cost_override: c.cost_override.clone(),
            poll_progress_override: c.poll_progress_override.clone(),
            poll_body_pad_bytes: c.poll_body_pad_bytes,
            chunked_image_bytes: c.chunked_image_bytes,
            sample_url_override: c.sample_url_override.clone(),
            runflow_idempotency: c.runflow_idempotency,
            runflow_output_shape: c.runflow_output_shape,
            moderation_word: c.moderation_word.clone(),
            reject_word: c.reject_word.clone(),
            credits: c.credits,
            refuse_credits_first: c.refuse_credits_first,
            task_ttl_ms: ms(c.task_ttl),
            download_ttl_ms: ms(c.download_ttl),
            rng_seed: c.rng_seed,
            retry_after_secs: c.retry_after_secs,
        }
    }
}
