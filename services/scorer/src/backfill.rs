//! `pulse backfill`: daily results for a past period, written as the scorer writes
//! them.
//!
//! The streaming scorer keeps (and re-emits) only the scoring horizon, about two
//! months; a backlog older than that is stored raw but its days are never scored. The
//! Accuracy and Renewals pages backtest the score over the trailing year, so they
//! need a year of daily health. A backfill replays an NDJSON export of the events
//! (e.g. the raw tables, or the file a demo was produced from) through the same core
//! (`pulse_replay`'s day-by-day replay, one read of the input) and writes one
//! `account_health` and one `graduation_readiness` row per account and day, the rows
//! the scorer would have written. Idempotent: the tables keep the newest
//! `computed_at` per (account, day), and the values are those the scorer computes.
//!
//! Alert history is not backfilled: the alerts of a day depend on every earlier day
//! (SPEC §5), and the scorer's tracker owns them from where it starts.

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use pulse_core::ScoringConfig;
use pulse_replay::replay::DayByDay;
use pulse_replay::{ReplayError, ReplayOptions, Window};

use pulse_storage::{tables, types};

use crate::outputs::insert;
use crate::rows::{evaluation_rows, Attributes, HealthRow, ReadinessRow};

/// Rows per insert.
const INSERT_ROWS: usize = 20_000;
/// Months per insert: the result tables are partitioned by month, and ClickHouse refuses
/// an insert block spanning more than `max_partitions_per_insert_block` (100 by default)
/// partitions with TOO_MANY_PARTS, which no retry fixes (a long history of few accounts
/// hit it: 20,000 rows of one account are 55 years).
const INSERT_MONTHS: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("reading {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("replay: {0}")]
    Replay(#[from] ReplayError),
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("--from {from} is after --to {to}")]
    Window { from: NaiveDate, to: NaiveDate },
}

/// What a backfill wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackfillStats {
    pub lines: u64,
    pub invalid: u64,
    pub days: u64,
    pub health_rows: u64,
    pub readiness_rows: u64,
}

/// Scores every account on every day of `from..=to` from the events in `input` and
/// writes the results. `computed_at` is the rows' version (seconds since the epoch).
pub async fn backfill(
    ch: &clickhouse::Client,
    input: &Path,
    config: &ScoringConfig,
    from: NaiveDate,
    to: NaiveDate,
    computed_at: u32,
) -> Result<BackfillStats, BackfillError> {
    if from > to {
        return Err(BackfillError::Window { from, to });
    }
    let file = std::fs::File::open(input)
        .map_err(|source| BackfillError::Open { path: input.display().to_string(), source })?;
    let options = ReplayOptions::new(Window { from, to });
    // One read of the input, on this thread: a CLI command, nothing else waits on it.
    let mut days = DayByDay::load(file, config, &options, &mut std::io::sink())?;
    let mut stats = BackfillStats { lines: days.summary.lines, invalid: days.summary.invalid, ..Default::default() };
    let mut health = Vec::with_capacity(INSERT_ROWS);
    let mut readiness = Vec::with_capacity(INSERT_ROWS);
    let computed_at = types::seconds(computed_at);
    let mut months = 0usize;
    let mut last_month = None;
    for day in (Window { from, to }).days() {
        let month = (day.year(), day.month());
        if last_month != Some(month) {
            if months >= INSERT_MONTHS {
                write(ch, &mut health, &mut readiness, &mut stats).await?;
                months = 0;
            }
            months += 1;
            last_month = Some(month);
        }
        days.advance_to(day)?;
        let engine = days.engine();
        let accounts = engine.sorted_accounts();
        let rows: Vec<(HealthRow, ReadinessRow)> = days.install(|| {
            engine.evaluate(&accounts, day, |ev| {
                let a = engine.shard(&ev.health.account_id).attributes(&ev.health.account_id, day).unwrap_or_default();
                evaluation_rows(ev, &Attributes::from(a), computed_at)
            })
        });
        stats.days += 1;
        for (h, r) in rows {
            health.push(h);
            readiness.push(r);
        }
        if health.len() >= INSERT_ROWS || day == to {
            write(ch, &mut health, &mut readiness, &mut stats).await?;
            months = 0;
            last_month = None;
        }
    }
    Ok(stats)
}

/// Inserts the buffered rows (health first, then readiness), counts and clears them.
async fn write(
    ch: &clickhouse::Client,
    health: &mut Vec<HealthRow>,
    readiness: &mut Vec<ReadinessRow>,
    stats: &mut BackfillStats,
) -> Result<(), BackfillError> {
    stats.health_rows += health.len() as u64;
    stats.readiness_rows += readiness.len() as u64;
    insert(ch, tables::ACCOUNT_HEALTH, health).await?;
    insert(ch, tables::GRADUATION_READINESS, readiness).await?;
    health.clear();
    readiness.clear();
    Ok(())
}
