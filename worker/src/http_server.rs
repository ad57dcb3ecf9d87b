//! The worker's HTTP endpoints for operators, on `FLUXQ_METRICS_ADDR`: `/metrics`
//! (OpenMetrics text), `/healthz` (200 while the process runs) and `/readyz` (200
//! only while it is consuming from RabbitMQ and Redis answers a PING).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use redis::aio::ConnectionManager;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

use crate::metrics::Metrics;

/// How long `/readyz` waits for Redis to answer its PING.
const REDIS_PING_TIMEOUT: Duration = Duration::from_millis(500);

/// `FLUXQ_METRICS_ADDR`: an address to listen on, or `off` (or empty) for no server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl FromStr for MetricsAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "off" => Ok(Self(None)),
            a => a.parse().map(|a| Self(Some(a))).map_err(|_| {
                format!("{a:?} is not HOST:PORT with an IP address (e.g. 0.0.0.0:9090), nor `off`")
            }),
        }
    }
}

/// What `/readyz` checks, shared with the consume loop.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    consuming: AtomicUsize,
    redis: OnceLock<ConnectionManager>,
}

impl std::fmt::Debug for HealthInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("consuming", &self.consuming.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The worker counts as consuming while this lives (drop it when the session ends).
#[derive(Debug)]
pub struct Consuming(Arc<HealthInner>);

impl Drop for Consuming {
    fn drop(&mut self) {
        self.0.consuming.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Health {
    /// The Redis connection `/readyz` pings.
    pub fn set_redis(&self, conn: ConnectionManager) {
        let _ = self.inner.redis.set(conn);
    }

    /// Marks the worker consuming until the returned guard is dropped.
    pub fn consuming(&self) -> Consuming {
        self.inner.consuming.fetch_add(1, Ordering::SeqCst);
        Consuming(self.inner.clone())
    }

    /// `Err(reason)` unless consuming and Redis answers.
    async fn ready(&self) -> Result<(), &'static str> {
        if self.inner.consuming.load(Ordering::SeqCst) == 0 {
            return Err("not consuming from RabbitMQ");
        }
        let Some(conn) = self.inner.redis.get() else {
            return Err("not connected to Redis");
        };
        let mut conn = conn.clone();
        let ping = async move { redis::cmd("PING").query_async::<String>(&mut conn).await };
        match tokio::time::timeout(REDIS_PING_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err("Redis does not answer"),
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: CancellationToken,
}

/// The metrics server could not listen.
#[derive(Debug, thiserror::Error)]
#[error("FLUXQ_METRICS_ADDR {addr}: {source} (another port, or `off`?)")]
pub struct ServeError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// The running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    _stop: DropGuard,
}

/// Listens on `addr` (nothing if `None`) and serves until the returned [`Server`] is
/// dropped. `/readyz` says 503 as soon as `shutdown` is cancelled.
pub async fn start(
    addr: Option<SocketAddr>,
    metrics: &Arc<Metrics>,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<Option<Server>, ServeError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let bound = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l.local_addr().map(|a| (l, a)),
        Err(e) => Err(e),
    };
    let (listener, addr) = bound.map_err(|source| ServeError { addr, source })?;
    let state = AppState {
        metrics: metrics.clone(),
        health: health.clone(),
        shutdown: shutdown.clone(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stopped.cancelled_owned());
        if let Err(e) = serve.await {
            warn!(error = %e, "The metrics server stopped.");
        }
    });
    info!(%addr, "Serving /metrics, /healthz and /readyz.");
    Ok(Some(Server {
        addr,
        _stop: stop.drop_guard(),
    }))
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    match s.metrics.encode() {
        Ok(text) => {
            let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            ([(header::CONTENT_TYPE, kind)], text).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    if s.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n".into(),
        );
    }
    match s.health.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_off_disables() {
        let ok = |s: &str| s.parse::<MetricsAddr>().map(|a| a.0);
        assert_eq!(
            ok("0.0.0.0:9090"),
            Ok(Some(SocketAddr::from(([0, 0, 0, 0], 9090))))
        );
        assert_eq!(ok("off"), Ok(None));
        assert_eq!(ok(""), Ok(None));
        assert!(ok("localhost").is_err());
    }
}
