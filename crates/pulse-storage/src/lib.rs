//! Pulse's ClickHouse storage as types: every table's row type, declared once.
//!
//! Writers (ingest, the scorer, `pulse backfill`, the API's fixtures and
//! acknowledgements) and the reader (the API) use the same structs, so a column is
//! named and typed in one place besides its DDL (`schemas/clickhouse/`). The client
//! validates every row against the server's column names and types
//! (`RowBinaryWithNamesAndTypes`, see `pulse_runtime::clickhouse`): a struct here that
//! drifts from its table fails on first use, with the column named.
//!
//! Field types say what a column holds rather than how it is encoded: `Date` is a
//! [`chrono::NaiveDate`], `DateTime` / `DateTime64(3)` a [`chrono::DateTime<Utc>`]
//! (through `clickhouse::serde::chrono`), and each `Enum8` a `#[repr(i8)]` enum with the
//! DDL's numeric values ([`types`]), so no code counts days since 1970 or compares
//! magic numbers.
//!
//! Rows are built from the core's results in one place ([`scores`], [`alerts`],
//! [`raw`]): the scorer, `pulse backfill` and the API's fixtures write what the same
//! conversions produce.
//!
//! [`read`] holds the API's queries: functions of a [`clickhouse::Client`] and typed
//! parameters returning typed rows; no HTTP in them. [`sql::Sql`] is how every value
//! reaches the server: as a server-side query parameter, never spliced into SQL text.
//!
//! No Kafka and no HTTP server here: the API depends on this crate, not on the
//! services that write.

pub mod alerts;
pub mod migrations;
pub mod raw;
pub mod read;
pub mod scores;
pub mod snapshots;
pub mod sql;
pub mod system_alerts;
pub mod tables;
pub mod types;

pub use alerts::{AckRow, AlertRow};
pub use raw::{CrmRow, UsageRow};
pub use scores::{Attributes, HealthRow, ReadinessRow};
pub use snapshots::{SnapshotRef, SnapshotRow};
pub use system_alerts::SystemAlertRow;
pub use types::{AlertStatus, CrmType, Transition, TransitionState, Verdict};

use clickhouse::{RowOwned, RowWrite};

/// Inserts `rows` into `table`, at most `chunk` rows per insert (nothing for no rows).
pub async fn insert<R>(
    ch: &clickhouse::Client,
    table: &str,
    rows: &[R],
    chunk: usize,
) -> Result<(), clickhouse::error::Error>
where
    R: RowOwned + RowWrite,
{
    for part in rows.chunks(chunk.max(1)) {
        let mut ins = ch.insert::<R>(table).await?;
        for r in part {
            ins.write(r).await?;
        }
        ins.end().await?;
    }
    Ok(())
}
