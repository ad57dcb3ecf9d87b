//! BFL's error answers: status codes and bodies as providers.md describes them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::sim::{Fault, Refusal};

/// One entry of a 422 `detail` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FieldError {
    /// Path to the offending input, e.g. `["body", "width"]`.
    pub loc: Vec<String>,
    pub msg: String,
    /// pydantic's error type, e.g. `value_error`, `missing`, `extra_forbidden`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl FieldError {
    /// An error located in the request body, at `path` below it.
    pub fn body(path: &[&str], msg: String, kind: &'static str) -> Self {
        let loc = std::iter::once("body")
            .chain(path.iter().copied())
            .map(str::to_owned)
            .collect();
        Self { loc, msg, kind }
    }

    /// An error about a query parameter.
    pub fn query(name: &str, msg: String, kind: &'static str) -> Self {
        Self {
            loc: vec!["query".to_owned(), name.to_owned()],
            msg,
            kind,
        }
    }
}

/// Every way a BFL endpoint refuses a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ApiError {
    /// Missing or wrong `x-key` (403).
    #[error("not authenticated")]
    Forbidden,
    /// No such endpoint or model (404).
    #[error("not found")]
    NotFound,
    /// The body or query failed validation (422).
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// Too many requests or tasks in flight (429, with `Retry-After`).
    #[error("too many requests")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    /// The account's credits cannot cover the task (402).
    #[error("insufficient credits")]
    InsufficientCredits,
    /// An injected 500 or 503.
    #[error("server fault")]
    Fault(Fault),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Fault(fault) => ApiError::Fault(fault),
            Refusal::Throttled { retry_after_secs } => ApiError::TooMany {
                message: "Too many requests. Please slow down.".to_owned(),
                retry_after_secs,
            },
            Refusal::AtCapacity {
                cap,
                retry_after_secs,
            } => ApiError::TooMany {
                message: format!(
                    "You have exceeded the number of active tasks ({cap}). \
                     Please wait for some of them to finish."
                ),
                retry_after_secs,
            },
            Refusal::InsufficientCredits => ApiError::InsufficientCredits,
            // BFL orders carry neither a client-chosen id nor an idempotency key, so
            // no submit conflicts.
            Refusal::Conflict | Refusal::IdempotencyConflict => ApiError::Fault(Fault::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = |status: StatusCode, text: &str| {
            (status, Json(json!({ "detail": text }))).into_response()
        };
        match self {
            ApiError::Forbidden => detail(StatusCode::FORBIDDEN, "Not authenticated"),
            ApiError::NotFound => detail(StatusCode::NOT_FOUND, "Not Found"),
            ApiError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": errors })),
            )
                .into_response(),
            ApiError::TooMany {
                message,
                retry_after_secs,
            } => {
                let body = json!({
                    "error": "rate_limit_exceeded",
                    "message": message,
                    "retry_after": retry_after_secs,
                });
                let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            ApiError::InsufficientCredits => {
                detail(StatusCode::PAYMENT_REQUIRED, "Insufficient credits")
            }
            ApiError::Fault(Fault::Internal) => {
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ApiError::Fault(Fault::Unavailable) => detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable, please try again in a few moments.",
            ),
        }
    }
}
