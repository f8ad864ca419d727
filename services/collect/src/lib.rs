//! `pulse collect`: an HTTP collector speaking Segment's Tracking API (SPEC §9), so a
//! Segment or RudderStack source, SDK or webhook destination can feed Pulse without a
//! Kafka producer. It authenticates the sender, splits a request into calls, maps each
//! call to one of Pulse's input events (`map`: `track` / `page` / `screen` -> usage,
//! `group` -> CRM `account`, `identify` / `alias` acknowledged only), and produces them
//! to the input topics; ingest stays the single writer of ClickHouse.
//!
//! - `config`: the `[collect]` section (sources with hashed keys, limits, rate, traits);
//! - `auth`: write keys and webhook signatures;
//! - `body`: bounded reading and gzip / deflate decoding;
//! - `map`: one call to one event, pure (ids, the clock-skew correction, traits);
//! - `service`: routes and the request pipeline, answered only after the broker
//!   acknowledged every record (`acks=all`);
//! - `recent`: the ids of recently produced events, so a retried request produces
//!   nothing twice (around a broker outage too);
//! - `metrics`: `pulse_collect_*`.
//!
//! Nothing is dropped silently: a call that cannot be mapped is a rejected entry in the
//! answer *and* a dead letter (`pulse_runtime::dlq`, source topic `collect:<source>`,
//! offset = the call's index in its request) acknowledged before the answer.

pub mod auth;
pub mod body;
pub mod config;
pub mod map;
pub mod metrics;
pub mod recent;
pub mod service;

pub use config::CollectConfig;
pub use metrics::CollectMetrics;
pub use service::{CollectError, Collector};
