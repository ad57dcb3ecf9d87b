//! `/lanes`: how many messages wait in each lane's queue and in the dead-letter queue
//! (passive declares), and whether each lane is paused fleet-wide (`{ns}:paused`).
//! Live.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use fluxq_common::Lane;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use maud::{Markup, html};
use redis::AsyncCommands;

use super::error::PageError;
use super::layout::{Nav, page, time};
use super::session::Viewer;
use crate::http::AppState;

/// One queue as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneRow {
    pub name: String,
    pub queue: String,
    pub depth: u32,
    /// When it was paused (RFC 3339); `None`: not paused, or not a lane.
    pub paused_since: Option<String>,
    pub lane: Option<Lane>,
}

/// The lanes and the dead-letter queue, in that order.
pub async fn rows(state: &AppState) -> Result<Vec<LaneRow>, PageError> {
    let paused: HashMap<String, String> = state
        .store
        .connection()
        .hgetall(state.names.paused_lanes_key())
        .await
        .map_err(PageError::unavailable)?;
    let mut queues: Vec<(String, String, Option<Lane>)> = Lane::ALL
        .into_iter()
        .map(|l| (l.as_str().to_owned(), state.names.lane_queue(l), Some(l)))
        .collect();
    queues.push(("dead".into(), state.names.dead_queue(), None));
    let mut source = state.dead.lock().await;
    let ch = source.channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    for (name, queue, lane) in queues {
        let q = ch
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await;
        let depth = match q {
            Ok(q) => q.message_count(),
            Err(e) => {
                source.reset();
                return Err(PageError::unavailable(e));
            }
        };
        out.push(LaneRow {
            paused_since: paused.get(&name).cloned(),
            name,
            queue,
            depth,
            lane,
        });
    }
    Ok(out)
}

/// `GET /lanes`.
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Markup, PageError> {
    let rows = rows(&state).await?;
    let body = html! {
        div #lanes data-live {
            div.scroll { table {
                thead { tr { th { "Lane" } th.wide { "Queue" } th.num { "Waiting" } th { "State" } } }
                tbody {
                    @for r in &rows {
                        tr {
                            td { (r.name) }
                            td.wide { code { (r.queue) } }
                            td.num { (r.depth) }
                            td {
                                @if r.lane.is_none() { span.muted { "–" } }
                                @else if let Some(since) = &r.paused_since { span.badge.moderated { "paused" } span.muted { " since " (time(since)) } }
                                @else { span.badge.succeeded { "running" } }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(page("Lanes", Nav::Lanes, Some(&viewer), true, body))
}
