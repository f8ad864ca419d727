//! Shared plumbing for every Pulse service and tool: layered configuration, telemetry,
//! the metrics/health HTTP endpoint, Kafka and ClickHouse clients, schema migrations and
//! shutdown signals.
//!
//! Nothing here knows about scoring: that lives in `pulse-core`, which does no I/O. This
//! crate is the opposite: it is *only* I/O, so services stay thin and consistent.

pub mod clickhouse;
pub mod http;
pub mod kafka;
pub mod migrate;
pub mod retry;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use settings::Secret;
