//! The axum application: the state every handler shares and the route table.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Uri, header};
use axum::routing::{get, post};

use crate::config::MockConfig;
use crate::delivery::{self, Signer};
use crate::images::ImageCache;
use crate::sim::Sim;
use crate::{admin, bfl, runware};

/// Request bodies may carry up to ten base64 reference images.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every handler shares.
pub(crate) struct AppState {
    pub sim: Sim,
    /// Where clients reach the mock when a request does not say (no `Host`).
    pub base_url: String,
    /// When set, the base of every URL the mock hands out, whatever the `Host`.
    pub public_url: Option<String>,
    pub api_key: String,
    pub signer: Signer,
    pub images: ImageCache,
    /// The Runware `imageInference` tasks received, as sent.
    pub runware_requests: runware::Journal,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.base_url)
            .field("public_url", &self.public_url)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(config: MockConfig, base_url: String) -> Self {
        Self {
            public_url: config.public_url.clone(),
            api_key: config.api_key.clone(),
            sim: Sim::new(config),
            base_url,
            signer: Signer::new(),
            images: ImageCache::default(),
            runware_requests: runware::Journal::default(),
        }
    }

    /// Whether the request carries the accepted key in `x-key`.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get("x-key")
            .is_some_and(|k| k.as_bytes() == self.api_key.as_bytes())
    }

    /// The base for URLs handed back to this request's client: the configured public
    /// URL, else the host the client used (so `polling_url` works from another
    /// container), else the listening address.
    pub fn base_for(&self, headers: &HeaderMap, uri: &Uri) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        match host {
            Some(host) if !host.is_empty() => format!("http://{host}"),
            _ => self.base_url.clone(),
        }
    }
}

/// All routes: the Runware API at `/v1`, the BFL API under `/v1/…`, the image delivery
/// and admin under `/_mock`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1", post(runware::tasks))
        .route("/v1/{model}", post(bfl::submit))
        .route("/v1/get_result", get(bfl::get_result))
        .route("/v1/credits", get(bfl::credits))
        .route("/_mock/images/{id}", get(delivery::download))
        .route("/_mock/stats", get(admin::stats))
        .route("/_mock/runware/requests", get(runware::requests))
        .route("/_mock/config", get(admin::knobs).post(admin::update))
        .route("/_mock/reset-stats", post(admin::reset_stats))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
