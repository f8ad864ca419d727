//! Command-line interface of `pulse`.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Parser)]
#[command(name = "pulse", version, about = "Pulse: event-driven customer health")]
pub struct Cli {
    /// Service configuration file (default: ./pulse.toml when present); give it before
    /// the subcommand. Environment variables `PULSE__SECTION__KEY` override it.
    #[arg(long, env = "PULSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the ingest service (Kafka -> validation -> ClickHouse, events topic, DLQ).
    Ingest,
    /// Run the streaming scorer (events topic -> health, readiness, alerts).
    Scorer,
    /// Run the alert notifier alone (alerts topic -> webhook, at least once per key).
    Notify,
    /// Run the read API and web dashboard (ClickHouse -> JSON and HTML), or load
    /// fixture data for it (`pulse api load-fixtures`).
    Api(cmd::api::ApiArgs),
    /// Run the HTTP collector speaking Segment's Tracking API (HTTP -> input topics).
    Collect,
    /// Apply pending ClickHouse migrations.
    Migrate,
    /// Write daily health and readiness for a past period from an events file.
    Backfill(cmd::backfill::BackfillArgs),
    /// Check stored dau, wau, mau and seats against the raw events (exit 3 on differences).
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Kafka topic administration.
    #[command(subcommand)]
    Topics(cmd::topics::TopicsCmd),
    /// Produce NDJSON lines to a topic, checking every delivery.
    Produce(cmd::produce::ProduceArgs),
    /// Print messages of a topic, one per line.
    Consume(cmd::consume::ConsumeArgs),
    /// Replay NDJSON events through the scoring core and print results (SPEC §7).
    Replay(cmd::replay::ReplayArgs),
    /// Score renewal outcomes against the health before them (SPEC §8).
    Backtest(cmd::backtest::BacktestArgs),
    /// Generate demo or synthetic events as NDJSON.
    Gen(cmd::gen::GenArgs),
    /// Drive the running pipeline at a target rate; report throughput and latency.
    Load(cmd::load::LoadArgs),
    /// Benchmarks against the local stack (bare consumer ceiling, ingest throughput).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
}

/// Parses arguments, runs the subcommand, maps errors to a message and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        // Offline tools: no config, no runtime.
        Command::Replay(args) => cmd::replay::run(args),
        Command::Backtest(args) => cmd::backtest::run(args),
        Command::Gen(args) => cmd::gen::run(args),
        // Services and tools that talk to the stack.
        Command::Ingest => cmd::run_async(config, cmd::ingest::run),
        Command::Scorer => cmd::run_async(config, cmd::scorer::run),
        Command::Notify => cmd::run_async(config, cmd::notify::run),
        Command::Api(a) => cmd::run_async(config, |s| cmd::api::run(a, s)),
        Command::Collect => cmd::run_async(config, cmd::collect::run),
        Command::Migrate => cmd::run_async(config, cmd::migrate::run),
        Command::Backfill(a) => cmd::run_async(config, |s| cmd::backfill::run(a, s)),
        Command::Reconcile(a) => cmd::run_async_code(config, |s| cmd::reconcile::run(a, s)),
        Command::Topics(c) => cmd::run_async(config, |s| cmd::topics::run(c, s)),
        Command::Produce(a) => cmd::run_async(config, |s| cmd::produce::run(a, s)),
        Command::Consume(a) => cmd::run_async(config, |s| cmd::consume::run(a, s)),
        Command::Bench(c) => cmd::run_async(config, |s| cmd::bench::run(c, s)),
        Command::Load(a) => cmd::run_async(config, |s| cmd::load::run(a, s)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
