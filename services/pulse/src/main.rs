//! `pulse`: one binary for every service and tool, so a deployment ships one artifact and
//! the services and `pulse replay` always run the same scoring code.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

mod cmd;
mod settings;

#[derive(Parser)]
#[command(name = "pulse", version, about = "Pulse: event-driven customer health")]
struct Cli {
    /// Service configuration file (default: ./pulse.toml when present); give it before
    /// the subcommand. Environment variables `PULSE__SECTION__KEY` override it.
    #[arg(long, env = "PULSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ingest service (Kafka -> validation -> ClickHouse, events topic, DLQ).
    Ingest,
    /// Apply pending ClickHouse migrations.
    Migrate,
    /// Kafka topic administration.
    #[command(subcommand)]
    Topics(cmd::topics::TopicsCmd),
    /// Produce NDJSON lines to a topic, checking every delivery.
    Produce(cmd::produce::ProduceArgs),
    /// Print messages of a topic, one per line.
    Consume(cmd::consume::ConsumeArgs),
    /// Replay NDJSON events through the scoring core and print results (SPEC §7).
    Replay(cmd::replay::ReplayArgs),
    // GEN_CMD_DECL
    /// Benchmarks against the local stack (bare consumer ceiling, ingest throughput).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => cmd::replay::run(args),
        // GEN_CMD_RUN
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
