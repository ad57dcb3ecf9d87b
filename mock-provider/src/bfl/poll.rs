//! `GET /v1/get_result?id=`: the task's status in BFL's exact words, with the signed
//! image URL once `Ready`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{ApiError, FieldError};
use crate::app::AppState;
use crate::sim::{Api, Outcome, Status, TaskView};
use crate::{delivery, hostile};

/// Polls need no key (a wrong one is ignored too): the id is the capability.
/// `poll_progress_override` and `poll_body_pad_bytes` shape the answer.
pub(super) async fn get_result(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(raw_id) = query.get("id") else {
        app.sim.record(|s| s.polls += 1);
        let error = FieldError::query("id", "Field required".to_owned(), "missing");
        return ApiError::Invalid(vec![error]).into_response();
    };
    let id = Uuid::parse_str(raw_id).ok();
    let task = match app.sim.poll(Api::Bfl, id) {
        Ok(task) => task,
        Err(fault) => return ApiError::Fault(fault).into_response(),
    };
    let knobs = app.sim.knobs();
    let answer = match id.zip(task) {
        Some((id, task)) => {
            let mut answer = body(&app, &app.base_for(&headers, &uri), id, &task);
            if let (Some(url), Some(result)) = (
                &knobs.sample_url_override,
                answer.get_mut("result").filter(|r| r.is_object()),
            ) {
                result["sample"] = json!(url);
            }
            if let (Status::Pending { .. }, Some(progress)) =
                (task.status, knobs.poll_progress_override)
            {
                answer["progress"] = progress;
            }
            answer
        }
        None => self::answer(
            raw_id,
            "Task not found",
            Value::Null,
            Value::Null,
            Value::Null,
        ),
    };
    hostile::json(StatusCode::OK, answer, knobs.poll_body_pad_bytes)
}

/// The poll answer for a remembered task.
fn body(app: &AppState, base: &str, id: Uuid, task: &TaskView) -> Value {
    let id_text = id.to_string();
    match task.status {
        Status::Pending { progress } => answer(
            &id_text,
            "Pending",
            Value::Null,
            json!(progress),
            Value::Null,
        ),
        Status::Done(Outcome::Ready) => {
            let result = json!({
                "sample": delivery::sample_url(base, &app.signer, id, 0, task.sample_expires_ms),
                "seed": task.seed,
                "prompt": task.prompt,
            });
            answer(&id_text, "Ready", result, json!(1.0), Value::Null)
        }
        Status::Done(Outcome::Error) => {
            let details =
                json!({ "error": "Generation failed (simulated by the mock's error rate)." });
            answer(&id_text, "Error", Value::Null, Value::Null, details)
        }
        // The shape of `details` for moderation is unconfirmed; this mirrors reports.
        Status::Done(Outcome::RequestModerated) => {
            let details = json!({ "Moderation Reasons": ["Mock moderation word in the prompt"] });
            answer(
                &id_text,
                "Request Moderated",
                Value::Null,
                Value::Null,
                details,
            )
        }
        Status::Done(Outcome::ContentModerated) => {
            let details = json!({ "Moderation Reasons": ["Mock moderation of the output"] });
            answer(
                &id_text,
                "Content Moderated",
                Value::Null,
                Value::Null,
                details,
            )
        }
    }
}

fn answer(id: &str, status: &str, result: Value, progress: Value, details: Value) -> Value {
    json!({
        "id": id,
        "status": status,
        "result": result,
        "progress": progress,
        "details": details,
        "preview": null,
    })
}
