//! The router (every endpoint, authentication, body and time limits) and serving it
//! until shutdown.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use fluxq_common::ProviderKind;
use fluxq_wire::ConnArgs;
use fluxq_wire::RedisStore;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::openapi::{self, ApiDoc};
use super::publisher::{Publishers, channel_source};
use super::ratelimit::RateLimiter;
use super::{AppState, ServeArgs};
use super::{accounts, auth, batches, dead, events, health, image, jobs, lanes, spend};

/// Why the server did not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "no API tokens: set FLUXQ_API_TOKENS (name:token:scope,...) or pass --insecure-no-auth"
    )]
    NoTokens,
    #[error("FLUXQ_API_TOKENS: {0}")]
    Tokens(String),
    #[error("connect to Redis: {0}")]
    Redis(#[source] fluxq_wire::StoreError),
    #[error("connect to RabbitMQ and declare the topology: {0}")]
    Broker(#[source] fluxq_wire::amqp::AmqpError),
    #[error("the output directory {path}: {source}")]
    Output {
        path: String,
        source: std::io::Error,
    },
    #[error("object storage: {0}")]
    Storage(#[source] object_store::Error),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// The document and the reference page, built once.
#[derive(Debug, Clone)]
pub struct Docs {
    pub json: Arc<Value>,
    pub html: Arc<String>,
}

/// Every documented endpoint.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jobs::create))
        .routes(routes!(jobs::get))
        .routes(routes!(image::get))
        .routes(routes!(batches::get))
        .routes(routes!(spend::cancel_batch))
        .routes(routes!(spend::cancel_job))
        .routes(routes!(spend::resume_batch))
        .routes(routes!(spend::budget))
        .routes(routes!(events::stream))
        .routes(routes!(dead::list))
        .routes(routes!(dead::replay))
        .routes(routes!(accounts::list))
        .routes(routes!(lanes::list))
        .routes(routes!(lanes::pause))
        .routes(routes!(lanes::resume))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document of [`api`].
pub fn document() -> Value {
    openapi::finish(&api().split_for_parts().1)
}

/// The whole application: endpoints, documents, authentication and limits.
pub fn router(state: AppState, max_request_bytes: usize, timeout: Duration) -> Router {
    let (api, doc) = api().split_for_parts();
    let json = openapi::finish(&doc);
    let docs = Docs {
        html: Arc::new(openapi::render(&json)),
        json: Arc::new(json),
    };
    let meta = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::page))
        .with_state(docs);
    // The API's bearer tokens guard the API (and unknown paths); the dashboard's
    // pages have their own sessions.
    let api = api
        .merge(meta)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    crate::dashboard::router(state.clone())
        .merge(api)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            bounded(req, next, timeout)
        }))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .with_state(state)
}

/// Answers 503 when a request takes longer than `timeout` to answer (an event
/// stream's answer is its first bytes, so streams are not cut).
async fn bounded(req: Request, next: Next, timeout: Duration) -> Result<Response, ApiError> {
    tokio::time::timeout(timeout, next.run(req))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("the request took longer than {timeout:?}; retry it"),
            )
        })
}

/// Serves the API until `shutdown` is cancelled; writes the address it listens on to
/// `out` first.
pub async fn serve(
    args: ServeArgs,
    conn: &ConnArgs,
    out: &mut (dyn Write + Send),
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let tokens = match &args.tokens {
        Some(spec) => Some(auth::Tokens::parse(&spec.0).map_err(ServeError::Tokens)?),
        None => None,
    };
    let tokens = match (tokens.filter(|t| !t.is_empty()), args.insecure_no_auth) {
        (Some(t), _) => Some(Arc::new(t)),
        (None, true) => {
            tracing::warn!("Serving without authentication (--insecure-no-auth).");
            None
        }
        (None, false) => return Err(ServeError::NoTokens),
    };
    let notify = match args.notify.settings().map_err(ServeError::Config)? {
        Some(_) if args.no_notify => None,
        None => {
            tracing::info!(
                "No FLUXQ_CALLBACK_SECRET: this process delivers no completion callbacks."
            );
            None
        }
        settings => settings,
    };
    let names = conn.namespace.clone();
    let redis = fluxq_wire::redis::connect(&conn.redis_url)
        .await
        .map_err(ServeError::Redis)?;
    let store = RedisStore::new(redis, names.clone());
    let publishers = Publishers::new(&conn.amqp_url, &names, args.publishers);
    publishers
        .get()
        .await
        .channel()
        .await
        .map_err(ServeError::Broker)?;
    let bucket = image::Bucket::from_args(args.storage.clone())?;
    let output_err = |source| ServeError::Output {
        path: args.output_dir.display().to_string(),
        source,
    };
    tokio::fs::create_dir_all(&args.output_dir)
        .await
        .map_err(output_err)?;
    let output_dir = tokio::fs::canonicalize(&args.output_dir)
        .await
        .map_err(output_err)?;
    let state = AppState {
        store,
        names: names.clone(),
        provider: ProviderKind::from(conn.provider),
        publishers: Arc::new(publishers),
        dead: Arc::new(tokio::sync::Mutex::new(channel_source(
            &conn.amqp_url,
            &names,
        ))),
        tokens,
        limiter: Arc::new(RateLimiter::new(args.rate, args.burst)),
        max_message_bytes: args.max_message_bytes,
        output_dir: Arc::new(output_dir),
        bucket,
        dashboard: Arc::new(crate::dashboard::Dashboard::new(
            args.session_secret.as_deref(),
            args.thumbnail_cache_bytes,
        )),
        shutdown: shutdown.clone(),
    };
    let app = router(
        state.clone(),
        args.max_request_bytes,
        Duration::from_secs(args.request_timeout.max(1)),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let notifier = notify.map(|settings| {
        let (url, names, stop) = (conn.redis_url.to_string(), names.clone(), shutdown.clone());
        tokio::spawn(async move { crate::notify::run(settings, &url, names, stop).await })
    });
    writeln!(out, "serving the HTTP API on http://{addr}")?;
    out.flush()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    shutdown.cancel();
    if let Some(Ok(Err(e))) = match notifier {
        Some(n) => Some(n.await),
        None => None,
    } {
        return Err(e.into());
    }
    state.publishers.close().await;
    state.dead.lock().await.close().await;
    Ok(())
}
