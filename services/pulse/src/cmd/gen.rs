//! `pulse gen`: write demo or synthetic events as NDJSON. A thin wrapper over
//! `pulse_gen`; the same arguments and seed always give the same bytes.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use pulse_gen::{write_demo, write_synthetic, DemoSpec, SyntheticSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenKind {
    /// Realistic B2B accounts in cohorts that show every color, verdict and red flag.
    Demo,
    /// The bench workload (default 10k accounts, 200k users, 35 days, 3M events).
    Synthetic,
}

/// Generate demo or synthetic events as NDJSON.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub kind: GenKind,
    /// Number of accounts (demo: 60, synthetic: 10000).
    #[arg(long)]
    pub accounts: Option<u32>,
    /// Days of history ending at --end (demo: 490, a year of renewal outcomes and the
    /// 90 days the backtest looks back from them; synthetic: 35).
    #[arg(long)]
    pub days: Option<u32>,
    /// Last day of the data (default: today, UTC); replay with `--as-of` this day.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub end: Option<NaiveDate>,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Synthetic only: total number of lines (default 3000000).
    #[arg(long)]
    pub events: Option<u64>,
    /// Synthetic only: number of users (default 200000).
    #[arg(long)]
    pub users: Option<u32>,
    /// Demo only: leave out the few deliberately malformed lines.
    #[arg(long)]
    pub no_malformed: bool,
    /// Output file; `-` is standard output.
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
}

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let end = args.end.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let out: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&args.output).with_context(|| format!("creating {}", args.output.display()))?)
    };
    match args.kind {
        GenKind::Demo => {
            let d = DemoSpec::default();
            let spec = DemoSpec {
                accounts: args.accounts.unwrap_or(d.accounts),
                days: args.days.unwrap_or(d.days),
                end,
                seed: args.seed,
                malformed: !args.no_malformed,
            };
            let stats = write_demo(&spec, out).context("generating demo events")?;
            eprintln!(
                "gen demo: lines={} usage={} crm={} late={} duplicates={} malformed={} end={end}",
                stats.lines, stats.usage, stats.crm, stats.late, stats.duplicates, stats.malformed
            );
        }
        GenKind::Synthetic => {
            let d = SyntheticSpec::default();
            let spec = SyntheticSpec {
                accounts: args.accounts.unwrap_or(d.accounts),
                users: args.users.unwrap_or(d.users),
                days: args.days.unwrap_or(d.days),
                events: args.events.unwrap_or(d.events),
                end,
                seed: args.seed,
            };
            let lines = write_synthetic(&spec, out).context("generating synthetic events")?;
            eprintln!("gen synthetic: lines={lines} end={end}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
