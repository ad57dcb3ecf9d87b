//! `/dead`: the dead letters with reason and attempts, filtered by batch and reason,
//! a page at a time; a write session can replay the selected ones or all that match.
//! Listing takes and puts back every letter (see [`crate::read::dead`]), so this page
//! does not refresh itself.

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::layout::{Nav, page, pager};
use super::session::Viewer;
use crate::http::AppState;
use crate::read::dead;
use crate::replay::ReplayFilter;

/// Letters per page.
pub const PER_PAGE: usize = 50;

/// The query of `/dead`.
#[derive(Debug, Default, Deserialize)]
pub struct DeadQuery {
    pub batch: Option<String>,
    pub reason: Option<String>,
    pub offset: Option<u64>,
    pub done: Option<String>,
}

/// `GET /dead`.
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<DeadQuery>,
) -> Result<Markup, PageError> {
    let batch = q.batch.filter(|b| !b.is_empty());
    let reason = q.reason.filter(|r| !r.is_empty());
    let filter = ReplayFilter {
        batch: batch.clone(),
        reason_contains: reason.clone(),
        ..Default::default()
    };
    let offset = q.offset.unwrap_or(0);
    let page_ = {
        let mut source = state.dead.lock().await;
        dead::list(&mut source, &state.names, &filter, offset, PER_PAGE)
            .await
            .inspect_err(|_| source.reset())?
    };
    let href = {
        let mut s = String::from("/dead?");
        let mut q = url::form_urlencoded::Serializer::new(&mut s);
        if let Some(b) = &batch {
            q.append_pair("batch", b);
        }
        if let Some(r) = &reason {
            q.append_pair("reason", r);
        }
        q.finish();
        s
    };
    let body = html! {
        @if let Some(done) = &q.done { p.notice role="status" { (done) } }
        form.filters method="get" action="/dead" {
            input type="text" name="batch" placeholder="batch" value=[batch.as_deref()];
            input type="text" name="reason" placeholder="reason contains" value=[reason.as_deref()];
            button type="submit" { "Filter" }
        }
        p.muted { (page_.matching) " matching of " (page_.examined) " dead letters." }
        form method="post" action="/dead/replay" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            @if let Some(b) = &batch { input type="hidden" name="batch" value=(b); }
            @if let Some(r) = &reason { input type="hidden" name="reason" value=(r); }
            div.scroll { table {
                thead { tr {
                    @if viewer.can_write { th { "" } }
                    th { "Job" } th { "Batch" } th { "Reason" } th.num { "Attempts" } th.wide { "Lane" }
                } }
                tbody {
                    @for d in &page_.items {
                        tr {
                            @if viewer.can_write {
                                td { @if let Some(id) = &d.id { input type="checkbox" name="ids" value=(id) aria-label={ "select " (id) }; } }
                            }
                            td { @if let Some(id) = &d.id { a href={ "/jobs/" (id) } { (id) } } @else { span.muted { "unreadable" } } }
                            td { (d.batch.as_deref().unwrap_or("")) }
                            td { (d.reason) }
                            td.num { (d.attempts.map(|a| a.to_string()).unwrap_or_default()) }
                            td.wide { (d.lane.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
            @if viewer.can_write && !page_.items.is_empty() {
                div.controls {
                    details.control {
                        summary { "Replay…" }
                        p { "Publish the chosen dead letters to their lane again and reopen their failed records." }
                        button.danger type="submit" { "Confirm: replay selected" }
                        " "
                        button.danger type="submit" name="all" value="1" { "Confirm: replay all " (page_.matching) " matching" }
                    }
                }
            }
        }
        (pager(&href, offset, PER_PAGE as u64, page_.matching))
    };
    Ok(page("Dead letters", Nav::Dead, Some(&viewer), false, body))
}
