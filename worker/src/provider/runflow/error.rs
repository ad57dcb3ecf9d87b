//! Runflow's error answers (`{"code", "message", "errors": [...] | null}`) as
//! classified failures: 401/403 and 402 `INSUFFICIENT_CREDIT` → the account; 422 →
//! permanent, naming the fields `errors[]` lists; 429 `RATE_LIMITED` → throttled,
//! for as long as `Retry-After` (or `X-RateLimit-Reset`) says; 5xx, 503
//! `MODEL_UNAVAILABLE` → transient; other 4xx → permanent.

use std::time::Duration;

use fluxq_common::failure::classify_http_status;
use fluxq_common::{Failure, FailureKind};
use serde_json::Value;

/// Longest reason quoted from an error answer.
const MAX_QUOTED: usize = 300;

/// Longest wait a provider's rate-limit header is taken at.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The failure an unsuccessful answer means. `what` names the request (`"Runflow
/// submit"`); `retry_after` is what the answer's headers asked for.
pub fn answer_failure(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Failure {
    let envelope: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        envelope
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (code, message) = (field("code"), field("message"));
    let kind = match code.as_str() {
        "INSUFFICIENT_CREDIT" => FailureKind::AccountBlocked,
        "RATE_LIMITED" => FailureKind::Throttled,
        "MODEL_UNAVAILABLE" => FailureKind::Transient,
        _ => classify_http_status(status),
    };
    let fields = envelope
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(field_error).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut reason = if !fields.is_empty() {
        format!(
            "{what} refused {}: answered HTTP {status} {code}",
            fields.join("; ")
        )
    } else if envelope.is_some() && !(code.is_empty() && message.is_empty()) {
        format!("{what} answered HTTP {status} {code}: {message}")
    } else {
        let quoted = String::from_utf8_lossy(body);
        format!("{what} answered HTTP {status}: {}", quoted.trim())
    };
    if reason.chars().count() > MAX_QUOTED {
        reason = reason.chars().take(MAX_QUOTED).collect();
        reason.push('…');
    }
    let retry_after = retry_after.filter(|_| kind == FailureKind::Throttled);
    Failure::new(kind, reason).with_retry_after(retry_after)
}

/// One `errors[]` entry as `field: message`. The entry's shape is unconfirmed: the
/// field may be `field`, `loc` (a path, as a list or a string), `path`, `param` or
/// `parameter`.
fn field_error(e: &Value) -> Option<String> {
    let name = ["field", "loc", "path", "param", "parameter"]
        .iter()
        .find_map(|k| e.get(*k))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => Some(
                parts
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("."),
            ),
            _ => None,
        })
        .filter(|n| !n.is_empty())?;
    let message = ["message", "msg", "detail"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .unwrap_or("invalid");
    Some(format!("{name} ({message})"))
}

/// How long a 429 asks to wait: `Retry-After` in seconds, else `X-RateLimit-Reset` as
/// seconds from now (a small number) or as a Unix time (`now_unix` is the clock's).
/// Absent, unreadable or past: `None` (the caller's default applies).
pub fn retry_after(headers: &reqwest::header::HeaderMap, now_unix: u64) -> Option<Duration> {
    let seconds = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    let wait = match seconds("retry-after") {
        Some(s) => s,
        None => {
            let reset = seconds("x-ratelimit-reset")?;
            // A Unix time is in the billions; a wait is not.
            if reset > 1e9 {
                reset - now_unix as f64
            } else {
                reset
            }
        }
    };
    (wait > 0.0).then(|| Duration::from_secs_f64(wait.min(MAX_RETRY_AFTER.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Failure {
        answer_failure(
            "Runflow submit",
            status,
            Some(Duration::from_secs(7)),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn answers_classify_as_documented() {
        use FailureKind::*;
        let envelope = |code: &str| json!({"code": code, "message": "m", "errors": null});
        for (status, code, kind) in [
            (401, "UNAUTHORIZED", AccountBlocked),
            (403, "PERMISSION_DENIED", AccountBlocked),
            (402, "INSUFFICIENT_CREDIT", AccountBlocked),
            (400, "INSUFFICIENT_CREDIT", AccountBlocked),
            (429, "RATE_LIMITED", Throttled),
            (500, "INTERNAL_ERROR", Transient),
            (502, "", Transient),
            (503, "MODEL_UNAVAILABLE", Transient),
            (404, "MODEL_NOT_FOUND", Permanent),
            (400, "BAD_REQUEST", Permanent),
            (422, "VALIDATION_ERROR", Permanent),
        ] {
            let f = answer(status, envelope(code));
            assert_eq!(f.kind, kind, "{status} {code}: {}", f.reason);
            assert!(
                f.reason.contains(&format!("answered HTTP {status}")),
                "{}",
                f.reason
            );
            let honoured = (kind == Throttled).then_some(Duration::from_secs(7));
            assert_eq!(f.retry_after, honoured, "{status} {code}");
        }
    }

    #[test]
    fn a_validation_error_names_the_fields() {
        let body = json!({"code": "VALIDATION_ERROR", "message": "see errors[]", "errors": [
            {"field": "input.guidance_scale", "message": "Must be a number from 1.5 to 10."},
            {"loc": ["input", "image_size", "width"], "msg": "too wide"},
        ]});
        let f = answer(422, body);
        assert_eq!(f.kind, FailureKind::Permanent);
        assert_eq!(
            f.reason,
            "Runflow submit refused input.guidance_scale (Must be a number from 1.5 to 10.); \
             input.image_size.width (too wide): answered HTTP 422 VALIDATION_ERROR"
        );
        let f = answer_failure("Runflow submit", 502, None, b"<html>bad gateway</html>");
        assert_eq!(
            f.reason,
            "Runflow submit answered HTTP 502: <html>bad gateway</html>"
        );
        let long = answer_failure("x", 500, None, "y".repeat(5000).as_bytes());
        assert!(long.reason.chars().count() <= MAX_QUOTED + 1);
    }

    #[test]
    fn rate_limit_headers_are_honoured_when_present() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, 1_700_000_000), None);
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000005"));
        assert_eq!(retry_after(&h, 1_700_000_000), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(&h, 1_700_000_009), None);
        h.insert("x-ratelimit-reset", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, 1_700_000_000), Some(Duration::from_secs(3)));
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h, 1_700_000_000), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&h, 0), Some(MAX_RETRY_AFTER));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, 1_700_000_000), Some(Duration::from_secs(3)));
    }
}
