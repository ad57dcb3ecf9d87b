//! `POST /v1/jobs` (one job or `{"jobs": [...]}`) and `GET /v1/jobs/{id}`.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fluxq_common::Lane;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::enqueue::{self, Accepted, Submission};
use super::error::{ApiError, ErrorBody};
use super::openapi::JobSubmission;
use super::query::ApiQuery;
use crate::read::{self, JobView};

/// Query of `POST /v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnqueueQuery {
    /// `interactive` (the default for a single job) or `bulk` (the default for `{"jobs": [...]}`).
    pub lane: Option<Lane>,
    /// The batch of every job (else the jobs' own, else one derived from the first job's id).
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"
    )]
    pub batch: Option<String>,
}

/// Enqueue one job or up to 1,000.
///
/// Every job is validated exactly as `producer submit` validates a line; if any is
/// invalid nothing is published and the answer names each job's field and rule. Jobs
/// are recorded, then published with publisher confirms; `202` means RabbitMQ holds
/// every message. A retried request returns the same jobs and creates none.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    params(
        EnqueueQuery,
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a request without job ids idempotent: ids are derived from it."),
    ),
    request_body(content = JobSubmission, content_type = "application/json"),
    responses(
        (status = 202, description = "Recorded and published", body = Accepted,
            headers(("Location" = String, description = "The job (single) or the batch (bulk)"))),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 409, description = "A job id exists in another batch", body = ErrorBody),
        (status = 413, description = "Body over the request limit", body = ErrorBody),
        (status = 422, description = "Invalid jobs (nothing published)", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ or Redis unavailable; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    ApiQuery(q): ApiQuery<EnqueueQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.body_text()).with_field("body")
    })?;
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            ApiError::invalid("Idempotency-Key", "Idempotency-Key: must be visible ASCII")
        })?;
    let accepted = enqueue::accept(
        &state,
        Submission {
            body,
            lane: q.lane,
            batch: q.batch,
            idempotency_key,
            caller,
        },
    )
    .await?;
    let location = match (accepted.single, accepted.jobs.first()) {
        (true, Some(j)) => format!("/v1/jobs/{}", j.id),
        _ => format!("/v1/batches/{}", accepted.batch),
    };
    let mut r = (StatusCode::ACCEPTED, Json(accepted)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// A job's record: status, attempts, cost, image, error, metadata, timestamps.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (a UUID)")),
    responses(
        (status = 200, description = "The record", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let not_found = || ApiError::not_found(format!("no job {id:?}"));
    let uuid: Uuid = id.parse().map_err(|_| not_found())?;
    read::job::job(&state.store, uuid)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
