//! Image delivery: signed, expiring image URLs (BFL's `result.sample`, Runware's
//! `imageURL`, Runflow's output URLs) and the handler behind them, which behaves like
//! a storage bucket's signed URL (403 once expired or tampered), with injected 5xx
//! (`download_fail_first`, `download_fail_rate`) and chunked bodies
//! (`chunked_image_bytes`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use uuid::Uuid;

use crate::app::AppState;
use crate::sim::{Fault, Outcome, Status, TaskView};
use crate::{hostile, images};

type Refused = (StatusCode, &'static str);

/// Signs (task id, expiry) with keys drawn at start, so URLs cannot be forged.
#[derive(Debug)]
pub(crate) struct Signer(RandomState);

impl Signer {
    pub fn new() -> Self {
        Self(RandomState::new())
    }

    fn sign(&self, id: Uuid, index: u32, expires_ms: u64) -> String {
        format!(
            "{:016x}",
            self.0.hash_one((id.as_u128(), index, expires_ms))
        )
    }
}

/// The signed download URL of a task's image number `index` (0-based; only Runware
/// tasks make more than one, and only their URLs carry `&n=`).
pub(crate) fn sample_url(
    base: &str,
    signer: &Signer,
    id: Uuid,
    index: u32,
    expires_ms: u64,
) -> String {
    let sig = signer.sign(id, index, expires_ms);
    let n = if index == 0 {
        String::new()
    } else {
        format!("&n={index}")
    };
    format!("{base}/_mock/images/{id}?exp={expires_ms}&sig={sig}{n}")
}

/// The delivery route.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/_mock/images/{id}", get(download))
}

/// `GET /_mock/images/{id}?exp=&sig=`: the image, in the task's output format.
async fn download(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (id, index, task) = match check(&app, &id, &query) {
        Ok(found) => found,
        Err(refusal) => {
            app.sim.record(|s| s.downloads_refused += 1);
            return refusal.into_response();
        }
    };
    if let Err(fault) = app.sim.download_gate(id) {
        return match fault {
            Fault::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "We encountered an internal error. Please try again.",
            ),
            Fault::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Please reduce your request rate.",
            ),
        }
        .into_response();
    }
    let bytes = match image(&app, id, index, &task) {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal.into_response(),
    };
    let with_key = headers.contains_key("x-key") || headers.contains_key(header::AUTHORIZATION);
    app.sim.record(|s| {
        s.downloads += 1;
        s.downloads_with_key += u64::from(with_key);
    });
    let content_type = images::content_type(task.format);
    match app.sim.knobs().chunked_image_bytes {
        Some(total) => hostile::chunked_image(content_type, bytes, total),
        None => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
    }
}

/// The task and image index behind a URL whose signature, expiry and task check out.
fn check(
    app: &AppState,
    id: &str,
    query: &HashMap<String, String>,
) -> Result<(Uuid, u32, TaskView), Refused> {
    const NOT_FOUND: Refused = (StatusCode::NOT_FOUND, "The specified blob does not exist.");
    let id = Uuid::parse_str(id).map_err(|_| NOT_FOUND)?;
    let index = match query.get("n") {
        None => 0,
        Some(n) => n.parse::<u32>().map_err(|_| NOT_FOUND)?,
    };
    let expires_ms = query.get("exp").and_then(|e| e.parse::<u64>().ok());
    let signed = expires_ms
        .zip(query.get("sig"))
        .is_some_and(|(exp, sig)| *sig == app.signer.sign(id, index, exp));
    let Some(expires_ms) = expires_ms.filter(|_| signed) else {
        return Err((StatusCode::FORBIDDEN, "Signature did not match."));
    };
    if app.sim.clock().now_unix_ms() > expires_ms {
        return Err((StatusCode::FORBIDDEN, "Signed URL expired."));
    }
    let task = app.sim.lookup(id).ok_or(NOT_FOUND)?;
    if task.status != Status::Done(Outcome::Ready) || index >= task.results {
        return Err(NOT_FOUND);
    }
    Ok((id, index, task))
}

/// The encoded image, from the cache or drawn now.
fn image(app: &AppState, id: Uuid, index: u32, task: &TaskView) -> Result<Bytes, Refused> {
    if let Some(bytes) = app.images.get((id, index)) {
        return Ok(bytes);
    }
    let seed = task.seed.wrapping_add(i64::from(index));
    let bytes = images::render(&task.prompt, seed, task.format)
        .map(Bytes::from)
        .map_err(|e| {
            tracing::error!(error = %e, "Could not encode a mock image.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not encode the image.",
            )
        })?;
    app.images.put((id, index), bytes.clone());
    Ok(bytes)
}
