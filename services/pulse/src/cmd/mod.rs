//! One file per subcommand; each is a thin adapter from arguments to a library call.

pub mod api;
pub mod backfill;
pub mod backtest;
pub mod bench;
pub mod consume;
pub mod gen;
pub mod ingest;
pub mod load;
pub mod migrate;
pub mod produce;
pub mod replay;
pub mod scorer;
pub mod topics;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use crate::{cli::Command, settings::Settings};

/// Runs the subcommands that need config and an async runtime.
pub fn run_async(command: Command, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config.as_deref())?;
    pulse_runtime::telemetry::init(&settings.telemetry);
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        match command {
            Command::Ingest => ingest::run(settings).await,
            Command::Scorer => scorer::run(settings).await,
            Command::Api(a) => api::run(a, settings).await,
            Command::Migrate => migrate::run(settings).await,
            Command::Backfill(a) => backfill::run(a, settings).await,
            Command::Topics(c) => topics::run(c, settings).await,
            Command::Produce(a) => produce::run(a, settings).await,
            Command::Consume(a) => consume::run(a, settings).await,
            Command::Bench(c) => bench::run(c, settings).await,
            Command::Load(a) => load::run(a, settings).await,
            Command::Replay(_) | Command::Backtest(_) | Command::Gen(_) => {
                unreachable!("handled synchronously in main")
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
