//! `GET /v1/batches/{batch}`: counters, cost, and the failed jobs a page at a time.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;
use crate::read::batch::{self, MAX_PAGE};
use crate::read::{BatchView, FailedPage};

/// Query of the batch endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// `next_cursor` of the previous page of failed jobs.
    pub cursor: Option<String>,
    /// Failed jobs per page (1-50, default 50).
    pub limit: Option<u16>,
}

/// A batch and a page of its failed jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatchResponse {
    #[serde(flatten)]
    pub batch: BatchView,
    pub failed_jobs: FailedPage,
}

/// A batch's counts, cost and failed jobs.
#[utoipa::path(
    get,
    path = "/v1/batches/{batch}",
    tag = "batches",
    params(("batch" = String, Path, description = "The batch name"), BatchQuery),
    responses(
        (status = 200, description = "The batch", body = BatchResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 422, description = "A query parameter is not a number", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<BatchQuery>,
) -> Result<Json<BatchResponse>, ApiError> {
    let view = batch::batch(&state.store, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no batch {name:?}")))?;
    let failed = batch::failed_page(
        &state.store,
        &name,
        q.cursor.as_deref(),
        q.limit.map_or(MAX_PAGE, usize::from),
    )
    .await?;
    Ok(Json(BatchResponse {
        batch: view,
        failed_jobs: failed,
    }))
}
