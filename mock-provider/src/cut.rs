//! Answers cut off mid-body: what a client sees when the connection drops after the
//! provider accepted (and billed) a task (`drop_after_accept_rate`).

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A 200 whose body stops after a few bytes and then fails, which makes the server
/// abort the connection: the client cannot tell whether its task was taken.
pub(crate) fn response() -> Response {
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(Bytes::from_static(b"{\"data\":[{\"taskType\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "mock: connection dropped after the task was accepted",
        )),
    ];
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
