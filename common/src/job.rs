//! The job message of the public contract (v1) and its validation.
//!
//! [`JobMessage`] is exactly what travels through RabbitMQ: unknown fields are
//! rejected so a typo cannot silently change what is paid for. [`JobMessage::validate`]
//! turns it into a [`JobSpec`] with the provider resolved and the size known, or a
//! [`ValidationError`] naming the field and the rule.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest prompt either provider accepts, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;
/// The size used when a job gives neither `width`/`height` nor `size`.
pub const DEFAULT_SIZE: (u32, u32) = (1024, 1024);

/// The image models fluxq runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Model {
    #[serde(rename = "flux-2-pro")]
    Flux2Pro,
    #[serde(rename = "flux-2-flex")]
    Flux2Flex,
    #[serde(rename = "flux-2-max")]
    Flux2Max,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Flux2Pro, Model::Flux2Flex, Model::Flux2Max];

    /// The contract's name, which is also BFL's endpoint name.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Flux2Pro => "flux-2-pro",
            Model::Flux2Flex => "flux-2-flex",
            Model::Flux2Max => "flux-2-max",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Runware's model id (AIR). `bfl:5@1` and `bfl:6@1` are in the seed docs;
    /// `bfl:7@1` for max is unconfirmed.
    pub fn runware_id(self) -> &'static str {
        match self {
            Model::Flux2Pro => "bfl:5@1",
            Model::Flux2Flex => "bfl:6@1",
            Model::Flux2Max => "bfl:7@1",
        }
    }

    pub fn from_runware_id(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.runware_id() == s)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which provider runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Bfl,
    Runware,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bfl => "bfl",
            ProviderKind::Runware => "runware",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bfl" => Some(ProviderKind::Bfl),
            "runware" => Some(ProviderKind::Runware),
            _ => None,
        }
    }

    /// (min side, max side, max pixels) this provider accepts; sides are multiples of 16.
    pub fn size_limits(self) -> (u32, u32, u64) {
        match self {
            // BFL: min 64, multiples of 16, at most 4 MP in total (unconfirmed upper side).
            ProviderKind::Bfl => (64, 4096, 4 * crate::pricing::PIXELS_PER_MEGAPIXEL),
            // Runware: 256–2048 in steps of 16.
            ProviderKind::Runware => (256, 2048, 2048 * 2048),
        }
    }

    /// The most reference images one job may carry.
    pub fn max_reference_images(self) -> usize {
        match self {
            ProviderKind::Bfl => 8,
            ProviderKind::Runware => 10,
        }
    }

    /// The highest `safety_tolerance` the provider accepts.
    pub fn max_safety_tolerance(self) -> u8 {
        match self {
            ProviderKind::Bfl => 5,
            ProviderKind::Runware => 6,
        }
    }

    /// The accepted range of `guidance` for flex (BFL `guidance`, Runware `CFGScale`).
    pub fn guidance_range(self) -> (f64, f64) {
        match self {
            ProviderKind::Bfl => (1.5, 10.0),
            ProviderKind::Runware => (1.0, 20.0),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two lanes: `interactive` for single jobs someone waits for, `bulk` for batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    #[default]
    Bulk,
    Interactive,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Bulk, Lane::Interactive];

    /// The routing key on `{ns}.jobs`, and the suffix of the lane's queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Bulk => "bulk",
            Lane::Interactive => "interactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Image file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Jpeg,
    Png,
    Webp,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }

    /// The file extension images of this format are stored under.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }

    /// Guesses the format from a `Content-Type` header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "image/jpeg" | "image/jpg" => Some(OutputFormat::Jpeg),
            "image/png" => Some(OutputFormat::Png),
            "image/webp" => Some(OutputFormat::Webp),
            _ => None,
        }
    }
}

/// Named sizes, as other FLUX.2 front ends call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizePreset {
    SquareHd,
    Square,
    #[serde(rename = "portrait_4_3")]
    Portrait4x3,
    #[serde(rename = "portrait_16_9")]
    Portrait16x9,
    #[serde(rename = "landscape_4_3")]
    Landscape4x3,
    #[serde(rename = "landscape_16_9")]
    Landscape16x9,
}

impl SizePreset {
    /// (width, height) of the preset.
    pub fn dimensions(self) -> (u32, u32) {
        match self {
            SizePreset::SquareHd => (1024, 1024),
            SizePreset::Square => (512, 512),
            SizePreset::Portrait4x3 => (768, 1024),
            SizePreset::Portrait16x9 => (576, 1024),
            SizePreset::Landscape4x3 => (1024, 768),
            SizePreset::Landscape16x9 => (1024, 576),
        }
    }
}

/// The job message exactly as published (contract v1). Unknown fields are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    pub model: Model,
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
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a job message is not valid: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    /// The offending field, as named in the message (`body` when it is not a job at all).
    pub field: String,
    /// The rule it breaks, in words.
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
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
}

/// Most images one job may ask for (`number_results`, Runware's `numberResults`).
pub const MAX_NUMBER_RESULTS: u32 = 20;

/// Longest batch name, in bytes; batch names become parts of Redis keys and paths.
pub const MAX_BATCH_LEN: usize = 128;

impl JobMessage {
    /// Parses a message body, naming the field that is wrong where serde can tell.
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
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

    /// Checks every rule of the contract and of the provider's limits, and resolves the
    /// provider (`default_provider` when the job names none) and the size.
    pub fn validate(&self, default_provider: ProviderKind) -> Result<JobSpec, ValidationError> {
        let provider = self.provider.unwrap_or(default_provider);

        let prompt_chars = self.prompt.chars().count();
        if prompt_chars == 0 || self.prompt.trim().is_empty() {
            return Err(ValidationError::new("prompt", "must not be empty"));
        }
        if prompt_chars > MAX_PROMPT_CHARS {
            return Err(ValidationError::new(
                "prompt",
                format!("must be at most {MAX_PROMPT_CHARS} characters (got {prompt_chars})"),
            ));
        }
        if let Some(batch) = &self.batch {
            validate_batch_name(batch)?;
        }

        let (width, height) = self.resolve_size()?;
        let (min, max, max_px) = provider.size_limits();
        for (field, v) in [("width", width), ("height", height)] {
            if v % 16 != 0 {
                return Err(ValidationError::new(
                    field,
                    format!("must be a multiple of 16 (got {v})"),
                ));
            }
            if v < min || v > max {
                return Err(ValidationError::new(
                    field,
                    format!("must be between {min} and {max} for {provider} (got {v})"),
                ));
            }
        }
        let px = u64::from(width) * u64::from(height);
        if px > max_px {
            return Err(ValidationError::new(
                "width",
                format!("{width}x{height} is {px} pixels; {provider} allows at most {max_px}"),
            ));
        }

        let is_flex = self.model == Model::Flux2Flex;
        if let Some(steps) = self.steps {
            if !is_flex {
                return Err(ValidationError::new(
                    "steps",
                    format!("is only accepted by flux-2-flex, not {}", self.model),
                ));
            }
            if !(1..=50).contains(&steps) {
                return Err(ValidationError::new(
                    "steps",
                    format!("must be between 1 and 50 (got {steps})"),
                ));
            }
        }
        if let Some(g) = self.guidance {
            if !is_flex {
                return Err(ValidationError::new(
                    "guidance",
                    format!("is only accepted by flux-2-flex, not {}", self.model),
                ));
            }
            let (lo, hi) = provider.guidance_range();
            if !(g.is_finite() && g >= lo && g <= hi) {
                return Err(ValidationError::new(
                    "guidance",
                    format!("must be between {lo} and {hi} for {provider} (got {g})"),
                ));
            }
        }
        if self.prompt_upsampling.is_some() && !is_flex && provider == ProviderKind::Bfl {
            return Err(ValidationError::new(
                "prompt_upsampling",
                format!("is only accepted by flux-2-flex on bfl, not {}", self.model),
            ));
        }
        let max_refs = provider.max_reference_images();
        if self.reference_images.len() > max_refs {
            return Err(ValidationError::new(
                "reference_images",
                format!(
                    "at most {max_refs} for {provider} (got {})",
                    self.reference_images.len()
                ),
            ));
        }
        for (i, r) in self.reference_images.iter().enumerate() {
            let ok =
                r.starts_with("https://") || r.starts_with("http://") || r.starts_with("data:");
            if !ok {
                return Err(ValidationError::new(
                    format!("reference_images[{i}]"),
                    "must be an http(s) URL or a data URI",
                ));
            }
        }
        if let Some(t) = self.safety_tolerance {
            let max_t = provider.max_safety_tolerance();
            if t > max_t {
                return Err(ValidationError::new(
                    "safety_tolerance",
                    format!("must be between 0 and {max_t} for {provider} (got {t})"),
                ));
            }
        }

        let number_results = self.number_results.unwrap_or(1);
        if !(1..=MAX_NUMBER_RESULTS).contains(&number_results) {
            return Err(ValidationError::new(
                "number_results",
                format!("must be between 1 and {MAX_NUMBER_RESULTS} (got {number_results})"),
            ));
        }
        if number_results > 1 && provider == ProviderKind::Bfl {
            return Err(ValidationError::new(
                "number_results",
                format!("more than 1 is only accepted by runware, not bfl (got {number_results})"),
            ));
        }

        Ok(JobSpec {
            id: self.id,
            batch: self.batch.clone(),
            provider,
            model: self.model,
            prompt: self.prompt.clone(),
            width,
            height,
            seed: self.seed,
            steps: self.steps,
            guidance: self.guidance,
            prompt_upsampling: self.prompt_upsampling,
            reference_images: self.reference_images.clone(),
            output_format: self.output_format.unwrap_or_default(),
            safety_tolerance: self.safety_tolerance,
            number_results,
            metadata: self.metadata.clone(),
        })
    }

    fn resolve_size(&self) -> Result<(u32, u32), ValidationError> {
        match (self.size, self.width, self.height) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ValidationError::new(
                "size",
                "give either size or width/height, not both",
            )),
            (Some(preset), None, None) => Ok(preset.dimensions()),
            (None, Some(w), Some(h)) => Ok((w, h)),
            (None, Some(_), None) => Err(ValidationError::new("height", "is required with width")),
            (None, None, Some(_)) => Err(ValidationError::new("width", "is required with height")),
            (None, None, None) => Ok(DEFAULT_SIZE),
        }
    }
}

/// A batch name: 1–128 bytes of letters, digits, `-`, `_`, `.`, `:` (it becomes part
/// of a Redis key and of a directory name).
pub fn validate_batch_name(batch: &str) -> Result<(), ValidationError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if batch.is_empty()
        || batch.len() > MAX_BATCH_LEN
        || !batch.chars().all(ok_char)
        || batch.starts_with('.')
    {
        return Err(ValidationError::new(
            "batch",
            format!(
                "must be 1-{MAX_BATCH_LEN} characters of letters, digits, '-', '_', '.', ':' and not start with '.'"
            ),
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests;
