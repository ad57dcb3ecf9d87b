//! The web dashboard of `producer serve`: server-rendered pages (maud) over the same
//! read layer as the API ([`crate::read`]), one stylesheet and one small script
//! embedded in the binary, browser sessions on the API's tokens (see docs/dashboard.md).
//!
//! - [`session`]: the login cookie, the viewer of a request, CSRF tokens.
//! - [`login`]: `/login`, `/logout`.
//! - [`layout`]: the page shell and the pieces pages share; [`assets`]: CSS and JS.
//! - [`batches`] (`/`), [`batch`] (`/batches/{batch}`), [`job`] (`/jobs/{id}`),
//!   [`dead`] (`/dead`), [`accounts`] (`/accounts`), [`lanes`] (`/lanes`): the pages.
//! - [`thumbs`]: `/jobs/{id}/thumbnail`, made once and cached.
//! - [`controls`]: what a write session can change (POSTs with a CSRF token).
//! - [`error`]: the page shown when a page cannot be made.

pub mod accounts;
pub mod assets;
pub mod batch;
pub mod batches;
pub mod controls;
pub mod dead;
pub mod error;
pub mod job;
pub mod lanes;
pub mod layout;
pub mod login;
pub mod session;
pub mod thumbs;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::http::AppState;

/// What the dashboard keeps across requests.
#[derive(Debug)]
pub struct Dashboard {
    pub key: session::SessionKey,
    pub thumbs: thumbs::ThumbCache,
}

impl Dashboard {
    /// Sessions signed with `secret` (random when `None`), thumbnails cached up to
    /// `thumb_bytes`.
    pub fn new(secret: Option<&str>, thumb_bytes: usize) -> Self {
        Self {
            key: session::SessionKey::new(secret),
            thumbs: thumbs::ThumbCache::new(thumb_bytes),
        }
    }
}

/// The Content-Security-Policy of every dashboard answer: only this origin's script,
/// style and images; no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    let html = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"text/html"));
    if html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// The dashboard's routes: the pages behind a session, the login page and the assets
/// without one.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(batches::list))
        .route("/batches/{batch}", get(batch::show))
        .route(
            "/batches/{batch}/replay-dead",
            post(controls::replay::replay_batch),
        )
        .route(
            "/batches/{batch}/cancel",
            post(controls::spend::cancel_batch_form),
        )
        .route(
            "/batches/{batch}/budget",
            post(controls::spend::budget_form),
        )
        .route("/jobs/{id}/cancel", post(controls::spend::cancel_job_form))
        .route("/jobs/{id}", get(job::show))
        .route("/jobs/{id}/image", get(job::image))
        .route("/jobs/{id}/thumbnail", get(thumbs::get))
        .route("/dead", get(dead::list))
        .route("/dead/replay", post(controls::replay::replay_selected))
        .route("/accounts", get(accounts::list))
        .route("/lanes", get(lanes::list).post(controls::lanes::form))
        .route_layer(middleware::from_fn_with_state(state, session::require));
    Router::new()
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        // Browsers ask for it on every site; there is none.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .merge(pages)
        .layer(middleware::from_fn(headers))
}
