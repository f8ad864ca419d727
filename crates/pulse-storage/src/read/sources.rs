//! Which input sources are stalled now (SPEC v3 §10), for the banner on every page.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;
use crate::sql::Sql;
use crate::system_alerts::SOURCE_STALLED;
use crate::tables::SYSTEM_ALERTS;

/// A source whose newest `source_stalled` transition is `opened`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row, serde::Deserialize)]
pub struct StalledSource {
    /// `usage` | `crm`.
    pub source: String,
    /// Data from this source is complete up to here (its newest event time when the
    /// stall was detected).
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub since: DateTime<Utc>,
    /// When the scorer detected the stall.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub opened_at: DateTime<Utc>,
    pub limit_seconds: f64,
}

/// Sources stalled now, by name.
pub async fn stalled(ch: &clickhouse::Client) -> Result<Vec<StalledSource>> {
    let mut sql = Sql::new(&format!(
        "SELECT source, argMax(since, at) AS since, argMax(opened_at, at) AS opened_at, \
         argMax(limit_seconds, at) AS limit_seconds FROM {SYSTEM_ALERTS} FINAL WHERE rule = "
    ));
    sql.arg("{rule:String}", "rule", SOURCE_STALLED);
    sql.push(" GROUP BY source HAVING argMax(transition, at) = 'opened' ORDER BY source");
    sql.query(ch).fetch_all().await
}
