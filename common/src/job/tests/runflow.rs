//! The rules of jobs that run at Runflow: its own parameter ranges and models.

use super::*;

#[test]
fn runflow_takes_its_own_ranges_and_names_what_it_cannot_run() {
    let runflow = |patch: serde_json::Value| {
        let mut v = with(patch);
        v["provider"] = serde_json::json!("runflow");
        check(&v, ProviderKind::Bfl)
    };
    let spec = runflow(serde_json::json!({"model": "flux-2-flex", "size": "square_hd",
        "guidance": 3.5, "steps": 28, "safety_tolerance": 5, "reference_images": vec!["https://x/a.jpg"; 10]}))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.provider, ProviderKind::Runflow);
    assert_eq!(spec.size, Some(SizePreset::SquareHd));
    assert_eq!((spec.width, spec.height), (1024, 1024));
    let spec = runflow(serde_json::json!({"width": 1920, "height": 1088}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.size, None);
    let table = [
        (
            serde_json::json!({"model": "flux-2-max"}),
            "model",
            "flux-2-max is not available on runflow",
        ),
        (
            serde_json::json!({"model": "flux-2-flex", "steps": 1}),
            "steps",
            "between 2 and 50 for runflow",
        ),
        (
            serde_json::json!({"model": "flux-2-flex", "guidance": 12.0}),
            "guidance",
            "between 1.5 and 10",
        ),
        (
            serde_json::json!({"safety_tolerance": 0}),
            "safety_tolerance",
            "between 1 and 5 for runflow",
        ),
        (
            serde_json::json!({"safety_tolerance": 6}),
            "safety_tolerance",
            "between 1 and 5",
        ),
        (
            serde_json::json!({"number_results": 2}),
            "number_results",
            "not runflow",
        ),
        (
            serde_json::json!({"model": "flux-2-flex", "prompt_upsampling": true}),
            "prompt_upsampling",
            "not accepted by runflow",
        ),
        (
            serde_json::json!({"output_format": "webp"}),
            "output_format",
            "webp is not available on runflow",
        ),
        (
            serde_json::json!({"width": 4112, "height": 64}),
            "width",
            "between 64 and 4096",
        ),
        (
            serde_json::json!({"width": 4096, "height": 2048}),
            "width",
            "at most",
        ),
        (
            serde_json::json!({"reference_images": vec!["https://x/a.jpg"; 11]}),
            "reference_images",
            "at most 10",
        ),
    ];
    for (patch, field, rule) in table {
        match runflow(patch.clone()) {
            Ok(spec) => panic!("accepted {patch}: {spec:?}"),
            Err(e) => {
                assert_eq!(e.field, field, "{patch} -> {e}");
                assert!(e.rule.contains(rule), "{patch} -> {e} (expected {rule:?})");
            }
        }
    }
    // The same jobs elsewhere keep their providers' rules.
    assert!(
        check(
            &with(serde_json::json!({"model": "flux-2-max"})),
            ProviderKind::Bfl
        )
        .is_ok()
    );
    assert!(
        check(
            &with(serde_json::json!({"safety_tolerance": 0})),
            ProviderKind::Bfl
        )
        .is_ok()
    );
    assert_eq!(ProviderKind::parse("runflow"), Some(ProviderKind::Runflow));
}
