//! `pulse api`: config, credentials, connectivity check, serve until SIGTERM; and
//! `pulse api load-fixtures` (scored demo data for demos, browser tests, benchmarks).

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::settings::Settings;

#[derive(Args)]
pub struct ApiArgs {
    #[command(subcommand)]
    command: Option<ApiCmd>,
}

#[derive(Subcommand)]
enum ApiCmd {
    /// Score the demo cohorts day by day with the real core and write health,
    /// readiness and alert history to ClickHouse (migrating the database first).
    LoadFixtures {
        /// Distinct simulated accounts.
        #[arg(long, default_value_t = 60)]
        accounts: u32,
        /// Write every account this many times under derived ids (large portfolios).
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// Days of history, ending at --end.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Last day (YYYY-MM-DD); default yesterday (UTC).
        #[arg(long)]
        end: Option<chrono::NaiveDate>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

pub async fn run(args: ApiArgs, s: Settings) -> anyhow::Result<()> {
    let scoring = s.scorer.load_scoring()?;
    let ch = s.clickhouse.connect().await?;
    match args.command {
        Some(ApiCmd::LoadFixtures { accounts, copies, days, end, seed }) => {
            let now = chrono::Utc::now();
            pulse_runtime::migrate::migrate(&s.clickhouse, u32::try_from(now.timestamp()).unwrap_or(0))
                .await
                .context("migrating the database")?;
            let end = end.unwrap_or_else(|| now.date_naive() - chrono::Days::new(1));
            let spec = pulse_api::fixtures::FixtureSpec { accounts, copies, days, end, seed };
            let stats = pulse_api::fixtures::load(&ch, &spec, &scoring).await.context("loading fixtures")?;
            tracing::info!(
                database = %s.clickhouse.database,
                accounts = stats.accounts,
                health_rows = stats.health_rows,
                readiness_rows = stats.readiness_rows,
                alert_rows = stats.alert_rows,
                "fixtures loaded"
            );
            Ok(())
        }
        None => {
            let credentials = s.api.credentials()?;
            let listener = tokio::net::TcpListener::bind(&s.api.http_listen)
                .await
                .with_context(|| format!("api.http_listen: cannot listen on {}", s.api.http_listen))?;
            tracing::info!(addr = %s.api.http_listen, credentials = credentials.len(), "serving the api and dashboard");
            let app = pulse_api::App::new(s.api, credentials, &s.clickhouse, scoring, prometheus::Registry::new());
            app.serve(listener, pulse_runtime::shutdown::signal()).await.context("api failed")
        }
    }
}
