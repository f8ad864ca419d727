//! `pulse backtest`: did the health score predict renewals? (SPEC §8). A thin wrapper
//! over `pulse_replay::backtest`; the numbers come from `pulse_core::backtest`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_replay::backtest::{BacktestOptions, Candidate};
use pulse_replay::ReplayError;

/// Score renewal outcomes against the health each account had 30, 60 and 90 days
/// before: one JSON line per horizon (per scorecard with --compare), then the
/// graduation backtest.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// NDJSON events file (usage and CRM, with `renewal` outcomes); `-` reads stdin.
    #[arg(long, value_name = "EVENTS.ndjson")]
    pub input: PathBuf,
    /// Outcomes with `renewal_on` on or after this day are scored.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: NaiveDate,
    /// Outcomes with `renewal_on` on or before this day are scored.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: NaiveDate,
    /// Days before `renewal_on` at which the score is read.
    #[arg(long, value_name = "H,H,..", value_delimiter = ',', default_value = "30,60,90")]
    pub horizons: Vec<u32>,
    /// The live scorecard (scoring TOML or a pulse.toml with `[scoring]`); default:
    /// the built-in SPEC defaults. Printed as `"config":"a"` with --compare.
    #[arg(long, value_name = "A.toml")]
    pub config: Option<PathBuf>,
    /// A candidate scorecard scored on the same history (`"config":"b"`).
    #[arg(long, value_name = "B.toml")]
    pub compare: Option<PathBuf>,
    /// Stop with an error at the first invalid line.
    #[arg(long)]
    pub strict: bool,
    /// Worker threads (default: one per core). The output does not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

fn scoring(path: Option<&Path>) -> anyhow::Result<ScoringConfig> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
            Ok(pulse_core::ScoringConfig::from_toml_str(&text).with_context(|| format!("config {}", path.display()))?)
        }
        None => Ok(ScoringConfig::default()),
    }
}

pub fn run(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    if args.horizons.is_empty() || args.horizons.contains(&0) {
        anyhow::bail!("--horizons: give one or more whole days > 0, e.g. 30,60,90");
    }
    let a = scoring(args.config.as_deref())?;
    let b = args.compare.as_deref().map(|p| scoring(Some(p))).transpose()?;
    let mut candidates = vec![Candidate { label: b.as_ref().map(|_| "a"), config: &a }];
    if let Some(b) = &b {
        candidates.push(Candidate { label: Some("b"), config: b });
    }
    let mut options = BacktestOptions::new(args.from, args.to)?;
    options.horizons = args.horizons.clone();
    options.threads = args.threads;
    options.strict = args.strict;

    let started = Instant::now();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    let result = if args.input.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::stdin().read_to_end(&mut buf).context("reading standard input")?;
        pulse_replay::backtest::backtest_bytes(&buf, &candidates, &options, &mut out, &mut err)
    } else {
        std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        pulse_replay::backtest::backtest_file(&args.input, &candidates, &options, &mut out, &mut err)
    };
    match result {
        Ok(summary) => {
            writeln!(err, "{summary} elapsed_s={:.3}", started.elapsed().as_secs_f64())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ReplayError::Invalid { .. }) => {
            writeln!(err, "error: {e} (--strict: stopped at the first invalid line)")?;
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("backtest failed"),
    }
}
