//! The worker's HTTP endpoints for operators, on `FLUXQ_METRICS_ADDR`: `/metrics`
//! (OpenMetrics text), `/healthz` (200 while the process runs) and `/readyz` (200
//! only while it is consuming from RabbitMQ and Redis answered recently; a lane paused
//! fleet-wide keeps it 200 and is named in its body).
//!
//! `/readyz` answers from what the worker tracks ([`Health`]): the consume loop's
//! flag, and the last successful Redis round trip of a probe that pings every
//! [`REDIS_PROBE_EVERY`] whatever the number of requests. Every connection must send
//! its request headers within [`HEADER_TIMEOUT`], each request is answered within
//! [`REQUEST_TIMEOUT`], and no connection lives longer than [`CONNECTION_MAX`], so a
//! slow or idle client cannot hold the server's resources.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use redis::aio::ConnectionManager;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, info, warn};

use crate::consume::lanes::LaneSet;
use crate::metrics::Metrics;

/// How long the Redis probe waits for its PING.
const REDIS_PING_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the Redis probe pings.
pub const REDIS_PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long after the last successful round trip Redis still counts as answering.
pub const REDIS_FRESH: Duration = Duration::from_secs(10);
/// Time a client has to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a request has to be answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection (keep-alive included).
pub const CONNECTION_MAX: Duration = Duration::from_secs(300);

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

struct HealthInner {
    consuming: AtomicUsize,
    /// When this was made: the origin of `redis_ok_ms`.
    born: Instant,
    /// Milliseconds after `born` of the last successful Redis round trip, plus one
    /// (0: never).
    redis_ok_ms: AtomicU64,
    /// The lanes paused fleet-wide ([`LaneSet`]'s bits), named by `/readyz`.
    paused: AtomicU8,
}

impl Default for HealthInner {
    fn default() -> Self {
        Self {
            consuming: AtomicUsize::new(0),
            born: Instant::now(),
            redis_ok_ms: AtomicU64::new(0),
            paused: AtomicU8::new(0),
        }
    }
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
    /// Records a successful Redis round trip now.
    pub fn redis_answered(&self) {
        let ms = self.inner.born.elapsed().as_millis() as u64 + 1;
        self.inner.redis_ok_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long ago Redis last answered, if it ever did.
    fn redis_silent_for(&self) -> Option<Duration> {
        match self.inner.redis_ok_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(
                self.inner
                    .born
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }

    /// Pings Redis on `conn` every [`REDIS_PROBE_EVERY`] until `stop`, recording each
    /// answer (the connection has just answered: that counts as the first).
    pub fn watch_redis(&self, conn: ConnectionManager, stop: CancellationToken) {
        self.redis_answered();
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(REDIS_PROBE_EVERY) => {}
                    () = stop.cancelled() => return,
                }
                let mut c = conn.clone();
                let ping = async move { redis::cmd("PING").query_async::<String>(&mut c).await };
                match tokio::time::timeout(REDIS_PING_TIMEOUT, ping).await {
                    Ok(Ok(_)) => health.redis_answered(),
                    _ => debug!("Redis did not answer the readiness probe."),
                }
            }
        });
    }

    /// Marks the worker consuming until the returned guard is dropped.
    pub fn consuming(&self) -> Consuming {
        self.inner.consuming.fetch_add(1, Ordering::SeqCst);
        Consuming(self.inner.clone())
    }

    /// Records the lanes paused fleet-wide (a paused worker is healthy and ready).
    pub fn set_paused(&self, lanes: LaneSet) {
        self.inner.paused.store(lanes.bits(), Ordering::Relaxed);
    }

    /// The lanes paused fleet-wide, as last read.
    pub fn paused(&self) -> LaneSet {
        LaneSet::from_bits(self.inner.paused.load(Ordering::Relaxed))
    }

    /// `Err(reason)` unless consuming and Redis answered within [`REDIS_FRESH`]. Sends
    /// nothing anywhere: it reads what the worker tracks.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.inner.consuming.load(Ordering::SeqCst) == 0 {
            return Err("not consuming from RabbitMQ");
        }
        match self.redis_silent_for() {
            None => Err("not connected to Redis"),
            Some(d) if d > REDIS_FRESH => Err("Redis does not answer"),
            Some(_) => Ok(()),
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
        .layer(middleware::from_fn(bounded))
        .with_state(state);
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, app, stop.clone()));
    info!(%addr, "Serving /metrics, /healthz and /readyz.");
    Ok(Some(Server {
        addr,
        _stop: stop.drop_guard(),
    }))
}

/// Accepts connections until `stop`, each with the header timeout and a life limit.
async fn serve(listener: tokio::net::TcpListener, app: Router, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!(error = %e, "The metrics server could not accept a connection.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_MAX, conn) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

/// Answers 503 to a request not answered within [`REQUEST_TIMEOUT`].
async fn bounded(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed out\n").into_response(),
    }
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
    match s.health.ready() {
        Ok(()) => {
            let paused: Vec<_> = s.health.paused().lanes().map(|l| l.as_str()).collect();
            if paused.is_empty() {
                (StatusCode::OK, "ready\n".into())
            } else {
                let lanes = paused.join(", ");
                (StatusCode::OK, format!("ready; paused lanes: {lanes}\n"))
            }
        }
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

    #[tokio::test(start_paused = true)]
    async fn readiness_is_read_from_tracked_state_not_asked_of_redis() {
        let h = Health::default();
        assert_eq!(h.ready(), Err("not consuming from RabbitMQ"));
        let consuming = h.consuming();
        assert_eq!(h.ready(), Err("not connected to Redis"));
        h.redis_answered();
        assert_eq!(h.ready(), Ok(()), "no connection needed: nothing is sent");
        tokio::time::advance(REDIS_FRESH + Duration::from_secs(1)).await;
        assert_eq!(h.ready(), Err("Redis does not answer"));
        h.redis_answered();
        assert_eq!(h.ready(), Ok(()));
        drop(consuming);
        assert_eq!(h.ready(), Err("not consuming from RabbitMQ"));
    }

    #[test]
    fn paused_lanes_are_kept_for_the_readiness_body() {
        use fluxq_common::Lane;
        let h = Health::default();
        assert!(h.paused().is_empty());
        h.set_paused(LaneSet::from_fields(["bulk"]));
        assert_eq!(h.paused().lanes().collect::<Vec<_>>(), vec![Lane::Bulk]);
        h.set_paused(LaneSet::default());
        assert!(h.paused().is_empty());
    }
}
