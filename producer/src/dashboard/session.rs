//! Browser sessions: the login form's token, checked against the API's tokens, becomes
//! a signed cookie (`fluxq_session`: HttpOnly, SameSite=Strict, `Path=/`) naming the
//! token and its scope; every request re-checks that the token still exists with that
//! scope. Each form carries a CSRF token derived from the session.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::PageError;
use crate::http::AppState;
use crate::http::auth::Scope;

/// The cookie's name.
pub const COOKIE: &str = "fluxq_session";

/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The key sessions and CSRF tokens are signed with (`Debug` hides it).
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl SessionKey {
    /// A key from `FLUXQ_SESSION_SECRET` (replicas behind one address share it), or a
    /// random one (sessions end when the process does).
    pub fn new(secret: Option<&str>) -> Self {
        match secret {
            Some(s) => Self(
                sha2::Digest::finalize(sha2::Digest::chain_update(
                    <Sha256 as sha2::Digest>::new(),
                    s.as_bytes(),
                ))
                .into(),
            ),
            None => Self(rand::random()),
        }
    }

    fn sign(&self, what: &str) -> String {
        // HMAC accepts a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(what.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The cookie value of a session of token `name` with `scope`, until `expires`.
    pub fn issue(&self, name: &str, scope: Scope, expires: i64) -> String {
        let nonce = hex::encode(rand::random::<[u8; 12]>());
        let body = format!(
            "{}.{}.{expires}.{nonce}",
            hex::encode(name),
            scope_str(scope)
        );
        format!("{body}.{}", self.sign(&body))
    }

    /// The session a cookie value holds, if its signature is right and it has not
    /// expired (the token is re-checked by the caller).
    pub fn open(&self, value: &str, now: i64) -> Option<(String, Scope, String)> {
        let (body, sig) = value.rsplit_once('.')?;
        if !bool::from(self.sign(body).as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        let mut parts = body.split('.');
        let name = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let scope = match parts.next()? {
            "read" => Scope::Read,
            "write" => Scope::Write,
            _ => return None,
        };
        let expires: i64 = parts.next()?.parse().ok()?;
        (expires > now).then_some((name, scope, body.to_owned()))
    }

    /// The CSRF token of a session (of its signed body).
    pub fn csrf(&self, session: &str) -> String {
        self.sign(&format!("csrf:{session}"))[..32].to_owned()
    }
}

fn scope_str(s: Scope) -> &'static str {
    match s {
        Scope::Read => "read",
        Scope::Write => "write",
    }
}

/// Who is looking: the token's name, whether it may change things, and the CSRF
/// token its forms carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub can_write: bool,
    pub csrf: String,
}

impl Viewer {
    /// Whether `presented` is this session's CSRF token and the session may write:
    /// `Err` is the answer to send (403).
    pub fn check(&self, presented: &str) -> Result<(), PageError> {
        let ok = bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()));
        if !ok {
            return Err(forbidden(
                "the form's CSRF token is not this session's; reload the page and try again",
            ));
        }
        if !self.can_write {
            return Err(forbidden("this token's scope is read; this needs write"));
        }
        Ok(())
    }
}

fn forbidden(why: &str) -> PageError {
    PageError {
        status: StatusCode::FORBIDDEN,
        message: why.to_owned(),
    }
}

/// The value of cookie `name` in the request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value of a session (or of its removal, for `None`).
pub fn set_cookie(value: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let s = match value {
        Some(v) => format!(
            "{COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The viewer of a request: from its session cookie, or everyone with write scope
/// when the server runs without authentication.
pub fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let key = &state.dashboard.key;
    let Some(tokens) = &state.tokens else {
        return Some(Viewer {
            name: "anonymous".into(),
            can_write: true,
            csrf: key.csrf("anonymous"),
        });
    };
    let now = chrono::Utc::now().timestamp();
    let (name, scope, body) = key.open(cookie(headers, COOKIE)?, now)?;
    // The token must still be configured, with the same scope.
    if !tokens.has(&name, scope) {
        return None;
    }
    Some(Viewer {
        name,
        can_write: scope == Scope::Write,
        csrf: key.csrf(&body),
    })
}

/// Lets a request with a valid session through (with its [`Viewer`]); sends a browser
/// without one to `/login` (a POST gets 403).
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match viewer(&state, req.headers()) {
        Some(v) => {
            req.extensions_mut().insert(v);
            next.run(req).await
        }
        None if req.method() == Method::GET || req.method() == Method::HEAD => {
            let back = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let to = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            );
            Redirect::to(&to).into_response()
        }
        None => forbidden("no session: log in first").into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_only_unchanged_and_unexpired() {
        let key = SessionKey::new(None);
        let v = key.issue("ci", Scope::Write, 2_000);
        let (name, scope, body) = key.open(&v, 1_000).unwrap();
        assert_eq!((name.as_str(), scope), ("ci", Scope::Write));
        assert_eq!(key.open(&v, 2_001), None, "expired");
        let forged = v.replacen(".write.", ".read.", 1);
        assert_eq!(key.open(&forged, 1_000), None, "changed");
        assert_eq!(SessionKey::new(None).open(&v, 1_000), None, "another key");
        assert_ne!(key.csrf(&body), key.csrf("other"));
    }
}
