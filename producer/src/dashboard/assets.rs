//! The stylesheet and the script, embedded in the binary (`include_str!`) and cached by
//! browsers for an hour (their paths carry the crate's version).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Where the stylesheet is served.
pub const CSS_PATH: &str = concat!("/assets/dashboard-", env!("CARGO_PKG_VERSION"), ".css");
/// Where the script is served.
pub const JS_PATH: &str = concat!("/assets/dashboard-", env!("CARGO_PKG_VERSION"), ".js");

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The stylesheet.
pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// The script.
pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
