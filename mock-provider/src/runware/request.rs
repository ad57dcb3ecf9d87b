//! Validation of an `imageInference` task the way Runware documents its fields
//! (providers.md): the first problem found is reported, with its parameter. Unknown
//! fields are refused too, so a client typo shows up in tests (stricter than Runware
//! may be). Only `outputType: "URL"` is served.

use fluxq_common::job::MAX_PROMPT_CHARS;
use fluxq_common::{Model, OutputFormat, ProviderKind, pricing};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::envelope::TaskError;
use crate::sim::{Api, Extras, Order};

const FIELDS: &[&str] = &[
    "taskType",
    "taskUUID",
    "model",
    "positivePrompt",
    "width",
    "height",
    "seed",
    "steps",
    "CFGScale",
    "numberResults",
    "outputType",
    "outputFormat",
    "outputQuality",
    "deliveryMethod",
    "webhookURL",
    "uploadEndpoint",
    "ttl",
    "includeCost",
    "safety",
    "inputs",
    "providerSettings",
];

/// A valid `imageInference` task.
#[derive(Debug, Clone)]
pub(super) struct Inference {
    pub uuid: Uuid,
    pub order: Order,
    /// `deliveryMethod: "sync"` (the default): answer with the results.
    pub sync: bool,
}

type Checked<T> = Result<T, TaskError>;

fn get<'a>(t: &'a Map<String, Value>, f: &str) -> Option<&'a Value> {
    t.get(f).filter(|v| !v.is_null())
}

fn invalid(field: &str, message: String) -> TaskError {
    // Runware's codes read `invalid<Parameter>`; only the common ones are spelled out.
    let code = match field {
        "taskUUID" => "invalidTaskUUID",
        "model" => "invalidModel",
        "positivePrompt" => "invalidPositivePrompt",
        "width" => "invalidWidth",
        "height" => "invalidHeight",
        "steps" => "invalidSteps",
        "CFGScale" => "invalidCFGScale",
        "numberResults" => "invalidNumberResults",
        "outputFormat" => "invalidOutputFormat",
        "outputType" => "invalidOutputType",
        "inputs.referenceImages" => "invalidReferenceImages",
        _ => "invalidParameter",
    };
    TaskError::invalid(code, field, message)
}

fn int(t: &Map<String, Value>, f: &str, min: i64, max: i64) -> Checked<Option<i64>> {
    let Some(v) = get(t, f) else { return Ok(None) };
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(
            f,
            format!("Invalid value for '{f}': must be an integer from {min} to {max}."),
        )),
    }
}

fn one_of<'a>(t: &'a Map<String, Value>, f: &str, allowed: &[&str]) -> Checked<Option<&'a str>> {
    let Some(v) = get(t, f) else { return Ok(None) };
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(Some(s)),
        _ => Err(invalid(
            f,
            format!(
                "Invalid value for '{f}': must be one of {}.",
                allowed.join(", ")
            ),
        )),
    }
}

/// Validates one task object.
pub(super) fn validate(t: &Map<String, Value>) -> Checked<Inference> {
    if let Some(extra) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(extra, format!("Unsupported parameter '{extra}'.")));
    }
    let uuid = get(t, "taskUUID")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .filter(|u| u.get_version_num() == 4)
        .ok_or_else(|| {
            invalid(
                "taskUUID",
                "Invalid value for 'taskUUID': must be a UUID v4.".into(),
            )
        })?;
    let model = get(t, "model")
        .and_then(Value::as_str)
        .and_then(Model::from_runware_id)
        .ok_or_else(|| {
            invalid(
                "model",
                "Invalid value for 'model': unknown model AIR id.".into(),
            )
        })?;
    let prompt = match get(t, "positivePrompt").and_then(Value::as_str) {
        Some(p) if !p.trim().is_empty() && p.chars().count() <= MAX_PROMPT_CHARS => p.to_owned(),
        _ => {
            return Err(invalid(
                "positivePrompt",
                format!(
                    "Invalid value for 'positivePrompt': must be 1 to {MAX_PROMPT_CHARS} characters."
                ),
            ));
        }
    };
    let width = int(t, "width", 256, 2048)?;
    let height = int(t, "height", 256, 2048)?;
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) => (w, h),
        (None, None) => (1024, 1024),
        (Some(_), None) => {
            return Err(invalid(
                "height",
                "'width' and 'height' must be used together.".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "width",
                "'width' and 'height' must be used together.".into(),
            ));
        }
    };
    for (f, v) in [("width", width), ("height", height)] {
        if v % 16 != 0 {
            return Err(invalid(
                f,
                format!("Invalid value for '{f}': must be a multiple of 16."),
            ));
        }
    }
    let seed = int(t, "seed", 0, i64::MAX)?;
    let flex = model == Model::Flux2Flex;
    for f in ["steps", "CFGScale"] {
        if !flex && get(t, f).is_some() {
            return Err(invalid(
                f,
                format!("Parameter '{f}' is not supported by this model."),
            ));
        }
    }
    int(t, "steps", 1, 50)?;
    if let Some(g) = get(t, "CFGScale")
        && !g.as_f64().is_some_and(|g| (1.0..=20.0).contains(&g))
    {
        return Err(invalid(
            "CFGScale",
            "Invalid value for 'CFGScale': must be from 1 to 20.".into(),
        ));
    }
    let results = int(t, "numberResults", 1, 20)?.unwrap_or(1);
    one_of(t, "outputType", &["URL"])?;
    let format = match one_of(t, "outputFormat", &["JPG", "PNG", "WEBP"])? {
        Some("PNG") => OutputFormat::Png,
        Some("WEBP") => OutputFormat::Webp,
        _ => OutputFormat::Jpeg,
    };
    int(t, "outputQuality", 20, 99)?;
    let sync = one_of(t, "deliveryMethod", &["sync", "async"])? != Some("async");
    int(t, "ttl", 60, i64::MAX)?;
    let include_cost = match get(t, "includeCost") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| {
            invalid(
                "includeCost",
                "Invalid value for 'includeCost': must be a boolean.".into(),
            )
        })?,
    };
    let references = references(t)?;
    provider_settings(t)?;
    // Both sides are within 256..=2048 here.
    let side = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let (width, height) = (side(width), side(height));
    let order = Order {
        api: Api::Runware,
        model,
        prompt,
        seed,
        width,
        height,
        references,
        format,
        id: Some(uuid),
        results: u32::try_from(results).unwrap_or(1),
        include_cost,
        unit_cost: pricing::estimate(ProviderKind::Runware, model, width, height, references),
        extras: Extras::default(),
    };
    Ok(Inference { uuid, order, sync })
}

/// `inputs.referenceImages`: up to 10 non-empty strings (URLs, data URIs or UUIDs).
fn references(t: &Map<String, Value>) -> Checked<usize> {
    let field = "inputs.referenceImages";
    let Some(inputs) = get(t, "inputs") else {
        return Ok(0);
    };
    let refs = inputs.get("referenceImages").filter(|v| !v.is_null());
    let Some(refs) = refs else { return Ok(0) };
    match refs.as_array() {
        Some(a) if a.len() <= 10 && a.iter().all(|r| r.as_str().is_some_and(|s| !s.is_empty())) => {
            Ok(a.len())
        }
        _ => Err(invalid(
            field,
            format!("Invalid value for '{field}': up to 10 image URLs, data URIs or UUIDs."),
        )),
    }
}

/// `providerSettings.bfl`: `promptUpsampling` (bool) and `safetyTolerance` (0–6).
fn provider_settings(t: &Map<String, Value>) -> Checked<()> {
    let Some(bfl) = get(t, "providerSettings").and_then(|p| p.get("bfl")) else {
        return Ok(());
    };
    if bfl.get("promptUpsampling").is_some_and(|v| !v.is_boolean()) {
        return Err(invalid(
            "providerSettings.bfl.promptUpsampling",
            "Invalid value: must be a boolean.".into(),
        ));
    }
    if let Some(v) = bfl.get("safetyTolerance")
        && !v.as_i64().is_some_and(|n| (0..=6).contains(&n))
    {
        return Err(invalid(
            "providerSettings.bfl.safetyTolerance",
            "Invalid value: must be an integer from 0 to 6.".into(),
        ));
    }
    Ok(())
}
