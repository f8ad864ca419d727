//! The raw event tables' rows, declared in `pulse-storage` (one declaration per table,
//! shared with the API, which reads `crm_events`); re-exported for ingest's modules.

pub use pulse_storage::raw::{copy_rank, into_raw_row, raw_row, storage_time, RawRow, Source};
pub use pulse_storage::{CrmRow, CrmType, UsageRow};
