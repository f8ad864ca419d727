//! The application: the router (API, dashboard, operational endpoints),
//! and the middleware every request goes through (limits, metrics, security headers,
//! authentication).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use prometheus::{Encoder, Registry, TextEncoder};
use pulse_core::ScoringConfig;
use pulse_runtime::clickhouse::ClickHouseConfig;
use tokio::{net::TcpListener, sync::Semaphore};

use crate::{
    auth::Authenticator,
    config::{ApiConfig, Credential},
    db::Db,
    error::ApiError,
    metrics::ApiMetrics,
    openapi, routes,
    state::{AppState, Inner},
    ui,
};

/// The API service; [`App::serve`] runs it on a bound listener until `shutdown`.
pub struct App {
    state: AppState,
}

impl App {
    pub fn new(
        cfg: ApiConfig,
        creds: Vec<Credential>,
        ch: &ClickHouseConfig,
        scoring: ScoringConfig,
        registry: Registry,
    ) -> Self {
        let metrics = ApiMetrics::new(&registry);
        let inner = Inner {
            db: Db::new(ch, &cfg),
            auth: Authenticator::new(&creds),
            limiter: Semaphore::new(cfg.max_concurrent_requests as usize),
            cfg,
            scoring,
            metrics,
            registry,
        };
        Self { state: AppState(Arc::new(inner)) }
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub fn router(&self) -> Router {
        let st = self.state.clone();
        let api = Router::new()
            .route("/api/openapi.json", get(openapi::document))
            .route("/api/v1/filters", get(routes::portfolio::filters))
            .route("/api/v1/portfolio", get(routes::portfolio::summary))
            .route("/api/v1/portfolio/breakdown", get(routes::portfolio::breakdown))
            .route("/api/v1/portfolio/trend", get(routes::portfolio::trend))
            .route("/api/v1/portfolio/movers", get(routes::portfolio::movers))
            .route("/api/v1/accounts", get(routes::accounts::list))
            .route("/api/v1/accounts/{id}", get(routes::accounts::detail))
            .route("/api/v1/accounts/{id}/history", get(routes::accounts::history))
            .route("/api/v1/accounts/{id}/readiness", get(routes::accounts::readiness))
            .route("/api/v1/accounts/{id}/alerts", get(routes::alerts::for_account))
            .route("/api/v1/graduation", get(routes::graduation::summary))
            .route("/api/v1/graduation/accounts", get(routes::graduation::list))
            .route("/api/v1/alerts", get(routes::alerts::list))
            .route("/api/v1/alerts/summary", get(routes::alerts::summary))
            .route("/api/v1/alerts/ack", post(routes::alerts::ack))
            .route("/api/v1/renewals", get(routes::renewals::renewals))
            .route("/api/v1/accuracy", get(routes::accuracy::accuracy))
            .route("/api/v1/reconcile", get(routes::reconcile::last_run))
            .route("/api/v1/sources", get(routes::sources::sources));
        let pages = Router::new()
            .route("/", get(ui::pages::portfolio))
            .route("/accounts", get(ui::pages::accounts))
            .route("/accounts/{id}", get(ui::pages::account))
            .route("/graduation", get(ui::pages::graduation))
            .route("/alerts", get(ui::pages::alerts))
            .route("/renewals", get(ui::renewals::renewals))
            .route("/accuracy", get(ui::renewals::accuracy))
            .route("/assets/{name}", get(ui::assets::serve));
        let ops = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics));
        api.merge(pages)
            .merge(ops)
            .route_layer(middleware::from_fn_with_state(st.clone(), authenticate))
            .route_layer(middleware::from_fn_with_state(st.clone(), observe))
            .fallback(|| async { ApiError::NotFound("no such route".into()) })
            .layer(DefaultBodyLimit::max(16 * 1024))
            .with_state(st)
    }

    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The renewals and accuracy inputs take seconds to load at scale: from the start.
        tokio::spawn(self.state.db.outcomes.clone().warm(self.state.db.clone()));
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await
    }
}

/// Paths served without credentials.
fn is_public(st: &AppState, path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || (path == "/metrics" && st.cfg.public_metrics)
}

async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if is_public(&st, req.uri().path()) {
        return next.run(req).await;
    }
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match st.auth.check(header) {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => {
            st.metrics.auth_failures.inc();
            ApiError::Unauthorized.into_response()
        }
    }
}

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Concurrency limit, whole-request deadline, metrics and security headers.
async fn observe(State(st): State<AppState>, matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = crate::metrics::method_label(req.method());
    let start = Instant::now();
    let deadline = Duration::from_secs(u64::from(st.cfg.request_timeout_secs));
    let mut resp = match tokio::time::timeout(deadline, st.limiter.acquire()).await {
        Ok(Ok(_permit)) => {
            let left = deadline.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError::Timeout.into_response(),
            }
        }
        _ => ApiError::Timeout.into_response(),
    };
    let status = resp.status();
    st.metrics.requests.with_label_values(&[&route, method, status.as_str()]).inc();
    st.metrics.duration.with_label_values(&[&route]).observe(start.elapsed().as_secs_f64());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        st.metrics.errors.with_label_values(&["query", "unavailable"]).inc();
    }
    let h = resp.headers_mut();
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CSP));
    if !route.starts_with("/assets/") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn readyz(State(st): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), st.db.read.query("SELECT 1").fetch_one::<u8>()).await;
    match ping {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready: clickhouse does not answer\n").into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&st.registry.gather(), &mut buf) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
