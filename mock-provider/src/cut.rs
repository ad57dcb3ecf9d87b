//! Answers cut off mid-body: what a client sees when the connection drops after the
//! provider accepted (and billed) a task (`drop_after_accept_rate`).

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An answer with `status` (the provider's success status) whose body stops after a
/// few bytes and then fails, which makes the server abort the connection: the client
/// cannot tell whether its task was taken.
pub(crate) fn response(status: StatusCode) -> Response {
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(Bytes::from_static(b"{\"id\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "mock: connection dropped after the task was accepted",
        )),
    ];
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
