//! The dashboard: server-rendered HTML pages over the same queries as the JSON API,
//! with charts drawn as SVG on the server (nothing to build, no JavaScript needed to
//! read a page; one small script acknowledges alerts through the API). Assets are
//! embedded in the binary. Pages are maud templates (`html!`): checked at compile time,
//! and every value spliced into one is HTML-escaped unless it is `Markup` already.

pub mod account;
pub mod assets;
pub mod pages;
pub mod reconcile;
pub mod renewals;
pub mod svg;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{html, Escaper, Markup, Render, DOCTYPE};

use crate::{error::ApiError, routes::sources::SourceStall};

/// Text that echoes the request (the search box, an error naming a parameter's value):
/// escaped by maud, and `'` as `&#39;` as well. maud leaves `'` as it is, which is safe
/// in its double-quoted attributes; this keeps a reflected value from ever appearing
/// verbatim in the page (the security tests send `' OR '1'='1` and look for it).
pub struct Reflected<'a>(pub &'a str);

impl Render for Reflected<'_> {
    fn render_to(&self, buffer: &mut String) {
        let mut escaped = String::with_capacity(self.0.len());
        // Writing to a String cannot fail.
        let _ = std::fmt::Write::write_str(&mut Escaper::new(&mut escaped), self.0);
        buffer.push_str(&escaped.replace('\'', "&#39;"));
    }
}

/// `$1.25M`, `$430k`, `$900`; `—` when unknown.
pub fn money(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.abs() >= 1_000_000.0 => format!("${:.2}M", v / 1_000_000.0),
        Some(v) if v.abs() >= 1_000.0 => format!("${:.0}k", v / 1_000.0),
        Some(v) => format!("${v:.0}"),
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.1}%"))
}

pub fn num1(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.1}"))
}

/// A signed change, e.g. `+4.2` / `−12.0`.
pub fn signed(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v > 0.0 => format!("+{v:.1}"),
        Some(v) if v < 0.0 => format!("−{:.1}", -v),
        Some(_) => "0.0".into(),
    }
}

/// A color badge (`green` / `yellow` / `red`).
pub fn badge(color: pulse_core::Color) -> Markup {
    let c = color.as_str();
    html! { span class={ "badge " (c) } { (c) } }
}

/// A data-quality badge (SPEC v3 §10) for anything but `ok`: a result's data status
/// (`partial`, `stale`, `insufficient`) or an input's state (`missing`, `stale`).
pub fn quality_badge(status: &str) -> Markup {
    match status {
        "ok" => html! {},
        "partial" | "stale" | "insufficient" | "missing" => {
            html! { span class={ "dq " (status) } data-testid="quality" { (status) } }
        }
        _ => html! { span class="dq" { (status) } },
    }
}

/// The `former customer` badge (SPEC v3 §8).
pub fn former_badge(former: bool) -> Markup {
    html! { @if former { span class="badge former" data-testid="former" { "former" } } }
}

pub fn verdict_badge(v: Option<&str>) -> Markup {
    match v {
        Some(v) => html! { span class={ "verdict " (v) } { (v.replace('_', " ")) } },
        None => html! { "—" },
    }
}

/// A URL with a query string: the current parameters with `set` applied (`None`
/// removes a key). Plain text: the template escapes it where it is put.
pub fn link(path: &str, current: &[(String, String)], set: &[(&str, Option<&str>)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in current {
        if !set.iter().any(|(s, _)| s == k) {
            ser.append_pair(k, v);
        }
    }
    for (k, v) in set {
        if let Some(v) = v {
            ser.append_pair(k, v);
        }
    }
    let q = ser.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// The query pairs of a raw query string (already validated by the page's parser).
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Path segment encoding for account ids in links.
pub fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

const NAV: [(&str, &str); 6] = [
    ("/", "Portfolio"),
    ("/accounts", "Accounts"),
    ("/graduation", "Graduation"),
    ("/alerts", "Alerts"),
    ("/renewals", "Renewals"),
    ("/accuracy", "Accuracy"),
];

/// The page frame: header with navigation, then `body`.
pub fn layout(title: &str, active: &str, body: Markup) -> Markup {
    layout_with(title, active, &[], body)
}

/// One banner per stalled source (SPEC v3 §10), above every page's content.
pub fn stalled_banners(stalled: &[SourceStall]) -> Markup {
    html! {
        @for s in stalled {
            div class="banner stalled" role="alert" data-testid="stalled-source" data-source=(s.source.source) {
                (s.message)
                span class="muted" {
                    " · results since then are marked stale, keep the color of the day before the stall, and hold their alerts"
                }
            }
        }
    }
}

/// [`layout`] with a banner per stalled source.
pub fn layout_with(title: &str, active: &str, stalled: &[SourceStall], body: Markup) -> Markup {
    html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                "\n"
                title { (title) " · Pulse" }
                link rel="stylesheet" href="/assets/pulse.css";
                link rel="icon" href="/assets/favicon.svg";
                "\n"
                script src="/assets/pulse.js" defer {}
            }
            "\n"
            body {
                header class="top" {
                    a class="brand" href="/" { "Pulse" }
                    nav {
                        @for (href, label) in NAV {
                            @if href == active {
                                a href=(href) class="active" aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                    "\n"
                    a class="api-link" href="/api/openapi.json" { "API" }
                }
                "\n"
                main { (stalled_banners(stalled)) (body) }
            }
        }
    }
}

/// An error as a page, with the API's status code.
pub fn error_page(e: ApiError) -> Response {
    let status = e.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        if let ApiError::Storage(err) = &e {
            tracing::warn!(error = %err, "clickhouse query failed");
        }
    }
    let body = html! {
        h1 { (status.canonical_reason().unwrap_or("Error")) }
        p class="error" data-testid="error" { (Reflected(&e.to_string())) }
        p { a href="/" { "Back to the portfolio" } }
    };
    (status, layout("Error", "", body)).into_response()
}

/// A pagination bar for a list page.
pub fn pager(path: &str, current: &[(String, String)], page: u64, page_size: u64, total: u64) -> Markup {
    let pages = total.div_ceil(page_size).max(1);
    let prev = (page > 1).then(|| link(path, current, &[("page", Some(&(page - 1).to_string()))]));
    let next = (page < pages).then(|| link(path, current, &[("page", Some(&(page + 1).to_string()))]));
    html! {
        nav class="pager" aria-label="pages" {
            span data-testid="total" { (total) } " items · page " (page) " of " (pages)
            @if let Some(href) = prev { " " a rel="prev" href=(href) { "‹ previous" } }
            @if let Some(href) = next { " " a rel="next" href=(href) { "next ›" } }
        }
    }
}

/// A sortable column header: clicking sorts by `key`, again reverses.
pub fn sort_th(
    path: &str,
    current: &[(String, String)],
    active: &str,
    key: &str,
    label: &str,
    desc_first: bool,
) -> Markup {
    let (now_key, now_desc) = match active.strip_prefix('-') {
        Some(k) => (k, true),
        None => (active, false),
    };
    let next = if now_key == key {
        if now_desc {
            key.to_owned()
        } else {
            format!("-{key}")
        }
    } else if desc_first {
        format!("-{key}")
    } else {
        key.to_owned()
    };
    let arrow = if now_key == key {
        if now_desc {
            " ▼"
        } else {
            " ▲"
        }
    } else {
        ""
    };
    let href = link(path, current, &[("sort", Some(&next)), ("page", None)]);
    html! { th { a href=(href) { (label) (arrow) } } }
}

/// A `<select>` for a filter, with an "any" option.
pub fn select(name: &str, label: &str, options: &[String], current: Option<&str>) -> Markup {
    html! {
        label {
            (label)
            select name=(name) {
                option value="" { "any" }
                @for o in options {
                    option value=(o) selected[current == Some(o.as_str())] { (o.replace('_', " ")) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_links() {
        assert_eq!(
            html! { (Reflected(r#"<a href="x">'&'</a>"#)) }.into_string(),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let cur = vec![("color".to_owned(), "red".to_owned()), ("page".to_owned(), "3".to_owned())];
        assert_eq!(link("/accounts", &cur, &[("page", None), ("sort", Some("-arr"))]), "/accounts?color=red&sort=-arr");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(money(Some(1_250_000.0)), "$1.25M");
        assert_eq!(money(Some(430_000.0)), "$430k");
        assert_eq!(signed(Some(-12.0)), "−12.0");
    }
}
