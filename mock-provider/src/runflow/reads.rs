//! Reading runs: `GET /v1/runs/{id}` and the search `GET /v1/runs?q=client_ref:<ref>`,
//! both padded by `poll_body_pad_bytes`; searches fail at `lookup_fail_rate`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::account::auth;
use super::error::{ApiError, FieldError};
use super::run::Reader;
use crate::app::AppState;
use crate::hostile;
use crate::sim::Api;

/// Page size of a search when `limit` is not given (unconfirmed), and its maximum.
const LIMITS: (usize, usize) = (50, 500);

/// `GET /v1/runs/{id}`: the run, padded by `poll_body_pad_bytes`.
pub(super) async fn get_run(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(refused) = auth(&app, &headers) {
        return refused.into_response();
    }
    let id = Uuid::parse_str(&id).ok();
    let view = match app.sim.poll(Api::Runflow, id) {
        Ok(view) => view,
        Err(fault) => return ApiError::Fault(fault).into_response(),
    };
    let Some((id, view)) = id.zip(view) else {
        return ApiError::RunNotFound.into_response();
    };
    let knobs = app.sim.knobs();
    let pad = knobs.poll_body_pad_bytes;
    let reader = Reader {
        app: &app,
        base: app.base_for(&headers, &uri),
        knobs,
    };
    hostile::json(StatusCode::OK, reader.run(id, &view), pad)
}

/// `GET /v1/runs?q=client_ref:<ref>&limit=`: the runs with that `client_ref` (every
/// run without `q`), newest first, in one page (`next` is always `null`). Other
/// filters are refused with 422.
pub(super) async fn search(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(refused) = auth(&app, &headers) {
        return refused.into_response();
    }
    let (client_ref, limit) = match search_terms(&query) {
        Ok(terms) => terms,
        Err(refused) => return refused.into_response(),
    };
    let found = match app.sim.search(Api::Runflow, client_ref.as_deref(), limit) {
        Ok(found) => found,
        Err(fault) => return ApiError::Fault(fault).into_response(),
    };
    let knobs = app.sim.knobs();
    let pad = knobs.poll_body_pad_bytes;
    let reader = Reader {
        app: &app,
        base: app.base_for(&headers, &uri),
        knobs,
    };
    let items: Vec<Value> = found.iter().map(|(id, v)| reader.run(*id, v)).collect();
    let page = json!({ "items": items, "first": null, "next": null, "previous": null });
    hostile::json(StatusCode::OK, page, pad)
}

/// The `client_ref` searched for and the page size.
fn search_terms(query: &HashMap<String, String>) -> Result<(Option<String>, usize), ApiError> {
    let mut errors = Vec::new();
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => LIMITS.0,
        Some(Ok(l)) if (1..=LIMITS.1).contains(&l) => l,
        Some(_) => {
            let msg = format!("Must be an integer from 1 to {}.", LIMITS.1);
            errors.push(FieldError::new("limit", msg));
            LIMITS.0
        }
    };
    let client_ref = query.get("q").map(|q| {
        let value = q
            .trim()
            .strip_prefix("client_ref")
            .and_then(|rest| rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"'))
            .filter(|v| !v.is_empty() && !v.contains(" AND ") && !v.contains(" OR "));
        if value.is_none() {
            let msg = "The mock supports only q=client_ref:<value>.";
            errors.push(FieldError::new("q", msg));
        }
        value.unwrap_or_default().to_owned()
    });
    if errors.is_empty() {
        Ok((client_ref, limit))
    } else {
        Err(ApiError::Invalid(errors))
    }
}
