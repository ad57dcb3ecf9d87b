//! `/batches/{batch}`: counts, cost, budget, the controls (for write sessions), the
//! gallery of thumbnails (lazy-loaded, paged, filtered by status), and the failed and
//! moderated jobs grouped by error message. Live until the batch is finished.

use axum::Extension;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::batches::{budget, progress, urlencode};
use super::error::PageError;
use super::layout::{Nav, page, pager, time, time_ms, usd};
use super::session::Viewer;
use crate::http::AppState;
use crate::read::batches::{self, BatchRow};
use crate::read::gallery::{self, ErrorGroup, GalleryPage};

/// Thumbnails per page.
pub const PER_PAGE: usize = 60;

/// The statuses the gallery can be filtered by.
pub const FILTERS: [&str; 7] = [
    "succeeded",
    "failed",
    "moderated",
    "cancelled",
    "running",
    "retrying",
    "queued",
];

/// The query of a batch page.
#[derive(Debug, Default, Deserialize)]
pub struct BatchQuery {
    pub status: Option<String>,
    pub offset: Option<u64>,
    /// What a control just did (shown once, after its redirect).
    pub done: Option<String>,
}

/// `GET /batches/{batch}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(name): Path<String>,
    Query(q): Query<BatchQuery>,
) -> Result<Markup, PageError> {
    let row = batches::one(&state.store, &name)
        .await?
        .ok_or_else(|| PageError::not_found(format!("no batch {name:?}")))?;
    let status = q.status.filter(|s| FILTERS.contains(&s.as_str()));
    let offset = q.offset.unwrap_or(0);
    let tiles = gallery::page(&state.store, &name, status.as_deref(), offset, PER_PAGE).await?;
    let groups = if row.view.failed + row.view.moderated > 0 {
        gallery::error_groups(&state.store, &name).await?
    } else {
        Vec::new()
    };
    let base = format!("/batches/{}", urlencode(&name));
    let body = html! {
        @if let Some(done) = &q.done { p.notice role="status" { (done) } }
        (summary(&row))
        (super::controls::batch_controls(&viewer, &row))
        h2 { "Gallery" }
        nav.filters {
            a href=(base) aria-current=[status.is_none().then_some("page")] { "all" }
            @for f in FILTERS {
                a href={ (base) "?status=" (f) } aria-current=[(status.as_deref() == Some(f)).then_some("page")] { (f) }
            }
        }
        (gallery_grid(&tiles, &base, status.as_deref()))
        (errors(&groups))
    };
    Ok(page(
        &name,
        Nav::Batches,
        Some(&viewer),
        !row.view.finished,
        body,
    ))
}

fn summary(r: &BatchRow) -> Markup {
    let v = &r.view;
    html! {
        section #summary data-live {
            @if let Some(why) = &v.cancel_reason { p.notice { "Cancelled: " (why) } }
            (progress(r))
            dl.stats {
                div { dt { "Total" } dd #total { (v.total) } }
                div { dt { "Succeeded" } dd #succeeded { (v.succeeded) } }
                div { dt { "Failed" } dd #failed { (v.failed) } }
                div { dt { "Moderated" } dd #moderated { (v.moderated) } }
                div { dt { "Cancelled" } dd #cancelled { (r.cancelled) } }
                div { dt { "In progress" } dd #pending { (r.pending()) } }
                div { dt { "Cost" } dd #cost { (usd(&v.cost_usd)) } }
                div { dt { "Budget" } dd #budget { (budget(r)) } }
                @if r.reserved.0 > 0 { div { dt { "Reserved" } dd { (usd(&r.reserved.to_string())) } } }
                @if v.ambiguous_submits > 0 {
                    div { dt { "Possibly charged" } dd { (usd(&v.unconfirmed_cost_usd)) " (" (v.ambiguous_submits) " lost answers)" } }
                }
                div { dt { "Images/min (5 min)" } dd { (format!("{:.1}", r.per_minute)) } }
                div { dt { "Started" } dd { @if let Some(ms) = r.started_ms { (time_ms(ms)) } @else if let Some(t) = &v.created_at { (time(t)) } } }
                div { dt { "Finished" } dd { @if let Some(t) = &v.finished_at { (time(t)) } @else { span.muted { "not yet" } } } }
            }
        }
    }
}

fn gallery_grid(p: &GalleryPage, base: &str, status: Option<&str>) -> Markup {
    let href = match status {
        Some(s) => format!("{base}?status={s}"),
        None => base.to_owned(),
    };
    html! {
        section #gallery data-live {
            @if p.items.is_empty() {
                p.muted { "No jobs here." }
            } @else {
                div.gallery {
                    @for t in &p.items {
                        figure {
                            a href={ "/jobs/" (t.id) } {
                                @if t.has_image {
                                    img src={ "/jobs/" (t.id) "/thumbnail" } loading="lazy" decoding="async"
                                        width="256" height="256" alt={ "job " (t.place) ", " (t.status) };
                                } @else {
                                    div.empty { (t.status) }
                                }
                            }
                            figcaption {
                                span { "#" (t.place) }
                                span class={ "badge " (t.status) } { (t.status) }
                            }
                        }
                    }
                }
                (pager(&href, p.offset, PER_PAGE as u64, p.matching))
            }
        }
    }
}

fn errors(groups: &[ErrorGroup]) -> Markup {
    html! {
        section #errors data-live {
            @if !groups.is_empty() {
                h2 { "Errors" }
                div.scroll { table {
                    thead { tr { th { "Status" } th.num { "Jobs" } th { "Error" } th.wide { "Examples" } } }
                    tbody {
                        @for g in groups {
                            tr {
                                td { span class={ "badge " (g.status) } { (g.status) } }
                                td.num { (g.count) }
                                td { (g.error) }
                                td.wide { @for id in &g.examples { a href={ "/jobs/" (id) } { (&id[..8.min(id.len())]) } " " } }
                            }
                        }
                    }
                } }
            }
        }
    }
}
