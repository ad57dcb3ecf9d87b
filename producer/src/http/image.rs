//! `GET /v1/jobs/{id}/image`: the job's stored image, from the output directory or
//! the S3 bucket the workers store into.
//!
//! Only files under `FLUXQ_OUTPUT_DIR` are served (the recorded path is resolved and
//! must stay inside it), and only objects under the `FLUXQ_OUTPUT_URL=s3://bucket/prefix`
//! this server is given (with the same S3 settings as the workers). An image stored in
//! S3 while the server has no such setting is answered `501`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use fluxq_wire::storage::{OutputArgs, OutputTarget};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;
use super::server::ServeError;

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
        (status = 501, description = "The image is in S3 and this server has no FLUXQ_OUTPUT_URL for it", body = ErrorBody),
        (status = 502, description = "The S3 store did not answer", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ImageQuery>,
) -> Result<Response, ApiError> {
    serve(&state, &id, q.n).await
}

/// Where image `n` (1-based; default 1) of job `id` is stored.
pub async fn locate(state: &AppState, id: &str, n: Option<u16>) -> Result<String, ApiError> {
    let uuid: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no job {id:?}")))?;
    let job = crate::read::job::job(&state.store, uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))?;
    let n = usize::from(n.unwrap_or(1).max(1));
    if job.image_paths.is_empty() {
        job.image_path.filter(|_| n == 1)
    } else {
        job.image_paths.get(n - 1).cloned()
    }
    .ok_or_else(|| {
        ApiError::not_found(format!("job {id} has no image {n} (status {})", job.status))
    })
}

/// The answer carrying image `n` of job `id` (the API's and the dashboard's).
pub async fn serve(state: &AppState, id: &str, n: Option<u16>) -> Result<Response, ApiError> {
    let path = locate(state, id, n).await?;
    let bytes = load(state, id, &path).await?;
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

/// The bucket (and key prefix) workers store images into, read back from here.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/`, the start of every recorded location in it.
    root: String,
    /// The key prefix (`prefix/`, or empty) every served key must start with.
    prefix: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({}{})", self.root, self.prefix)
    }
}

impl Bucket {
    /// The bucket of `FLUXQ_OUTPUT_URL` when it names one; `None` for a directory or
    /// no setting.
    pub fn from_args(args: OutputArgs) -> Result<Option<Self>, ServeError> {
        let (target, s3) = args
            .into_settings()
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let Some(OutputTarget::S3 { bucket, prefix }) = target else {
            return Ok(None);
        };
        let store = s3.store_for(&bucket).map_err(ServeError::Storage)?;
        Ok(Some(Self {
            store: Arc::new(store),
            root: format!("s3://{bucket}/"),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }))
    }

    /// The object at `location` (`s3://bucket/key`), if it is in this bucket under
    /// its prefix; `Ok(None)` when the store has no such object.
    async fn get(&self, location: &str) -> Result<Option<Bytes>, ApiError> {
        let key = location
            .strip_prefix(&self.root)
            .filter(|k| k.starts_with(&self.prefix))
            .and_then(|k| Key::parse(k).ok())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "{location} is outside {}{}, where this server reads images",
                    self.root, self.prefix
                ))
            })?;
        match self.store.get(&key).await {
            Ok(got) => got.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            tracing::warn!(error = %e, location, "Reading an image from object storage failed.");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "storage_unavailable",
                "object storage did not answer; try again".to_owned(),
            )
        })
    }
}

/// The bytes of the image recorded at `path` for job `id`: a file under the output
/// directory, or an object in the server's bucket.
pub async fn load(state: &AppState, id: &str, path: &str) -> Result<Bytes, ApiError> {
    if path.starts_with("s3://") {
        let Some(bucket) = &state.bucket else {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "stored_in_s3",
                format!(
                    "the image is stored at {path}; give this server FLUXQ_OUTPUT_URL (and the S3 settings) to serve it"
                ),
            ));
        };
        return bucket.get(path).await?.ok_or_else(|| {
            ApiError::not_found(format!("the image of job {id} is no longer in the bucket"))
        });
    }
    let missing = || {
        ApiError::not_found(format!(
            "the image of job {id} is no longer in the output directory"
        ))
    };
    let resolved = tokio::fs::canonicalize(path).await.map_err(|_| missing())?;
    if !resolved.starts_with(state.output_dir.as_path()) {
        return Err(missing());
    }
    tokio::fs::read(&resolved)
        .await
        .map(Bytes::from)
        .map_err(|_| missing())
}
