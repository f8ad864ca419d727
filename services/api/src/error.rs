//! API errors: one enum, one JSON shape (`{"error": {"code", "message"}}`), and the
//! status each maps to. Messages name the offending parameter; ClickHouse errors are
//! logged, never echoed (they may quote SQL).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter failed validation (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// The storage failed or timed out (503; retry later).
    #[error("storage unavailable")]
    Storage(#[from] clickhouse::error::Error),
    #[error("request timed out")]
    Timeout,
    /// A request body that is not JSON (415; also what keeps HTML forms of other sites
    /// from posting with a browser's stored credentials).
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Should not happen (500); logged.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(param: &str, message: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!("parameter `{param}`: {message}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Storage(_) | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::Storage(_) => "storage_unavailable",
            ApiError::Timeout => "timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The `WWW-Authenticate` challenge of a 401: Basic so that browsers prompt, Bearer
/// for API clients.
pub const CHALLENGE: &str = r#"Basic realm="Pulse", charset="UTF-8""#;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Storage(e) = &self {
            tracing::warn!(error = %e, "clickhouse query failed");
        }
        let status = self.status();
        let body = Json(ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string() } });
        let mut resp = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        }
        resp
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `not_found`, `storage_unavailable`, `timeout`,
    /// `unsupported_media_type` or `internal`.
    pub code: &'static str,
    /// What was wrong; a parameter's message names it.
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;
