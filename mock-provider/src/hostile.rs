//! Hostile replies for clients' robustness tests: JSON answers padded to any size
//! (`poll_body_pad_bytes`) and images of any size sent chunked, without
//! `Content-Length` (`chunked_image_bytes`). Both are streamed, so the mock itself
//! holds at most one small chunk of padding whatever the size asked for.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::Value;

/// The largest piece of padding sent at once.
const CHUNK: usize = 64 * 1024;

static PADDING: [u8; CHUNK] = [b'x'; CHUNK];
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// `value` as a JSON answer. With `pad_bytes > 0` and an object, the object gets one
/// more field, `"mock_padding"`, a string of `pad_bytes` `x` characters: still valid
/// JSON, about `pad_bytes` bytes bigger, sent chunked.
pub(crate) fn json(status: StatusCode, value: Value, pad_bytes: u64) -> Response {
    if pad_bytes == 0 || !value.is_object() {
        return (status, Json(value)).into_response();
    }
    let mut head = match serde_json::to_vec(&value) {
        Ok(head) => head,
        Err(_) => return (status, Json(value)).into_response(),
    };
    // An object's text ends with `}`; an empty one is just `{}`.
    head.pop();
    if head.len() > 1 {
        head.push(b',');
    }
    head.extend_from_slice(b"\"mock_padding\":\"");
    let body = stream::iter([Bytes::from(head)])
        .chain(filler(&PADDING, pad_bytes))
        .chain(stream::iter([Bytes::from_static(b"\"}")]))
        .map(Ok::<Bytes, std::io::Error>);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// An image answer of exactly `total` bytes without `Content-Length`: `image`
/// (so its magic bytes come first), cut short or followed by zero bytes.
pub(crate) fn chunked_image(content_type: &'static str, image: Bytes, total: u64) -> Response {
    let head = image.slice(..usize::try_from(total).map_or(image.len(), |t| t.min(image.len())));
    let rest = total.saturating_sub(head.len() as u64);
    let body = stream::iter([head])
        .chain(filler(&ZEROS, rest))
        .map(Ok::<Bytes, std::io::Error>);
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

/// `len` bytes of `pattern`, in chunks of at most [`CHUNK`].
fn filler(pattern: &'static [u8; CHUNK], len: u64) -> impl Stream<Item = Bytes> + Send {
    stream::unfold(len, move |left| async move {
        if left == 0 {
            return None;
        }
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        Some((Bytes::from_static(&pattern[..n]), left - n as u64))
    })
}
