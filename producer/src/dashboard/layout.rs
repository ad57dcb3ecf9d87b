//! The page shell every dashboard page shares (head, navigation, assets), and the small
//! pieces pages are built of: money, times, the progress bar, pager links, forms with
//! their CSRF token and confirm step.

use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Batches,
    Dead,
    Accounts,
    Lanes,
    None,
}

/// A page: `title`, the viewer (for the header), and `body`. `live` makes the script
/// refresh the page's `data-live` parts once a second.
pub fn page(title: &str, nav: Nav, viewer: Option<&Viewer>, live: bool, body: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(n == nav).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fluxq" }
                link rel="stylesheet" href=(super::assets::CSS_PATH);
                script src=(super::assets::JS_PATH) defer {}
            }
            body data-refresh=[live.then_some("1000")] {
                header {
                    a.brand href="/" { "fluxq" }
                    nav {
                        (item(Nav::Batches, "/", "Batches"))
                        (item(Nav::Dead, "/dead", "Dead letters"))
                        (item(Nav::Accounts, "/accounts", "Accounts"))
                        (item(Nav::Lanes, "/lanes", "Lanes"))
                    }
                    @if let Some(v) = viewer {
                        form.who method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span { (v.name) @if !v.can_write { " (read only)" } }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A page saying one thing (errors, refusals).
pub fn message_page(title: &str, message: &str) -> Markup {
    page(title, Nav::None, None, false, html! { p { (message) } })
}

/// A decimal USD amount: `$0.045`.
pub fn usd(amount: &str) -> Markup {
    html! { "$" (amount) }
}

/// Unix ms as `2026-12-05 18:52:01 UTC`.
pub fn time_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// An RFC 3339 time as [`time_ms`] shows it (unchanged if it does not parse).
pub fn time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| time_ms(t.timestamp_millis()))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The segments of a progress bar, in order: (CSS class, label, count).
pub type Segments<'a> = [(&'a str, &'a str, u64)];

/// A progress bar of `total` split into `segments` (SVG: widths are attributes, so
/// the page needs no inline style), with a text summary for readers and tests.
pub fn bar(segments: &Segments<'_>, total: u64) -> Markup {
    let done: u64 = segments.iter().map(|s| s.2).sum();
    let pct = (done.min(total) * 100).checked_div(total).unwrap_or(0);
    // Each segment's (class, x, width) out of 1000.
    let mut x = 0u64;
    let rects: Vec<(&str, u64, u64)> = segments
        .iter()
        .map(|(class, _, n)| {
            let w = (n * 1000).checked_div(total).unwrap_or(0);
            x += w;
            (*class, x - w, w)
        })
        .collect();
    let title = segments
        .iter()
        .map(|(_, label, n)| format!("{n} {label}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        div.progress {
            svg.bar viewBox="0 0 1000 12" preserveAspectRatio="none" role="img" aria-label=(title) {
                title { (title) }
                rect.track x="0" y="0" width="1000" height="12" {}
                @for (class, x, w) in &rects {
                    rect class=(class) x=(x) y="0" width=(w) height="12" {}
                }
            }
            span.pct data-pct=(pct) { (done) " of " (total) " done (" (pct) " %)" }
        }
    }
}

/// Links to the previous and next page of a listing (`href` gets `offset=` appended).
pub fn pager(href: &str, offset: u64, per_page: u64, total: u64) -> Markup {
    let sep = if href.contains('?') { '&' } else { '?' };
    let last = offset + per_page >= total;
    html! {
        nav.pager {
            @if offset > 0 {
                a rel="prev" href={ (href) (sep) "offset=" (offset.saturating_sub(per_page)) } { "← Newer" }
            }
            span { ((offset + 1).min(total)) "–" ((offset + per_page).min(total)) " of " (total) }
            @if !last {
                a rel="next" href={ (href) (sep) "offset=" (offset + per_page) } { "Older →" }
            }
        }
    }
}

/// A POST form with the viewer's CSRF token and a confirm step: the first button
/// opens a `<details>`, whose button submits (no script needed).
pub fn control(
    action: &str,
    label: &str,
    confirm: &str,
    viewer: &Viewer,
    fields: Markup,
) -> Markup {
    html! {
        details.control {
            summary { (label) }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (fields)
                p { (confirm) }
                button.danger type="submit" { "Confirm: " (label) }
            }
        }
    }
}
