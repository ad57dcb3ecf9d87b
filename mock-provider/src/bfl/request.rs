//! Validation of a BFL submit body, the way BFL's API (FastAPI/pydantic) does it:
//! unknown fields are refused, and every problem is reported at once.

use fluxq_common::{Model, ProviderKind, pricing};
use serde_json::Value;

use super::error::FieldError;
use super::fields::Checker;
use crate::sim::{Api, Extras, Order};

/// Most pixels an output may have: 4 megapixels of 2^20 (unconfirmed limit).
pub const MAX_PIXELS: i64 = 4 << 20;

/// Default width and height.
pub(super) const DEFAULT_SIDE: i64 = 1024;

/// The reference image fields (URL or base64), up to eight.
const INPUT_IMAGES: [&str; 8] = [
    "input_image",
    "input_image_2",
    "input_image_3",
    "input_image_4",
    "input_image_5",
    "input_image_6",
    "input_image_7",
    "input_image_8",
];

/// The other fields every FLUX.2 model takes.
const COMMON_FIELDS: &[&str] = &[
    "prompt",
    "seed",
    "width",
    "height",
    "safety_tolerance",
    "output_format",
    "webhook_url",
    "webhook_secret",
];

/// Fields only flex takes.
const FLEX_FIELDS: &[&str] = &["prompt_upsampling", "guidance", "steps"];

/// A valid submit.
#[derive(Debug, Clone)]
pub(crate) struct Submit {
    pub order: Order,
    pub webhook_url: Option<String>,
}

/// Parses and validates a submit body for `model`.
pub(crate) fn validate(model: Model, body: &[u8]) -> Result<Submit, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        vec![FieldError::body(
            &[],
            format!("JSON decode error: {e}"),
            "json_invalid",
        )]
    })?;
    let Value::Object(fields) = value else {
        let msg = "Input should be a valid dictionary or object to extract fields from";
        return Err(vec![FieldError::body(
            &[],
            msg.to_owned(),
            "model_attributes_type",
        )]);
    };
    let mut c = Checker {
        fields: &fields,
        errors: Vec::new(),
    };
    let flex = model == Model::Flux2Flex;
    for name in fields.keys() {
        let name = name.as_str();
        let known = COMMON_FIELDS.contains(&name)
            || INPUT_IMAGES.contains(&name)
            || flex && FLEX_FIELDS.contains(&name);
        if !known {
            c.error(
                name,
                "Extra inputs are not permitted".to_owned(),
                "extra_forbidden",
            );
        }
    }
    let prompt = c.prompt();
    let seed = c.int("seed", i64::MIN, i64::MAX);
    let width = c.side("width");
    let height = c.side("height");
    c.int("safety_tolerance", 0, 5);
    let format = c.format();
    let references = INPUT_IMAGES.iter().filter_map(|f| c.string(f)).count();
    let webhook_url = c.string("webhook_url").map(str::to_owned);
    c.string("webhook_secret");
    if flex {
        c.int("steps", 1, 50);
        c.number("guidance", 1.5, 10.0);
        c.boolean("prompt_upsampling");
    }
    let (Some(prompt), Some(width), Some(height)) = (prompt, width, height) else {
        return Err(c.errors);
    };
    if width * height > MAX_PIXELS {
        let msg = format!("Value error, width × height must be at most {MAX_PIXELS} pixels (4 MP)");
        c.errors.push(FieldError::body(&[], msg, "value_error"));
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    // Both sides are within 64..=MAX_PIXELS / 64 here, so they fit in u32.
    let side = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let (width, height) = (side(width), side(height));
    let order = Order {
        api: Api::Bfl,
        model,
        prompt,
        seed,
        width,
        height,
        references,
        format,
        id: None,
        results: 1,
        include_cost: true,
        unit_cost: pricing::estimate(ProviderKind::Bfl, model, width, height, references),
        extras: Extras::default(),
    };
    Ok(Submit { order, webhook_url })
}
