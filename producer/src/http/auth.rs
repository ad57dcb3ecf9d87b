//! Bearer tokens: `FLUXQ_API_TOKENS` parsed into named tokens with a scope, compared
//! in constant time (as SHA-256 digests, so lengths leak nothing either), never kept
//! in clear text or printed.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// What a token may do: `read` (GETs) or `write` (POSTs, and GETs too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

#[derive(Clone)]
struct Token {
    name: String,
    digest: [u8; 32],
    scope: Scope,
}

/// The configured tokens (digests only; `Debug` shows names and scopes).
#[derive(Clone, Default)]
pub struct Tokens(Vec<Token>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|t| (&t.name, t.scope)))
            .finish()
    }
}

/// Who made a request (the token's name; `anonymous` without authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl Tokens {
    /// Parses `name:token:scope[,name:token:scope…]`. Errors name the entry's position,
    /// never its text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for (i, entry) in s.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let n = i + 1;
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(token), Some(scope)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("entry {n} is not name:token:scope"));
            };
            let scope = match scope {
                "read" => Scope::Read,
                "write" => Scope::Write,
                _ => return Err(format!("entry {n}: scope must be read or write")),
            };
            if name.is_empty() || token.len() < 16 {
                return Err(format!(
                    "entry {n}: needs a name and a token of at least 16 characters"
                ));
            }
            out.push(Token {
                name: name.to_owned(),
                digest: digest(token),
                scope,
            });
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name and scope of the token `presented`, comparing it with every configured
    /// token in constant time.
    pub fn find(&self, presented: &str) -> Option<(&str, Scope)> {
        let d = digest(presented);
        let mut found = None;
        for t in &self.0 {
            if bool::from(t.digest.ct_eq(&d)) {
                found = Some((t.name.as_str(), t.scope));
            }
        }
        found
    }
}

/// Whether `path` is served without a token (probes and the API's own description).
pub fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/openapi.json" | "/docs")
}

/// Checks the bearer token and its scope, then the caller's rate limit; the caller is
/// added to the request for the handlers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if is_public(req.uri().path()) {
        return Ok(next.run(req).await);
    }
    let caller = match &state.tokens {
        None => "anonymous".to_owned(),
        Some(tokens) => {
            let presented = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(ApiError::unauthenticated)?;
            let (name, scope) = tokens
                .find(presented.trim())
                .ok_or_else(ApiError::unauthenticated)?;
            let reads = matches!(*req.method(), Method::GET | Method::HEAD);
            if !reads && scope == Scope::Read {
                return Err(ApiError::forbidden());
            }
            name.to_owned()
        }
    };
    state.limiter.check(&caller)?;
    req.extensions_mut().insert(Caller(caller));
    Ok(next.run(req).await)
}
