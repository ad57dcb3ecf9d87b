//! The mock's own endpoints under `/_mock`: counters and run-time knobs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::app::AppState;
use crate::knobs::{Knobs, KnobsPatch};
use crate::sim::Stats;

/// The admin routes (each provider registers its own journal under `/_mock`).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_mock/stats", get(stats))
        .route("/_mock/config", get(knobs).post(update))
        .route("/_mock/reset-stats", post(reset_stats))
}

/// `GET /_mock/stats`; with `?maps=false` the per-prompt maps are left empty.
async fn stats(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Stats> {
    let with_maps = query.get("maps").is_none_or(|v| v != "false" && v != "0");
    Json(app.sim.stats(with_maps))
}

/// `GET /_mock/config`: the knobs in force.
async fn knobs(State(app): State<Arc<AppState>>) -> Json<Knobs> {
    Json(app.sim.knobs())
}

/// `POST /_mock/config` with a [`KnobsPatch`]; answers the knobs now in force.
async fn update(State(app): State<Arc<AppState>>, Json(patch): Json<KnobsPatch>) -> Json<Knobs> {
    tracing::info!(?patch, "Knobs changed.");
    Json(app.sim.apply(&patch))
}

/// `POST /_mock/reset-stats`: counters back to zero.
async fn reset_stats(State(app): State<Arc<AppState>>) -> StatusCode {
    app.sim.reset_stats();
    StatusCode::NO_CONTENT
}
