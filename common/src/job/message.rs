//! The job message as it travels through RabbitMQ, the validated job it becomes,
//! and what can be read from a body that is not a valid job.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Model, OutputFormat, ProviderKind, SizePreset, ValidationError, validate_batch_name};

/// The job message exactly as published (contract v1). Unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"
        )
    )]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    pub model: Model,
    #[cfg_attr(feature = "schema", schema(min_length = 1, max_length = 32000))]
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizePreset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_upsampling: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_tolerance: Option<u8>,
    /// Images to make from this one job (1–20, Runware only; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_results: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where fluxq POSTs the job's final record, signed (docs/api.md#completion-callbacks):
    /// `https`, at most 2048 bytes, no credentials. Plain `http` and private addresses
    /// are delivered to only where the deployment allows them (`FLUXQ_CALLBACK_ALLOW_HOSTS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schema(format = "uri", max_length = 2048, pattern = "^https?://")
    )]
    pub callback_url: Option<String>,
}

/// A validated job: everything a provider client needs, with defaults resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub id: Uuid,
    pub batch: Option<String>,
    pub provider: ProviderKind,
    pub model: Model,
    pub prompt: String,
    pub width: u32,
    pub height: u32,
    /// The preset the size came from, when the job named one (`width`/`height` hold
    /// its dimensions either way); Runflow is sent the preset's name.
    pub size: Option<SizePreset>,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
    pub guidance: Option<f64>,
    pub prompt_upsampling: Option<bool>,
    pub reference_images: Vec<String>,
    pub output_format: OutputFormat,
    pub safety_tolerance: Option<u8>,
    /// Images to make (1 unless the job asked for more; more than 1 only on Runware).
    pub number_results: u32,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where the final record is POSTed, if anywhere.
    pub callback_url: Option<String>,
    /// What the job is, as a hash of its message ([`JobMessage::fingerprint`]): a
    /// record keeps the fingerprint of the job's first valid message, and a message
    /// that reuses the id with other fields is refused rather than run or counted.
    pub fingerprint: String,
}

impl JobMessage {
    /// SHA-256 (hex) of the message as it serialises (fields in declaration order,
    /// metadata keys sorted): the same for every delivery, retry and replay of one
    /// message, different as soon as any field differs.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&bytes))
    }

    /// Parses a message body, naming the field that is wrong where serde can tell. A
    /// key that appears twice in one object (at any depth) is an error, not "last wins".
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
        let parsed = Self::parse(body);
        if parsed.is_ok() {
            super::check_duplicate_keys(body)?;
        }
        parsed
    }

    fn parse(body: &[u8]) -> Result<Self, ValidationError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            let field = extract_field(&msg).unwrap_or_else(|| match path.as_str() {
                "." | "" => "body".to_owned(),
                p => p.to_owned(),
            });
            ValidationError::new(field, msg)
        })
    }
}

/// Reads the `id` of a body that failed to parse as a job, if it has a readable one.
pub fn readable_id(body: &[u8]) -> Option<Uuid> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("id")?.as_str()?.parse().ok()
}

/// Reads the `batch` of a body that failed to parse as a job, if it is a valid name.
pub fn readable_batch(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let b = v.get("batch")?.as_str()?;
    validate_batch_name(b).ok().map(|()| b.to_owned())
}

/// Pulls the field name out of a serde_json message such as
/// "unknown field `foo`, expected ..." or "missing field `id`".
fn extract_field(msg: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = msg.split_once(marker).map(|(_, r)| r) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}
