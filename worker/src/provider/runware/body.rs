//! The `imageInference` task fluxq sends for a job: the contract's fields mapped onto
//! Runware's (providers.md), and Runware's own limits checked before anything is sent.

use fluxq_common::job::MAX_PROMPT_CHARS;
use fluxq_common::{Failure, JobSpec, Model, OutputFormat, ProviderKind};
use serde::Serialize;
use uuid::Uuid;

/// One `imageInference` task: async delivery, URL output, cost included.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct Inference<'a> {
    task_type: &'static str,
    #[serde(rename = "taskUUID")]
    task_uuid: Uuid,
    model: &'static str,
    positive_prompt: &'a str,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<u32>,
    #[serde(rename = "CFGScale", skip_serializing_if = "Option::is_none")]
    cfg_scale: Option<f64>,
    number_results: u32,
    output_type: &'static str,
    output_format: &'static str,
    delivery_method: &'static str,
    include_cost: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Inputs<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_settings: Option<ProviderSettings>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Inputs<'a> {
    reference_images: &'a [String],
}

#[derive(Debug, Clone, Serialize, PartialEq)]
struct ProviderSettings {
    bfl: BflSettings,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct BflSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_upsampling: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_tolerance: Option<u8>,
}

/// Runware's name of an output format.
fn format_name(f: OutputFormat) -> &'static str {
    match f {
        OutputFormat::Jpeg => "JPG",
        OutputFormat::Png => "PNG",
        OutputFormat::Webp => "WEBP",
    }
}

/// The task for `job` under `task_uuid`.
pub(super) fn inference(job: &JobSpec, task_uuid: Uuid) -> Inference<'_> {
    let flex = job.model == Model::Flux2Flex;
    let settings = BflSettings {
        prompt_upsampling: job.prompt_upsampling,
        safety_tolerance: job.safety_tolerance,
    };
    let has_settings = settings.prompt_upsampling.is_some() || settings.safety_tolerance.is_some();
    Inference {
        task_type: "imageInference",
        task_uuid,
        model: job.model.runware_id(),
        positive_prompt: &job.prompt,
        width: job.width,
        height: job.height,
        seed: job.seed,
        steps: job.steps.filter(|_| flex),
        cfg_scale: job.guidance.filter(|_| flex),
        number_results: job.number_results.max(1),
        output_type: "URL",
        output_format: format_name(job.output_format),
        delivery_method: "async",
        include_cost: true,
        inputs: (!job.reference_images.is_empty()).then_some(Inputs {
            reference_images: &job.reference_images,
        }),
        provider_settings: has_settings.then_some(ProviderSettings { bfl: settings }),
    }
}

/// Runware's own limits (providers.md), checked before anything is sent: a job that
/// breaks one fails at once, permanently, without a request.
pub(super) fn check_limits(job: &JobSpec) -> Result<(), Failure> {
    let bad = |what: String| {
        Err(Failure::permanent(format!(
            "not sendable to Runware: {what}"
        )))
    };
    let (min, max, _) = ProviderKind::Runware.size_limits();
    for (name, v) in [("width", job.width), ("height", job.height)] {
        if v % 16 != 0 || !(min..=max).contains(&v) {
            return bad(format!(
                "{name} must be {min}-{max} in steps of 16 (got {v})"
            ));
        }
    }
    let chars = job.prompt.chars().count();
    if chars == 0 || chars > MAX_PROMPT_CHARS {
        return bad(format!(
            "prompt must be 1-{MAX_PROMPT_CHARS} characters (got {chars})"
        ));
    }
    if !(1..=fluxq_common::job::MAX_NUMBER_RESULTS).contains(&job.number_results) {
        return bad(format!(
            "number_results must be 1-20 (got {})",
            job.number_results
        ));
    }
    let max_refs = ProviderKind::Runware.max_reference_images();
    if job.reference_images.len() > max_refs {
        return bad(format!(
            "at most {max_refs} reference images (got {})",
            job.reference_images.len()
        ));
    }
    if job.seed.is_some_and(|s| i64::try_from(s).is_err()) {
        return bad("seed must be at most 9223372036854775807".to_owned());
    }
    if let Some(s) = job.steps.filter(|s| !(1..=50).contains(s)) {
        return bad(format!("steps must be 1-50 (got {s})"));
    }
    let (lo, hi) = ProviderKind::Runware.guidance_range();
    if let Some(g) = job
        .guidance
        .filter(|g| !(g.is_finite() && *g >= lo && *g <= hi))
    {
        return bad(format!("CFGScale must be {lo}-{hi} (got {g})"));
    }
    if let Some(t) = job
        .safety_tolerance
        .filter(|t| *t > ProviderKind::Runware.max_safety_tolerance())
    {
        return bad(format!("safetyTolerance must be 0-6 (got {t})"));
    }
    Ok(())
}
