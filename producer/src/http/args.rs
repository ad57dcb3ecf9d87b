//! `producer serve`'s flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// `FLUXQ_API_TOKENS` as given, parsed when the server starts (so that a mistake is
/// reported without echoing the value, as a parse error of the flag would).
#[derive(Clone)]
pub struct TokenSpec(pub String);

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSpec(<redacted>)")
    }
}

fn token_spec(s: &str) -> Result<TokenSpec, std::convert::Infallible> {
    Ok(TokenSpec(s.to_owned()))
}

/// Settings of the HTTP API server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLUXQ_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// API tokens: comma-separated `name:token:scope` (scope `read` or `write`).
    #[arg(long, env = "FLUXQ_API_TOKENS", hide_env_values = true, value_parser = token_spec)]
    pub tokens: Option<TokenSpec>,
    /// Serve without authentication (for a demo on a private machine only).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Largest job message, in bytes.
    #[arg(long, env = "FLUXQ_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "FLUXQ_API_MAX_REQUEST_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Seconds a request may take before it is answered 408 (event streams excepted).
    #[arg(long, env = "FLUXQ_API_TIMEOUT", default_value_t = 60)]
    pub request_timeout: u64,
    /// Requests per second each token may make on average (0: unlimited).
    #[arg(long, env = "FLUXQ_API_RATE", default_value_t = 100.0)]
    pub rate: f64,
    /// Requests each token may make at once above its rate.
    #[arg(long, env = "FLUXQ_API_BURST", default_value_t = 200.0)]
    pub burst: f64,
    /// Confirm channels to RabbitMQ that requests publish through.
    #[arg(long, env = "FLUXQ_API_PUBLISHERS", default_value_t = 4)]
    pub publishers: usize,
    /// Where workers store images (served by `GET /v1/jobs/{id}/image`).
    #[arg(long, env = "FLUXQ_OUTPUT_DIR", default_value = "./output")]
    pub output_dir: PathBuf,
    /// `FLUXQ_OUTPUT_URL=s3://bucket/prefix` and the S3 settings, as the workers have
    /// them: images stored there are read back from the bucket.
    #[command(flatten)]
    pub storage: fluxq_wire::storage::OutputArgs,
    /// Do not deliver completion callbacks in this process (a `producer notify` does).
    #[arg(long, env = "FLUXQ_API_NO_NOTIFY")]
    pub no_notify: bool,
    #[command(flatten)]
    pub notify: crate::notify::NotifyArgs,
    /// The key dashboard sessions are signed with: give every replica behind one
    /// address the same (random per process when absent: sessions end on restart).
    #[arg(long, env = "FLUXQ_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,
    /// Bytes of dashboard thumbnails kept in memory.
    #[arg(long, env = "FLUXQ_THUMBNAIL_CACHE_BYTES", default_value_t = crate::dashboard::thumbs::DEFAULT_CACHE_BYTES)]
    pub thumbnail_cache_bytes: usize,
}
