//! `GET /v1/dead` (the dead letters, paged) and `POST /v1/dead/replay` (as
//! `producer replay-dead`). Both work through a snapshot of `{ns}.dead` that takes
//! and puts back each letter (see [`crate::read::dead`]); one pass at a time runs in
//! this process.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;
use crate::read::dead::{self, DeadPage};
use crate::replay::{ReplayError, ReplayFilter, replay_dead};

/// Query of `GET /v1/dead`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadQuery {
    /// Only dead letters of this batch.
    pub batch: Option<String>,
    /// Only dead letters whose reason contains this text.
    pub reason: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i32>,
    /// Letters per page (1-200, default 50).
    pub limit: Option<u16>,
}

/// Which dead letters to replay (none given: all).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub batch: Option<String>,
    pub reason_contains: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// Dead letters looked at.
    pub examined: u64,
    /// Published again to their lane.
    pub replayed: u64,
    /// Failed records moved back to `queued`.
    pub reopened: u64,
    /// Left in the dead-letter queue.
    pub kept: u64,
}

/// The dead letters that match, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/dead",
    tag = "dead letters",
    params(DeadQuery),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadPage),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A query parameter is not a number", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeadQuery>,
) -> Result<Json<DeadPage>, ApiError> {
    let offset = u64::try_from(q.cursor.unwrap_or(0))
        .map_err(|_| ApiError::invalid("cursor", "cursor: not a cursor of this listing"))?;
    let filter = ReplayFilter {
        batch: q.batch,
        reason_contains: q.reason,
        ..Default::default()
    };
    let mut source = state.dead.lock().await;
    let page = dead::list(
        &mut source,
        &state.names,
        &filter,
        offset,
        usize::from(q.limit.unwrap_or(50)),
    )
    .await
    .inspect_err(|_| source.reset())?;
    Ok(Json(page))
}

/// Publishes the matching dead letters to their lane again and reopens their records.
#[utoipa::path(
    post,
    path = "/v1/dead/replay",
    tag = "dead letters",
    request_body(content = ReplayRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "What was replayed", body = ReplayResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ or Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<ReplayResponse>, ApiError> {
    // No filter replays everything, so it must be asked for (`{}`), never implied.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "body",
            "body: required; {} replays every dead letter",
        ));
    }
    let req = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| ApiError::invalid("body", "body: must be a JSON object"))?;
    let req: ReplayRequest =
        serde_json::from_value(req).map_err(|e| ApiError::invalid("body", format!("body: {e}")))?;
    let filter = ReplayFilter {
        batch: req.batch,
        reason_contains: req.reason_contains,
        ..Default::default()
    };
    let mut source = state.dead.lock().await;
    let r = replay_dead(&mut source, &state.store, &state.names, &filter)
        .await
        .map_err(|e| {
            source.reset();
            match e {
                ReplayError::Amqp(e) => ApiError::unavailable(e),
                ReplayError::Store(e) => ApiError::unavailable(e),
            }
        })?;
    Ok(Json(ReplayResponse {
        examined: r.examined,
        replayed: r.replayed,
        reopened: r.reopened,
        kept: r.kept,
    }))
}
