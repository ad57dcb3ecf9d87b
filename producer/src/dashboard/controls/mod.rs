//! What a write session can change from the dashboard: each control is a function over
//! the same library code the command line and the API use, and a POST handler that
//! checks the session's CSRF token and scope, acts, and redirects back with what it
//! did. Forms have a confirm step (see [`super::layout::control`]) and are not shown
//! to read sessions.
//!
//! - [`replay`]: replay dead letters ([`crate::replay`]): of a batch, or selected ones.
//! - [`spend`]: cancel a batch or a job, set a batch's budget ([`crate::spend`]).
//! - [`lanes`]: pause and resume a lane ([`crate::lanes`]).

pub mod lanes;
pub mod replay;
pub mod spend;

use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::batches::urlencode;
use super::layout::control;
use super::session::Viewer;
use crate::read::batches::BatchRow;

/// The fields of a submitted form, repeated names kept (`ids=a&ids=b`).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The fields of a control's form, once its `csrf` field matches the session's
    /// (every control's POST handler starts here).
    pub fn checked(
        body: &[u8],
        viewer: &Viewer,
    ) -> Result<Self, crate::dashboard::error::PageError> {
        let f = Self::parse(body);
        viewer.check(f.get("csrf").unwrap_or_default())?;
        Ok(f)
    }

    /// The first value of `name`, if not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `back` with `done=` (what was done) appended.
pub fn back(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let done: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
    Redirect::to(&format!("{to}{sep}done={done}")).into_response()
}

/// The controls of a batch page, for a write session (nothing for a read one).
pub fn batch_controls(viewer: &Viewer, row: &BatchRow) -> Markup {
    if !viewer.can_write {
        return html! {};
    }
    let base = format!("/batches/{}", urlencode(&row.view.batch));
    html! {
        div.controls {
            @if !row.view.finished {
                (control(
                    &format!("{base}/cancel"),
                    "Cancel batch",
                    "Jobs not yet submitted end cancelled; jobs at the provider finish and are paid for.",
                    viewer,
                    html! {
                        label { "Reason " input type="text" name="reason" placeholder="cancelled by an operator"; }
                    },
                ))
            }
            (control(
                &format!("{base}/budget"),
                if row.budget.is_some() { "Change budget" } else { "Set budget" },
                "Raising the budget resumes the jobs it had cancelled.",
                viewer,
                html! {
                    label { "Budget (USD) " input type="text" name="usd" inputmode="decimal" required
                        value=[row.budget.map(|b| b.to_string())]; }
                },
            ))
            (control(
                &format!("{base}/replay-dead"),
                "Replay dead letters",
                "Publish this batch's dead letters to their lane again and reopen their failed records.",
                viewer,
                html! {},
            ))
        }
    }
}
