//! Table-driven tests of the job schema and its validation, and a property test
//! of the message's JSON round trip.

use super::*;
use proptest::prelude::*;
use uuid::Uuid;

mod runflow;

fn base() -> serde_json::Value {
    serde_json::json!({
        "id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10",
        "model": "flux-2-pro",
        "prompt": "studio photo of a red ceramic mug on white, soft shadow",
    })
}

fn with(patch: serde_json::Value) -> serde_json::Value {
    let mut v = base();
    if let (Some(obj), Some(p)) = (v.as_object_mut(), patch.as_object()) {
        for (k, val) in p {
            if val.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

fn check(v: &serde_json::Value, provider: ProviderKind) -> Result<JobSpec, ValidationError> {
    let body = serde_json::to_vec(v).map_err(|e| ValidationError::new("test", e.to_string()))?;
    JobMessage::from_json(&body)?.validate(provider)
}

#[test]
fn the_contract_example_is_valid() {
    let example = serde_json::json!({
      "id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10",
      "batch": "catalog-2026-11-22",
      "provider": "bfl",
      "model": "flux-2-pro",
      "prompt": "studio photo of a red ceramic mug on white, soft shadow",
      "width": 1024,
      "height": 1024,
      "seed": 42,
      "reference_images": ["https://example.com/mug-front.jpg"],
      "output_format": "jpeg",
      "safety_tolerance": 2,
      "metadata": {"sku": "MUG-RED-01"}
    });
    let spec = check(&example, ProviderKind::Runware).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.provider, ProviderKind::Bfl);
    assert_eq!((spec.width, spec.height), (1024, 1024));
    assert_eq!(spec.batch.as_deref(), Some("catalog-2026-11-22"));
    assert_eq!(
        spec.metadata.and_then(|m| m.get("sku").cloned()),
        Some(serde_json::json!("MUG-RED-01"))
    );
}

#[test]
fn defaults_are_resolved() {
    let spec = check(&base(), ProviderKind::Bfl).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((spec.width, spec.height), DEFAULT_SIZE);
    assert_eq!(spec.output_format, OutputFormat::Jpeg);
    assert_eq!(spec.provider, ProviderKind::Bfl);
    let spec = check(
        &with(serde_json::json!({"size": "portrait_16_9"})),
        ProviderKind::Runware,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((spec.width, spec.height), (576, 1024));
    assert_eq!(spec.provider, ProviderKind::Runware);
    assert_eq!(spec.number_results, 1);
    let spec = check(
        &with(serde_json::json!({"number_results": 20})),
        ProviderKind::Runware,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.number_results, 20);
    // One result is what BFL makes anyway, so saying so is accepted there too.
    let spec = check(
        &with(serde_json::json!({"number_results": 1})),
        ProviderKind::Bfl,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.number_results, 1);
}

#[test]
fn every_rule_names_its_field() {
    let long = "x".repeat(MAX_PROMPT_CHARS + 1);
    let table: Vec<(serde_json::Value, ProviderKind, &str, &str)> = vec![
        (
            with(serde_json::json!({"prompt": ""})),
            ProviderKind::Bfl,
            "prompt",
            "empty",
        ),
        (
            with(serde_json::json!({"prompt": long})),
            ProviderKind::Bfl,
            "prompt",
            "32000",
        ),
        (
            with(serde_json::json!({"width": 100, "height": 1024})),
            ProviderKind::Bfl,
            "width",
            "multiple of 16",
        ),
        (
            with(serde_json::json!({"width": 1024, "height": 1000})),
            ProviderKind::Bfl,
            "height",
            "multiple of 16",
        ),
        (
            with(serde_json::json!({"width": 48, "height": 1024})),
            ProviderKind::Bfl,
            "width",
            "between 64",
        ),
        (
            with(serde_json::json!({"width": 2560, "height": 2048})),
            ProviderKind::Bfl,
            "width",
            "at most",
        ),
        (
            with(serde_json::json!({"width": 240, "height": 1024})),
            ProviderKind::Runware,
            "width",
            "between 256 and 2048",
        ),
        (
            with(serde_json::json!({"width": 1024})),
            ProviderKind::Bfl,
            "height",
            "required",
        ),
        (
            with(serde_json::json!({"size": "square", "width": 512})),
            ProviderKind::Bfl,
            "size",
            "not both",
        ),
        (
            with(serde_json::json!({"steps": 20})),
            ProviderKind::Bfl,
            "steps",
            "flux-2-flex",
        ),
        (
            with(serde_json::json!({"guidance": 3.5})),
            ProviderKind::Bfl,
            "guidance",
            "flux-2-flex",
        ),
        (
            with(serde_json::json!({"model": "flux-2-flex", "steps": 51})),
            ProviderKind::Bfl,
            "steps",
            "between 1 and 50",
        ),
        (
            with(serde_json::json!({"model": "flux-2-flex", "guidance": 12.0})),
            ProviderKind::Bfl,
            "guidance",
            "between 1.5 and 10",
        ),
        (
            with(serde_json::json!({"prompt_upsampling": true})),
            ProviderKind::Bfl,
            "prompt_upsampling",
            "flex",
        ),
        (
            with(serde_json::json!({"reference_images": vec!["https://x/a.jpg"; 9]})),
            ProviderKind::Bfl,
            "reference_images",
            "at most 8",
        ),
        (
            with(serde_json::json!({"reference_images": vec!["https://x/a.jpg"; 11]})),
            ProviderKind::Runware,
            "reference_images",
            "at most 10",
        ),
        (
            with(serde_json::json!({"reference_images": ["ftp://x"]})),
            ProviderKind::Bfl,
            "reference_images[0]",
            "URL",
        ),
        (
            with(serde_json::json!({"safety_tolerance": 6})),
            ProviderKind::Bfl,
            "safety_tolerance",
            "between 0 and 5",
        ),
        (
            with(serde_json::json!({"batch": "a b"})),
            ProviderKind::Bfl,
            "batch",
            "letters",
        ),
        (
            with(serde_json::json!({"colour": "red"})),
            ProviderKind::Bfl,
            "colour",
            "unknown field",
        ),
        (
            with(serde_json::json!({"id": null})),
            ProviderKind::Bfl,
            "id",
            "missing field",
        ),
        (
            with(serde_json::json!({"id": "not-a-uuid"})),
            ProviderKind::Bfl,
            "id",
            "UUID",
        ),
        (
            with(serde_json::json!({"model": "flux-9"})),
            ProviderKind::Bfl,
            "model",
            "unknown variant",
        ),
        (
            with(serde_json::json!({"provider": "acme"})),
            ProviderKind::Bfl,
            "provider",
            "unknown variant",
        ),
        (
            with(serde_json::json!({"width": -16, "height": 1024})),
            ProviderKind::Bfl,
            "width",
            "invalid value",
        ),
        (
            with(serde_json::json!({"number_results": 0})),
            ProviderKind::Runware,
            "number_results",
            "between 1 and 20",
        ),
        (
            with(serde_json::json!({"number_results": 21})),
            ProviderKind::Runware,
            "number_results",
            "between 1 and 20 (got 21)",
        ),
        (
            with(serde_json::json!({"number_results": 2})),
            ProviderKind::Bfl,
            "number_results",
            "only accepted by runware",
        ),
    ];
    for (v, provider, field, rule) in table {
        match check(&v, provider) {
            Ok(spec) => panic!("accepted {v}: {spec:?}"),
            Err(e) => {
                assert_eq!(e.field, field, "{v} -> {e}");
                assert!(
                    e.rule.contains(rule),
                    "{v} -> {e} (expected rule mentioning {rule:?})"
                );
            }
        }
    }
}

#[test]
fn not_json_is_a_body_error_and_readable_ids_are_found() {
    let e = JobMessage::from_json(b"this is not json").err();
    assert_eq!(e.map(|e| e.field), Some("body".to_owned()));
    let body = br#"{"id":"0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10","batch":"b1","model":"nope"}"#;
    assert_eq!(
        readable_id(body).map(|u| u.to_string()).as_deref(),
        Some("0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10")
    );
    assert_eq!(readable_batch(body).as_deref(), Some("b1"));
    assert_eq!(readable_id(b"[1,2]"), None);
    assert_eq!(readable_batch(br#"{"batch":"../etc"}"#), None);
}

fn arb_message() -> impl Strategy<Value = JobMessage> {
    (
        any::<u128>(),
        proptest::option::of("[a-z0-9-]{1,20}"),
        prop_oneof![
            Just(Model::Flux2Pro),
            Just(Model::Flux2Flex),
            Just(Model::Flux2Max)
        ],
        "\\PC{1,200}",
        proptest::option::of((4u32..128, 4u32..128)),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec("https://[a-z]{1,10}\\.example/[a-z]{1,8}\\.jpg", 0..4),
        proptest::option::of(0u8..=5),
    )
        .prop_map(
            |(id, batch, model, prompt, size, seed, refs, tol)| JobMessage {
                id: Uuid::from_u128(id),
                batch,
                provider: Some(ProviderKind::Bfl),
                model,
                prompt,
                width: size.map(|s| s.0 * 16),
                height: size.map(|s| s.1 * 16),
                size: None,
                seed,
                steps: None,
                guidance: None,
                prompt_upsampling: None,
                reference_images: refs,
                output_format: Some(OutputFormat::Png),
                safety_tolerance: tol,
                number_results: None,
                metadata: None,
                callback_url: None,
            },
        )
}

proptest! {
    #[test]
    fn messages_round_trip_through_json(msg in arb_message()) {
        let body = serde_json::to_vec(&msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = JobMessage::from_json(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, msg);
    }
}

#[test]
fn metadata_over_16_kib_is_refused_naming_the_field() {
    let small = serde_json::json!({"id": uuid::Uuid::new_v4(), "model": "flux-2-pro", "prompt": "p",
        "metadata": {"sku": "x".repeat(15 * 1024)}});
    let msg = JobMessage::from_json(small.to_string().as_bytes()).unwrap();
    assert!(msg.validate(ProviderKind::Bfl).is_ok());
    let big = serde_json::json!({"id": uuid::Uuid::new_v4(), "model": "flux-2-pro", "prompt": "p",
        "metadata": {"sku": "x".repeat(16 * 1024)}});
    let msg = JobMessage::from_json(big.to_string().as_bytes()).unwrap();
    let e = msg.validate(ProviderKind::Bfl).unwrap_err();
    assert_eq!(e.field, "metadata");
    assert!(e.rule.contains("at most 16384"), "{e}");
}

#[test]
fn a_key_twice_in_the_metadata_is_refused_not_last_wins() {
    let id = uuid::Uuid::new_v4();
    let body = format!(
        r#"{{"id":"{id}","model":"flux-2-pro","prompt":"p","metadata":{{"sku":"A","sku":"B"}}}}"#
    );
    let e = JobMessage::from_json(body.as_bytes()).unwrap_err();
    assert_eq!(e.to_string(), "metadata.sku: appears twice in one object");
    let body = format!(r#"{{"id":"{id}","model":"flux-2-pro","prompt":"p","prompt":"q"}}"#);
    let e = JobMessage::from_json(body.as_bytes()).unwrap_err();
    assert_eq!(e.field, "prompt");
}
