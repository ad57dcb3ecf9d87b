//! A batch's jobs in the order they were recorded (`{ns}:jobs:{batch}`), a page at a
//! time with their status and image, filtered by status; and its failed or moderated
//! jobs grouped by error message. Reads are pipelined: a page costs two round trips,
//! a filter or the error groups one more per [`CHUNK`] jobs of the batch.

use std::collections::HashMap;

use fluxq_wire::{RedisStore, StoreError};
use redis::AsyncCommands;

/// Most jobs one page shows.
pub const MAX_PAGE: usize = 200;

/// Jobs whose fields one pipelined round trip reads.
const CHUNK: usize = 2000;

/// Statuses whose jobs are listed by error.
pub const ERROR_STATUSES: [&str; 2] = ["failed", "moderated"];

/// One job of the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub id: String,
    /// Its place in the batch (1 = first recorded).
    pub place: u64,
    pub status: String,
    /// Whether an image is recorded for it.
    pub has_image: bool,
    pub error: Option<String>,
    pub cost_usd: Option<String>,
}

/// A page of the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GalleryPage {
    pub items: Vec<Tile>,
    /// Jobs matching the filter, on every page.
    pub matching: u64,
    pub offset: u64,
}

/// Jobs that share one error message (UUIDs in it, such as a provider's task id,
/// written `…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorGroup {
    pub status: String,
    pub error: String,
    pub count: u64,
    /// Up to five of their ids, in batch order.
    pub examples: Vec<String>,
}

/// Up to `limit` of the batch's jobs from position `offset` among those whose status
/// is `status` (all when `None`).
pub async fn page(
    store: &RedisStore,
    batch: &str,
    status: Option<&str>,
    offset: u64,
    limit: usize,
) -> Result<GalleryPage, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let key = store.names().batch_jobs_key(batch);
    let mut conn = store.connection();
    let (ids, matching): (Vec<(String, f64)>, u64) = match status {
        None => {
            let stop = (offset as usize + limit - 1) as isize;
            redis::pipe()
                .zrange_withscores(&key, offset as isize, stop)
                .zcard(&key)
                .query_async(&mut conn)
                .await?
        }
        Some(want) => {
            let all = scan(store, batch, &["status"]).await?;
            let hits: Vec<(String, f64)> = all
                .into_iter()
                .filter(|r| r.fields[0].as_deref() == Some(want))
                .map(|r| (r.id, r.place as f64))
                .collect();
            let n = hits.len() as u64;
            let page = hits.into_iter().skip(offset as usize).take(limit).collect();
            (page, n)
        }
    };
    let mut pipe = redis::pipe();
    for (id, _) in &ids {
        pipe.cmd("HMGET").arg(job_key(store, id)).arg(&[
            "status",
            "image_path",
            "error",
            "cost_usd",
        ]);
    }
    let rows: Vec<Vec<Option<String>>> = if ids.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(&mut conn).await?
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let items = ids
        .into_iter()
        .zip(rows)
        .map(|((id, place), f)| Tile {
            id,
            place: place as u64,
            status: nonempty(&f[0]).unwrap_or_else(|| "unknown".into()),
            has_image: nonempty(&f[1]).is_some(),
            error: nonempty(&f[2]),
            cost_usd: nonempty(&f[3]),
        })
        .collect();
    Ok(GalleryPage {
        items,
        matching,
        offset,
    })
}

/// The batch's failed and moderated jobs grouped by error message, largest group
/// first.
pub async fn error_groups(store: &RedisStore, batch: &str) -> Result<Vec<ErrorGroup>, StoreError> {
    let mut groups: HashMap<(String, String), ErrorGroup> = HashMap::new();
    for r in scan(store, batch, &["status", "error"]).await? {
        let status = r.fields[0].clone().unwrap_or_default();
        if !ERROR_STATUSES.contains(&status.as_str()) {
            continue;
        }
        let error = without_ids(r.fields[1].as_deref().unwrap_or_default());
        let g = groups
            .entry((status.clone(), error.clone()))
            .or_insert_with(|| ErrorGroup {
                status,
                error,
                count: 0,
                examples: Vec::new(),
            });
        g.count += 1;
        if g.examples.len() < 5 {
            g.examples.push(r.id);
        }
    }
    let mut out: Vec<ErrorGroup> = groups.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.error.cmp(&b.error)));
    Ok(out)
}

/// `message` with every UUID in it replaced by `…`, so errors that differ only in
/// a task id group together.
pub fn without_ids(message: &str) -> String {
    let b = message.as_bytes();
    let is_uuid = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push('…');
            i += 36;
        } else {
            let ch = message[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A job of the batch with the fields a scan asked for.
#[derive(Debug)]
struct Scanned {
    id: String,
    place: u64,
    fields: Vec<Option<String>>,
}

fn job_key(store: &RedisStore, id: &str) -> String {
    format!("{}:job:{id}", store.namespace())
}

/// Every job of the batch in order with `fields` of its record, [`CHUNK`] per round
/// trip.
async fn scan(
    store: &RedisStore,
    batch: &str,
    fields: &[&str],
) -> Result<Vec<Scanned>, StoreError> {
    let mut conn = store.connection();
    let ids: Vec<(String, f64)> = conn
        .zrange_withscores(store.names().batch_jobs_key(batch), 0, -1)
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (id, _) in chunk {
            pipe.cmd("HMGET").arg(job_key(store, id)).arg(fields);
        }
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut conn).await?;
        out.extend(chunk.iter().zip(rows).map(|((id, place), fields)| Scanned {
            id: id.clone(),
            place: *place as u64,
            fields,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::without_ids;

    #[test]
    fn task_ids_do_not_split_a_group() {
        assert_eq!(
            without_ids("BFL task 9e672e8d-66c7-48e8-bf05-664e19914ee5 ended Request Moderated"),
            "BFL task … ended Request Moderated"
        );
        assert_eq!(without_ids("naïve – no id"), "naïve – no id");
    }
}
