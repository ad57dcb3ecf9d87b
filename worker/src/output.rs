//! Where downloaded images go: a directory (`FLUXQ_OUTPUT_DIR`, or a path or `file://`
//! URL in `FLUXQ_OUTPUT_URL`) or an S3-compatible bucket (`s3://bucket/prefix`, through
//! `object_store`). Image `{id}.{ext}` of a job goes under `{batch}/` (`unbatched/`
//! without one); [`OutputSink::write`] returns its location, recorded as `image_path`.
//!
//! Files are written to a temporary name and renamed, so a reader never sees half an
//! image and a repeated download replaces the file whole; an S3 PUT is atomic itself.

use bytes::Bytes;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::{Path as Key, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

pub use fluxq_wire::storage::{OutputArgs, OutputTarget, S3Settings};

/// Directory (or key part) of jobs without a batch.
pub const UNBATCHED: &str = "unbatched";

/// Why an image could not be stored, or the output could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file system error on the output directory.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bucket could not be set up or written (messages name no credentials).
    #[error("object storage: {0}")]
    Store(#[from] object_store::Error),
}

/// Where this worker stores images.
#[derive(Clone)]
pub struct OutputSink(Sink);

#[derive(Clone)]
enum Sink {
    Dir(PathBuf),
    Bucket {
        store: Arc<dyn ObjectStore>,
        bucket: String,
        prefix: Key,
    },
}

impl fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutputSink({})", self.location())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl OutputSink {
    /// `url` (`FLUXQ_OUTPUT_URL`) when set, else the directory `dir`. A directory is
    /// created if needed and recorded paths are absolute; a bucket is not contacted yet.
    pub async fn open(
        url: Option<&OutputTarget>,
        dir: &Path,
        s3: &S3Settings,
    ) -> Result<Self, OutputError> {
        match url {
            None => Self::open_dir(dir).await,
            Some(OutputTarget::Dir(root)) => Self::open_dir(root).await,
            Some(OutputTarget::S3 { bucket, prefix }) => {
                let store = s3.store_for(bucket)?;
                let prefix = Key::parse(prefix).map_err(object_store::Error::from)?;
                Ok(Self(Sink::Bucket {
                    store: Arc::new(store),
                    bucket: bucket.clone(),
                    prefix,
                }))
            }
        }
    }

    async fn open_dir(root: &Path) -> Result<Self, OutputError> {
        tokio::fs::create_dir_all(root)
            .await
            .map_err(io_err(root))?;
        let root = tokio::fs::canonicalize(root).await.map_err(io_err(root))?;
        Ok(Self(Sink::Dir(root)))
    }

    /// The root: a directory, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match &self.0 {
            Sink::Dir(root) => root.display().to_string(),
            Sink::Bucket { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Stores the image of job `id` and returns where it is: a file path, or
    /// `s3://bucket/prefix/{batch}/{id}.{ext}`.
    pub async fn write(
        &self,
        batch: Option<&str>,
        id: &Uuid,
        ext: &str,
        bytes: Bytes,
    ) -> Result<String, OutputError> {
        self.write_nth(batch, id, 1, ext, bytes).await
    }

    /// Stores image number `n` (1-based) of a job that made several (`number_results`):
    /// `{id}.{ext}` for the first, `{id}-{n}.{ext}` for the others.
    pub async fn write_nth(
        &self,
        batch: Option<&str>,
        id: &Uuid,
        n: u32,
        ext: &str,
        bytes: Bytes,
    ) -> Result<String, OutputError> {
        let batch = batch.unwrap_or(UNBATCHED);
        let name = if n <= 1 {
            format!("{id}.{ext}")
        } else {
            format!("{id}-{n}.{ext}")
        };
        match &self.0 {
            Sink::Dir(root) => write_file(&root.join(batch), id, &name, bytes).await,
            Sink::Bucket {
                store,
                bucket,
                prefix,
            } => {
                let key: Key = prefix
                    .parts()
                    .chain([PathPart::from(batch), PathPart::from(name.as_str())])
                    .collect();
                store.put(&key, PutPayload::from(bytes)).await?;
                Ok(format!("s3://{bucket}/{key}"))
            }
        }
    }
}

async fn write_file(
    dir: &Path,
    id: &Uuid,
    name: &str,
    bytes: Bytes,
) -> Result<String, OutputError> {
    let dir = dir.to_path_buf();
    let path = dir.join(name);
    let tmp = dir.join(format!(".{id}.{}.tmp", Uuid::new_v4().simple()));
    let at = dir.clone();
    // One trip to the blocking pool for the directory, the file and the rename.
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        std::fs::write(&tmp, &bytes).map_err(io_err(&tmp))?;
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&path)(e));
        }
        Ok(path.display().to_string())
    })
    .await
    .map_err(|e| OutputError::Io {
        path: at,
        source: std::io::Error::other(e),
    })?
}
