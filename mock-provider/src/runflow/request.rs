//! Validation of a Runflow run creation (`{"input", "metadata", "callback_url",
//! "client_ref"}`) for FLUX.2 Flex and [pro], the fields providers.md lists, every
//! problem reported at once in `errors[]`. Unknown fields are refused, so a client
//! typo shows up in tests (stricter than Runflow may be). Limits providers.md does
//! not give (smallest side 64, at most 10 `image_urls`) are the mock's choice.

use fluxq_common::job::MAX_PROMPT_CHARS;
use fluxq_common::{Model, OutputFormat};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use super::fields::Fields;

const TOP: &[&str] = &["input", "metadata", "callback_url", "client_ref"];
const INPUT: &[&str] = &[
    "prompt",
    "image_size",
    "output_format",
    "safety_tolerance",
    "enable_safety_checker",
    "seed",
    "sync_mode",
    "image_urls",
];
/// Only Flex takes these (as on BFL; unconfirmed for Runflow's [pro]).
const FLEX_INPUT: &[&str] = &["guidance_scale", "num_inference_steps"];

/// `image_size` presets: name, width, height.
pub(super) const PRESETS: [(&str, u32, u32); 6] = [
    ("square_hd", 1024, 1024),
    ("square", 512, 512),
    ("portrait_4_3", 768, 1024),
    ("portrait_16_9", 576, 1024),
    ("landscape_4_3", 1024, 768),
    ("landscape_16_9", 1024, 576),
];
const DEFAULT_PRESET: (u32, u32) = (1024, 768);
const SIDES: (i64, i64) = (64, 4096);
const MAX_REFERENCES: usize = 10;
const MAX_CLIENT_REF: usize = 255;

/// A valid run creation.
#[derive(Debug, Clone)]
pub(super) struct Create {
    pub prompt: String,
    pub seed: Option<i64>,
    pub width: u32,
    pub height: u32,
    pub references: usize,
    pub format: OutputFormat,
    pub client_ref: Option<String>,
}

/// Validates a parsed body for `model`.
pub(super) fn validate(model: Model, body: &Value) -> Result<Create, ApiError> {
    let Some(map) = body.as_object() else {
        let error = FieldError::new("body", "Must be a JSON object.");
        return Err(ApiError::Invalid(vec![error]));
    };
    let top = Fields { map, path: "" };
    let mut errors = Vec::new();
    top.only(TOP, &mut errors);
    top.object("metadata", &mut errors);
    top.text("callback_url", 2048, &mut errors);
    let client_ref = top.text("client_ref", MAX_CLIENT_REF, &mut errors);
    let input = match top.get("input") {
        None => {
            errors.push(FieldError::new("input", "Field required."));
            None
        }
        Some(_) => top.object("input", &mut errors),
    };
    let read = input.and_then(|map| self::input(model, map, &mut errors));
    match read {
        Some(mut create) if errors.is_empty() => {
            create.client_ref = client_ref.map(str::to_owned);
            Ok(create)
        }
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// The `input` object's fields; `None` when the prompt or the size is unusable.
fn input(model: Model, map: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Create> {
    let f = Fields { map, path: "input" };
    let flex = model == Model::Flux2Flex;
    let known: Vec<&str> = INPUT
        .iter()
        .chain(if flex { FLEX_INPUT } else { &[] })
        .copied()
        .collect();
    f.only(&known, errors);
    let prompt = f.text("prompt", MAX_PROMPT_CHARS, errors);
    if f.get("prompt").is_none() {
        errors.push(FieldError::new("input.prompt", "Field required."));
    }
    let size = image_size(&f, errors);
    if flex {
        f.number("guidance_scale", 1.5, 10.0, errors);
        f.int("num_inference_steps", 2, 50, errors);
    }
    let format = match f.one_of("output_format", &["jpeg", "png"], errors) {
        Some("png") => OutputFormat::Png,
        _ => OutputFormat::Jpeg,
    };
    f.one_of("safety_tolerance", &["1", "2", "3", "4", "5"], errors);
    f.boolean("enable_safety_checker", errors);
    f.boolean("sync_mode", errors);
    let seed = f.int("seed", 0, i64::MAX, errors);
    let references = match f.get("image_urls") {
        None => 0,
        Some(Value::Array(urls))
            if urls.len() <= MAX_REFERENCES
                && urls
                    .iter()
                    .all(|u| u.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            urls.len()
        }
        Some(_) => {
            let msg = format!("Must be an array of 0 to {MAX_REFERENCES} image URLs or data URIs.");
            errors.push(FieldError::new("input.image_urls", msg));
            0
        }
    };
    let ((width, height), prompt) = (size?, prompt?);
    Some(Create {
        prompt: prompt.to_owned(),
        seed,
        width,
        height,
        references,
        format,
        client_ref: None,
    })
}

/// `image_size`: a preset name or `{width, height}` (default `landscape_4_3`).
fn image_size(f: &Fields<'_>, errors: &mut Vec<FieldError>) -> Option<(u32, u32)> {
    let Some(value) = f.get("image_size") else {
        return Some(DEFAULT_PRESET);
    };
    if let Some(name) = value.as_str() {
        let preset = PRESETS.iter().find(|(n, ..)| *n == name);
        if preset.is_none() {
            let names: Vec<&str> = PRESETS.iter().map(|(n, ..)| *n).collect();
            let msg = format!("Must be one of {} or {{width, height}}.", names.join(", "));
            errors.push(FieldError::new("input.image_size", msg));
        }
        return preset.map(|(_, w, h)| (*w, *h));
    }
    let Some(map) = value.as_object() else {
        let msg = "Must be a preset name or {width, height}.";
        errors.push(FieldError::new("input.image_size", msg));
        return None;
    };
    let size = Fields {
        map,
        path: "input.image_size",
    };
    size.only(&["width", "height"], errors);
    let mut side = |name: &str| {
        if size.get(name).is_none() {
            errors.push(FieldError::new(size.at(name), "Field required."));
        }
        size.int(name, SIDES.0, SIDES.1, errors)
            .and_then(|v| u32::try_from(v).ok())
    };
    let (width, height) = (side("width"), side("height"));
    width.zip(height)
}
