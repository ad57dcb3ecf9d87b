//! Spend control over HTTP, as `producer cancel`, `resume` and `budget` (thin over
//! [`crate::spend`]): `POST /v1/batches/{batch}/cancel`, `POST /v1/jobs/{id}/cancel`,
//! `POST /v1/batches/{batch}/resume`, `PUT /v1/batches/{batch}/budget`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::spend::{self, CancelOutcome, JobCancelOutcome, SpendError};

/// The optional body of a cancel.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (kept in each cancelled job's `error`: "cancelled: <reason>").
    pub reason: Option<String>,
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CancelResponse {
    /// `cancelled`, `already_cancelled`, `already_finished` (a batch that had
    /// finished: nothing changed), or for a job `in_flight` (at the provider: it
    /// finishes and is paid for, and is not submitted again).
    pub outcome: String,
    /// Jobs ended `cancelled` by this call.
    pub cancelled: u64,
    /// Jobs left to finish at the provider.
    pub in_flight: u64,
    /// Human readable, as `producer cancel` prints it.
    pub message: String,
}

/// What a resume or a budget did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResumeResponse {
    /// Cancelled jobs `queued` again.
    pub reopened: u64,
    /// Their messages published again (the others were still in RabbitMQ).
    pub republished: u64,
    /// The batch's budget after the call, a decimal USD string (budget only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<String>,
    /// Human readable, as the command prints it.
    pub message: String,
}

/// The body of a budget.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// The most the batch may spend, a decimal USD string such as `"2.00"` (at most
    /// 6 decimals).
    pub usd: String,
}

fn spend_error(e: SpendError) -> ApiError {
    match e {
        SpendError::NotFound(what) => ApiError::not_found(what),
        e => ApiError::unavailable(e),
    }
}

/// A JSON object body, or `T::default()` for an empty one.
fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_body(body)
}

fn required_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let v = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| ApiError::invalid("body", "body: must be a JSON object"))?;
    serde_json::from_value(v).map_err(|e| ApiError::invalid("body", format!("body: {e}")))
}

/// Cancels a batch: from the answer on, no job of it is submitted; jobs not yet
/// submitted end `cancelled`. Cancelling again, or a finished batch, is harmless.
#[utoipa::path(
    post,
    path = "/v1/batches/{batch}/cancel",
    tag = "batches",
    params(("batch" = String, Path, description = "The batch name")),
    request_body(content = CancelRequest, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "What the cancel did", body = CancelResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_batch(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Json<CancelResponse>, ApiError> {
    let req: CancelRequest = optional_body(&body)?;
    let o = spend::cancel_batch(&state.store, &batch, req.reason.as_deref())
        .await
        .map_err(spend_error)?;
    let message = o.to_string();
    Ok(Json(match o {
        CancelOutcome::Cancelled {
            already,
            cancelled,
            in_flight,
        } => CancelResponse {
            outcome: if already {
                "already_cancelled"
            } else {
                "cancelled"
            }
            .to_owned(),
            cancelled,
            in_flight,
            message,
        },
        CancelOutcome::AlreadyFinished => CancelResponse {
            outcome: "already_finished".to_owned(),
            cancelled: 0,
            in_flight: 0,
            message,
        },
    }))
}

/// Cancels one job (or, at the provider already, keeps it from being submitted again).
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (a UUID)")),
    request_body(content = CancelRequest, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "What the cancel did", body = CancelResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CancelResponse>, ApiError> {
    let uuid: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no job {id:?}")))?;
    let req: CancelRequest = optional_body(&body)?;
    let o = spend::cancel_job(&state.store, &uuid, req.reason.as_deref())
        .await
        .map_err(spend_error)?;
    let (outcome, cancelled, in_flight) = match o {
        JobCancelOutcome::Cancelled => ("cancelled", 1, 0),
        JobCancelOutcome::InFlight => ("in_flight", 0, 1),
        JobCancelOutcome::AlreadyFinal(fluxq_common::JobStatus::Cancelled) => {
            ("already_cancelled", 0, 0)
        }
        JobCancelOutcome::AlreadyFinal(_) => ("already_finished", 0, 0),
    };
    Ok(Json(CancelResponse {
        outcome: outcome.to_owned(),
        cancelled,
        in_flight,
        message: o.to_string(),
    }))
}

/// Reopens the batch's cancelled jobs and publishes them again (safe to repeat).
#[utoipa::path(
    post,
    path = "/v1/batches/{batch}/resume",
    tag = "batches",
    params(("batch" = String, Path, description = "The batch name")),
    responses(
        (status = 200, description = "What the resume did", body = ResumeResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ or Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resume_batch(
    State(state): State<AppState>,
    Path(batch): Path<String>,
) -> Result<Json<ResumeResponse>, ApiError> {
    let mut source = state.publishers.get().await;
    let r = spend::resume_batch(&state.store, &mut source, &batch).await;
    if r.is_err() {
        source.reset();
    }
    let r = r.map_err(spend_error)?;
    Ok(Json(ResumeResponse {
        reopened: r.reopened,
        republished: r.republished,
        budget_usd: None,
        message: r.to_string(),
    }))
}

/// Sets or raises the batch's budget; raising it reopens the jobs it cancelled.
#[utoipa::path(
    put,
    path = "/v1/batches/{batch}/budget",
    tag = "batches",
    params(("batch" = String, Path, description = "The batch name")),
    request_body(content = BudgetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The budget set", body = ResumeResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ or Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn budget(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Json<ResumeResponse>, ApiError> {
    let req: BudgetRequest = required_body(&body)?;
    let usd = crate::spend::cli::parse_usd(&req.usd)
        .map_err(|e| ApiError::invalid("usd", format!("usd: {e}")))?;
    let mut source = state.publishers.get().await;
    let o = spend::set_budget(&state.store, &mut source, &batch, usd).await;
    if o.is_err() {
        source.reset();
    }
    let o = o.map_err(spend_error)?;
    Ok(Json(ResumeResponse {
        reopened: o.resumed.reopened,
        republished: o.resumed.republished,
        budget_usd: Some(o.budget.to_string()),
        message: o.to_string(),
    }))
}
