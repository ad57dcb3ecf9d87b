//! `GET /v1/accounts`: each provider account's limiter and breaker state.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::read::AccountView;

/// Each provider account's slots in flight, effective limit, cool-down, 429s and breaker.
#[utoipa::path(
    get,
    path = "/v1/accounts",
    tag = "accounts",
    responses(
        (status = 200, description = "Every account workers have written state for", body = Vec<AccountView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AccountView>>, ApiError> {
    Ok(Json(crate::read::accounts(&state.store).await?))
}
