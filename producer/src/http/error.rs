//! Every error the API answers, as `{"error": {"code", "message", "field"?}}` with the
//! matching status (and `details` listing each invalid job of a submission).

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One rule a job of a submission breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobProblem {
    /// The job's position in `jobs` (0 for a single job).
    pub index: usize,
    pub field: String,
    pub rule: String,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_job`, `not_found`, `unauthenticated`.
    pub code: String,
    /// Human readable.
    pub message: String,
    /// The offending field, when there is one (`jobs[3].width` in a bulk submission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Each invalid job of a submission.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<JobProblem>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message: message.into(),
                    field: None,
                    details: Vec::new(),
                },
            },
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.error.field = Some(field.into());
        self
    }

    pub fn with_details(mut self, details: Vec<JobProblem>) -> Self {
        self.body.error.details = details;
        self
    }

    /// 422: a field breaks a rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message).with_field(field)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send a valid API token as `Authorization: Bearer <token>`",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token's scope is read; this request needs write",
        )
    }

    pub fn rate_limited(wait: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this token; retry after the Retry-After seconds",
        );
        e.retry_after = Some(wait);
        e
    }

    /// 503: RabbitMQ or Redis did not answer (the request may be retried as it is).
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "A dependency failed a request.");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{e}; retry the request"),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "A request failed.");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<fluxq_wire::StoreError> for ApiError {
    fn from(e: fluxq_wire::StoreError) -> Self {
        Self::unavailable(e)
    }
}

impl From<fluxq_wire::amqp::AmqpError> for ApiError {
    fn from(e: fluxq_wire::amqp::AmqpError) -> Self {
        Self::unavailable(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
