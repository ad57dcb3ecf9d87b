//! The rules of a job message that [`JobMessage::validate`](super::JobMessage::validate)
//! checks, one function each; each names the field it is about in its error.

use super::{
    MAX_NUMBER_RESULTS, MAX_PROMPT_CHARS, Model, OutputFormat, ProviderKind, ValidationError,
};

/// The provider serves the model.
pub(super) fn check_model(provider: ProviderKind, model: Model) -> Result<(), ValidationError> {
    if !provider.serves(model) {
        return Err(ValidationError::new(
            "model",
            format!("{model} is not available on {provider} (its model id there is unconfirmed)"),
        ));
    }
    Ok(())
}

/// The prompt is not blank and at most [`MAX_PROMPT_CHARS`] characters.
pub(super) fn check_prompt(prompt: &str) -> Result<(), ValidationError> {
    let chars = prompt.chars().count();
    if chars == 0 || prompt.trim().is_empty() {
        return Err(ValidationError::new("prompt", "must not be empty"));
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(ValidationError::new(
            "prompt",
            format!("must be at most {MAX_PROMPT_CHARS} characters (got {chars})"),
        ));
    }
    Ok(())
}

/// A side of the image is a multiple of 16 within the provider's range.
pub(super) fn check_side(
    provider: ProviderKind,
    field: &str,
    v: u32,
) -> Result<(), ValidationError> {
    let (min, max, _) = provider.size_limits();
    if !v.is_multiple_of(16) {
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
    Ok(())
}

/// The image has no more pixels than the provider allows.
pub(super) fn check_pixels(
    provider: ProviderKind,
    width: u32,
    height: u32,
) -> Result<(), ValidationError> {
    let (_, _, max_px) = provider.size_limits();
    let px = u64::from(width) * u64::from(height);
    if px > max_px {
        return Err(ValidationError::new(
            "width",
            format!("{width}x{height} is {px} pixels; {provider} allows at most {max_px}"),
        ));
    }
    Ok(())
}

/// A field only flux-2-flex takes is not given to another model.
pub(super) fn check_flex_only(model: Model, field: &str) -> Result<(), ValidationError> {
    if model != Model::Flux2Flex {
        return Err(ValidationError::new(
            field,
            format!("is only accepted by flux-2-flex, not {model}"),
        ));
    }
    Ok(())
}

/// `steps` is for flux-2-flex only, within the provider's range (1–50; Runflow 2–50).
pub(super) fn check_steps(
    provider: ProviderKind,
    model: Model,
    steps: Option<u32>,
) -> Result<(), ValidationError> {
    let Some(steps) = steps else { return Ok(()) };
    check_flex_only(model, "steps")?;
    let (lo, hi) = provider.steps_range();
    if !(lo..=hi).contains(&steps) {
        // The contract's range needs no provider named; a narrower one does.
        let whose = if (lo, hi) == (1, 50) {
            String::new()
        } else {
            format!(" for {provider}")
        };
        return Err(ValidationError::new(
            "steps",
            format!("must be between {lo} and {hi}{whose} (got {steps})"),
        ));
    }
    Ok(())
}

/// `guidance` is for flux-2-flex only, within the provider's range.
pub(super) fn check_guidance(
    provider: ProviderKind,
    model: Model,
    guidance: Option<f64>,
) -> Result<(), ValidationError> {
    let Some(g) = guidance else { return Ok(()) };
    check_flex_only(model, "guidance")?;
    let (lo, hi) = provider.guidance_range();
    if !(g.is_finite() && g >= lo && g <= hi) {
        return Err(ValidationError::new(
            "guidance",
            format!("must be between {lo} and {hi} for {provider} (got {g})"),
        ));
    }
    Ok(())
}

/// On BFL, `prompt_upsampling` is for flux-2-flex only (Runware takes it for any
/// model, Runflow for none).
pub(super) fn check_prompt_upsampling(
    provider: ProviderKind,
    model: Model,
    prompt_upsampling: Option<bool>,
) -> Result<(), ValidationError> {
    if prompt_upsampling.is_none() || provider.takes_prompt_upsampling(model) {
        return Ok(());
    }
    let rule = match provider {
        ProviderKind::Bfl => format!("is only accepted by flux-2-flex on bfl, not {model}"),
        _ => format!("is not accepted by {provider}"),
    };
    Err(ValidationError::new("prompt_upsampling", rule))
}

/// The provider can return images in the format asked for.
pub(super) fn check_output_format(
    provider: ProviderKind,
    format: Option<OutputFormat>,
) -> Result<(), ValidationError> {
    match format {
        Some(f) if !provider.takes_output_format(f) => Err(ValidationError::new(
            "output_format",
            format!("{} is not available on {provider}", f.as_str()),
        )),
        _ => Ok(()),
    }
}

/// No more reference images than the provider takes.
pub(super) fn check_reference_count(
    provider: ProviderKind,
    refs: &[String],
) -> Result<(), ValidationError> {
    let max_refs = provider.max_reference_images();
    if refs.len() > max_refs {
        return Err(ValidationError::new(
            "reference_images",
            format!("at most {max_refs} for {provider} (got {})", refs.len()),
        ));
    }
    Ok(())
}

/// Each reference image is an http(s) URL or a data URI.
pub(super) fn check_reference_sources(refs: &[String]) -> Result<(), ValidationError> {
    let ok =
        |r: &str| r.starts_with("https://") || r.starts_with("http://") || r.starts_with("data:");
    match refs.iter().position(|r| !ok(r)) {
        Some(i) => Err(ValidationError::new(
            format!("reference_images[{i}]"),
            "must be an http(s) URL or a data URI",
        )),
        None => Ok(()),
    }
}

/// `safety_tolerance` is within the provider's range.
pub(super) fn check_safety_tolerance(
    provider: ProviderKind,
    tolerance: Option<u8>,
) -> Result<(), ValidationError> {
    let (min_t, max_t) = provider.safety_tolerance_range();
    match tolerance {
        Some(t) if t < min_t || t > max_t => Err(ValidationError::new(
            "safety_tolerance",
            format!("must be between {min_t} and {max_t} for {provider} (got {t})"),
        )),
        _ => Ok(()),
    }
}

/// `number_results` (default 1) is from 1 to [`MAX_NUMBER_RESULTS`], and more than 1
/// only where the provider makes several (Runware). Returns the number of images to make.
pub(super) fn check_number_results(
    provider: ProviderKind,
    n: Option<u32>,
) -> Result<u32, ValidationError> {
    let n = n.unwrap_or(1);
    if !(1..=MAX_NUMBER_RESULTS).contains(&n) {
        return Err(ValidationError::new(
            "number_results",
            format!("must be between 1 and {MAX_NUMBER_RESULTS} (got {n})"),
        ));
    }
    if n > provider.max_number_results() {
        return Err(ValidationError::new(
            "number_results",
            format!("more than 1 is only accepted by runware, not {provider} (got {n})"),
        ));
    }
    Ok(n)
}

/// `metadata`: at most [`MAX_METADATA_BYTES`](super::MAX_METADATA_BYTES) serialised.
pub(super) fn check_metadata(
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<(), ValidationError> {
    let Some(m) = metadata else { return Ok(()) };
    let len = serde_json::to_vec(m).map_or(usize::MAX, |v| v.len());
    if len > super::MAX_METADATA_BYTES {
        return Err(ValidationError::new(
            "metadata",
            format!(
                "is {len} bytes serialised; at most {} allowed (keep payloads elsewhere and put a reference here)",
                super::MAX_METADATA_BYTES
            ),
        ));
    }
    Ok(())
}

/// `callback_url`: an absolute `https` (or `http`) URL with a host, no user name or
/// password (they would be stored and logged), at most
/// [`MAX_CALLBACK_URL_LEN`](super::MAX_CALLBACK_URL_LEN) bytes. Whether its host may
/// be called (https only, no private address) is the notifier's to decide, where the
/// deployment's allowances are known.
pub(super) fn check_callback_url(raw: &str) -> Result<(), ValidationError> {
    let err = |rule: String| Err(ValidationError::new("callback_url", rule));
    if raw.len() > super::MAX_CALLBACK_URL_LEN {
        return err(format!(
            "must be at most {} bytes (got {})",
            super::MAX_CALLBACK_URL_LEN,
            raw.len()
        ));
    }
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return err(format!("is not a URL: {e}")),
    };
    if !matches!(url.scheme(), "https" | "http") {
        return err(format!("must be an https URL (got {}:)", url.scheme()));
    }
    if url.host().is_none() {
        return err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return err("must not hold a user name or password".to_owned());
    }
    Ok(())
}
