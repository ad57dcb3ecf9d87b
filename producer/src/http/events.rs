//! `GET /v1/batches/{batch}/events`: Server-Sent Events of a batch.
//!
//! Each job of the batch reaching a final status is one `job` event whose `id` is its
//! `{ns}:events` entry id; a `progress` event with the batch's counts follows every
//! second; `done` (the final counts) ends the stream once the batch is finished and
//! every event before that point was sent. A client that reconnects with
//! `Last-Event-ID` (browsers do it by themselves) resumes right after that entry, so
//! no event is lost or repeated. Without it the stream starts at the batch's creation.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::time::Instant;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::read::batch;
use crate::read::events::{StreamId, read_after};

/// Entries read from the stream at once.
const READ: usize = 1000;
/// How often the stream is read while nothing new came.
const POLL: Duration = Duration::from_millis(200);
/// How often a `progress` event is sent.
const PROGRESS: Duration = Duration::from_secs(1);

/// A batch's final-status events, progress every second, and `done` at the end.
#[utoipa::path(
    get,
    path = "/v1/batches/{batch}/events",
    tag = "batches",
    params(
        ("batch" = String, Path, description = "The batch name"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An event stream: `job` (an EventView), `progress` and `done` (a BatchView)",
            content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 422, description = "Last-Event-ID is not a stream id", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let view = batch::batch(&state.store, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no batch {name:?}")))?;
    let resume =
        match headers.get("last-event-id") {
            None => None,
            Some(v) => Some(v.to_str().ok().and_then(StreamId::parse).ok_or_else(|| {
                ApiError::invalid("Last-Event-ID", "Last-Event-ID: not a stream id")
            })?),
        };
    let start = resume.unwrap_or_else(|| {
        let created_ms = view
            .created_at
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map_or(0, |t| t.timestamp_millis().max(0) as u64);
        StreamId {
            ms: created_ms.saturating_sub(1000),
            seq: 0,
        }
    });
    let st = Follow {
        state,
        batch: name,
        cursor: start,
        pending: VecDeque::new(),
        next_progress: Instant::now(),
        closing: false,
        ended: false,
    };
    let events = futures_util::stream::unfold(st, |mut st| async move {
        st.next().await.map(|ev| (Ok(ev), st))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Follow {
    state: AppState,
    batch: String,
    cursor: StreamId,
    pending: VecDeque<Event>,
    next_progress: Instant,
    /// The batch was seen finished: one more read, then `done`.
    closing: bool,
    ended: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            if self.ended || self.state.shutdown.is_cancelled() {
                return None;
            }
            let read = match read_after(&self.state.store, self.cursor, READ).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "Reading the events stream failed; trying again.");
                    self.pause(PROGRESS).await;
                    continue;
                }
            };
            let (entries, last) = read;
            let full = entries.len() == READ;
            self.cursor = last;
            for e in entries.into_iter().filter(|e| e.batch == self.batch) {
                let id = e.event_id.clone();
                if let Ok(ev) = Event::default().event("job").id(id).json_data(&e) {
                    self.pending.push_back(ev);
                }
            }
            if full {
                continue;
            }
            if self.closing {
                self.ended = true;
                self.push_counts("done").await;
                continue;
            }
            if Instant::now() >= self.next_progress {
                self.next_progress = Instant::now() + PROGRESS;
                // Counters and events move together, so once the counters say finished
                // every event is in the stream: read it to the end, then say done.
                self.closing = self.push_counts("progress").await;
                continue;
            }
            if self.pending.is_empty() {
                self.pause(POLL).await;
            }
        }
    }

    /// Queues an event of the batch's counts; returns whether the batch is finished.
    async fn push_counts(&mut self, name: &str) -> bool {
        match batch::batch(&self.state.store, &self.batch).await {
            Ok(Some(view)) => {
                if let Ok(ev) = Event::default().event(name).json_data(&view) {
                    self.pending.push_back(ev);
                }
                view.finished
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "Reading the batch failed.");
                false
            }
        }
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.state.shutdown.cancelled() => {}
        }
    }
}
