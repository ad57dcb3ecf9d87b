//! `/healthz` (the process answers) and `/readyz` (Redis and RabbitMQ answer).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// A probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

/// Liveness: 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: 200 when Redis answers and a channel to RabbitMQ is open, else 503.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "Not ready, and why", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let wait = Duration::from_secs(3);
    let redis = tokio::time::timeout(wait, state.store.ping()).await;
    let problem = match redis {
        Err(_) => Some("Redis did not answer within 3 s".to_owned()),
        Ok(Err(e)) => Some(e.to_string()),
        Ok(Ok(())) => {
            let amqp = tokio::time::timeout(wait, async {
                state.publishers.get().await.channel().await.map(|_| ())
            })
            .await;
            match amqp {
                Err(_) => Some("RabbitMQ did not answer within 3 s".to_owned()),
                Ok(Err(e)) => Some(e.to_string()),
                Ok(Ok(())) => None,
            }
        }
    };
    match problem {
        None => (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
            }),
        ),
        Some(p) => (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: p })),
    }
}
