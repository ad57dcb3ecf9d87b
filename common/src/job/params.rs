//! What a job asked the provider for, as its record keeps it (`params`): the prompt and
//! the generation parameters, so a reader (the dashboard, `GET /v1/jobs/{id}`) can
//! show them without the message, which is gone once acknowledged.

use serde_json::{Map, Value, json};

use super::JobSpec;

/// Reference images longer than this (inline `data:` images) are kept as their size.
const MAX_KEPT_REFERENCE: usize = 512;

impl JobSpec {
    /// The prompt and parameters as a JSON object: the fields the job set or that
    /// were resolved for it, reference images as their URLs (an inline image as its
    /// length). Bounded by the message's own limits.
    pub fn params_json(&self) -> String {
        let mut p = Map::new();
        p.insert("prompt".into(), json!(self.prompt));
        p.insert("width".into(), json!(self.width));
        p.insert("height".into(), json!(self.height));
        let optional = [
            ("size", self.size.map(|s| json!(s))),
            ("seed", self.seed.map(|v| json!(v))),
            ("steps", self.steps.map(|v| json!(v))),
            ("guidance", self.guidance.map(|v| json!(v))),
            (
                "prompt_upsampling",
                self.prompt_upsampling.map(|v| json!(v)),
            ),
            ("safety_tolerance", self.safety_tolerance.map(|v| json!(v))),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                p.insert(k.into(), v);
            }
        }
        p.insert("output_format".into(), json!(self.output_format));
        p.insert("number_results".into(), json!(self.number_results));
        if !self.reference_images.is_empty() {
            let refs = self.reference_images.iter().map(|r| {
                if r.len() <= MAX_KEPT_REFERENCE {
                    json!(r)
                } else {
                    json!(format!("(inline image, {} bytes)", r.len()))
                }
            });
            p.insert("reference_images".into(), Value::Array(refs.collect()));
        }
        Value::Object(p).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_hold_the_prompt_and_what_was_set_and_inline_images_by_size() {
        let big = format!("data:image/png;base64,{}", "A".repeat(2000));
        let body = json!({
            "id": uuid::Uuid::nil(), "model": "flux-2-pro", "prompt": "a red chair", "width": 512, "height": 768,
            "seed": 7, "reference_images": ["https://example.com/a.png", big],
        });
        let spec = crate::JobMessage::from_json(body.to_string().as_bytes())
            .and_then(|m| m.validate(crate::ProviderKind::Bfl))
            .unwrap_or_else(|e| panic!("{e}"));
        let p: Value = serde_json::from_str(&spec.params_json()).unwrap_or_default();
        assert_eq!(p["prompt"], "a red chair");
        assert_eq!(
            (p["width"].clone(), p["height"].clone()),
            (json!(512), json!(768))
        );
        assert_eq!(p["seed"], 7);
        assert!(p.get("steps").is_none(), "{p}");
        assert_eq!(p["reference_images"][0], "https://example.com/a.png");
        assert_eq!(p["reference_images"][1], "(inline image, 2022 bytes)");
    }
}
