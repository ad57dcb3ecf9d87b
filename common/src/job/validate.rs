//! [`JobMessage::validate`]: the contract's limits, checked in order, and the job's
//! provider and size resolved; [`ValidationError`] says which rule a message breaks.

use super::rules::{
    check_callback_url, check_guidance, check_metadata, check_model, check_number_results,
    check_output_format, check_pixels, check_prompt, check_prompt_upsampling,
    check_reference_count, check_reference_sources, check_safety_tolerance, check_side,
    check_steps,
};
use super::{JobMessage, JobSpec, ProviderKind};

/// Longest prompt any provider accepts, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;
/// The size used when a job gives neither `width`/`height` nor `size`.
pub const DEFAULT_SIZE: (u32, u32) = (1024, 1024);
/// Most images one job may ask for (`number_results`, Runware's `numberResults`).
pub const MAX_NUMBER_RESULTS: u32 = 20;
/// Largest `metadata`, serialised, in bytes: it is copied into every record and
/// event, so it is for labels (a SKU, a catalog row), not for payloads.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest `callback_url`, in bytes.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;
/// Longest batch name, in bytes; batch names become parts of Redis keys and paths.
pub const MAX_BATCH_LEN: usize = 128;

/// Why a job message is not valid: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{rule}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct ValidationError {
    /// The offending field, as named in the message (`body` when it is not a job at
    /// all; empty when the problem is the input line itself, e.g. not UTF-8).
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

impl JobMessage {
    /// Checks every rule of the contract and of the provider's limits, and resolves the
    /// provider (`default_provider` when the job names none) and the size. The first
    /// rule broken, in the order below, is the one reported.
    pub fn validate(&self, default_provider: ProviderKind) -> Result<JobSpec, ValidationError> {
        let provider = self.provider.unwrap_or(default_provider);
        check_prompt(&self.prompt)?;
        check_model(provider, self.model)?;
        if let Some(batch) = &self.batch {
            validate_batch_name(batch)?;
        }
        let (width, height) = self.resolve_size()?;
        check_side(provider, "width", width)?;
        check_side(provider, "height", height)?;
        check_pixels(provider, width, height)?;
        check_steps(provider, self.model, self.steps)?;
        check_guidance(provider, self.model, self.guidance)?;
        check_prompt_upsampling(provider, self.model, self.prompt_upsampling)?;
        check_reference_count(provider, &self.reference_images)?;
        check_reference_sources(&self.reference_images)?;
        check_safety_tolerance(provider, self.safety_tolerance)?;
        check_output_format(provider, self.output_format)?;
        let number_results = check_number_results(provider, self.number_results)?;
        check_metadata(self.metadata.as_ref())?;
        if let Some(url) = &self.callback_url {
            check_callback_url(url)?;
        }

        Ok(JobSpec {
            id: self.id,
            batch: self.batch.clone(),
            provider,
            model: self.model,
            prompt: self.prompt.clone(),
            width,
            height,
            size: self.size,
            seed: self.seed,
            steps: self.steps,
            guidance: self.guidance,
            prompt_upsampling: self.prompt_upsampling,
            reference_images: self.reference_images.clone(),
            output_format: self.output_format.unwrap_or_default(),
            safety_tolerance: self.safety_tolerance,
            number_results,
            metadata: self.metadata.clone(),
            callback_url: self.callback_url.clone(),
            fingerprint: self.fingerprint(),
        })
    }

    /// The size from `size` or `width`/`height` (one or the other, never both), or
    /// [`DEFAULT_SIZE`] when neither is given.
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
