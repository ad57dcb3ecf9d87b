//! Runware's answers: the `{"data": [...], "errors": [...]}` envelope, and what an
//! error entry means for the job (auth → account, validation → permanent,
//! `timeoutProvider` and 5xx → transient, unknown codes → transient with a cap).

use fluxq_common::{Charge, CostUnit, Failure, FailureKind, MicroUsd};
use serde::Deserialize;
use uuid::Uuid;

/// Attempts a job may make while Runware answers with a code fluxq does not know.
pub const UNKNOWN_CODE_ATTEMPTS: u32 = 3;

/// Longest provider message quoted in a failure reason.
const MAX_QUOTED: usize = 300;

/// A whole answer. Either part may be missing.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub data: Vec<Item>,
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

/// A `data` item: an acknowledgement, or a generation's status and outputs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Item {
    #[serde(rename = "taskUUID", default)]
    pub task_uuid: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(rename = "imageURL", default)]
    pub image_url: Option<String>,
    /// USD, as any JSON: checked before it is recorded (see [`Charge`]).
    #[serde(default)]
    pub cost: Option<serde_json::Value>,
}

/// An `errors` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub parameter: Option<String>,
    #[serde(rename = "taskUUID", default)]
    pub task_uuid: Option<String>,
}

impl Envelope {
    /// Parses a body; `None` if it is not the envelope at all.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// The error about task `id`, else the first one naming no task.
    pub fn error_for(&self, id: &Uuid) -> Option<&ErrorEntry> {
        let ours = |e: &&ErrorEntry| e.task_uuid.as_deref().is_some_and(|u| is(u, id));
        let anonymous = |e: &&ErrorEntry| e.task_uuid.is_none();
        self.errors
            .iter()
            .find(ours)
            .or_else(|| self.errors.iter().find(anonymous))
    }

    /// The data items about task `id`.
    pub fn items_for<'a>(&'a self, id: &'a Uuid) -> impl Iterator<Item = &'a Item> + 'a {
        self.data
            .iter()
            .filter(move |i| i.task_uuid.as_deref().is_some_and(|u| is(u, id)))
    }
}

fn is(text: &str, id: &Uuid) -> bool {
    Uuid::parse_str(text).is_ok_and(|u| u == *id)
}

impl ErrorEntry {
    pub fn is_conflict(&self) -> bool {
        self.code == "conflictTaskUUID"
    }

    /// What this error means, given the HTTP status it came with. `what` names the
    /// request (`"Runware submit"`). An unknown code is logged with the task UUID.
    pub fn failure(&self, what: &str, http: u16, task: &Uuid) -> Failure {
        let kind = classify(&self.code, self.parameter.is_some(), http);
        let mut reason = format!("{what} answered {}: {}", self.code, self.message);
        if let Some(p) = &self.parameter {
            reason.push_str(&format!(" (parameter {p})"));
        }
        let reason: String = reason.chars().take(MAX_QUOTED).collect();
        match kind {
            Some(kind) => Failure::new(kind, reason),
            None => {
                tracing::warn!(task_uuid = %task, code = %self.code, http, "Runware answered an unknown error code; treating it as transient.");
                Failure::transient(reason).with_attempt_cap(UNKNOWN_CODE_ATTEMPTS)
            }
        }
    }
}

/// Classifies a Runware error code; `None` for a code fluxq does not know. Codes
/// seen in the docs come first; then the HTTP status (5xx, 429, 401–403); then the
/// shape of validation errors (a `parameter`, or `invalid…`/`missing…`/`unsupported…`).
/// `contentModerated` and `taskNotFound` are the mock's codes (Runware's unconfirmed).
pub fn classify(code: &str, has_parameter: bool, http: u16) -> Option<FailureKind> {
    let kind = match code {
        "invalidApiKey" | "missingApiKey" | "insufficientCredits" => FailureKind::AccountBlocked,
        "timeoutProvider" | "taskNotFound" => FailureKind::Transient,
        c if c.to_ascii_lowercase().contains("moderat") => FailureKind::Moderated,
        _ if http >= 500 => FailureKind::Transient,
        _ if http == 429 => FailureKind::Throttled,
        _ if (401..=403).contains(&http) => FailureKind::AccountBlocked,
        c if has_parameter
            || ["invalid", "missing", "unsupported"]
                .iter()
                .any(|p| c.starts_with(p)) =>
        {
            FailureKind::Permanent
        }
        _ => return None,
    };
    Some(kind)
}

/// Sums the `cost` (USD) of result items, each checked; an item without one counts
/// `unit_estimate`, and `None` if none reported one. Invalid as soon as one cost is,
/// with the estimate of them all in its place.
pub(super) fn total_cost<'a>(
    items: impl Iterator<Item = &'a Item>,
    unit_estimate: MicroUsd,
) -> Option<Charge> {
    let items: Vec<&Item> = items.collect();
    if items.iter().all(|i| i.cost.is_none()) {
        return None;
    }
    let all = MicroUsd(unit_estimate.0.saturating_mul(items.len() as u64));
    let charges = items
        .iter()
        .map(|i| Charge::from_json(i.cost.as_ref(), CostUnit::Usd, unit_estimate));
    Some(Charge::sum(charges, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_as_documented() {
        use FailureKind::*;
        let table = [
            ("invalidApiKey", false, 401, Some(AccountBlocked)),
            ("missingApiKey", true, 401, Some(AccountBlocked)),
            ("insufficientCredits", false, 402, Some(AccountBlocked)),
            ("timeoutProvider", false, 400, Some(Transient)),
            ("timeoutProvider", false, 503, Some(Transient)),
            ("internalServerError", false, 500, Some(Transient)),
            ("rateLimitExceeded", false, 429, Some(Throttled)),
            ("invalidWidth", true, 400, Some(Permanent)),
            ("invalidPositivePrompt", false, 400, Some(Permanent)),
            ("unsupportedParameter", false, 400, Some(Permanent)),
            ("somethingNew", true, 400, Some(Permanent)),
            ("contentModerated", false, 400, Some(Moderated)),
            ("somethingNew", false, 400, None),
            ("somethingNew", false, 200, None),
        ];
        for (code, param, http, kind) in table {
            assert_eq!(classify(code, param, http), kind, "{code} {param} {http}");
        }
    }

    #[test]
    fn unknown_codes_are_transient_with_a_cap() {
        let id = Uuid::new_v4();
        let e = ErrorEntry {
            code: "brandNewCode".into(),
            message: "?".into(),
            ..Default::default()
        };
        let f = e.failure("Runware poll", 400, &id);
        assert_eq!(
            (f.kind, f.attempt_cap),
            (FailureKind::Transient, Some(UNKNOWN_CODE_ATTEMPTS))
        );
        assert!(f.reason.contains("brandNewCode"), "{}", f.reason);
    }

    #[test]
    fn envelopes_find_our_task_and_sum_costs() {
        let id = Uuid::new_v4();
        let body = serde_json::json!({
            "data": [
                {"taskUUID": id, "status": "success", "imageURL": "https://i/1", "cost": 0.045},
                {"taskUUID": id, "status": "success", "imageURL": "https://i/2", "cost": 0.045},
                {"taskUUID": Uuid::new_v4(), "status": "success", "cost": 1.0},
            ],
            "errors": [{"code": "x", "message": "other", "taskUUID": Uuid::new_v4()}],
        });
        let env = Envelope::parse(body.to_string().as_bytes()).unwrap_or_default();
        assert_eq!(env.items_for(&id).count(), 2);
        assert_eq!(
            total_cost(env.items_for(&id), MicroUsd(1)),
            Some(Charge::Exact(MicroUsd(90_000)))
        );
        let bad = serde_json::json!({"data": [
            {"taskUUID": id, "status": "success", "cost": 0.045},
            {"taskUUID": id, "status": "success", "cost": -1},
        ]});
        let env2 = Envelope::parse(bad.to_string().as_bytes()).unwrap_or_default();
        let c = total_cost(env2.items_for(&id), MicroUsd(45_000));
        assert_eq!(c.as_ref().map(Charge::amount), Some(MicroUsd(90_000)));
        assert!(c.is_some_and(|c| c.error().is_some()));
        assert!(
            env.error_for(&id).is_none(),
            "another task's error is not ours"
        );
        assert!(Envelope::parse(b"<html>").is_none());
    }
}
