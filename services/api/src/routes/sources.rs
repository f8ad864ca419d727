//! The input sources behind the results (SPEC v3 §10): which are stalled now, since
//! when and how far behind, from the scorer's open `source_stalled` system alerts
//! (`pulse_storage::read::sources`). Every dashboard page shows one banner per stalled
//! source from the same answer.

use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use pulse_storage::read::sources::StalledSource;

use crate::{
    db::Db,
    error::ApiResult,
    params::{NoParams, Query},
    state::AppState,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sources {
    /// The wall-clock time the lags are measured to.
    pub now: DateTime<Utc>,
    /// The sources stalled now, by name; empty while every source flows.
    pub stalled: Vec<SourceStall>,
}

/// One stalled source.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceStall {
    #[serde(flatten)]
    pub source: StalledSource,
    /// `now - since`: how far behind the wall clock the source's data is.
    pub behind_seconds: f64,
    /// The banner: "usage feed 6 h behind since 09:12 UTC".
    pub message: String,
}

#[utoipa::path(
    operation_id = "sources_status",
    get,
    path = "/api/v1/sources",
    summary = "Input sources stalled now (SPEC v3 section 10): each with the time its data is complete up to (`since`), how far behind the wall clock it is, and the banner every dashboard page shows ('usage feed 6 h behind since 09:12 UTC'); `stalled` is empty while every source flows. While a source is stalled, results are published with data_status stale",
    params(),
    responses((status = 200, description = "OK", body = Sources))
)]
pub async fn sources(State(st): State<AppState>, Query(NoParams {}): Query<NoParams>) -> ApiResult<Json<Sources>> {
    Ok(Json(query_sources(&st.db, Utc::now()).await?))
}

pub async fn query_sources(db: &Db, now: DateTime<Utc>) -> ApiResult<Sources> {
    let stalled = pulse_storage::read::sources::stalled(&db.read).await?;
    Ok(Sources { now, stalled: stalled.into_iter().map(|s| stall(s, now)).collect() })
}

fn stall(source: StalledSource, now: DateTime<Utc>) -> SourceStall {
    let behind = (now - source.since).num_seconds().max(0);
    SourceStall { message: banner(&source.source, source.since, now), behind_seconds: behind as f64, source }
}

/// "usage feed 6 h behind since 09:12 UTC": whole minutes under an hour, whole hours
/// under two days, then whole days; the time alone when `since` is today (UTC), the
/// date too otherwise.
pub fn banner(source: &str, since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let feed = match source {
        "usage" => "usage feed".to_owned(),
        "crm" => "CRM feed".to_owned(),
        other => format!("{other} feed"),
    };
    let behind = (now - since).num_minutes().max(0);
    let lag = if behind < 60 {
        format!("{behind} min")
    } else if behind < 48 * 60 {
        format!("{} h", behind / 60)
    } else {
        format!("{} days", behind / (24 * 60))
    };
    let at = if since.date_naive() == now.date_naive() {
        since.format("%H:%M UTC").to_string()
    } else {
        since.format("%Y-%m-%d %H:%M UTC").to_string()
    };
    format!("{feed} {lag} behind since {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn banners_say_how_far_behind_and_since_when() {
        let now = t("2026-11-21T15:20:00Z");
        assert_eq!(banner("usage", t("2026-11-21T09:12:00Z"), now), "usage feed 6 h behind since 09:12 UTC");
        assert_eq!(banner("crm", t("2026-11-21T14:35:30Z"), now), "CRM feed 44 min behind since 14:35 UTC");
        assert_eq!(
            banner("usage", t("2026-11-20T09:12:00Z"), now),
            "usage feed 30 h behind since 2026-11-20 09:12 UTC"
        );
        assert_eq!(banner("crm", t("2026-11-17T15:20:00Z"), now), "CRM feed 4 days behind since 2026-11-17 15:20 UTC");
        // A clock behind the scorer's never shows a negative lag.
        assert_eq!(banner("usage", t("2026-11-21T15:25:00Z"), now), "usage feed 0 min behind since 15:25 UTC");
    }
}
