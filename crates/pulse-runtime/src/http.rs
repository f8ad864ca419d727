//! The operational HTTP endpoint every service exposes: `/metrics` (Prometheus text),
//! `/healthz` (the process is alive) and `/readyz` (it is connected and doing its job).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

/// Shared readiness flag, set by the service once its dependencies answer and cleared
/// while it cannot make progress (e.g. ClickHouse down). A service that runs a part
/// inside it (the scorer's embedded notifier) makes its readiness depend on the part's
/// ([`Readiness::depend_on`]): `/readyz` fails while either is not ready.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Inner>);

#[derive(Default)]
struct Inner {
    ready: AtomicBool,
    parts: Mutex<Vec<Readiness>>,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
    }

    /// This flag, and every part's.
    pub fn get(&self) -> bool {
        self.0.ready.load(Ordering::Relaxed)
            && self.0.parts.lock().map(|parts| parts.iter().all(Readiness::get)).unwrap_or(false)
    }

    /// A part that must be ready too (it must not depend on `self`).
    pub fn depend_on(&self, part: &Readiness) {
        if let Ok(mut parts) = self.0.parts.lock() {
            parts.push(part.clone());
        }
    }
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    ready: Readiness,
}

/// Builds the router; exposed for services that add their own routes.
pub fn router(registry: Registry, ready: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { registry, ready })
}

/// Serves the operational endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    ready: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry, ready)).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut buf = Vec::new();
    let families = state.registry.gather();
    match TextEncoder::new().encode(&families, &mut buf) {
        Ok(()) => (StatusCode::OK, [("content-type", "text/plain; version=0.0.4")], buf),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/plain")], e.to_string().into_bytes()),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
