//! `pulse replay` and `pulse gen` without the rest of the `pulse` binary (whose
//! Kafka and ClickHouse dependencies take long to build): the very same
//! subcommand files, for trying and benchmarking the tools.
//!
//! ```text
//! cargo run --release -p pulse-replay --example pulse_cli -- gen synthetic --end 2026-11-30 -o /tmp/events.ndjson
//! cargo run --release -p pulse-replay --example pulse_cli -- replay --input /tmp/events.ndjson --as-of 2026-11-30
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "../../../services/pulse/src/cmd/backtest.rs"]
mod backtest;
#[path = "../../../services/pulse/src/cmd/gen.rs"]
mod gen;
#[path = "../../../services/pulse/src/cmd/replay.rs"]
mod replay;

#[derive(Parser)]
#[command(name = "pulse", about = "pulse replay / backtest / gen only")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay NDJSON events through the scoring core and print results (SPEC §7).
    Replay(replay::ReplayArgs),
    /// Score renewal outcomes against the health before them (SPEC §8).
    Backtest(backtest::BacktestArgs),
    /// Generate demo or synthetic events as NDJSON.
    Gen(gen::GenArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Replay(args) => replay::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Gen(args) => gen::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
