//! One job's record (`{ns}:job:{id}`) as a typed view.

use std::collections::HashMap;

use fluxq_wire::{RedisStore, StoreError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A job's record: where it stands, what it cost, where its image is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    /// `queued`, `running`, `retrying`, `succeeded`, `failed`, `moderated`, `cancelled`.
    pub status: String,
    /// Provider submissions made for this job.
    pub attempts: u32,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub batch: Option<String>,
    pub provider_task_id: Option<String>,
    /// The provider's URL of the image (may expire).
    pub image_url: Option<String>,
    /// Where the image was stored (a file path or an `s3://` URL).
    pub image_path: Option<String>,
    /// Every image's URL, in order, for a job that made several.
    pub image_urls: Vec<String>,
    /// Every image's stored location, in order, for a job that made several.
    pub image_paths: Vec<String>,
    /// Where this API serves the (first) image, once there is one.
    pub image: Option<String>,
    /// The charge, a decimal USD string such as `0.045`.
    pub cost_usd: Option<String>,
    /// The last error, human readable.
    pub error: Option<String>,
    /// The job's metadata as it was submitted.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub submitted_at: Option<String>,
    pub finished_at: Option<String>,
    /// Money held for the job against its batch's budget (a submission in flight,
    /// charges not yet in the batch's cost), a decimal USD string; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_usd: Option<String>,
    /// Why a `cancelled` job was cancelled: `cancel` (`producer cancel`) or `budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_kind: Option<String>,
    /// The job's completion callback, if it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackView>,
}

/// Where a job's completion callback goes and how its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CallbackView {
    pub url: String,
    /// `pending`, `delivered`, `failed` (not delivered within `FLUXQ_CALLBACK_MAX_AGE`)
    /// or `refused` (the URL may not be called); absent until the job is final.
    pub status: Option<String>,
    /// Deliveries tried so far.
    pub attempts: u32,
    pub last_attempt_at: Option<String>,
    /// Why the last attempt failed (an HTTP status, a timeout, a refusal).
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

impl JobView {
    /// The view of a record's fields; `None` if the record is empty (no such job).
    pub fn from_record(id: Uuid, mut h: HashMap<String, String>) -> Option<Self> {
        let status = h.remove("status")?;
        let mut take = |f: &str| h.remove(f).filter(|v| !v.is_empty());
        let list = |v: Option<String>| -> Vec<String> {
            v.and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default()
        };
        let image_path = take("image_path");
        Some(Self {
            id,
            status,
            attempts: take("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
            provider: take("provider"),
            model: take("model"),
            batch: take("batch"),
            provider_task_id: take("provider_task_id"),
            image_url: take("image_url"),
            image: image_path.as_ref().map(|_| format!("/v1/jobs/{id}/image")),
            image_path,
            image_urls: list(take("image_urls")),
            image_paths: list(take("image_paths")),
            cost_usd: take("cost_usd"),
            error: take("error"),
            metadata: take("metadata").and_then(|m| serde_json::from_str(&m).ok()),
            created_at: take("created_at"),
            updated_at: take("updated_at"),
            submitted_at: take("submitted_at"),
            finished_at: take("finished_at"),
            reserved_usd: take("reserved_micro_usd")
                .and_then(|m| m.parse::<u64>().ok())
                .filter(|m| *m > 0)
                .map(|m| fluxq_common::MicroUsd(m).to_string()),
            cancel_kind: take("cancel_kind"),
            callback: take("callback_url").map(|url| CallbackView {
                url,
                status: take("callback_status"),
                attempts: take("callback_attempts")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0),
                last_attempt_at: take("callback_last_at"),
                last_error: take("callback_last_error"),
                delivered_at: take("callback_delivered_at"),
            }),
        })
    }
}

/// Reads one job; `None` if there is no record of it.
pub async fn job(store: &RedisStore, id: Uuid) -> Result<Option<JobView>, StoreError> {
    Ok(JobView::from_record(id, store.job(&id).await?))
}

/// The status of each job (`None` where there is no record), in one round trip.
pub async fn statuses(
    store: &RedisStore,
    ids: &[Uuid],
) -> Result<Vec<(Option<String>, Option<String>)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("HMGET")
            .arg(store.names().job_key(id))
            .arg("status")
            .arg("batch");
    }
    let rows: Vec<(Option<String>, Option<String>)> =
        pipe.query_async(&mut store.connection()).await?;
    Ok(rows)
}
