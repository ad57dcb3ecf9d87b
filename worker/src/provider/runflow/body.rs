//! The run creation fluxq sends for a job (providers.md, Runflow): the model id in the
//! path and `{"input", "metadata", "client_ref"}` in the body, the contract's fields
//! mapped onto Runflow's names and ranges.

use fluxq_common::{Failure, JobSpec, Model};
use serde::Serialize;
use serde_json::Value;

/// Runflow's model id for `model`. FLUX.2 [max]'s id there is unconfirmed: no guess
/// is sent (validation refuses such a job before it is published).
pub(super) fn model_id(model: Model) -> Result<&'static str, Failure> {
    match model {
        Model::Flux2Flex => Ok("black-forest-labs/flux-2-flex"),
        Model::Flux2Pro => Ok("black-forest-labs/flux-2-pro"),
        Model::Flux2Max => Err(Failure::permanent(
            "model: flux-2-max is not available on runflow (its model id there is unconfirmed)",
        )),
    }
}

/// A run creation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Create<'a> {
    input: Input<'a>,
    metadata: Metadata,
    /// The job id: a run whose answer was lost is found again by it.
    client_ref: String,
}

/// Where the job came from, on the run (`{"fluxq_job": id}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
struct Metadata {
    fluxq_job: String,
}

/// The model's `input`.
#[derive(Debug, Clone, Serialize, PartialEq)]
struct Input<'a> {
    prompt: &'a str,
    /// A preset's name when the job named one, else `{width, height}`.
    image_size: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    guidance_scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_inference_steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    output_format: &'static str,
    /// `"1"`–`"5"`: Runflow takes the tolerance as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_tolerance: Option<String>,
    /// Reference images. The field is documented for Runflow's edit models, not for
    /// FLUX.2 Flex or [pro] (unconfirmed): sent only when the job has references.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    image_urls: &'a [String],
}

/// The body for `job`. Steps and guidance go only to Flex (as on BFL).
pub(super) fn create(job: &JobSpec) -> Create<'_> {
    let flex = job.model == Model::Flux2Flex;
    let image_size = match job.size {
        Some(preset) => serde_json::to_value(preset).unwrap_or(Value::Null),
        None => serde_json::json!({ "width": job.width, "height": job.height }),
    };
    Create {
        input: Input {
            prompt: &job.prompt,
            image_size,
            guidance_scale: job.guidance.filter(|_| flex),
            num_inference_steps: job.steps.filter(|_| flex),
            seed: job.seed,
            output_format: job.output_format.as_str(),
            safety_tolerance: job.safety_tolerance.map(|t| t.to_string()),
            image_urls: &job.reference_images,
        },
        metadata: Metadata {
            fluxq_job: job.id.to_string(),
        },
        client_ref: job.id.to_string(),
    }
}

/// What Runflow takes beyond what validation checked: a seed it can read as a signed
/// 64-bit integer. A job that breaks it fails at once, without a request.
pub(super) fn check_limits(job: &JobSpec) -> Result<(), Failure> {
    if job.seed.is_some_and(|s| i64::try_from(s).is_err()) {
        return Err(Failure::permanent(
            "not sendable to Runflow: seed must be at most 9223372036854775807",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxq_common::{JobMessage, ProviderKind};
    use serde_json::json;

    fn spec(v: Value) -> JobSpec {
        let msg: JobMessage = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        msg.validate(ProviderKind::Runflow)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_contract_maps_onto_runflow_fields() {
        let id = "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10";
        let flex = spec(json!({"id": id, "model": "flux-2-flex", "prompt": "a mug",
            "size": "landscape_16_9", "guidance": 3.5, "steps": 28, "seed": 7,
            "safety_tolerance": 3, "output_format": "png", "reference_images": ["https://x/1.jpg"]}));
        assert_eq!(
            serde_json::to_value(create(&flex)).unwrap_or_default(),
            json!({"input": {"prompt": "a mug", "image_size": "landscape_16_9", "guidance_scale": 3.5,
                "num_inference_steps": 28, "seed": 7, "output_format": "png", "safety_tolerance": "3",
                "image_urls": ["https://x/1.jpg"]},
                "metadata": {"fluxq_job": id}, "client_ref": id})
        );
        let pro = spec(json!({"id": id, "model": "flux-2-pro", "prompt": "a mug",
            "width": 1920, "height": 1088}));
        assert_eq!(
            serde_json::to_value(create(&pro)).unwrap_or_default(),
            json!({"input": {"prompt": "a mug", "image_size": {"width": 1920, "height": 1088},
                "output_format": "jpeg"}, "metadata": {"fluxq_job": id}, "client_ref": id})
        );
        assert_eq!(
            model_id(Model::Flux2Flex).ok(),
            Some("black-forest-labs/flux-2-flex")
        );
        let max = model_id(Model::Flux2Max).err().map(|f| f.reason);
        assert!(max.is_some_and(|r| r.contains("flux-2-max")));
    }

    #[test]
    fn a_seed_runflow_cannot_read_is_refused_before_sending() {
        let mut job = spec(json!({"id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10",
            "model": "flux-2-pro", "prompt": "p", "seed": 5}));
        assert!(check_limits(&job).is_ok());
        job.seed = Some(u64::MAX);
        let f = check_limits(&job).err().map(|f| f.kind);
        assert_eq!(f, Some(fluxq_common::FailureKind::Permanent));
    }
}
