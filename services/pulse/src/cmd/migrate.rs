//! `pulse migrate`: apply pending ClickHouse migrations.

use anyhow::Context as _;

use crate::settings::Settings;

pub async fn run(s: Settings) -> anyhow::Result<()> {
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
    let applied = pulse_runtime::migrate::migrate(&s.clickhouse, now)
        .await
        .with_context(|| format!("migrating database `{}` at {}", s.clickhouse.database, s.clickhouse.url))?;
    if applied.is_empty() {
        println!("database `{}` is up to date", s.clickhouse.database);
    } else {
        println!("database `{}`: applied migrations {:?}", s.clickhouse.database, applied);
    }
    Ok(())
}
