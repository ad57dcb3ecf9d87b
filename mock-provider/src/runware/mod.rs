//! The Runware API: `POST /v1` with a JSON array of tasks (`imageInference`,
//! `getResponse`), `Authorization: Bearer <key>`, answered with the `data`/`errors`
//! envelope. Each task succeeds or fails on its own; validation in [`request`],
//! generations in [`poll`], the envelope in [`envelope`].

mod envelope;
mod poll;
mod request;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::cut;
use crate::sim::Api;
use envelope::{Envelope, TaskError};

/// Runware's route, and its journal under `/_mock`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1", post(tasks))
        .route("/_mock/runware/requests", get(requests))
}

/// `GET /_mock/runware/requests`: the `imageInference` tasks received, oldest first.
async fn requests(State(app): State<Arc<AppState>>) -> axum::Json<Vec<Value>> {
    axum::Json(app.runware_requests.all())
}

/// `POST /v1`: auth, then every task in order. An answer to any `getResponse` is
/// padded by `poll_body_pad_bytes`.
async fn tasks(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Some(refused) = auth(&app, &headers) {
        return refused;
    }
    let tasks = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(tasks)) => tasks,
        _ => {
            let e = TaskError::invalid(
                "invalidRequestBody",
                "body",
                "The body must be a JSON array of task objects.",
            );
            return Envelope {
                errors: vec![e],
                ..Envelope::default()
            }
            .into_response();
        }
    };
    let base = app.base_for(&headers, &uri);
    let mut out = Envelope::default();
    for task in &tasks {
        let Some(task) = task.as_object() else {
            out.errors.push(TaskError::invalid(
                "invalidTask",
                "body",
                "Each task must be a JSON object.",
            ));
            continue;
        };
        match task.get("taskType").and_then(Value::as_str) {
            Some("imageInference") => {
                app.runware_requests.push(Value::Object(task.clone()));
                if !image_inference(&app, &base, task, &mut out).await {
                    return cut::response(StatusCode::OK);
                }
            }
            Some("getResponse") => {
                out.pad_bytes = app.sim.knobs().poll_body_pad_bytes;
                poll::get_response(&app, &base, task, &mut out);
            }
            other => {
                let e = TaskError::invalid(
                    "unsupportedTaskType",
                    "taskType",
                    format!("Unsupported taskType {other:?}."),
                );
                out.errors.push(e.task(
                    other.unwrap_or(""),
                    task.get("taskUUID").and_then(Value::as_str),
                ));
            }
        }
    }
    out.into_response()
}

/// The key must come as `Authorization: Bearer <key>` (the `authentication` task of
/// the WebSocket API is not simulated).
fn auth(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    let (code, message) = match app.bearer(headers) {
        Some(true) => return None,
        Some(false) => ("invalidApiKey", "Invalid API key."),
        None => (
            "missingApiKey",
            "Missing API key: send Authorization: Bearer <key>.",
        ),
    };
    app.sim.record(|s| {
        s.unauthorized += 1;
        s.by_provider.runware.unauthorized += 1;
    });
    let mut e =
        TaskError::new(StatusCode::UNAUTHORIZED, code, message).task("authentication", None);
    e.parameter = Some("apiKey".to_owned());
    Some(
        Envelope {
            data: vec![],
            errors: vec![e],
            ..Envelope::default()
        }
        .into_response(),
    )
}

/// Runs one `imageInference` task into `out`. `false` when the connection is to be
/// dropped after the task was accepted.
async fn image_inference(
    app: &AppState,
    base: &str,
    task: &Map<String, Value>,
    out: &mut Envelope,
) -> bool {
    let raw_uuid = task.get("taskUUID").and_then(Value::as_str);
    let inference = match request::validate(task) {
        Ok(i) => i,
        Err(e) => {
            app.sim.record(|s| {
                s.submit_requests += 1;
                s.invalid += 1;
                s.by_provider.runware.invalid += 1;
            });
            out.errors.push(e.task("imageInference", raw_uuid));
            return true;
        }
    };
    let uuid = inference.uuid.to_string();
    let prompt = inference.order.prompt.clone();
    let unix_ms = app.sim.clock().now_unix_ms();
    app.sim
        .record(|s| s.record_submit_request(&prompt, unix_ms));
    let reject_word = app.sim.knobs().reject_word;
    if let Some(word) =
        reject_word.filter(|w| !w.is_empty() && prompt.to_lowercase().contains(&w.to_lowercase()))
    {
        app.sim.record(|s| {
            s.submit_requests += 1;
            s.invalid += 1;
            s.by_provider.runware.invalid += 1;
        });
        let e = TaskError::invalid(
            "invalidPositivePrompt",
            "positivePrompt",
            format!("The prompt contains {word:?}, which this provider refuses."),
        );
        out.errors.push(e.task("imageInference", Some(&uuid)));
        return true;
    }
    let accepted = match app.sim.submit(inference.order) {
        Ok(a) => a,
        Err(refusal) => {
            out.errors
                .push(TaskError::refusal(refusal).task("imageInference", Some(&uuid)));
            return true;
        }
    };
    if app.sim.draw_drop(Api::Runware) {
        return false;
    }
    if !inference.sync {
        out.data
            .push(json!({"taskType": "imageInference", "taskUUID": uuid}));
        return true;
    }
    tokio::time::sleep_until(accepted.finish).await;
    match app.sim.lookup(accepted.id) {
        Some(view) => poll::items(app, base, accepted.id, &view, out),
        None => out
            .errors
            .push(TaskError::fault(crate::sim::Fault::Internal)),
    }
    true
}
