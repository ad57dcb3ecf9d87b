//! What a dashboard page answers when it cannot show what was asked: a short HTML page
//! with the status (404 for what does not exist, 503 when Redis or RabbitMQ did not
//! answer), never a stack of details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::layout::message_page;
use crate::http::error::ApiError;

/// A page that could not be made.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: what.into(),
        }
    }

    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "A dashboard page could not be read.");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("{e}; reload the page to try again"),
        }
    }
}

impl From<fluxq_wire::StoreError> for PageError {
    fn from(e: fluxq_wire::StoreError) -> Self {
        Self::unavailable(e)
    }
}

impl From<fluxq_wire::amqp::AmqpError> for PageError {
    fn from(e: fluxq_wire::amqp::AmqpError) -> Self {
        Self::unavailable(e)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status,
            message: e.body.error.message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        (self.status, message_page(title, &self.message)).into_response()
    }
}
