//! The BFL API: `POST /v1/{model}` (submit), `GET /v1/get_result` (poll, in
//! [`poll`]) and `GET /v1/credits`, with BFL's bodies, statuses and error shapes.

mod error;
mod fields;
mod poll;
mod request;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxq_common::Model;
use fluxq_common::pricing::{MICRO_USD_PER_CREDIT, PIXELS_PER_MEGAPIXEL};
use serde_json::json;

use crate::app::AppState;
use crate::sim::Api;
use error::ApiError;

/// The balance `GET /v1/credits` reports when credits are unlimited.
pub const UNLIMITED_CREDITS: f64 = 1_000_000_000.0;

/// BFL's routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/{model}", post(submit))
        .route("/v1/get_result", get(poll::get_result))
        .route("/v1/credits", get(credits))
}

/// `POST /v1/{model}`: auth, validation, then admission by the simulation.
async fn submit(
    State(app): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(model) = Model::parse(&model) else {
        app.sim.record(|s| s.submit_requests += 1);
        return ApiError::NotFound.into_response();
    };
    if !app.authorized(&headers) {
        app.sim.record(|s| {
            s.submit_requests += 1;
            s.unauthorized += 1;
            s.by_provider.bfl.unauthorized += 1;
        });
        return ApiError::Forbidden.into_response();
    }
    let submit = match request::validate(model, &body) {
        Ok(submit) => submit,
        Err(errors) => {
            app.sim.record(|s| {
                s.submit_requests += 1;
                s.invalid += 1;
                s.by_provider.bfl.invalid += 1;
            });
            return ApiError::Invalid(errors).into_response();
        }
    };
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let prompt = submit.order.prompt.clone();
    app.sim
        .record(|s| s.record_submit_request(&prompt, unix_ms));
    let reject_word = app.sim.knobs().reject_word;
    if let Some(word) =
        reject_word.filter(|w| !w.is_empty() && prompt.to_lowercase().contains(&w.to_lowercase()))
    {
        app.sim.record(|s| {
            s.submit_requests += 1;
            s.invalid += 1;
        });
        let msg = format!("prompt contains {word:?}, which this provider refuses");
        return ApiError::Invalid(vec![error::FieldError::body(
            &["prompt"],
            msg,
            "value_error",
        )])
        .into_response();
    }
    let (width, height, references) = (
        submit.order.width,
        submit.order.height,
        submit.order.references,
    );
    let accepted = match app.sim.submit(submit.order) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            tracing::debug!(?refusal, "Submit refused.");
            return ApiError::from(refusal).into_response();
        }
    };
    let id = accepted.id;
    tracing::debug!(%id, model = model.as_str(), "Task accepted.");
    if app.sim.draw_drop(Api::Bfl) {
        return crate::cut::response(StatusCode::OK);
    }
    let output_mp = f64::from(width) * f64::from(height) / PIXELS_PER_MEGAPIXEL as f64;
    let knobs = app.sim.knobs();
    let cost = knobs
        .cost_override
        .unwrap_or_else(|| json!(accepted.cost.0 as f64 / MICRO_USD_PER_CREDIT as f64));
    let mut body = json!({
        "id": id,
        "polling_url": format!("{}/v1/get_result?id={id}", app.base_for(&headers, &uri)),
        "cost": cost,
        "input_mp": references as f64,
        "output_mp": (output_mp * 100.0).round() / 100.0,
    });
    // Webhooks are acknowledged as BFL does, but the mock never calls them.
    if let Some(url) = submit.webhook_url {
        body["status"] = json!("Pending");
        body["webhook_url"] = json!(url);
    }
    Json(body).into_response()
}

/// `GET /v1/credits`: the balance left, in credits.
async fn credits(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        app.sim.record(|s| s.unauthorized += 1);
        return ApiError::Forbidden.into_response();
    }
    let credits = app.sim.balance().unwrap_or(UNLIMITED_CREDITS);
    Json(json!({ "credits": credits })).into_response()
}
