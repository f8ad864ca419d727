//! Static assets.
use axum::response::Html;
pub async fn serve() -> Html<&'static str> { Html("") }
