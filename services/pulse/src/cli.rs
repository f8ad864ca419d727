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
    /// Run the read API and web dashboard (ClickHouse -> JSON and HTML), or load
    /// fixture data for it (`pulse api load-fixtures`).
    Api(cmd::api::ApiArgs),
    /// Apply pending ClickHouse migrations.
    Migrate,
    /// Write daily health and readiness for a past period from an events file.
    Backfill(cmd::backfill::BackfillArgs),
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
    let result = match cli.command {
        Command::Replay(args) => cmd::replay::run(args),
        Command::Backtest(args) => cmd::backtest::run(args),
        Command::Gen(args) => cmd::gen::run(args),
        other => cmd::run_async(other, cli.config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
