//! `getResponse`: a task's generations in Runware's words (`processing`, `success`
//! with the image URL, seed and cost, or an error entry), and the same items for a
//! synchronous `imageInference` answer.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::envelope::{Envelope, TaskError};
use crate::app::AppState;
use crate::delivery;
use crate::sim::{Api, Outcome, Status, TaskView};

/// Answers one `getResponse` task into `out`.
pub(super) fn get_response(
    app: &AppState,
    base: &str,
    task: &Map<String, Value>,
    out: &mut Envelope,
) {
    let raw = task.get("taskUUID").and_then(Value::as_str);
    let Some(id) = raw.and_then(|s| Uuid::parse_str(s).ok()) else {
        app.sim.record(|s| s.polls += 1);
        let e = TaskError::invalid(
            "invalidTaskUUID",
            "taskUUID",
            "Invalid value for 'taskUUID': must be a UUID v4.",
        );
        out.errors.push(e.task("getResponse", raw));
        return;
    };
    match app.sim.poll(Api::Runware, Some(id)) {
        Err(fault) => out
            .errors
            .push(TaskError::fault(fault).task("getResponse", None)),
        Ok(None) => {
            // The code for an unknown or expired task is unconfirmed.
            let e = TaskError::new(
                StatusCode::BAD_REQUEST,
                "taskNotFound",
                "No task with this taskUUID (unknown or expired).",
            );
            out.errors
                .push(e.task("getResponse", Some(&id.to_string())));
        }
        Ok(Some(view)) => items(app, base, id, &view, out),
    }
}

/// The generations of a remembered task: one item per result while processing or once
/// successful, one error entry if it failed.
pub(super) fn items(app: &AppState, base: &str, id: Uuid, view: &TaskView, out: &mut Envelope) {
    let uuid = id.to_string();
    let ended = |code: &'static str, message: &str| {
        let mut e = TaskError::new(StatusCode::BAD_REQUEST, code, message)
            .task("imageInference", Some(&uuid));
        e.ended = true;
        e
    };
    match view.status {
        Status::Pending { .. } => {
            for _ in 0..view.results {
                out.data.push(
                    json!({"taskType": "imageInference", "taskUUID": uuid, "status": "processing"}),
                );
            }
        }
        Status::Done(Outcome::Ready) => {
            let unit = view.cost.0 / u64::from(view.results.max(1));
            let cost = app
                .sim
                .knobs()
                .cost_override
                .unwrap_or_else(|| json!(unit as f64 / 1_000_000.0));
            for n in 0..view.results {
                let mut item = json!({
                    "taskType": "imageInference",
                    "taskUUID": uuid,
                    "status": "success",
                    "imageUUID": Uuid::from_u128(id.as_u128() ^ (u128::from(n) + 1)),
                    "imageURL": delivery::sample_url(base, &app.signer, id, n, view.sample_expires_ms),
                    "seed": view.seed.wrapping_add(i64::from(n)),
                    "NSFWContent": false,
                });
                if view.include_cost {
                    item["cost"] = cost.clone();
                }
                out.data.push(item);
            }
        }
        Status::Done(Outcome::Error) => out.errors.push(ended(
            "timeoutProvider",
            "The provider failed to generate the image (simulated by the mock's error rate).",
        )),
        // The code Runware uses for BFL's moderation is unconfirmed.
        Status::Done(Outcome::RequestModerated) => out.errors.push(ended(
            "contentModerated",
            "Request Moderated: the prompt was refused by the provider's moderation.",
        )),
        Status::Done(Outcome::ContentModerated) => out.errors.push(ended(
            "contentModerated",
            "Content Moderated: the generated image was refused by the provider's moderation.",
        )),
    }
}
