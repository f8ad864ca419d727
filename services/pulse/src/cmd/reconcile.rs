//! `pulse reconcile`: the stored daily metrics against a plain-SQL recomputation from
//! the raw events (`pulse_reconcile`, `docs/reconcile.md`). One JSON line per
//! difference, then a summary line; the summary is also stored for the API.

use std::{
    io::{BufWriter, Write as _},
    process::ExitCode,
};

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::settings::Settings;

/// The exit code when the stored results differ from the recomputation (0: they match;
/// 1: an error, as for every command; 2: bad arguments).
pub const DIFFERENCES_EXIT: u8 = 3;

/// Recompute dau, wau, mau and seats of every account and day of `--from..=--to` from
/// `usage_events` and `crm_events` in `clickhouse.database` and compare them with the
/// stored `account_health`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// First day to compare.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: NaiveDate,
    /// Last day to compare.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: NaiveDate,
    /// Do not store the summary in `reconcile_runs` (what the API shows).
    #[arg(long)]
    pub no_store: bool,
}

pub async fn run(args: ReconcileArgs, s: Settings) -> anyhow::Result<ExitCode> {
    let ch = s.clickhouse.connect().await?;
    let (differences, summary) = pulse_reconcile::reconcile(&ch, args.from, args.to)
        .await
        .with_context(|| format!("reconciling {} .. {} in {}", args.from, args.to, s.clickhouse.database))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for d in &differences {
        serde_json::to_writer(&mut out, d).context("writing a difference")?;
        out.write_all(b"\n").context("writing to stdout")?;
    }
    serde_json::to_writer(&mut out, &summary).context("writing the summary")?;
    out.write_all(b"\n").context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    if !args.no_store {
        pulse_reconcile::store_run(&ch, &summary)
            .await
            .with_context(|| format!("storing the summary in {}.reconcile_runs", s.clickhouse.database))?;
    }
    Ok(if summary.differences == 0 { ExitCode::SUCCESS } else { ExitCode::from(DIFFERENCES_EXIT) })
}
