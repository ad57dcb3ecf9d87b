//! `/`: the recent batches, newest first, a page at a time: progress, cost, budget,
//! start and end, images per minute over the last five minutes. Live.

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::layout::{Nav, bar, page, pager, time, time_ms, usd};
use super::session::Viewer;
use crate::http::AppState;
use crate::read::batches::{self, BatchRow};

/// Batches per page.
pub const PER_PAGE: usize = 25;

/// The query of `/`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub offset: Option<u64>,
}

/// The progress bar of a batch.
pub fn progress(r: &BatchRow) -> Markup {
    let v = &r.view;
    bar(
        &[
            ("succeeded", "succeeded", v.succeeded),
            ("failed", "failed", v.failed),
            ("moderated", "moderated", v.moderated),
            ("cancelled", "cancelled", r.cancelled),
        ],
        v.total,
    )
}

/// The budget cell: `$spent / $budget` or a dash.
pub fn budget(r: &BatchRow) -> Markup {
    html! {
        @match &r.budget {
            Some(b) => { (usd(&b.to_string())) }
            None => span.muted { "none" },
        }
    }
}

/// `GET /`.
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<ListQuery>,
) -> Result<Markup, PageError> {
    let offset = q.offset.unwrap_or(0);
    let list = batches::recent(&state.store, offset as usize, PER_PAGE).await?;
    let body = html! {
        div #batches data-live {
            @if list.items.is_empty() {
                p.notice { "No batches yet. Batches recorded before this version of fluxq are not listed; open one with /batches/NAME." }
            } @else {
                div.scroll {
                    table {
                        thead { tr {
                            th { "Batch" } th { "Progress" } th.num { "Cost" } th.num.wide { "Budget" }
                            th.wide { "Started" } th.wide { "Finished" } th.num { "Images/min" }
                        } }
                        tbody {
                            @for r in &list.items {
                                tr {
                                    td { a href={ "/batches/" (urlencode(&r.view.batch)) } { (r.view.batch) } }
                                    td { (progress(r)) }
                                    td.num { (usd(&r.view.cost_usd)) }
                                    td.num.wide { (budget(r)) }
                                    td.wide { @if let Some(ms) = r.started_ms { (time_ms(ms)) } }
                                    td.wide {
                                        @if let Some(t) = &r.view.finished_at { (time(t)) }
                                        @else if r.view.finished { "yes" }
                                        @else { span.muted { "running" } }
                                    }
                                    td.num { (format!("{:.1}", r.per_minute)) }
                                }
                            }
                        }
                    }
                }
                (pager("/", offset, PER_PAGE as u64, list.total))
            }
        }
    };
    Ok(page("Batches", Nav::Batches, Some(&viewer), true, body))
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
