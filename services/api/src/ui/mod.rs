//! The dashboard: server-rendered HTML pages over the same queries as the JSON API,
//! with charts drawn as SVG on the server (nothing to build, no JavaScript needed to
//! read a page; one small script acknowledges alerts through the API). Assets are
//! embedded in the binary. Every value put in a page goes through [`esc`].

pub mod account;
pub mod assets;
pub mod pages;
pub mod renewals;
pub mod svg;

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use crate::error::ApiError;

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
pub fn badge(color: &str) -> String {
    let c = match color {
        "green" | "yellow" | "red" => color,
        _ => "none",
    };
    format!(r#"<span class="badge {c}">{}</span>"#, esc(color))
}

pub fn verdict_badge(v: Option<&str>) -> String {
    match v {
        Some(v) => format!(r#"<span class="verdict {}">{}</span>"#, esc(v), esc(&v.replace('_', " "))),
        None => "—".into(),
    }
}

/// A URL with a query string: the current parameters with `set` applied (`None`
/// removes a key). The result is not yet HTML-escaped.
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
pub fn layout(title: &str, active: &str, body: &str) -> Html<String> {
    let nav: String = NAV
        .iter()
        .map(|(href, label)| {
            let cls = if *href == active { r#" class="active" aria-current="page""# } else { "" };
            format!(r#"<a href="{href}"{cls}>{label}</a>"#)
        })
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Pulse</title><link rel="stylesheet" href="/assets/pulse.css"><link rel="icon" href="/assets/favicon.svg">
<script src="/assets/pulse.js" defer></script></head>
<body><header class="top"><a class="brand" href="/">Pulse</a><nav>{nav}</nav>
<a class="api-link" href="/api/openapi.json">API</a></header>
<main>{body}</main></body></html>"#,
        title = esc(title),
    ))
}

/// An error as a page, with the API's status code.
pub fn error_page(e: ApiError) -> Response {
    let status = e.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        if let ApiError::Storage(err) = &e {
            tracing::warn!(error = %err, "clickhouse query failed");
        }
    }
    let body = format!(
        r#"<h1>{}</h1><p class="error" data-testid="error">{}</p><p><a href="/">Back to the portfolio</a></p>"#,
        status.canonical_reason().unwrap_or("Error"),
        esc(&e.to_string())
    );
    (status, layout("Error", "", &body)).into_response()
}

/// A pagination bar for a list page.
pub fn pager(path: &str, current: &[(String, String)], page: u64, page_size: u64, total: u64) -> String {
    let pages = total.div_ceil(page_size).max(1);
    let mut out = format!(
        r#"<nav class="pager" aria-label="pages"><span data-testid="total">{total}</span> items · page {page} of {pages}"#
    );
    if page > 1 {
        let prev = (page - 1).to_string();
        out.push_str(&format!(
            r#" <a rel="prev" href="{}">‹ previous</a>"#,
            esc(&link(path, current, &[("page", Some(&prev))]))
        ));
    }
    if page < pages {
        let next = (page + 1).to_string();
        out.push_str(&format!(
            r#" <a rel="next" href="{}">next ›</a>"#,
            esc(&link(path, current, &[("page", Some(&next))]))
        ));
    }
    out.push_str("</nav>");
    out
}

/// A sortable column header: clicking sorts by `key`, again reverses.
pub fn sort_th(
    path: &str,
    current: &[(String, String)],
    active: &str,
    key: &str,
    label: &str,
    desc_first: bool,
) -> String {
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
    format!(r#"<th><a href="{}">{}{arrow}</a></th>"#, esc(&href), esc(label))
}

/// A `<select>` for a filter, with an "any" option.
pub fn select(name: &str, label: &str, options: &[String], current: Option<&str>) -> String {
    let mut out = format!(r#"<label>{}<select name="{}"><option value="">any</option>"#, esc(label), esc(name));
    for o in options {
        let sel = if current == Some(o.as_str()) { " selected" } else { "" };
        out.push_str(&format!(r#"<option value="{0}"{sel}>{1}</option>"#, esc(o), esc(&o.replace('_', " "))));
    }
    out.push_str("</select></label>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_links() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let cur = vec![("color".to_owned(), "red".to_owned()), ("page".to_owned(), "3".to_owned())];
        assert_eq!(link("/accounts", &cur, &[("page", None), ("sort", Some("-arr"))]), "/accounts?color=red&sort=-arr");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(money(Some(1_250_000.0)), "$1.25M");
        assert_eq!(money(Some(430_000.0)), "$430k");
        assert_eq!(signed(Some(-12.0)), "−12.0");
    }
}
