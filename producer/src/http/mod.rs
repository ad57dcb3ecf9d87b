//! `producer serve`: the HTTP API of fluxq, on the same validation, publishing and
//! records as the command line (see docs/api.md).
//!
//! - [`args`]: flags and environment variables.
//! - [`auth`]: bearer tokens and scopes; [`ratelimit`]: a token bucket per caller.
//! - [`error`]: the error body every endpoint answers; [`query`]: query strings.
//! - [`publisher`]: a pool of confirm channels; [`enqueue`]: accepting jobs.
//! - [`jobs`], [`image`], [`batches`], [`events`], [`dead`], [`accounts`], [`lanes`],
//!   [`health`]: the endpoints, thin over [`crate::read`]; [`spend`]: cancel, resume,
//!   budget, thin over [`crate::spend`].
//! - [`openapi`]: the OpenAPI document and the `/docs` page.
//! - [`server`]: the router, its limits, and serving until shutdown.

pub mod accounts;
pub mod args;
pub mod auth;
pub mod batches;
pub mod dead;
pub mod enqueue;
pub mod error;
pub mod events;
pub mod health;
pub mod image;
pub mod jobs;
pub mod lanes;
pub mod openapi;
pub mod publisher;
pub mod query;
pub mod ratelimit;
pub mod server;
pub mod spend;

use std::path::PathBuf;
use std::sync::Arc;

use fluxq_common::{Names, ProviderKind};
use fluxq_wire::RedisStore;
use fluxq_wire::amqp::ChannelSource;
use tokio_util::sync::CancellationToken;

pub use args::ServeArgs;
pub use server::{ServeError, serve};

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: RedisStore,
    pub names: Names,
    /// Provider of jobs that name none.
    pub provider: ProviderKind,
    pub publishers: Arc<publisher::Publishers>,
    /// The channel dead-letter passes use; one pass at a time in this process.
    pub dead: Arc<tokio::sync::Mutex<ChannelSource>>,
    /// `None`: no authentication (`--insecure-no-auth`).
    pub tokens: Option<Arc<auth::Tokens>>,
    pub limiter: Arc<ratelimit::RateLimiter>,
    pub max_message_bytes: usize,
    /// Where images are served from.
    pub output_dir: Arc<PathBuf>,
    /// The bucket images are read from when workers store them in S3.
    pub bucket: Option<image::Bucket>,
    /// The dashboard's session key and thumbnail cache.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
    /// Cancelled when the server shuts down (ends event streams).
    pub shutdown: CancellationToken,
}
