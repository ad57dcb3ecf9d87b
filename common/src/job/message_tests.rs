//! Tests of `callback_url` and of messages read back from their own serialisation.

use uuid::Uuid;

use super::{JobMessage, ProviderKind};

#[test]
fn callback_urls_are_checked_naming_the_field() {
    let with = |url: &str| {
        let body = serde_json::json!({"id": Uuid::nil(), "model": "flux-2-pro", "prompt": "p",
            "callback_url": url});
        JobMessage::from_json(body.to_string().as_bytes())
            .and_then(|m| m.validate(ProviderKind::Bfl))
    };
    let ok = with("https://hooks.example.com/fluxq?order=4711").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ok.callback_url.as_deref(),
        Some("https://hooks.example.com/fluxq?order=4711")
    );
    for (bad, rule) in [
        ("ftp://hooks.example.com/x", "must be an https URL"),
        ("hooks.example.com/x", "is not a URL"),
        (
            "https://user:secret@hooks.example.com/x",
            "user name or password",
        ),
        ("data:text/plain,hi", "must be an https URL"),
    ] {
        let e = with(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} should be refused"));
        assert_eq!(e.field, "callback_url", "{bad}");
        assert!(e.rule.contains(rule), "{bad}: {}", e.rule);
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    assert!(
        with(&long)
            .err()
            .is_some_and(|e| e.rule.contains("at most 2048 bytes"))
    );
}

/// A message read back from its own serialisation (as a worker reads what the
/// producer published) is the same job: numbers in `metadata` or `guidance` that
/// are not exact doubles must not change on the way (found by fuzzing).
#[test]
fn a_message_reparsed_from_its_serialisation_keeps_its_fingerprint() {
    let big = format!("-{}1", "9".repeat(58));
    for (field, value) in [
        (
            "metadata",
            format!(r#"{{"a": [{big}, 2.5, 0.1, 1e-320, 123456789012345678901234567890]}}"#),
        ),
        ("guidance", "3.4999999999999999999999".to_owned()),
    ] {
        let body = format!(
            r#"{{"id": "{}", "model": "flux-2-flex", "prompt": "p", "{field}": {value}}}"#,
            Uuid::nil()
        );
        let first = JobMessage::from_json(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_json::to_vec(&first).unwrap_or_else(|e| panic!("{e}"));
        let again = JobMessage::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, first, "{field}");
        assert_eq!(again.fingerprint(), first.fingerprint(), "{field}");
    }
}
