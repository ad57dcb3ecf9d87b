//! `GET /v1/lanes` (each lane's queue depth and pause, the delay tiers, the dead
//! letters), `POST /v1/lanes/{lane}/pause` and `POST /v1/lanes/{lane}/resume` (as
//! `producer pause|resume --lane`).

use axum::Json;
use axum::extract::{Path, State};
use fluxq_common::Lane;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::lanes::{self, Changed};
use crate::read::LanesView;
use crate::read::lanes::LanesError;

/// A lane after a pause or a resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LaneState {
    /// `bulk` or `interactive`.
    pub lane: String,
    /// Whether it is paused now.
    pub paused: bool,
    /// When it was paused (RFC 3339), while it is.
    pub paused_since: Option<String>,
    /// `false` when it already was in that state (pausing twice is harmless).
    pub changed: bool,
}

fn lane(name: &str) -> Result<Lane, ApiError> {
    Lane::parse(name)
        .ok_or_else(|| ApiError::not_found(format!("no lane {name:?} (bulk or interactive)")))
}

async fn state_of(state: &AppState, lane: Lane, changed: &Changed) -> Result<LaneState, ApiError> {
    let since = lanes::paused(&state.store).await?.remove(&lane);
    Ok(LaneState {
        lane: lane.as_str().to_owned(),
        paused: since.is_some(),
        paused_since: since,
        changed: *changed == Changed::Done,
    })
}

/// Every lane's queue depth and pause, the delay tiers and the dead letters.
#[utoipa::path(
    get,
    path = "/v1/lanes",
    tag = "lanes",
    responses(
        (status = 200, description = "The lanes", body = LanesView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "RabbitMQ or Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<LanesView>, ApiError> {
    let mut source = state.publishers.get().await;
    let view = crate::read::lanes::lanes(&state.store, &mut source)
        .await
        .map_err(|e| match e {
            LanesError::Amqp(e) => ApiError::unavailable(e),
            LanesError::Store(e) => ApiError::unavailable(e),
        })?;
    Ok(Json(view))
}

/// Pauses a lane fleet-wide: within 2 s no worker starts a job of it (jobs in flight
/// finish); its messages wait in RabbitMQ.
#[utoipa::path(
    post,
    path = "/v1/lanes/{lane}/pause",
    tag = "lanes",
    params(("lane" = String, Path, description = "`bulk` or `interactive`")),
    responses(
        (status = 200, description = "The lane, paused", body = LaneState),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such lane", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<LaneState>, ApiError> {
    let lane = lane(&name)?;
    let changed = lanes::pause(&state.store, lane).await?;
    Ok(Json(state_of(&state, lane, &changed).await?))
}

/// Resumes a paused lane: workers consume it again within 2 s.
#[utoipa::path(
    post,
    path = "/v1/lanes/{lane}/resume",
    tag = "lanes",
    params(("lane" = String, Path, description = "`bulk` or `interactive`")),
    responses(
        (status = 200, description = "The lane, running", body = LaneState),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A read token", body = ErrorBody),
        (status = 404, description = "No such lane", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<LaneState>, ApiError> {
    let lane = lane(&name)?;
    let changed = lanes::resume(&state.store, lane).await?;
    Ok(Json(state_of(&state, lane, &changed).await?))
}
