//! Accepting jobs over HTTP exactly as `producer submit` accepts a file: the body's
//! jobs become the lines of a submission, validated by [`submit::prepare`] and
//! published by [`submit::publish`] (records first, then confirmed messages).
//!
//! Idempotency: a job's `id` is its idempotency key; a job sent without one gets an id
//! derived from the `Idempotency-Key` header (and its position), else a fresh one. A
//! submission without a batch gets one derived from its first job's id, so a retried
//! POST resolves to the same batch. A job whose record exists is not recorded again;
//! it is published again only while still `queued` (a retry after a failed publish
//! must not leave it unpublished; a duplicate message is harmless, a job id runs once).

use std::io::{BufRead, BufReader};

use bytes::Bytes;
use fluxq_common::Lane;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JobProblem};
use crate::read::job::statuses;
use crate::submit::{self, Prepared, SubmitError};

/// Most jobs one request may hold.
pub const MAX_JOBS: usize = 1000;
/// Longest `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 255;

/// A submission as the request brought it.
#[derive(Debug)]
pub struct Submission {
    pub body: Bytes,
    pub lane: Option<Lane>,
    pub batch: Option<String>,
    pub idempotency_key: Option<String>,
    /// The token's name: keys of different callers never collide.
    pub caller: String,
}

/// One job of an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AcceptedJob {
    pub id: Uuid,
    /// Its status now: `queued` for a new job, whatever it is for one that existed.
    pub status: String,
    /// Whether this request recorded the job (`false`: it existed already).
    pub created: bool,
}

/// What a submission did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Accepted {
    pub batch: String,
    pub lane: Lane,
    /// Messages published (and confirmed) by this request.
    pub published: u64,
    pub jobs: Vec<AcceptedJob>,
    /// Whether the body was a single job (not `{"jobs": [...]}`).
    #[serde(skip)]
    pub single: bool,
}

/// Validates, records and publishes a submission.
pub async fn accept(state: &AppState, s: Submission) -> Result<Accepted, ApiError> {
    let (mut jobs, single) = split_body(&s.body)?;
    let lane = match s.lane {
        None if single => Lane::Interactive,
        None => Lane::Bulk,
        Some(l) => l,
    };
    if let Some(key) = &s.idempotency_key {
        fill_ids(&mut jobs, &s.caller, key)?;
    }
    let lines = to_lines(&jobs, state.max_message_bytes, single)?;
    // Every job of a submission gets the one batch, decided here: the query's, else
    // the first job's own, else one derived from the first job's id (stable across
    // retries), else a new name.
    let (batch, from_job) = match s.batch {
        Some(b) => (b, None),
        None => match jobs
            .iter()
            .enumerate()
            .find_map(|(i, j)| Some((i, j.get("batch")?.as_str()?.to_owned())))
        {
            Some((i, b)) => (b, Some(i)),
            None => (
                jobs.first()
                    .and_then(|j| j.get("id"))
                    .and_then(Value::as_str)
                    .map_or_else(submit::new_batch_name, derived_batch),
                None,
            ),
        },
    };
    let provider = state.provider;
    let prepared = run_prepare(lines, batch, from_job, provider, single).await?;
    let spooled = spooled_lines(&prepared)?;
    let ids: Vec<Uuid> = spooled.iter().map(|(id, _)| *id).collect();
    let existing = statuses(&state.store, &ids).await?;
    let mut out = Vec::with_capacity(ids.len());
    let mut republish = Vec::new();
    for (i, ((id, line), (status, stored_batch))) in spooled.iter().zip(existing).enumerate() {
        if let Some(b) = stored_batch.filter(|b| status.is_some() && *b != prepared.batch) {
            let field = if single {
                "id".to_owned()
            } else {
                format!("jobs[{i}].id")
            };
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "conflict",
                format!("job {id} exists in batch {b:?}, not {:?}", prepared.batch),
            )
            .with_field(field));
        }
        let publish = status.as_deref().is_none_or(|st| st == "queued");
        if publish {
            republish.push(line.clone());
        }
        out.push(AcceptedJob {
            id: *id,
            created: status.is_none(),
            status: status.unwrap_or_else(|| "queued".to_owned()),
        });
    }
    let published = if republish.len() == spooled.len() {
        publish(state, &prepared, lane).await?
    } else if republish.is_empty() {
        0
    } else {
        let subset = run_prepare(republish, prepared.batch.clone(), None, provider, single).await?;
        publish(state, &subset, lane).await?
    };
    Ok(Accepted {
        batch: prepared.batch,
        lane,
        published,
        jobs: out,
        single,
    })
}

/// The jobs of a body: one job object, or `{"jobs": [...]}` with 1 to [`MAX_JOBS`].
fn split_body(body: &[u8]) -> Result<(Vec<Value>, bool), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("body: not JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::invalid(
            "body",
            "body: must be a job object or {\"jobs\": [...]}",
        ));
    };
    if !obj.contains_key("jobs") {
        return Ok((vec![Value::Object(obj)], true));
    }
    if let Some(other) = obj.keys().find(|k| *k != "jobs") {
        return Err(ApiError::invalid(
            other.clone(),
            format!("{other}: unknown field next to `jobs`"),
        ));
    }
    match obj.remove("jobs") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_JOBS => Ok((a, false)),
        Some(Value::Array(a)) => Err(ApiError::invalid(
            "jobs",
            format!("jobs: must hold 1 to {MAX_JOBS} jobs (got {})", a.len()),
        )),
        _ => Err(ApiError::invalid("jobs", "jobs: must be an array of jobs")),
    }
}

/// Gives each job without an `id` one derived from the caller, the key and its position.
fn fill_ids(jobs: &mut [Value], caller: &str, key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("Idempotency-Key: must be 1-{MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    for (i, job) in jobs.iter_mut().enumerate() {
        if let Some(obj) = job.as_object_mut()
            && !obj.contains_key("id")
        {
            let d = Sha256::digest(format!("{caller}\n{key}\n{i}").as_bytes());
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[..16]);
            let id = uuid::Builder::from_custom_bytes(b).into_uuid();
            obj.insert("id".into(), Value::String(id.to_string()));
        }
    }
    Ok(())
}

/// `api-` and 16 hex digits of the SHA-256 of the first job's id.
fn derived_batch(first_id: &str) -> String {
    let d = Sha256::digest(first_id.as_bytes());
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("api-{hex}")
}

/// Each job as one line, refusing jobs over `max` bytes.
fn to_lines(jobs: &[Value], max: usize, single: bool) -> Result<Vec<String>, ApiError> {
    let mut lines = Vec::with_capacity(jobs.len());
    let mut problems = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let line = job.to_string();
        if line.len() > max {
            problems.push(JobProblem {
                index,
                field: "body".into(),
                rule: format!(
                    "the job is {} bytes; at most {max} are accepted",
                    line.len()
                ),
            });
        }
        lines.push(line);
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(invalid_jobs(problems, single))
    }
}

fn invalid_jobs(problems: Vec<JobProblem>, single: bool) -> ApiError {
    let first = &problems[0];
    let field = if single {
        first.field.clone()
    } else {
        format!("jobs[{}].{}", first.index, first.field)
    };
    let message = format!(
        "{} invalid job(s), nothing was published; first: {field}: {}",
        problems.len(),
        first.rule
    );
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_job",
        message,
    )
    .with_field(field)
    .with_details(problems)
}

/// Runs `submit::prepare` on the lines with `batch`; a bad batch name is reported on
/// the job it came from (`from_job`), else on the `batch` query parameter.
async fn run_prepare(
    lines: Vec<String>,
    batch: String,
    from_job: Option<usize>,
    provider: fluxq_common::ProviderKind,
    single: bool,
) -> Result<Prepared, ApiError> {
    let text = lines.join("\n");
    let joined = tokio::task::spawn_blocking(move || {
        submit::prepare(std::io::Cursor::new(text), Some(&batch), provider)
    })
    .await
    .map_err(ApiError::internal)?;
    match joined {
        Ok(p) => Ok(p),
        Err(SubmitError::Invalid { errors, .. }) => {
            if let Some(e) = errors.iter().find(|e| e.line == 0) {
                return Err(match from_job {
                    None => ApiError::invalid("batch", e.error.to_string()),
                    Some(index) => invalid_jobs(
                        vec![JobProblem {
                            index,
                            field: e.error.field.clone(),
                            rule: e.error.rule.clone(),
                        }],
                        single,
                    ),
                });
            }
            let problems = errors
                .into_iter()
                .map(|e| JobProblem {
                    index: (e.line as usize).saturating_sub(1),
                    field: e.error.field,
                    rule: e.error.rule,
                })
                .collect();
            Err(invalid_jobs(problems, single))
        }
        Err(SubmitError::Empty) => Err(ApiError::invalid("body", "body: holds no jobs")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The normalized jobs of a prepared submission: id and line.
fn spooled_lines(p: &Prepared) -> Result<Vec<(Uuid, String)>, ApiError> {
    let file = p.reopen().map_err(ApiError::internal)?;
    let mut out = Vec::with_capacity(p.count as usize);
    for line in BufReader::new(file).lines() {
        let line = line.map_err(ApiError::internal)?;
        let id = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.get("id")?.as_str()?.parse().ok())
            .ok_or_else(|| ApiError::internal("a validated job has no id"))?;
        out.push((id, line));
    }
    Ok(out)
}

async fn publish(state: &AppState, p: &Prepared, lane: Lane) -> Result<u64, ApiError> {
    let mut source = state.publishers.get().await;
    submit::publish(
        p,
        &mut source,
        &state.store,
        &state.names,
        lane,
        state.provider,
    )
    .await
    .map_err(|e| match e {
        SubmitError::Amqp(e) => ApiError::unavailable(e),
        SubmitError::Store(e) => ApiError::unavailable(e),
        e => ApiError::internal(e),
    })
}
