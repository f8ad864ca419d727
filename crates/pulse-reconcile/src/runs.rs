//! `reconcile_runs`: the summary of each run, written by `pulse reconcile`, read by the
//! API. The table is created by the first run that stores a summary ([`crate::RUNS_DDL`]),
//! so a database that never ran one simply has no last run.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::compare::{ByMeasure, Summary};

/// One row of `reconcile_runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct RunRow {
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub run_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub from_day: NaiveDate,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub to_day: NaiveDate,
    pub accounts: u64,
    pub days: u64,
    pub rows_compared: u64,
    pub differences: u64,
    pub missing_rows: u64,
    pub seats_differences: u64,
    pub dau_differences: u64,
    pub wau_differences: u64,
    pub mau_differences: u64,
    pub elapsed_ms: u64,
}

impl From<&Summary> for RunRow {
    fn from(s: &Summary) -> Self {
        Self {
            run_at: s.run_at,
            from_day: s.from,
            to_day: s.to,
            accounts: s.accounts,
            days: s.days,
            rows_compared: s.rows_compared,
            differences: s.differences,
            missing_rows: s.missing_rows,
            seats_differences: s.by_measure.seats,
            dau_differences: s.by_measure.dau,
            wau_differences: s.by_measure.wau,
            mau_differences: s.by_measure.mau,
            elapsed_ms: s.elapsed_ms,
        }
    }
}

impl From<RunRow> for Summary {
    fn from(r: RunRow) -> Self {
        Self {
            kind: "summary".into(),
            run_at: r.run_at,
            from: r.from_day,
            to: r.to_day,
            accounts: r.accounts,
            days: r.days,
            rows_compared: r.rows_compared,
            differences: r.differences,
            missing_rows: r.missing_rows,
            by_measure: ByMeasure {
                seats: r.seats_differences,
                dau: r.dau_differences,
                wau: r.wau_differences,
                mau: r.mau_differences,
            },
            elapsed_ms: r.elapsed_ms,
        }
    }
}

/// Stores a run's summary, creating `reconcile_runs` when missing.
pub async fn store_run(ch: &clickhouse::Client, summary: &Summary) -> Result<(), clickhouse::error::Error> {
    ch.query(crate::RUNS_DDL).execute().await?;
    let mut insert = ch.insert::<RunRow>("reconcile_runs").await?;
    insert.write(&RunRow::from(summary)).await?;
    insert.end().await
}

/// The latest run's summary; `None` when no run was stored (no table yet, or empty).
/// Only reads, so it works with a `readonly` client.
pub async fn last_run(ch: &clickhouse::Client) -> Result<Option<Summary>, clickhouse::error::Error> {
    let exists: u8 = ch.query("EXISTS TABLE reconcile_runs").fetch_one().await?;
    if exists == 0 {
        return Ok(None);
    }
    let row: Option<RunRow> =
        ch.query("SELECT ?fields FROM reconcile_runs ORDER BY run_at DESC LIMIT 1").fetch_optional().await?;
    Ok(row.map(Summary::from))
}
