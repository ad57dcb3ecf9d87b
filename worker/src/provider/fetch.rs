//! Reading provider replies with bounded memory: every body is streamed and cut off
//! at its cap whatever `Content-Length` says (a chunked reply has none).

use std::ops::Deref;
use std::sync::Arc;

use fluxq_common::Failure;
use serde::de::DeserializeOwned;

use super::http::transport_failure;

/// Largest JSON reply read from a provider (submit, poll, account probes).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Largest error body read (it is quoted, shortened, in the failure reason).
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The HTTP client every provider sends through, with this worker's limits on what
/// it reads back and where images may be downloaded from.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    /// `FLUXQ_MAX_IMAGE_BYTES`: largest image downloaded.
    pub max_image_bytes: u64,
    /// `FLUXQ_DOWNLOAD_HOSTS`: hosts (or `*.domain` patterns) images may come from,
    /// besides the provider's own base host.
    pub download_hosts: Arc<[String]>,
}

impl Http {
    pub fn new(client: reqwest::Client, max_image_bytes: u64, download_hosts: Vec<String>) -> Self {
        Self {
            client,
            max_image_bytes,
            download_hosts: download_hosts.into(),
        }
    }
}

impl Deref for Http {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.client
    }
}

/// A body longer than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub u64);

/// Reads at most `cap` bytes of `resp`'s body: `Ok(Err(TooLarge))` as soon as it
/// says or turns out to be longer, without reading the rest.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    what: &str,
) -> Result<Result<Vec<u8>, TooLarge>, Failure> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Ok(Err(TooLarge(cap)));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_failure(what, e))? {
        if (buf.len() + chunk.len()) as u64 > cap {
            return Ok(Err(TooLarge(cap)));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Ok(buf))
}

/// Reads a JSON reply of at most [`MAX_JSON_BYTES`] into `T`; a longer or
/// unreadable one is a transient failure naming `what`.
pub async fn read_json<T: DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, Failure> {
    let body = read_json_bytes(resp, what).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Failure::transient(format!("{what} answered unreadable JSON: {e}")))
}

/// A JSON reply's bytes, at most [`MAX_JSON_BYTES`].
pub async fn read_json_bytes(resp: reqwest::Response, what: &str) -> Result<Vec<u8>, Failure> {
    match read_capped(resp, MAX_JSON_BYTES as u64, what).await? {
        Ok(body) => Ok(body),
        Err(TooLarge(cap)) => Err(Failure::transient(format!(
            "{what} answered more than {cap} bytes of JSON; not read"
        ))),
    }
}

/// The first [`MAX_ERROR_BODY_BYTES`] of an error body, as text (the rest unread).
pub async fn read_error_body(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_BODY_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ERROR_BODY_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
