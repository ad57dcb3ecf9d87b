//! `GET /v1/jobs/{id}/image`: the job's stored image, from the output directory.
//!
//! Only files under `FLUXQ_OUTPUT_DIR` are served (the recorded path is resolved and
//! must stay inside it); an image stored in S3 (`s3://…`) is answered `501`: fetch it
//! from the bucket, or use the provider's `image_url` while it lasts.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;

/// Query of the image endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// Which image of a job that made several (1-based; default 1).
    pub n: Option<u16>,
}

/// The `Content-Type` of an image file by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// The job's image.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/image",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (a UUID)"), ImageQuery),
    responses(
        (status = 200, description = "The image bytes", content(
            ("image/jpeg"), ("image/png"), ("image/webp"))),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job, or no image (yet)", body = ErrorBody),
        (status = 422, description = "A query parameter is not a number", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 501, description = "The image is in S3", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ImageQuery>,
) -> Result<Response, ApiError> {
    let uuid: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no job {id:?}")))?;
    let job = crate::read::job::job(&state.store, uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))?;
    let n = usize::from(q.n.unwrap_or(1).max(1));
    let path = if job.image_paths.is_empty() {
        job.image_path.filter(|_| n == 1)
    } else {
        job.image_paths.get(n - 1).cloned()
    }
    .ok_or_else(|| {
        ApiError::not_found(format!("job {id} has no image {n} (status {})", job.status))
    })?;
    if path.starts_with("s3://") {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "stored_in_s3",
            format!(
                "the image is stored at {path}; this server serves images from its output directory only"
            ),
        ));
    }
    let missing = || {
        ApiError::not_found(format!(
            "the image of job {id} is no longer in the output directory"
        ))
    };
    let resolved = tokio::fs::canonicalize(&path)
        .await
        .map_err(|_| missing())?;
    if !resolved.starts_with(state.output_dir.as_path()) {
        return Err(missing());
    }
    let bytes = tokio::fs::read(&resolved).await.map_err(|_| missing())?;
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
}
