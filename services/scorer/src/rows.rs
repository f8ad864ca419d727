//! The scorer's ClickHouse rows, declared in `pulse-storage` (one declaration per
//! table, shared with `pulse backfill` and the API); re-exported here for the
//! scorer's modules.

pub use pulse_storage::alerts::{alert_id, next_version, AlertRow};
pub use pulse_storage::scores::{evaluation_rows, lifecycle_str, tagged, Attributes, HealthRow, ReadinessRow};
