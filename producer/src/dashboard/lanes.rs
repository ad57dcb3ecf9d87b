//! `/lanes`: how many messages wait in each lane's queue, in the delay tiers and in the
//! dead-letter queue, the consumers of each lane, and whether it is paused fleet-wide,
//! read by [`crate::read::lanes`]; a write session can pause and resume a lane. Live.

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};

use super::error::PageError;
use super::job::Done;
use super::layout::{Nav, page, time};
use super::session::Viewer;
use crate::http::AppState;
use crate::read::lanes::{self, LanesError, LanesView};

/// Reads the lanes through the dead-letter channel (one passive declare per queue).
pub async fn read(state: &AppState) -> Result<LanesView, PageError> {
    let mut source = state.dead.lock().await;
    lanes::lanes(&state.store, &mut source)
        .await
        .map_err(|e| match e {
            LanesError::Amqp(e) => PageError::unavailable(e),
            LanesError::Store(e) => PageError::unavailable(e),
        })
}

/// `GET /lanes`.
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let view = read(&state).await?;
    let body = html! {
        @if let Some(done) = &q.done { p.notice role="status" { (done) } }
        div #lanes data-live {
            div.scroll { table {
                thead { tr {
                    th { "Lane" } th.wide { "Queue" } th.num { "Waiting" } th.num { "Consumers" } th { "State" }
                    @if viewer.can_write { th { "" } }
                } }
                tbody {
                    @for l in &view.lanes {
                        tr {
                            td { (l.lane) }
                            td.wide { code { (l.queue) } }
                            td.num { (l.messages) }
                            td.num { (l.consumers) }
                            td {
                                @if let Some(since) = &l.paused_since {
                                    span.badge.moderated { "paused" } span.muted { " since " (time(since)) }
                                } @else { span.badge.succeeded { "running" } }
                            }
                            @if viewer.can_write {
                                td {
                                    form method="post" action="/lanes" {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="lane" value=(l.lane);
                                        @if l.paused {
                                            button.primary type="submit" name="action" value="resume" { "Resume " (l.lane) }
                                        } @else {
                                            button.danger type="submit" name="action" value="pause" { "Pause " (l.lane) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @for d in &view.delay {
                        tr { td.muted { "retry delay" } td.wide { code { (d.queue) } } td.num { (d.messages) } td {} td {} @if viewer.can_write { td {} } }
                    }
                    tr { td { "dead" } td.wide { code { (view.dead.queue) } } td.num { (view.dead.messages) } td {} td {} @if viewer.can_write { td {} } }
                }
            } }
            p.muted { "A paused lane's messages wait in its queue; jobs in flight finish. Workers follow a pause within 2 s." }
        }
    };
    Ok(page("Lanes", Nav::Lanes, Some(&viewer), true, body))
}
