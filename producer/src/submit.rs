//! `producer submit`: validate every line first, then publish with confirms.
//!
//! Pass one streams the input, validates each line and writes the normalized jobs
//! (ids generated where missing, batch filled in) to a temporary spool file; nothing
//! is published if any line is bad. Pass two streams the spool: records and the
//! batch total are written to Redis, then the messages are published in windows
//! with publisher confirms. Memory stays flat whatever the file's size.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{BufRead, BufReader, BufWriter, Write};

use backon::{BackoffBuilder, ExponentialBuilder};
use fluxq_common::job::validate_batch_name;
use fluxq_common::{JobMessage, JobSpec, Lane, Names, ProviderKind, ValidationError};
use lapin::Channel;
use lapin::types::FieldTable;
use uuid::Uuid;

use fluxq_wire::amqp::{self, AmqpError, ChannelSource};
use fluxq_wire::headers;
use fluxq_wire::{RedisStore, StoreError};

use crate::lines::{Line, Lines};

/// Longest input line `producer submit` reads by default (`--max-line-bytes`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;
/// How many bad lines are kept to report (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 1000;
/// Jobs recorded and published per window of confirms.
const WINDOW: usize = 500;

/// A bad input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: u64,
    pub error: ValidationError,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("reading the jobs: {0}")]
    Io(#[from] std::io::Error),
    #[error("{count} invalid line(s); nothing was published")]
    Invalid { errors: Vec<LineError>, count: u64 },
    #[error("the input holds no jobs")]
    Empty,
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validated jobs waiting in a spool file to be published.
#[derive(Debug)]
pub struct Prepared {
    spool: tempfile::NamedTempFile,
    /// Number of jobs.
    pub count: u64,
    /// The batch every job belongs to.
    pub batch: String,
}

impl Prepared {
    /// The spool, to read the normalized jobs again (one JSON object per line).
    pub fn reopen(&self) -> std::io::Result<std::fs::File> {
        self.spool.reopen()
    }
}

/// Pass one: validates every line of `input`. `batch` names the batch (lines may
/// repeat it or omit it); without it, the lines' own batch or a new name is used.
pub fn prepare(
    input: impl std::io::Read,
    batch: Option<&str>,
    default_provider: ProviderKind,
) -> Result<Prepared, SubmitError> {
    prepare_with(input, batch, default_provider, DEFAULT_MAX_LINE_BYTES)
}

/// [`prepare`] with a cap on the length of a line (`--max-line-bytes`). A line that is
/// longer, not UTF-8, not a valid job, or that reuses the id of an earlier line is
/// reported with its number, and then nothing is published.
pub fn prepare_with(
    input: impl std::io::Read,
    batch: Option<&str>,
    default_provider: ProviderKind,
    max_line_bytes: usize,
) -> Result<Prepared, SubmitError> {
    if let Some(b) = batch {
        validate_batch_name(b).map_err(|error| SubmitError::Invalid {
            errors: vec![LineError { line: 0, error }],
            count: 1,
        })?;
    }
    let spool = tempfile::NamedTempFile::new()?;
    let mut out = BufWriter::new(spool.reopen()?);
    let mut errors = Vec::new();
    let mut bad = 0u64;
    let mut count = 0u64;
    let mut batch: Option<String> = batch.map(str::to_owned);
    // Every id of the file and the line that used it first.
    let mut ids: HashMap<Uuid, u64> = HashMap::new();
    let mut lines = Lines::new(BufReader::new(input), max_line_bytes);
    while let Some((line_no, line)) = lines.next_line()? {
        let checked = match line {
            Line::Text(text) if text.trim().is_empty() => continue,
            Line::Text(text) => normalize(&text, &mut batch, default_provider).and_then(|msg| {
                match ids.entry(msg.id) {
                    Entry::Occupied(first) => Err(ValidationError::new(
                        "id",
                        format!("{} already used on line {}", msg.id, first.get()),
                    )),
                    Entry::Vacant(v) => {
                        v.insert(line_no);
                        Ok(msg)
                    }
                }
            }),
            Line::TooLong => Err(ValidationError::new(
                "",
                format!("longer than {max_line_bytes} bytes (--max-line-bytes)"),
            )),
            Line::NotUtf8 => Err(ValidationError::new("", "not UTF-8")),
        };
        match checked {
            Ok(msg) => {
                serde_json::to_writer(&mut out, &msg).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
                count += 1;
            }
            Err(error) => {
                bad += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(LineError {
                        line: line_no,
                        error,
                    });
                }
            }
        }
    }
    out.flush()?;
    drop(out);
    if bad > 0 {
        return Err(SubmitError::Invalid { errors, count: bad });
    }
    if count == 0 {
        return Err(SubmitError::Empty);
    }
    let batch = batch.unwrap_or_else(new_batch_name);
    Ok(Prepared {
        spool,
        count,
        batch,
    })
}

/// A fresh batch name: `batch-<UTC time>-<4 hex>`.
pub fn new_batch_name() -> String {
    let suffix = &Uuid::new_v4().simple().to_string()[..4];
    format!(
        "batch-{}-{suffix}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    )
}

fn normalize(
    line: &str,
    batch: &mut Option<String>,
    provider: ProviderKind,
) -> Result<JobMessage, ValidationError> {
    // Parsed into a `Value` to fill in the id and batch, which would keep the last of
    // two equal keys: refuse them first.
    fluxq_common::job::check_duplicate_keys(line.as_bytes())?;
    let mut value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| ValidationError::new("body", format!("not JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| ValidationError::new("body", "must be a JSON object"))?;
    obj.entry("id")
        .or_insert_with(|| serde_json::Value::String(Uuid::new_v4().to_string()));
    match (obj.get("batch").and_then(|b| b.as_str()), batch.as_deref()) {
        (Some(own), Some(b)) if own != b => {
            return Err(ValidationError::new(
                "batch",
                format!("is {own:?} but the submission's batch is {b:?}"),
            ));
        }
        (Some(own), None) => *batch = Some(own.to_owned()),
        _ => {}
    }
    if let Some(b) = batch.as_deref() {
        obj.insert("batch".into(), serde_json::Value::String(b.to_owned()));
    }
    let body =
        serde_json::to_vec(&value).map_err(|e| ValidationError::new("body", e.to_string()))?;
    let msg = JobMessage::from_json(&body)?;
    msg.validate(provider)?;
    Ok(msg)
}

/// How long publishing keeps trying to get a window confirmed through broker outages.
const REPUBLISH_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Pass two: records the jobs (and the batch total) in Redis, then publishes them to
/// `{ns}.jobs` with routing key `lane`, each confirmed by the broker. A window that is
/// not wholly confirmed (the connection failed) is published again on a new connection
/// until it is: duplicates are harmless, the id is the idempotency key.
pub async fn publish(
    prepared: &Prepared,
    source: &mut ChannelSource,
    records: &RedisStore,
    names: &Names,
    lane: Lane,
    default_provider: ProviderKind,
) -> Result<u64, SubmitError> {
    let exchange = names.jobs_exchange();
    let reader = BufReader::new(prepared.spool.reopen()?);
    let mut window: Vec<(JobSpec, String)> = Vec::with_capacity(WINDOW);
    let mut published = 0u64;
    for line in reader.lines() {
        let line = line?;
        let msg = JobMessage::from_json(line.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let spec = msg
            .validate(default_provider)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        window.push((spec, line));
        if window.len() == WINDOW {
            published += publish_until_confirmed(&window, source, records, &exchange, lane).await?;
            window.clear();
        }
    }
    published += publish_until_confirmed(&window, source, records, &exchange, lane).await?;
    Ok(published)
}

async fn publish_until_confirmed(
    window: &[(JobSpec, String)],
    source: &mut ChannelSource,
    records: &RedisStore,
    exchange: &str,
    lane: Lane,
) -> Result<u64, SubmitError> {
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build();
    let start = std::time::Instant::now();
    loop {
        let attempt = async {
            let ch = source.channel().await?;
            publish_window(window, &ch, records, exchange, lane).await
        };
        match attempt.await {
            Err(SubmitError::Amqp(e)) if start.elapsed() < REPUBLISH_FOR => {
                source.reset();
                let wait = backoff.next().unwrap_or(std::time::Duration::from_secs(5));
                tracing::warn!(error = %e, jobs = window.len(), retry_in = ?wait, "Window not confirmed; publishing it again.");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

async fn publish_window(
    window: &[(JobSpec, String)],
    ch: &Channel,
    records: &RedisStore,
    exchange: &str,
    lane: Lane,
) -> Result<u64, SubmitError> {
    if window.is_empty() {
        return Ok(0);
    }
    let specs: Vec<JobSpec> = window.iter().map(|(s, _)| s.clone()).collect();
    records.create_queued(&specs).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let publishes = window.iter().map(|(spec, body)| {
        let mut headers = FieldTable::default();
        headers::set_header_int(&mut headers, headers::HDR_PUBLISHED_MS, now_ms);
        let props = amqp::job_properties(&spec.id.to_string(), headers);
        amqp::publish_confirmed(ch, exchange, lane.as_str(), body.as_bytes(), props)
    });
    for result in futures_util::future::join_all(publishes).await {
        result?;
    }
    Ok(window.len() as u64)
}
