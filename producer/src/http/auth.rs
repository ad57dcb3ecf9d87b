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

    /// Whether a token named `name` with `scope` is configured (a browser session
    /// names its token; see `dashboard::session`).
    pub fn has(&self, name: &str, scope: Scope) -> bool {
        self.0.iter().any(|t| t.name == name && t.scope == scope)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Median nanoseconds of `find(presented)` over interleaved rounds.
    fn medians(tokens: &Tokens, presented: &[&str]) -> Vec<u128> {
        let mut samples = vec![Vec::new(); presented.len()];
        for _ in 0..400 {
            for (i, p) in presented.iter().enumerate() {
                let start = Instant::now();
                for _ in 0..50 {
                    std::hint::black_box(tokens.find(std::hint::black_box(p)));
                }
                samples[i].push(start.elapsed().as_nanos());
            }
        }
        samples
            .into_iter()
            .map(|mut s| {
                s.sort_unstable();
                s[s.len() / 2]
            })
            .collect()
    }

    #[test]
    fn a_wrong_token_takes_as_long_wherever_it_differs() {
        let right = "k7Qm2xV9pL4sT8wZ1nB6cR3yF5hJ0dGa";
        let tokens = Tokens::parse(&format!("ci:{right}:write,other:{}:read", "z".repeat(32)))
            .unwrap_or_default();
        assert_eq!(tokens.find(right), Some(("ci", Scope::Write)));
        let last_wrong = "k7Qm2xV9pL4sT8wZ1nB6cR3yF5hJ0dGb";
        let first_wrong = "x7Qm2xV9pL4sT8wZ1nB6cR3yF5hJ0dGa";
        assert_eq!(tokens.find(last_wrong), None);
        let m = medians(&tokens, &[last_wrong, first_wrong, right]);
        let (lo, hi) = (
            m.iter().min().copied().unwrap_or(0),
            m.iter().max().copied().unwrap_or(0),
        );
        assert!(
            hi <= lo * 2,
            "a token right but for its last character, one wrong from the first, and the right one take {m:?} ns per 50"
        );
    }
}
