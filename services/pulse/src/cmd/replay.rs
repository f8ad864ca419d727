//! `pulse replay`: score an NDJSON event file offline with the services' core
//! (SPEC §7). A thin wrapper over `pulse_replay`.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_replay::{ReplayError, ReplayOptions, Window};

/// Replay NDJSON events (usage and CRM, native or Segment `track`) and print one
/// `health` and one `readiness` line per account, sorted by account id.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// NDJSON events file; `-` reads standard input.
    #[arg(long, value_name = "EVENTS.ndjson")]
    pub input: PathBuf,
    /// Scoring config: a scoring TOML (see `config/scoring.toml`), or a `pulse.toml`
    /// whose `[scoring]` table is used. Default: the built-in SPEC defaults.
    #[arg(long, value_name = "pulse.toml")]
    pub config: Option<PathBuf>,
    /// Evaluate as of the end of this UTC day; events after it are ignored.
    #[arg(long, value_name = "YYYY-MM-DD", required_unless_present = "to")]
    pub as_of: Option<NaiveDate>,
    /// Stop with an error (exit 1) at the first invalid line; by default each one is
    /// reported on stderr and the rest is processed.
    #[arg(long)]
    pub strict: bool,
    /// First day of a daily series (with --to): one health and one readiness line
    /// per account per day, day by day.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of a daily series (with --from); each day is scored as `--as-of` that
    /// day would. With --as-of too, --to must not be after it.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    pub to: Option<NaiveDate>,
    /// Worker threads (default: one per core). The output does not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let scoring = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
            pulse_core::ScoringConfig::from_toml_str(&text).with_context(|| format!("config {}", path.display()))?
        }
        None => ScoringConfig::default(),
    };
    let window = match (args.from, args.to, args.as_of) {
        (Some(from), Some(to), as_of) => {
            if let Some(as_of) = as_of.filter(|d| *d < to) {
                anyhow::bail!("--to {to} is after --as-of {as_of}");
            }
            Window::series(from, to)?
        }
        (_, _, Some(as_of)) => Window::as_of(as_of),
        _ => anyhow::bail!("--as-of is required (or --from and --to)"),
    };
    let mut options = ReplayOptions::new(window);
    options.strict = args.strict;
    options.threads = args.threads;

    let started = Instant::now();
    let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut err = io::stderr().lock();
    let result = if args.input.as_os_str() == "-" {
        pulse_replay::replay(io::stdin(), &scoring, &options, &mut out, &mut err)
    } else {
        // Fail early with the path in the message; replay_file re-opens it per pass.
        File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        pulse_replay::replay_file(&args.input, &scoring, &options, &mut out, &mut err)
    };
    match result {
        Ok(summary) => {
            let secs = started.elapsed().as_secs_f64();
            let rate = summary.lines as f64 / secs.max(1e-9);
            writeln!(err, "{summary} elapsed_s={secs:.3} events_per_s={rate:.0}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ReplayError::Invalid { .. }) => {
            writeln!(err, "error: {e} (--strict: stopped at the first invalid line)")?;
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("replay failed"),
    }
}
