//! [`MockProvider`]: the running server, as a handle tests and benchmarks start,
//! inspect, reconfigure and stop in-process.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{AppState, router};
use crate::config::MockConfig;
use crate::knobs::{Knobs, KnobsPatch};
use crate::sim::Stats;

/// A mock provider serving on a local port. Dropping the handle stops the server too.
pub struct MockProvider {
    state: Arc<AppState>,
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("local_addr", &self.local_addr)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// Binds `addr` (port 0 picks a free port) and serves until [`Self::shutdown`].
    pub async fn start(addr: SocketAddr, config: MockConfig) -> std::io::Result<MockProvider> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let base_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{local_addr}"),
        };
        let state = Arc::new(AppState::new(config, base_url));
        let app = router(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A sent signal and a dropped handle both stop the server.
                    let _ = stopped.await;
                })
                .await
        });
        Ok(MockProvider {
            state,
            local_addr,
            stop,
            server,
        })
    }

    /// Where clients reach the mock, e.g. `http://127.0.0.1:41234` (or the
    /// configured public URL).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The API key the mock accepts (BFL `x-key`, Runware and Runflow
    /// `Authorization: Bearer`).
    pub fn api_key(&self) -> &str {
        &self.state.api_key
    }

    /// The counters, as `GET /_mock/stats` reports them.
    pub fn stats(&self) -> Stats {
        self.state.sim.stats(true)
    }

    /// The counters without the per-prompt maps (left empty), in constant time, as
    /// `GET /_mock/stats?maps=false` reports them: for frequent progress reads.
    pub fn summary(&self) -> Stats {
        self.state.sim.stats(false)
    }

    /// The Runware `imageInference` tasks received (the last 256), exactly as sent,
    /// oldest first, as `GET /_mock/runware/requests` reports them.
    pub fn runware_requests(&self) -> Vec<serde_json::Value> {
        self.state.runware_requests.all()
    }

    /// The Runflow run creations received (the last 256), oldest first, as
    /// `GET /_mock/runflow/requests` reports them: each `{"model_id",
    /// "idempotency_key", "body"}`, `body` the JSON exactly as sent (or, when it was
    /// not JSON, its text).
    pub fn runflow_requests(&self) -> Vec<serde_json::Value> {
        self.state.runflow_requests.all()
    }

    /// The knobs in force, as `GET /_mock/config` reports them.
    pub fn knobs(&self) -> Knobs {
        self.state.sim.knobs()
    }

    /// Changes knobs at run time, as `POST /_mock/config` does.
    pub fn update(&self, knobs: KnobsPatch) {
        self.state.sim.apply(&knobs);
    }

    /// Counters back to zero, as `POST /_mock/reset-stats` does.
    pub fn reset_stats(&self) {
        self.state.sim.reset_stats();
    }

    /// Stops accepting connections and waits for requests in progress to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "Mock provider stopped with an error."),
            Err(e) => tracing::warn!(error = %e, "Mock provider task failed."),
        }
    }
}
