//! `/login` (a form with one field, `token`: an API token) and `/logout`. A valid token
//! gets a session cookie (see [`super::session`]); the token itself is never stored in
//! the browser.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Nav, page};
use subtle::ConstantTimeEq;

use super::session::{self, LIFETIME};
use crate::http::AppState;

/// Where to go after logging in.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub token: String,
    pub next: Option<String>,
}

/// A local path to return to (never another site: `//host` and `/\host` are refused).
fn local(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
        .unwrap_or("/")
}

fn form(next: &str, problem: Option<&str>) -> Markup {
    page(
        "Log in",
        Nav::None,
        None,
        false,
        html! {
            @if let Some(p) = problem { p.notice role="alert" { (p) } }
            form.login method="post" action="/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                input type="hidden" name="next" value=(next);
                button.primary type="submit" { "Log in" }
                p.muted { "Use a token of FLUXQ_API_TOKENS; a read token sees everything and changes nothing." }
            }
        },
    )
}

/// `GET /login`.
pub async fn show(Query(q): Query<Next>) -> Markup {
    form(local(q.next.as_deref()), None)
}

/// `POST /login`: a session for a valid token.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = local(f.next.as_deref()).to_owned();
    let Some(tokens) = &state.tokens else {
        return Redirect::to(&next).into_response();
    };
    let Some((name, scope)) = tokens.find(f.token.trim()) else {
        tracing::info!("A dashboard login with an unknown token.");
        return (
            StatusCode::UNAUTHORIZED,
            form(&next, Some("That token is not known.")),
        )
            .into_response();
    };
    let expires = chrono::Utc::now().timestamp() + LIFETIME.as_secs() as i64;
    let cookie = state.dashboard.key.issue(name, scope, expires);
    let mut r = Redirect::to(&next).into_response();
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes() == b"https");
    r.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(Some(&cookie), secure),
    );
    r
}

/// The logout form's field.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    pub csrf: String,
}

/// `POST /logout`: ends the session (its cookie is removed).
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Some(v) = session::viewer(&state, &headers) {
        let same: bool = v.csrf.as_bytes().ct_eq(f.csrf.as_bytes()).into();
        if !same {
            return (
                StatusCode::FORBIDDEN,
                super::layout::message_page("Forbidden", "reload the page and log out again"),
            )
                .into_response();
        }
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(None, false));
    r
}
