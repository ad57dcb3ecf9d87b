//! The axum application: the state every handler shares and the route table.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Uri, header};

use crate::config::MockConfig;
use crate::delivery::{self, Signer};
use crate::images::ImageCache;
use crate::journal::Journal;
use crate::sim::Sim;
use crate::{admin, bfl, runflow, runware};

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
    pub runware_requests: Journal,
    /// The Runflow run creations received: model, `Idempotency-Key` and body.
    pub runflow_requests: Journal,
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
            runware_requests: Journal::default(),
            runflow_requests: Journal::default(),
        }
    }

    /// Whether the request carries the accepted key in `x-key`.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get("x-key")
            .is_some_and(|k| k.as_bytes() == self.api_key.as_bytes())
    }

    /// The key given as `Authorization: Bearer <key>`: `None` when absent,
    /// `Some(false)` when it is not the accepted one.
    pub fn bearer(&self, headers: &HeaderMap) -> Option<bool> {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.as_bytes() == self.api_key.as_bytes())
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

/// All routes: each provider's API, the image delivery and admin under `/_mock`.
/// A provider module registers its own routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(bfl::routes())
        .merge(runware::routes())
        .merge(runflow::routes())
        .merge(delivery::routes())
        .merge(admin::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
