//! `pulse backfill`: score a past period from an NDJSON export of the events and
//! write the daily results as the scorer writes them (see `pulse_scorer::backfill`).

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::settings::Settings;

/// Write daily health and readiness for `--from..=--to` from an events file, with
/// the scorer's scoring config (`scorer.scoring_config`), into `clickhouse.database`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// NDJSON events (usage and CRM, native or Segment `track`).
    #[arg(long, value_name = "EVENTS.ndjson")]
    pub input: PathBuf,
    /// First day to write.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: NaiveDate,
    /// Last day to write.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: NaiveDate,
}

pub async fn run(args: BackfillArgs, s: Settings) -> anyhow::Result<()> {
    let scoring = s.scorer.load_scoring()?;
    let ch = s.clickhouse.connect().await?;
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
    let started = std::time::Instant::now();
    let stats = pulse_scorer::backfill::backfill(&ch, &args.input, &scoring, args.from, args.to, now)
        .await
        .with_context(|| format!("backfilling {} .. {} from {}", args.from, args.to, args.input.display()))?;
    tracing::info!(
        database = %s.clickhouse.database,
        lines = stats.lines,
        invalid = stats.invalid,
        days = stats.days,
        health_rows = stats.health_rows,
        readiness_rows = stats.readiness_rows,
        elapsed_s = started.elapsed().as_secs_f64(),
        "backfill written"
    );
    Ok(())
}
