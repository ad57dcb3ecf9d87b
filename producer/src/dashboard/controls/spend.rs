//! Spend control from the dashboard: cancel a batch or a job, set a batch's budget,
//! through [`crate::spend`] as `producer cancel` and `producer budget` do.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::{Fields, back};
use crate::dashboard::batches::urlencode;
use crate::dashboard::error::PageError;
use crate::dashboard::session::Viewer;
use crate::http::AppState;
use crate::spend::{self, SpendError};

fn page_error(e: SpendError) -> PageError {
    match e {
        SpendError::NotFound(what) => PageError::not_found(what),
        other => PageError::unavailable(other),
    }
}

/// Cancels `batch` (see [`crate::spend::cancel_batch`]); says what it did.
pub async fn cancel_batch(
    state: &AppState,
    batch: &str,
    reason: Option<&str>,
) -> Result<String, PageError> {
    let o = spend::cancel_batch(&state.store, batch, reason)
        .await
        .map_err(page_error)?;
    Ok(o.to_string())
}

/// Cancels job `id` (see [`crate::spend::cancel_job`]); says what it did.
pub async fn cancel_job(
    state: &AppState,
    id: &Uuid,
    reason: Option<&str>,
) -> Result<String, PageError> {
    let o = spend::cancel_job(&state.store, id, reason)
        .await
        .map_err(page_error)?;
    Ok(o.to_string())
}

/// Sets `batch`'s budget to `usd` (a decimal USD string); raising it resumes the jobs
/// it had cancelled. Says what it did.
pub async fn set_budget(state: &AppState, batch: &str, usd: &str) -> Result<String, PageError> {
    let amount = spend::cli::parse_usd(usd).map_err(|why| PageError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: why,
    })?;
    let mut source = state.publishers.get().await;
    let o = spend::set_budget(&state.store, &mut source, batch, amount)
        .await
        .map_err(page_error)?;
    Ok(o.to_string())
}

/// `POST /batches/{batch}/cancel`.
pub async fn cancel_batch_form(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::checked(&body, &viewer)?;
    let said = cancel_batch(&state, &batch, f.get("reason")).await?;
    Ok(back(&format!("/batches/{}", urlencode(&batch)), &said))
}

/// `POST /batches/{batch}/budget`.
pub async fn budget_form(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::checked(&body, &viewer)?;
    let said = set_budget(&state, &batch, f.get("usd").unwrap_or_default()).await?;
    Ok(back(&format!("/batches/{}", urlencode(&batch)), &said))
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel_job_form(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::checked(&body, &viewer)?;
    let uuid: Uuid = id
        .parse()
        .map_err(|_| PageError::not_found(format!("no job {id:?}")))?;
    let said = cancel_job(&state, &uuid, f.get("reason")).await?;
    Ok(back(&format!("/jobs/{uuid}"), &said))
}
