//! The state every handler shares: the ClickHouse clients, the config, the scorecard,
//! authentication and metrics. Its own module so that the handlers (`routes`, `ui`) and
//! the router that mounts them (`service`) depend on it, not on each other.

use std::sync::Arc;

use prometheus::Registry;
use pulse_core::ScoringConfig;
use tokio::sync::Semaphore;

use crate::{auth::Authenticator, config::ApiConfig, db::Db, metrics::ApiMetrics};

/// What [`AppState`] points to.
pub struct Inner {
    pub db: Db,
    pub cfg: ApiConfig,
    pub scoring: ScoringConfig,
    pub auth: Authenticator,
    pub metrics: ApiMetrics,
    pub registry: Registry,
    /// Bounds the requests in flight (the service's load-shedding middleware).
    pub(crate) limiter: Semaphore,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
