//! [`ApiQuery`]: the query string as a typed value, refused with the API's error body
//! (422 naming the parameter) instead of axum's plain-text 400.

use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A deserialized query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => {
                let text = e.body_text();
                // serde_urlencoded says "<param>: <why>" when it knows the parameter.
                let field = text
                    .split_once(": ")
                    .and_then(|(_, rest)| rest.split_once(": "))
                    .map_or("query", |(p, _)| p);
                Err(ApiError::invalid(field.to_owned(), text))
            }
        }
    }
}
