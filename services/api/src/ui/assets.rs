//! Static assets, embedded at build time (nothing is fetched at run time).

use axum::{
    extract::Path,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("pulse.css", "text/css; charset=utf-8", include_bytes!("../../assets/pulse.css")),
    ("pulse.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/pulse.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../assets/favicon.svg")),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "private, max-age=300")], *body)
                .into_response()
        }
        None => crate::error::ApiError::NotFound("no such asset".into()).into_response(),
    }
}
