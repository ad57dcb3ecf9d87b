//! The account endpoints (`GET /v1/auth/me`, `GET /v1/billing/balance`) and the
//! Bearer check every Runflow endpoint makes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use fluxq_common::MicroUsd;
use serde_json::json;

use super::error::ApiError;
use super::price;
use crate::UNLIMITED_CREDITS;
use crate::app::AppState;

/// `GET /v1/auth/me`: 200 for a working key (the body's shape is unconfirmed).
pub(super) async fn me(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match auth(&app, &headers) {
        Ok(()) => Json(json!({ "id": "mock-user", "key_type": "inference" })).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /v1/billing/balance`: `{"balance": "<USD>", "currency": "USD"}`, the same
/// balance the other APIs draw from.
pub(super) async fn balance(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = auth(&app, &headers) {
        return refused.into_response();
    }
    let credits = app.sim.balance().unwrap_or(UNLIMITED_CREDITS);
    let balance = price::usd(MicroUsd::from_credits(credits));
    Json(json!({ "balance": balance, "currency": "USD" })).into_response()
}

/// `Authorization: Bearer <key>` or 401, counted.
pub(super) fn auth(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.bearer(headers) == Some(true) {
        return Ok(());
    }
    app.sim.record(|s| {
        s.unauthorized += 1;
        s.by_provider.runflow.unauthorized += 1;
    });
    Err(ApiError::Unauthorized)
}
