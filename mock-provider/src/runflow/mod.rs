//! The Runflow API (providers.md): `POST /v1/models/{model_id}/runs` (create, 201
//! `queued`), `GET /v1/runs/{id}`, `GET /v1/runs?q=client_ref:<ref>` (search),
//! `GET /v1/auth/me` and `GET /v1/billing/balance`, all behind `Authorization:
//! Bearer`, with Runflow's error envelope ([`error`]), validation ([`request`]),
//! prices ([`price`]) and run objects ([`run`]); reads in [`reads`], the account in
//! [`account`]. Run creations are journaled at `GET /_mock/runflow/requests`.

mod account;
mod error;
mod fields;
mod price;
mod reads;
mod request;
mod run;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::cut;
use crate::sim::{Api, Extras, Fault, Idempotency, Order, Status, TaskView};
use account::auth;
use error::{ApiError, FieldError};
use run::Reader;

/// Runflow's routes, and its journal under `/_mock`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/models/{*model_path}", post(create))
        .route("/v1/runs", get(reads::search))
        .route("/v1/runs/{id}", get(reads::get_run))
        .route("/v1/auth/me", get(account::me))
        .route("/v1/billing/balance", get(account::balance))
        .route("/_mock/runflow/requests", get(requests))
}

/// `GET /_mock/runflow/requests`: the run creations received, oldest first, each
/// `{"model_id", "idempotency_key", "body"}`.
async fn requests(State(app): State<Arc<AppState>>) -> Json<Vec<Value>> {
    Json(app.runflow_requests.all())
}

/// `POST /v1/models/{model_id}/runs`: auth, journal, validation, then admission; 201
/// with the run `queued`. A known `Idempotency-Key` with the same model and body
/// answers the run it made as it is now (201, `Idempotent-Replayed: true`, nothing
/// billed) while `runflow_idempotency` holds.
async fn create(
    State(app): State<Arc<AppState>>,
    Path(model_path): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(refused) = auth(&app, &headers) {
        app.sim.record(|s| s.submit_requests += 1);
        return refused.into_response();
    }
    let slug = model_path.strip_suffix("/runs").unwrap_or(&model_path);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed = serde_json::from_slice::<Value>(&body);
    let received = match &parsed {
        Ok(value) => value.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    app.runflow_requests
        .push(json!({ "model_id": slug, "idempotency_key": key, "body": received }));
    let Some(model) = price::model(slug).filter(|_| model_path.ends_with("/runs")) else {
        app.sim.record(|s| s.submit_requests += 1);
        return ApiError::ModelNotFound(slug.to_owned()).into_response();
    };
    let checked = match parsed {
        Err(e) => Err(ApiError::BadRequest(format!("Invalid JSON body: {e}"))),
        Ok(body) => request::validate(model, &body).map(|c| (body, c)),
    };
    let (body, create) = match checked {
        Ok(valid) => valid,
        Err(refused) => {
            app.sim.record(|s| {
                s.submit_requests += 1;
                s.invalid += 1;
                s.by_provider.runflow.invalid += 1;
            });
            return refused.into_response();
        }
    };
    let unix_ms = app.sim.clock().now_unix_ms();
    app.sim
        .record(|s| s.record_submit_request(&create.prompt, unix_ms));
    let knobs = app.sim.knobs();
    if let Some(word) = knobs
        .reject_word
        .as_deref()
        .filter(|w| !w.is_empty() && create.prompt.to_lowercase().contains(&w.to_lowercase()))
    {
        app.sim.record(|s| {
            s.submit_requests += 1;
            s.invalid += 1;
            s.by_provider.runflow.invalid += 1;
        });
        let msg = format!("The prompt contains {word:?}, which this provider refuses.");
        return ApiError::Invalid(vec![FieldError::new("input.prompt", msg)]).into_response();
    }
    let idempotency = key
        .filter(|_| knobs.runflow_idempotency)
        .map(|key| Idempotency {
            key,
            digest: digest(slug, &body),
        });
    let echo = json!({
        "model_id": slug,
        "input": body["input"],
        "metadata": body.get("metadata").cloned().unwrap_or(Value::Null),
        "callback_url": body.get("callback_url").cloned().unwrap_or(Value::Null),
    });
    let order = Order {
        api: Api::Runflow,
        model,
        prompt: create.prompt,
        seed: create.seed,
        width: create.width,
        height: create.height,
        references: create.references,
        format: create.format,
        id: None,
        results: 1,
        include_cost: true,
        unit_cost: price::cost(model, create.width, create.height, create.references),
        extras: Extras {
            client_ref: create.client_ref,
            idempotency,
            echo: Some(Arc::new(echo)),
        },
    };
    let accepted = match app.sim.submit(order) {
        Ok(accepted) => accepted,
        Err(refusal) => return ApiError::from(refusal).into_response(),
    };
    if !accepted.replayed && app.sim.draw_drop(Api::Runflow) {
        return cut::response(StatusCode::CREATED);
    }
    let Some(view) = app.sim.lookup(accepted.id) else {
        return ApiError::Fault(Fault::Internal).into_response();
    };
    let reader = Reader {
        app: &app,
        base: app.base_for(&headers, &uri),
        knobs,
    };
    // A new run is answered `queued`, as Runflow documents (its reads show the rest);
    // a replay shows the run as it is now.
    let view = if accepted.replayed {
        view
    } else {
        TaskView {
            status: Status::Pending { progress: 0.0 },
            queued: true,
            ..view
        }
    };
    let mut response = (StatusCode::CREATED, Json(reader.run(accepted.id, &view))).into_response();
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// A digest of a run creation, for `Idempotency-Key` conflicts.
fn digest(slug: &str, body: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    (slug, body.to_string()).hash(&mut hasher);
    hasher.finish()
}
