//! Runware's answer shape: `{"data": [...], "errors": [...]}`, each error with `code`,
//! `message`, `parameter`, `taskType` and `taskUUID`, plus an HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::sim::{Fault, Refusal};

/// One entry of the `errors` array.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TaskError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub parameter: Option<String>,
    pub task_type: String,
    pub task_uuid: Option<String>,
    /// Set on `getResponse` answers for a task that ended in error.
    pub ended: bool,
}

impl TaskError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            parameter: None,
            task_type: "imageInference".to_owned(),
            task_uuid: None,
            ended: false,
        }
    }

    /// A validation error about `parameter` (400).
    pub fn invalid(code: &'static str, parameter: &str, message: impl Into<String>) -> Self {
        Self {
            parameter: Some(parameter.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    pub fn task(mut self, task_type: &str, task_uuid: Option<&str>) -> Self {
        task_type.clone_into(&mut self.task_type);
        self.task_uuid = task_uuid.map(str::to_owned);
        self
    }

    /// A server fault, not tied to any task.
    pub fn fault(fault: Fault) -> Self {
        match fault {
            Fault::Internal => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internalServerError",
                "An unexpected error occurred. Please try again.",
            ),
            Fault::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeoutProvider",
                "The provider did not answer in time. Please try again in a few moments.",
            ),
        }
    }

    /// Why the simulation refused a submit, in Runware's words. 429 and its code are
    /// unconfirmed (Runware documents no hard rate limits); the mock's cap and
    /// `throttle_rate` still apply to it.
    pub fn refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Fault(fault) => Self::fault(fault),
            Refusal::Throttled { .. } | Refusal::AtCapacity { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rateLimitExceeded",
                "Too many concurrent tasks. Please slow down.",
            ),
            Refusal::InsufficientCredits => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficientCredits",
                "Insufficient credits to run this task.",
            ),
            // Runware orders carry no idempotency key; their taskUUID is one.
            Refusal::Conflict | Refusal::IdempotencyConflict => Self::invalid(
                "conflictTaskUUID",
                "taskUUID",
                "A task with this taskUUID was already submitted; poll it with getResponse.",
            ),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = Map::new();
        v.insert("code".into(), json!(self.code));
        v.insert("message".into(), json!(self.message));
        if let Some(p) = &self.parameter {
            v.insert("parameter".into(), json!(p));
        }
        v.insert("taskType".into(), json!(self.task_type));
        if let Some(u) = &self.task_uuid {
            v.insert("taskUUID".into(), json!(u));
        }
        if self.ended {
            v.insert("status".into(), json!("error"));
        }
        Value::Object(v)
    }
}

/// The answer to one request: what its tasks produced.
#[derive(Debug, Default)]
pub(super) struct Envelope {
    pub data: Vec<Value>,
    pub errors: Vec<TaskError>,
    /// Padding to add to the answer (`poll_body_pad_bytes`), 0 for none.
    pub pad_bytes: u64,
}

impl IntoResponse for Envelope {
    /// 200 when any task produced data or none failed; otherwise the first error's status.
    fn into_response(self) -> Response {
        let status = match self.errors.first() {
            Some(e) if self.data.is_empty() => e.status,
            _ => StatusCode::OK,
        };
        let mut body = Map::new();
        if !self.data.is_empty() || self.errors.is_empty() {
            body.insert("data".into(), Value::Array(self.data));
        }
        if !self.errors.is_empty() {
            let errors = self.errors.iter().map(TaskError::to_json).collect();
            body.insert("errors".into(), Value::Array(errors));
        }
        crate::hostile::json(status, Value::Object(body), self.pad_bytes)
    }
}
