//! `/jobs/{id}`: one job: status, its image(s) full size, cost, attempts, provider task,
//! timeline, error, metadata, and every field of its record as Redis holds it. Also
//! `/jobs/{id}/image`, the full image for a browser session.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use uuid::Uuid;

use super::batches::urlencode;
use super::error::PageError;
use super::layout::{Nav, control, page, time, usd};
use super::session::Viewer;
use crate::http::AppState;
use crate::http::image::ImageQuery;
use crate::read::JobView;

/// What a control just did (shown once, after its redirect).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

fn parse(id: &str) -> Result<Uuid, PageError> {
    id.parse()
        .map_err(|_| PageError::not_found(format!("no job {id:?}")))
}

/// `GET /jobs/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let uuid = parse(&id)?;
    let record = state.store.job(&uuid).await?;
    let fields: BTreeMap<String, String> = record.clone().into_iter().collect();
    // What the job asked for (`params`, kept from its first message).
    let params: Option<serde_json::Map<String, serde_json::Value>> = fields
        .get("params")
        .and_then(|p| serde_json::from_str(p).ok());
    let job = JobView::from_record(uuid, record)
        .ok_or_else(|| PageError::not_found(format!("no job {id}")))?;
    let images = if job.image_paths.is_empty() {
        usize::from(job.image_path.is_some())
    } else {
        job.image_paths.len()
    };
    let live = !matches!(
        job.status.as_str(),
        "succeeded" | "failed" | "moderated" | "cancelled"
    );
    let body = html! {
        @if let Some(done) = &q.done { p.notice role="status" { (done) } }
        @if live && viewer.can_write {
            div.controls {
                (control(
                    &format!("/jobs/{uuid}/cancel"),
                    "Cancel job",
                    "Not yet submitted: it ends cancelled. At the provider: it finishes and is paid for.",
                    &viewer,
                    html! {},
                ))
            }
        }
        section #job data-live {
            p {
                span class={ "badge " (job.status) } { (job.status) }
                @if let Some(b) = &job.batch { " in batch " a href={ "/batches/" (urlencode(b)) } { (b) } }
            }
            dl.fields {
                dt { "Cost" } dd #job-cost { @if let Some(c) = &job.cost_usd { (usd(c)) } @else { span.muted { "none yet" } } }
                dt { "Attempts" } dd { (job.attempts) }
                dt { "Provider" } dd { (job.provider.as_deref().unwrap_or("")) " " (job.model.as_deref().unwrap_or("")) }
                dt { "Provider task" } dd { (job.provider_task_id.as_deref().unwrap_or("none")) }
                @if let Some(e) = &job.error { dt { "Error" } dd.error { (e) } }
            }
            h2 { "Timeline" }
            ol.timeline {
                @for (label, t) in [("created", &job.created_at), ("first submitted", &job.submitted_at), ("finished", &job.finished_at)] {
                    @if let Some(t) = t { li { (label) ": " (time(t)) } }
                }
                @if let Some(t) = &job.updated_at { li.muted { "last change: " (time(t)) } }
            }
            @if images > 0 {
                h2 { "Image" @if images > 1 { "s" } }
                div.full {
                    @for n in 1..=images {
                        a href={ "/jobs/" (uuid) "/image?n=" (n) } {
                            img src={ "/jobs/" (uuid) "/image?n=" (n) } alt={ "image " (n) " of job " (uuid) };
                        }
                    }
                }
            }
            @if let Some(p) = &params {
                h2 { "Prompt and parameters" }
                @if let Some(prompt) = p.get("prompt").and_then(|v| v.as_str()) { blockquote #prompt { (prompt) } }
                dl.fields {
                    @for (k, v) in p.iter().filter(|(k, _)| k.as_str() != "prompt") {
                        dt { (k) } dd { (v.as_str().map_or_else(|| v.to_string(), str::to_owned)) }
                    }
                }
            }
            @if let Some(m) = &job.metadata {
                h2 { "Metadata" }
                pre { (serde_json::to_string_pretty(m).unwrap_or_default()) }
            }
            h2 { "Record" }
            p.muted { "Every field of " code { (state.names.job_key(&uuid)) } ". Jobs recorded before records kept their parameters have no " code { "params" } "; metadata is what the job carried." }
            dl.fields {
                @for (k, v) in &fields { dt { (k) } dd { (v) } }
            }
        }
    };
    Ok(page(
        &format!("Job {uuid}"),
        Nav::None,
        Some(&viewer),
        live,
        body,
    ))
}

/// `GET /jobs/{id}/image`: the stored image, as `/v1/jobs/{id}/image` serves it.
pub async fn image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Query<ImageQuery>,
) -> Result<Response, PageError> {
    Ok(crate::http::image::serve(&state, &id, q.0.n).await?)
}
