//! `/accounts`: each provider account's slots in flight, effective limit, cool-down,
//! 429s seen, breaker (open or closed, since when, why), and today's spend (UTC) against
//! the daily budget, with what is reserved for submits in flight. Live.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::error::PageError;
use super::layout::{Nav, page, time};
use super::session::Viewer;
use crate::http::AppState;

/// `GET /accounts`.
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Markup, PageError> {
    let accounts = crate::read::accounts(&state.store).await?;
    let body = html! {
        div #accounts data-live {
            @if accounts.is_empty() {
                p.notice { "No provider account has been used yet." }
            } @else {
                div.scroll { table {
                    thead { tr {
                        th { "Account" } th.num { "In flight" } th.num { "Limit" } th.num.wide { "Max" }
                        th.num { "Cool-down" } th.num { "Throttled" } th { "Breaker" } th.num { "Today" }
                    } }
                    tbody {
                        @for a in &accounts {
                            tr {
                                td { code { (a.account) } }
                                td.num { (a.in_flight) }
                                td.num { (a.effective_limit.map(|l| format!("{l:.1}")).unwrap_or_else(|| "–".into())) }
                                td.num.wide { (a.max.map(|m| m.to_string()).unwrap_or_else(|| "–".into())) }
                                td.num { @if a.cooldown_ms > 0 { (format!("{:.1} s", a.cooldown_ms as f64 / 1000.0)) } @else { "none" } }
                                td.num { (a.throttled) }
                                td {
                                    @if a.breaker_open {
                                        span.badge.failed { "open" }
                                        " " (a.breaker_reason.as_deref().unwrap_or(""))
                                        @if let Some(s) = &a.breaker_since { span.muted { " since " (time(s)) } }
                                    } @else { span.badge.succeeded { "closed" } }
                                }
                                td.num {
                                    "$" (a.spent_today_usd)
                                    @if let Some(cap) = &a.daily_budget_usd { " of $" (cap) }
                                    @if a.reserved_micro_usd > 0 { br; span.muted { "$" (fluxq_common::MicroUsd(a.reserved_micro_usd)) " reserved" } }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page("Accounts", Nav::Accounts, Some(&viewer), true, body))
}
