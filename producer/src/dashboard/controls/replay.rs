//! Replaying dead letters from the dashboard: a batch's (its page) or the selected ones
//! (`/dead`), through [`crate::replay`] as `producer replay-dead` does.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{Fields, back};
use crate::dashboard::batches::urlencode;
use crate::dashboard::error::PageError;
use crate::dashboard::session::Viewer;
use crate::http::AppState;
use crate::replay::{ReplayError, ReplayFilter, ReplayReport};

/// Replays the dead letters that match `filter` (one pass at a time per process).
pub async fn replay_dead(
    state: &AppState,
    filter: &ReplayFilter,
) -> Result<ReplayReport, PageError> {
    let mut source = state.dead.lock().await;
    crate::replay::replay_dead(&mut source, &state.store, &state.names, filter)
        .await
        .map_err(|e| {
            source.reset();
            match e {
                ReplayError::Amqp(e) => PageError::unavailable(e),
                ReplayError::Store(e) => PageError::unavailable(e),
            }
        })
}

fn said(r: &ReplayReport) -> String {
    format!(
        "Replayed {} dead letter(s) ({} record(s) reopened); {} kept; {} looked at.",
        r.replayed, r.reopened, r.kept, r.examined
    )
}

/// `POST /batches/{batch}/replay-dead`.
pub async fn replay_batch(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    Fields::checked(&body, &viewer)?;
    let filter = ReplayFilter {
        batch: Some(batch.clone()),
        ..Default::default()
    };
    let r = replay_dead(&state, &filter).await?;
    Ok(back(&format!("/batches/{}", urlencode(&batch)), &said(&r)))
}

/// `POST /dead/replay`: the selected dead letters (`ids`), or every one matching the
/// form's `batch` and `reason` when `all` is set.
pub async fn replay_selected(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::checked(&body, &viewer)?;
    let ids = f.all("ids");
    let all = f.get("all").is_some();
    if ids.is_empty() && !all {
        return Ok(back("/dead", "Nothing selected: nothing replayed."));
    }
    let filter = ReplayFilter {
        batch: f.get("batch").map(str::to_owned),
        reason_contains: f.get("reason").map(str::to_owned),
        ids: if all { Vec::new() } else { ids },
    };
    let r = replay_dead(&state, &filter).await?;
    Ok(back("/dead", &said(&r)))
}
