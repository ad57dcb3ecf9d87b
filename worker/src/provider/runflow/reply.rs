//! Runflow's run object (create, get, search) and what it says about the job: the
//! phase of its `status_code` (both spellings of cancelled), the image URLs of a
//! succeeded run (`output.outputs[].url`, `output.image_urls[]`, `output.image.url`),
//! and its `cost`, a USD decimal string read exactly into micro-USD and checked
//! ([`Charge`]).

use fluxq_common::{Charge, CostUnit, FailureKind, MicroUsd};
use serde::Deserialize;
use serde_json::Value;

/// Longest run id accepted (it goes into a URL path and the job's record).
const MAX_ID_LEN: usize = 128;

/// Longest provider text quoted in a failure reason.
const MAX_QUOTED: usize = 300;

/// A run object, as far as fluxq reads it. Fields whose type Runflow does not pin
/// down are kept as JSON and read leniently.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Run {
    pub id: String,
    #[serde(default)]
    pub status_code: Option<Value>,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub cost: Option<Value>,
    #[serde(default)]
    pub failure_code: Option<Value>,
    #[serde(default)]
    pub failure_message: Option<Value>,
    #[serde(default)]
    pub failure_stage_code: Option<Value>,
    #[serde(default)]
    pub client_ref: Option<Value>,
    #[serde(default)]
    pub created_at: Option<Value>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `queued`, `dispatching`, `running`, or a status fluxq does not know (the
    /// job's deadline bounds the wait).
    Working,
    /// `succeeded`, or `partial_succeeded` (whatever outputs exist are read).
    Succeeded,
    /// `failed` (not billed).
    Failed,
    /// `canceled` or `cancelled` (both spellings are documented).
    Cancelled,
}

/// The phase of a `status_code`.
pub fn phase(status: &str) -> Phase {
    match status {
        "succeeded" | "partial_succeeded" => Phase::Succeeded,
        "failed" => Phase::Failed,
        "canceled" | "cancelled" => Phase::Cancelled,
        _ => Phase::Working,
    }
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

impl Run {
    /// Parses a run object; `None` if the body is not one or its id is unusable.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|r| usable_id(&r.id))
    }

    pub fn status(&self) -> &str {
        text(self.status_code.as_ref())
    }

    pub fn phase(&self) -> Phase {
        phase(self.status())
    }

    pub fn client_ref(&self) -> Option<&str> {
        self.client_ref.as_ref().and_then(Value::as_str)
    }

    pub fn created_at(&self) -> &str {
        text(self.created_at.as_ref())
    }

    /// The image URLs of the run's output, in order: `outputs[].url` (items typed
    /// other than `image` are skipped), then `image_urls[]`, then `image.url`.
    pub fn image_urls(&self) -> Vec<String> {
        let Some(output) = &self.output else {
            return Vec::new();
        };
        let outputs = output.get("outputs").and_then(Value::as_array);
        let typed = outputs.into_iter().flatten().filter(|o| {
            o.get("type")
                .and_then(Value::as_str)
                .is_none_or(|t| t == "image")
        });
        let listed = output.get("image_urls").and_then(Value::as_array);
        typed
            .filter_map(|o| o.get("url"))
            .chain(listed.into_iter().flatten())
            .chain(output.get("image").and_then(|i| i.get("url")))
            .filter_map(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The run's charge, checked like every provider's ([`Charge`]): its `cost` in USD
    /// (a decimal string read exactly), `estimate` while it reports none.
    pub fn charge(&self, estimate: MicroUsd) -> Charge {
        Charge::from_json(self.cost.as_ref(), CostUnit::Usd, estimate)
    }

    /// What a failed or cancelled run means for the job, and why, quoting Runflow's
    /// failure fields. A moderation code is final; anything else is transient (a new
    /// run may succeed; failed runs are not billed).
    pub fn ended(&self) -> (FailureKind, String) {
        let code = text(self.failure_code.as_ref());
        let stage = text(self.failure_stage_code.as_ref());
        let message = text(self.failure_message.as_ref());
        let upper = code.to_ascii_uppercase();
        let moderated = ["MODERAT", "NSFW", "SAFETY", "CONTENT_POLICY"]
            .iter()
            .any(|w| upper.contains(w));
        let kind = if moderated && self.phase() == Phase::Failed {
            FailureKind::Moderated
        } else {
            FailureKind::Transient
        };
        let mut reason = format!("Runflow run {} ended {}", self.id, self.status());
        for (name, value) in [("code", code), ("stage", stage)] {
            if !value.is_empty() {
                reason.push_str(&format!(" ({name} {value})"));
            }
        }
        if !message.is_empty() {
            reason.push_str(&format!(": {message}"));
        }
        (kind, reason.chars().take(MAX_QUOTED).collect())
    }
}

/// A run id fluxq can put in a URL path and a record: 1–128 letters, digits, `-`, `_`.
fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The runs of a search answer (`{"items": [...]}`; also `data`, `runs`, or a bare
/// array: the list's envelope is unconfirmed), skipping entries that are not runs.
pub fn runs_of(body: &[u8]) -> Option<Vec<Run>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let list = match &v {
        Value::Array(items) => items,
        Value::Object(map) => ["items", "data", "runs"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array))?,
        _ => return None,
    };
    let runs = list
        .iter()
        .filter_map(|item| serde_json::from_value::<Run>(item.clone()).ok())
        .filter(|r| usable_id(&r.id));
    Some(runs.collect())
}

/// The run a search found for `client_ref` that may still give the job its image:
/// the newest one not failed or cancelled (a run naming another `client_ref` is not
/// ours, whatever the search matched).
pub fn live_run(runs: Vec<Run>, client_ref: &str) -> Option<Run> {
    runs.into_iter()
        .filter(|r| r.client_ref().is_none_or(|c| c == client_ref))
        .filter(|r| matches!(r.phase(), Phase::Working | Phase::Succeeded))
        .max_by(|a, b| a.created_at().cmp(b.created_at()))
}

/// Whether a balance answer shows money left: `balance` (a USD decimal string or a
/// number) or, as an older page shows, `balance_cents`. `None` if it shows neither.
pub fn has_balance(body: &[u8]) -> Option<bool> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let amount = |key: &str| match v.get(key)? {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    let left = amount("balance").or_else(|| amount("balance_cents"))?;
    Some(left.is_finite() && left > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Run {
        Run::parse(v.to_string().as_bytes()).unwrap_or_else(|| panic!("not a run: {v}"))
    }

    #[test]
    fn statuses_map_to_phases_with_both_spellings_of_cancelled() {
        for (status, want) in [
            ("queued", Phase::Working),
            ("dispatching", Phase::Working),
            ("running", Phase::Working),
            ("something_new", Phase::Working),
            ("succeeded", Phase::Succeeded),
            ("partial_succeeded", Phase::Succeeded),
            ("failed", Phase::Failed),
            ("canceled", Phase::Cancelled),
            ("cancelled", Phase::Cancelled),
        ] {
            assert_eq!(phase(status), want, "{status}");
        }
    }

    #[test]
    fn images_are_read_from_all_three_shapes() {
        let outputs = run(json!({"id": "r1", "output": {"outputs": [
            {"type": "image", "url": "https://b.s3.amazonaws.com/1.jpg"},
            {"type": "text", "url": "https://b.s3.amazonaws.com/log.txt"},
            {"url": "https://b.s3.amazonaws.com/2.jpg"}]}}));
        assert_eq!(
            outputs.image_urls(),
            [
                "https://b.s3.amazonaws.com/1.jpg",
                "https://b.s3.amazonaws.com/2.jpg"
            ]
        );
        let listed = run(json!({"id": "r2", "output": {"image_urls": ["https://x/1.png"]}}));
        assert_eq!(listed.image_urls(), ["https://x/1.png"]);
        let single = run(json!({"id": "r3", "output": {"image": {"url": "https://x/3.png"}}}));
        assert_eq!(single.image_urls(), ["https://x/3.png"]);
        let none = run(json!({"id": "r4", "output": {"outputs": [], "image": {"url": ""}}}));
        assert!(none.image_urls().is_empty());
        assert!(
            run(json!({"id": "r5", "output": null}))
                .image_urls()
                .is_empty()
        );
    }

    #[test]
    fn costs_are_exact_and_validated() {
        const EST: MicroUsd = MicroUsd(50_000);
        for (v, micro) in [
            (json!("0.05"), 50_000),
            (json!("0.10"), 100_000),
            (json!("0.045"), 45_000),
            (json!(" 0.00 "), 0),
            (json!("0.0500000000"), 50_000),
            (json!("12"), 12_000_000),
            (json!(0.05), 50_000),
            (json!(1000), 1_000_000_000),
        ] {
            let r = run(json!({"id": "r", "cost": v}));
            assert_eq!(r.charge(EST), Charge::Exact(MicroUsd(micro)), "{v}");
        }
        for v in [
            json!("-0.05"),
            json!(-1),
            json!("1e30"),
            json!(1e30),
            json!("NaN"),
            json!("1000.000001"),
            json!(""),
            json!(true),
            json!({"usd": 1}),
        ] {
            let c = run(json!({"id": "r", "cost": v})).charge(EST);
            assert!(c.error().is_some(), "{v} was accepted");
            assert_eq!(
                c.amount(),
                EST,
                "{v}: the estimate is recorded in its place"
            );
        }
        assert_eq!(
            run(json!({"id": "r", "cost": null})).charge(EST),
            Charge::Estimated(EST)
        );
    }

    #[test]
    fn ended_runs_are_moderated_only_for_a_moderation_code() {
        let moderated = run(json!({"id": "r", "status_code": "failed",
            "failure_code": "OUTPUT_MODERATED", "failure_stage_code": "postprocess",
            "failure_message": "refused"}));
        let (kind, reason) = moderated.ended();
        assert_eq!(kind, FailureKind::Moderated);
        assert_eq!(
            reason,
            "Runflow run r ended failed (code OUTPUT_MODERATED) (stage postprocess): refused"
        );
        let failed =
            run(json!({"id": "r", "status_code": "failed", "failure_code": "GENERATION_FAILED"}));
        assert_eq!(failed.ended().0, FailureKind::Transient);
        let cancelled = run(json!({"id": "r", "status_code": "cancelled"}));
        assert_eq!(cancelled.ended().0, FailureKind::Transient);
        let odd = run(json!({"id": "r", "status_code": "failed", "failure_code": 7}));
        assert_eq!(odd.ended().0, FailureKind::Transient);
    }

    #[test]
    fn balances_are_read_in_both_shapes() {
        let has = |v: Value| has_balance(v.to_string().as_bytes());
        assert_eq!(
            has(json!({"balance": "12.50", "currency": "USD"})),
            Some(true)
        );
        assert_eq!(has(json!({"balance": "0.00"})), Some(false));
        assert_eq!(has(json!({"balance": "-3"})), Some(false));
        assert_eq!(
            has(json!({"balance_cents": 250, "currency": "USD"})),
            Some(true)
        );
        assert_eq!(has(json!({"balance_cents": 0})), Some(false));
        assert_eq!(has(json!({"credits": 5})), None);
    }

    #[test]
    fn unusable_ids_are_not_runs() {
        for id in ["", "../x", "a/b", "a?b", &"x".repeat(129)] {
            let body = json!({ "id": id }).to_string();
            assert!(Run::parse(body.as_bytes()).is_none(), "{id:?}");
        }
        assert!(Run::parse(b"<html>").is_none());
    }

    #[test]
    fn a_search_finds_the_newest_live_run_of_the_job() {
        let body = json!({"items": [
            {"id": "old", "status_code": "succeeded", "client_ref": "j", "created_at": "2026-01-01T00:00:01Z"},
            {"id": "new", "status_code": "queued", "client_ref": "j", "created_at": "2026-01-01T00:00:03Z"},
            {"id": "dead", "status_code": "failed", "client_ref": "j", "created_at": "2026-01-01T00:00:09Z"},
            {"id": "other", "status_code": "running", "client_ref": "k", "created_at": "2026-01-01T00:00:09Z"},
            {"no_id": true},
        ]});
        let runs = runs_of(body.to_string().as_bytes()).unwrap_or_default();
        assert_eq!(runs.len(), 4);
        assert_eq!(live_run(runs, "j").map(|r| r.id).as_deref(), Some("new"));
        let failed_only = json!([{"id": "dead", "status_code": "failed", "client_ref": "j"}]);
        let runs = runs_of(failed_only.to_string().as_bytes()).unwrap_or_default();
        assert!(live_run(runs, "j").is_none());
        assert!(runs_of(b"{\"items\": 3}").is_none());
        assert_eq!(runs_of(b"{\"data\": []}").map(|r| r.len()), Some(0));
    }
}
