//! One file per subcommand; each is a thin adapter from arguments to a library call.

pub mod api;
pub mod backfill;
pub mod backtest;
pub mod bench;
pub mod bench_collect;
pub mod collect;
pub mod consume;
pub mod gen;
pub mod ingest;
pub mod load;
pub mod migrate;
pub mod notify;
pub mod produce;
pub mod reconcile;
pub mod replay;
pub mod scorer;
pub mod topics;

use std::{future::Future, path::Path, process::ExitCode};

use anyhow::Context as _;

use crate::settings::Settings;

/// Runs a subcommand that needs config and an async runtime: loads the settings (from
/// `config`, or `./pulse.toml` when present, then the environment), starts telemetry and
/// the runtime, and drives `run` to the end. The dispatch itself is in `cli`, so this
/// module does not import `cli`.
pub fn run_async<F, Fut>(config: Option<&Path>, run: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    run_async_code(config, |s| async move {
        run(s).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// [`run_async`] for a subcommand whose exit code tells its outcome (`pulse reconcile`).
pub fn run_async_code<F, Fut>(config: Option<&Path>, run: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let settings = Settings::load(config)?;
    pulse_runtime::telemetry::init(&settings.telemetry);
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(run(settings))
}
