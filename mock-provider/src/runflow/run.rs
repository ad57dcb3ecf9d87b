//! The run object Runflow answers with (create, get, search): `status_code`, the
//! request echoed back, `output` once succeeded, `cost` as a USD decimal string once
//! final, failure fields once failed. Image URLs are signed on every read, valid
//! `download_ttl` from then, as Runflow's presigned URLs are.

use serde_json::{Value, json};
use uuid::Uuid;

use super::price::usd;
use crate::app::AppState;
use crate::knobs::{Knobs, RunflowOutputShape};
use crate::sim::{Outcome, Status, TaskView, rfc3339};
use crate::{delivery, images};

/// What every run object of one answer shares.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    pub app: &'a AppState,
    /// Base of the image URLs handed out.
    pub base: String,
    pub knobs: Knobs,
}

impl Reader<'_> {
    /// The run object of task `id`.
    pub fn run(&self, id: Uuid, view: &TaskView) -> Value {
        let echo = view.echo.as_deref().cloned().unwrap_or(Value::Null);
        let done = matches!(view.status, Status::Done(_));
        let status = match view.status {
            Status::Pending { .. } if view.queued => "queued",
            Status::Pending { .. } => "running",
            Status::Done(Outcome::Ready) => "succeeded",
            Status::Done(_) => "failed",
        };
        let cost = match &self.knobs.cost_override {
            Some(raw) => raw.clone(),
            None if done => json!(usd(view.cost)),
            None => Value::Null,
        };
        let (code, stage, message) = failure(view.status);
        let at = |ms: u64, shown: bool| {
            if shown {
                json!(rfc3339(ms))
            } else {
                Value::Null
            }
        };
        json!({
            "id": id,
            "model_id": echo["model_id"],
            "target_type": "model",
            "status_code": status,
            "input": echo["input"],
            "output": self.output(id, view),
            "cost": cost,
            "cost_breakdown": if done { json!({ "total": usd(view.cost) }) } else { Value::Null },
            "duration_ms": if done { json!(view.finish_ms.saturating_sub(view.started_ms)) } else { Value::Null },
            "failure_code": code,
            "failure_message": message,
            "failure_stage_code": stage,
            "client_ref": view.client_ref,
            "metadata": echo["metadata"],
            "callback_url": echo["callback_url"],
            "created_at": rfc3339(view.submitted_ms),
            "started_at": at(view.started_ms, !view.queued),
            "completed_at": at(view.finish_ms, done),
        })
    }

    /// The output of a succeeded run, in the configured shape; `null` otherwise.
    fn output(&self, id: Uuid, view: &TaskView) -> Value {
        if view.status != Status::Done(Outcome::Ready) {
            return Value::Null;
        }
        let now = self.app.sim.clock().now_unix_ms();
        let expires = now.saturating_add(self.knobs.download_ttl_ms);
        let url = delivery::sample_url(&self.base, &self.app.signer, id, 0, expires);
        let content_type = images::content_type(view.format);
        match self.knobs.runflow_output_shape {
            RunflowOutputShape::Outputs => json!({
                "outputs": [{ "type": "image", "url": url, "content_type": content_type }],
            }),
            RunflowOutputShape::ImageUrls => json!({ "image_urls": [url] }),
            RunflowOutputShape::Image => json!({
                "image": { "url": url, "content_type": content_type },
            }),
        }
    }
}

/// `failure_code`, `failure_stage_code` and `failure_message` of a failed run (the
/// codes are the mock's; Runflow's are unconfirmed), all `null` otherwise.
fn failure(status: Status) -> (Value, Value, Value) {
    let (code, stage, message) = match status {
        Status::Done(Outcome::Error) => (
            "GENERATION_FAILED",
            "inference",
            "Generation failed (simulated by the mock's error rate).",
        ),
        Status::Done(Outcome::RequestModerated) => (
            "INPUT_MODERATED",
            "preprocess",
            "The prompt was refused by the safety checker.",
        ),
        Status::Done(Outcome::ContentModerated) => (
            "OUTPUT_MODERATED",
            "postprocess",
            "The generated image was refused by the safety checker.",
        ),
        _ => return (Value::Null, Value::Null, Value::Null),
    };
    (json!(code), json!(stage), json!(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failed_runs_carry_failure_fields() {
        let (code, stage, _) = failure(Status::Done(Outcome::Error));
        assert_eq!(
            (code, stage),
            (json!("GENERATION_FAILED"), json!("inference"))
        );
        assert_eq!(
            failure(Status::Done(Outcome::ContentModerated)).0,
            "OUTPUT_MODERATED"
        );
        assert_eq!(failure(Status::Done(Outcome::Ready)).0, Value::Null);
        assert_eq!(failure(Status::Pending { progress: 0.5 }).0, Value::Null);
    }
}
