//! `/jobs/{id}/thumbnail`: a job's first image at most 256 px on its longer side, as
//! JPEG, made from the stored original (output directory or S3, through
//! [`crate::http::image::load`]) and kept in memory in a least-recently-used cache
//! capped in bytes, so a gallery page of 100 images moves 100 small ones.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::{Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use image::ImageFormat;
use tokio::sync::Semaphore;

use super::error::PageError;
use crate::http::AppState;
use crate::http::image::{load, locate};

/// The longer side of a thumbnail, in pixels.
pub const SIDE: u32 = 256;

/// The cache's default size.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Thumbnails made at once (decoding is CPU work; the rest wait).
const CONCURRENT: usize = 2;

/// Made thumbnails by stored location, least recently used evicted first.
#[derive(Debug)]
pub struct ThumbCache {
    cap: usize,
    inner: Mutex<Lru>,
    making: Semaphore,
}

#[derive(Debug, Default)]
struct Lru {
    bytes: usize,
    tick: u64,
    /// location → (thumbnail, last use).
    entries: HashMap<String, (Bytes, u64)>,
    /// last use → location.
    order: BTreeMap<u64, String>,
}

impl ThumbCache {
    /// A cache holding at most `cap` bytes of thumbnails.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            inner: Mutex::new(Lru::default()),
            making: Semaphore::new(CONCURRENT),
        }
    }

    /// The cached thumbnail of `location`, marked as just used.
    pub fn get(&self, location: &str) -> Option<Bytes> {
        let mut l = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        l.tick += 1;
        let tick = l.tick;
        let (bytes, old) = {
            let e = l.entries.get_mut(location)?;
            let old = std::mem::replace(&mut e.1, tick);
            (e.0.clone(), old)
        };
        l.order.remove(&old);
        l.order.insert(tick, location.to_owned());
        Some(bytes)
    }

    /// Keeps `thumb` for `location`, evicting the least recently used beyond the cap.
    pub fn put(&self, location: &str, thumb: Bytes) {
        if thumb.len() > self.cap {
            return;
        }
        let mut l = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        l.tick += 1;
        let tick = l.tick;
        if let Some((old, used)) = l.entries.insert(location.to_owned(), (thumb.clone(), tick)) {
            l.bytes -= old.len();
            l.order.remove(&used);
        }
        l.bytes += thumb.len();
        l.order.insert(tick, location.to_owned());
        while l.bytes > self.cap {
            let Some((_, victim)) = l.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = l.entries.remove(&victim) {
                l.bytes -= b.len();
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

/// Why a thumbnail could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    #[error("the stored image does not decode: {0}")]
    Decode(#[from] image::ImageError),
    #[error("making the thumbnail stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A JPEG of `original` at most [`SIDE`] px on its longer side (never enlarged).
pub fn make(original: &[u8]) -> Result<Vec<u8>, image::ImageError> {
    let img = image::load_from_memory(original)?;
    let img = if img.width() > SIDE || img.height() > SIDE {
        img.thumbnail(SIDE, SIDE)
    } else {
        img
    };
    let mut out = Cursor::new(Vec::new());
    img.to_rgb8().write_to(&mut out, ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

/// The thumbnail of the image at `location`: cached, or made from `original()`.
pub async fn thumbnail(
    cache: &ThumbCache,
    location: &str,
    original: Bytes,
) -> Result<Bytes, ThumbError> {
    if let Some(t) = cache.get(location) {
        return Ok(t);
    }
    let _permit = cache.making.acquire().await;
    let made = Bytes::from(tokio::task::spawn_blocking(move || make(&original)).await??);
    cache.put(location, made.clone());
    Ok(made)
}

/// `GET /jobs/{id}/thumbnail`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let location = locate(&state, &id, None).await?;
    let cache = &state.dashboard.thumbs;
    let thumb = match cache.get(&location) {
        Some(t) => t,
        None => {
            let original = load(&state, &id, &location).await?;
            thumbnail(cache, &location, original)
                .await
                .map_err(|e| PageError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: e.to_string(),
                })?
        }
    };
    let mut r = Response::new(Body::from(thumb));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_the_cap_holds() {
        let c = ThumbCache::new(10);
        c.put("a", Bytes::from_static(b"aaaa"));
        c.put("b", Bytes::from_static(b"bbbb"));
        assert!(c.get("a").is_some(), "a used last");
        c.put("c", Bytes::from_static(b"cccc"));
        assert_eq!(c.bytes(), 8);
        assert!(c.get("b").is_none(), "b evicted");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        c.put("big", Bytes::from(vec![0; 11]));
        assert!(c.get("big").is_none(), "larger than the cap: not kept");
    }

    #[test]
    fn a_thumbnail_fits_in_256_px_and_keeps_its_shape() {
        let img = image::RgbImage::from_pixel(1024, 512, image::Rgb([10, 200, 30]));
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let t = image::load_from_memory(&make(png.get_ref()).unwrap()).unwrap();
        assert_eq!((t.width(), t.height()), (256, 128));
    }
}
