//! What a write session can change from the dashboard: each control is a function over
//! the same library code the command line and the API use, and a POST handler that
//! checks the session's CSRF token and scope, acts, and redirects back with what it
//! did. Forms have a confirm step (see [`super::layout::control`]) and are not shown
//! to read sessions.
//!
//! - replay dead letters ([`crate::replay`]): of a batch, or selected ones.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::batches::urlencode;
use super::error::PageError;
use super::layout::control;
use super::session::Viewer;
use crate::http::AppState;
use crate::read::batches::BatchRow;
use crate::replay::{ReplayError, ReplayFilter, ReplayReport};

/// The fields of a submitted form, repeated names kept (`ids=a&ids=b`).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, if not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

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

/// `back` with `done=` (what was done) appended.
fn back(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let done: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
    Redirect::to(&format!("{to}{sep}done={done}")).into_response()
}

/// The controls of a batch page, for a write session (nothing for a read one).
pub fn batch_controls(viewer: &Viewer, row: &BatchRow) -> Markup {
    if !viewer.can_write {
        return html! {};
    }
    let base = format!("/batches/{}", urlencode(&row.view.batch));
    html! {
        div.controls {
            (control(
                &format!("{base}/replay-dead"),
                "Replay dead letters",
                "Publish this batch's dead letters to their lane again and reopen their failed records.",
                viewer,
                html! {},
            ))
        }
    }
}

/// `POST /batches/{batch}/replay-dead`.
pub async fn replay_batch(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(batch): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = Fields::parse(&body);
    viewer.check(f.get("csrf").unwrap_or_default())?;
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
    let f = Fields::parse(&body);
    viewer.check(f.get("csrf").unwrap_or_default())?;
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
