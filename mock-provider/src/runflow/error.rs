//! Runflow's error answers: `{"code", "message", "errors": [...] | null}` with the
//! status codes providers.md lists.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::sim::{Fault, Refusal};

/// One entry of a 422's `errors[]`: the field, as a dotted path from the body's top
/// (`input.guidance_scale`), and what is wrong with it. The entry's shape beyond
/// naming the field is unconfirmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every way a Runflow endpoint refuses a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum ApiError {
    /// Missing or wrong `Authorization: Bearer` (401).
    #[error("unauthorized")]
    Unauthorized,
    /// The body is not JSON (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such model (404; the code is unconfirmed).
    #[error("model {0} not found")]
    ModelNotFound(String),
    /// No such run, or another API's task (404).
    #[error("run not found")]
    RunNotFound,
    /// Validation (422), every problem at once.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// An `Idempotency-Key` reused with another body (409).
    #[error("conflict")]
    Conflict,
    /// The balance cannot cover the run (402).
    #[error("insufficient credit")]
    InsufficientCredit,
    /// Throttled, or the queue behind the concurrency cap is full (429).
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// An injected 500 or 503.
    #[error("server fault")]
    Fault(Fault),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Fault(fault) => ApiError::Fault(fault),
            Refusal::Throttled { retry_after_secs }
            | Refusal::AtCapacity {
                retry_after_secs, ..
            } => ApiError::RateLimited { retry_after_secs },
            Refusal::InsufficientCredits => ApiError::InsufficientCredit,
            Refusal::Conflict | Refusal::IdempotencyConflict => ApiError::Conflict,
        }
    }
}

impl IntoResponse for ApiError {
    /// A 429 carries `Retry-After` when `retry_after_secs` is above 0 (Runflow's pages
    /// disagree on whether it does: 0 leaves it out).
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Missing or invalid token: send Authorization: Bearer <key>.".to_owned(),
            ),
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", why.clone()),
            ApiError::ModelNotFound(model) => (
                StatusCode::NOT_FOUND,
                "MODEL_NOT_FOUND",
                format!("No model {model:?}."),
            ),
            ApiError::RunNotFound => (
                StatusCode::NOT_FOUND,
                "RUN_NOT_FOUND",
                "The run_id does not exist or belongs to another org.".to_owned(),
            ),
            ApiError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_ERROR",
                "The request failed validation; see errors[].".to_owned(),
            ),
            ApiError::Conflict => (
                StatusCode::CONFLICT,
                "CONFLICT",
                "This Idempotency-Key was already used with another request.".to_owned(),
            ),
            ApiError::InsufficientCredit => (
                StatusCode::PAYMENT_REQUIRED,
                "INSUFFICIENT_CREDIT",
                "Account balance is too low. Top up.".to_owned(),
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Rate limit exceeded: too many runs waiting.".to_owned(),
            ),
            ApiError::Fault(Fault::Internal) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "An unexpected error occurred.".to_owned(),
            ),
            ApiError::Fault(Fault::Unavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "MODEL_UNAVAILABLE",
                "Provider downtime. Retry or pick a sibling model.".to_owned(),
            ),
        };
        let errors = match &self {
            ApiError::Invalid(errors) => json!(errors),
            _ => json!(null),
        };
        let body = json!({ "code": code, "message": message, "errors": errors });
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self
            && retry_after_secs > 0
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
