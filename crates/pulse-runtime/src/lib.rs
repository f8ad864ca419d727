//! Shared plumbing for every Pulse service and tool: layered configuration, telemetry,
//! the metrics/health HTTP endpoint, Kafka and ClickHouse clients, schema migrations and
//! shutdown signals.
//!
//! Nothing here knows about scoring: that lives in `pulse-core`, which does no I/O. This
//! crate is the opposite: it is *only* I/O, so services stay thin and consistent.

// A producer that acknowledges whole batches (ingest's writes): feature `kafka`.
#[cfg(feature = "kafka")]
pub mod batch_producer;
pub mod clickhouse;
// The batching-consumer loop of ingest and the scorer: feature `kafka`.
#[cfg(feature = "kafka")]
pub mod consumer;
pub mod dlq;
pub mod http;
// Kafka clients and topics, and retries with consumption paused: feature `kafka`.
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod migrate;
#[cfg(feature = "kafka")]
pub mod retry;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use settings::Secret;
