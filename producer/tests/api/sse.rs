//! A minimal Server-Sent Events reader over reqwest for tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// One event as sent.
#[derive(Debug, Clone, Default)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads events from `resp`, calling `on` for each until it returns `false` or the
/// stream ends.
pub async fn read(mut resp: reqwest::Response, mut on: impl FnMut(Sse) -> bool) {
    let mut buf = String::new();
    let mut cur = Sse::default();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(pos) = buf.find('\n') {
            let line: String = buf.drain(..=pos).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let ev = std::mem::take(&mut cur);
                if (!ev.event.is_empty() || !ev.data.is_empty()) && !on(ev) {
                    return;
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id:") {
                cur.id = Some(v.trim_start().to_owned());
            } else if let Some(v) = line.strip_prefix("event:") {
                cur.event = v.trim_start().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !cur.data.is_empty() {
                    cur.data.push('\n');
                }
                cur.data.push_str(v.trim_start());
            }
        }
    }
}
