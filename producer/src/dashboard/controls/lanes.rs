//! Pausing and resuming a lane fleet-wide from the dashboard, through
//! [`crate::lanes`] as `producer pause` and `producer resume` do.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use fluxq_common::Lane;

use super::{Fields, back};
use crate::dashboard::error::PageError;
use crate::dashboard::session::Viewer;
use crate::http::AppState;
use crate::lanes;

/// Pauses (`paused`) or resumes `lane`; says what it did.
pub async fn set_lane_paused(
    state: &AppState,
    lane: Lane,
    paused: bool,
) -> Result<String, PageError> {
    Ok(if paused {
        lanes::pause_report(lane, &lanes::pause(&state.store, lane).await?)
    } else {
        lanes::resume_report(lane, &lanes::resume(&state.store, lane).await?)
    })
}

/// `POST /lanes`: `lane` and `action` (`pause` or `resume`).
pub async fn form(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::checked(&body, &viewer)?;
    let lane = f
        .get("lane")
        .and_then(Lane::parse)
        .ok_or_else(|| PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "lane: bulk or interactive".into(),
        })?;
    let paused = match f.get("action") {
        Some("pause") => true,
        Some("resume") => false,
        _ => {
            return Err(PageError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: "action: pause or resume".into(),
            });
        }
    };
    let said = set_lane_paused(&state, lane, paused).await?;
    Ok(back("/lanes", &said))
}
