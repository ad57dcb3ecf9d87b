//! The images the mock serves: small, real, encoded with the `image` crate, their
//! pixels derived from (prompt, seed) so different requests give different bytes,
//! and a small bounded cache so a retried download is not encoded twice.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Cursor;
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;
use fluxq_common::OutputFormat;
use image::{ImageFormat, Rgb, RgbImage};
use uuid::Uuid;

/// Width and height of every image served.
pub const SIDE: u32 = 64;

/// How many encoded images the cache keeps (a few hundred kilobytes at most).
const CACHE_CAPACITY: usize = 256;

/// The `Content-Type` of a format.
pub fn content_type(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Jpeg => "image/jpeg",
        OutputFormat::Png => "image/png",
        OutputFormat::Webp => "image/webp",
    }
}

/// Draws and encodes the image for (prompt, seed): a diagonal gradient between two
/// colours with stripes, all chosen by a hash. The same inputs give the same bytes.
pub fn render(prompt: &str, seed: i64, format: OutputFormat) -> Result<Vec<u8>, image::ImageError> {
    let h = {
        let mut hasher = DefaultHasher::new();
        (prompt, seed).hash(&mut hasher);
        hasher.finish()
    };
    let byte = |shift: u32| ((h >> shift) & 0xff) as u8;
    let (from, to) = ([byte(0), byte(8), byte(16)], [byte(24), byte(32), byte(40)]);
    let period = 4 + u32::from(byte(48) % 13);
    let vertical = byte(56) & 1 == 1;
    let image = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let t = (x + y) as f32 / (2 * (SIDE - 1)) as f32;
        let stripe = if (if vertical { x } else { y } / period) % 2 == 0 {
            1.0
        } else {
            0.8
        };
        let mix = |a: u8, b: u8| ((f32::from(a) * (1.0 - t) + f32::from(b) * t) * stripe) as u8;
        Rgb([
            mix(from[0], to[0]),
            mix(from[1], to[1]),
            mix(from[2], to[2]),
        ])
    });
    let kind = match format {
        OutputFormat::Jpeg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
        OutputFormat::Webp => ImageFormat::WebP,
    };
    let mut out = Cursor::new(Vec::with_capacity(4096));
    image.write_to(&mut out, kind)?;
    Ok(out.into_inner())
}

/// An image's key: its task and its index among the task's results.
pub type ImageKey = (Uuid, u32);

/// The last [`CACHE_CAPACITY`] encoded images, by key, evicted first-in first-out.
#[derive(Debug, Default)]
pub struct ImageCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    images: HashMap<ImageKey, Bytes>,
    order: VecDeque<ImageKey>,
}

impl ImageCache {
    pub fn get(&self, id: ImageKey) -> Option<Bytes> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .images
            .get(&id)
            .cloned()
    }

    pub fn put(&self, id: ImageKey, bytes: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.images.insert(id, bytes).is_some() {
            return;
        }
        inner.order.push_back(id);
        while inner.order.len() > CACHE_CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.images.remove(&old);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failing test may panic")]
mod tests {
    use super::*;

    #[test]
    fn images_decode_and_differ_by_seed_and_prompt() {
        for format in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
            let a = render("a cat", 1, format).unwrap();
            let decoded = image::load_from_memory(&a).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (SIDE, SIDE));
            assert_eq!(a, render("a cat", 1, format).unwrap());
            assert_ne!(a, render("a cat", 2, format).unwrap());
            assert_ne!(a, render("a dog", 1, format).unwrap());
        }
    }

    #[test]
    fn cache_stays_bounded() {
        let cache = ImageCache::default();
        let ids: Vec<ImageKey> = (0..CACHE_CAPACITY + 10)
            .map(|i| (Uuid::new_v4(), i as u32 % 3))
            .collect();
        for id in &ids {
            cache.put(*id, Bytes::from_static(b"x"));
        }
        assert!(cache.get(ids[0]).is_none());
        assert!(cache.get(ids[ids.len() - 1]).is_some());
    }
}
