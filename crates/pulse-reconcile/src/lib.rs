//! `pulse reconcile`: are the stored results what the raw events say?
//!
//! The scorer and `pulse backfill` store each account's daily `dau`, `wau`, `mau` and
//! `seats` in `account_health`, computed by pulse-core from bitmasks, repeat rules and
//! CRM folds. [`RECONCILE_SQL`] recomputes the same four numbers for every account and
//! day of a range from `usage_events FINAL` and `crm_events` with plain SQL an analyst
//! can run by hand (`docs/reconcile.md` shows it), and puts them beside the stored ones;
//! [`compare`] turns its rows into [`Difference`]s and a [`Summary`]. Nothing here
//! shares code with the core: the two computations agree because both follow the SPEC,
//! which is what a reconcile is for.
//!
//! Each run's summary is kept in `reconcile_runs` ([`RUNS_DDL`], created by the run
//! itself), and the API serves the latest ([`last_run`]).
//!
//! What the SQL counts (SPEC §1-2): a user is active on a day when one of its usage
//! events is dated that day (UTC); `dau` = distinct users of D, `wau` of D-6..D, `mau`
//! of D-27..D. `usage_events FINAL` keeps one copy per event id and UTC day, the earliest
//! of the day (by the core's own order, `pulse_core::event::CopyKey`: to the
//! microsecond, ties by user and feature key), since migration 010. SPEC v3 §2 decides
//! per day (for D, the earliest copy dated within D-55..D wins); copies on different
//! days are ordered by day, so the copy dated X counts for D exactly when its id's
//! previous stored copy is older than D-55: the SQL reads that previous day with
//! `lagInFrame` and counts the copy from X, or from the previous day + 56 when later.
//! `seats` = `licensed_seats` of the latest `account` event that set it with timestamp
//! on or before the end of D (event time, ties by `event_id`, as the core applies CRM
//! upserts); null when none did.

mod compare;
mod runs;

pub use compare::{compare, ByMeasure, Difference, Measure, ReconcileRow, Summary};
pub use runs::{last_run, store_run, RunRow};

use chrono::NaiveDate;

/// The recomputation beside the stored values, one row per (account, day); parameters
/// `{from:Date}` and `{to:Date}`. The one copy of this SQL: `docs/reconcile.md` quotes
/// it (a test keeps the two equal).
pub const RECONCILE_SQL: &str = include_str!("../sql/reconcile.sql");

/// The table of run summaries (`CREATE TABLE IF NOT EXISTS`).
pub const RUNS_DDL: &str = include_str!("../sql/reconcile_runs.sql");

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("--from {from} is after --to {to}")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
}

/// Runs [`RECONCILE_SQL`] over `from..=to` and compares row by row (rows are streamed,
/// not held).
pub async fn reconcile(
    ch: &clickhouse::Client,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<Difference>, Summary), ReconcileError> {
    if from > to {
        return Err(ReconcileError::EmptyRange { from, to });
    }
    let started = std::time::Instant::now();
    let run_at = chrono::Utc::now();
    let mut cursor = ch
        .query(RECONCILE_SQL)
        .param("from", from.format("%Y-%m-%d").to_string())
        .param("to", to.format("%Y-%m-%d").to_string())
        .fetch::<ReconcileRow>()?;
    let mut cmp = compare::Comparison::new(from, to);
    while let Some(row) = cursor.next().await? {
        cmp.push(&row);
    }
    let (differences, mut summary) = cmp.finish(run_at);
    summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        %from,
        %to,
        rows = summary.rows_compared,
        differences = summary.differences,
        elapsed_ms = summary.elapsed_ms,
        "reconciled"
    );
    Ok((differences, summary))
}

#[cfg(test)]
mod tests {
    /// `docs/reconcile.md` shows the SQL the binary runs, verbatim.
    #[test]
    fn the_docs_quote_the_sql_the_binary_runs() {
        let doc = include_str!("../../../docs/reconcile.md");
        assert!(
            doc.contains(&format!("```sql\n{}```", super::RECONCILE_SQL)),
            "docs/reconcile.md must quote crates/pulse-reconcile/sql/reconcile.sql verbatim in a ```sql block"
        );
        assert!(doc.contains(&format!("```sql\n{}```", super::RUNS_DDL)), "and reconcile_runs.sql");
    }
}
