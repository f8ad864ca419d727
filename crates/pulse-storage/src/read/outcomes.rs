//! What the renewal forecast and the accuracy page read (SPEC §8): the renewal
//! outcomes stored by ingest in `crm_events`, the daily health results the backtest
//! looks up before each of them, and the accounts as they stand on the newest day.
//! Every number is then decided by `pulse_core::backtest` and `pulse_core::forecast`;
//! this module only loads their inputs (the API shapes the answers).
//!
//! The history is loaded with one query, not per outcome: the exact (account, day)
//! pairs the backtest asks for at its horizons and at the start of each back-cast
//! quarter, plus, for each lost outcome, the earliest red day of the 180 days before
//! it (all the lead-time search of `score_outcome` can find: it looks for the first
//! red day). Any other day answers "no result", which that search treats as "not red"
//! anyway; so the rows read are bounded by a few per outcome, not by days of history.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{Days, NaiveDate};
use pulse_core::{
    backtest::{self, History, Outcome, Sample},
    event::RenewalEvent,
    forecast, Event,
};
use serde::Deserialize;

use super::{latest_day, Result, Scope};
use pulse_core::Color;

use crate::sql::Sql;

/// Horizons (days before `renewal_on`) of the backtest and the calibration.
pub const HORIZONS: [u32; 3] = backtest::DEFAULT_HORIZONS;

/// An account as it stands on its newest day (`account_health_latest`).
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct Current {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub renewal_on: Option<NaiveDate>,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
    /// A former customer now (SPEC v3 §8): its renewals are outcomes of the past, never
    /// due in the forward forecast.
    pub former: bool,
}

#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct HealthPoint {
    account_id: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    as_of: NaiveDate,
    score: f64,
    #[serde(with = "crate::types::color")]
    color: Color,
    config_version: String,
}

/// Stored daily health results, by account and day.
#[derive(Debug, Default)]
pub struct StoredHistory(HashMap<(String, NaiveDate), Sample>);

impl History for StoredHistory {
    fn health(&self, account_id: &str, day: NaiveDate) -> Option<Sample> {
        self.0.get(&(account_id.to_owned(), day)).copied()
    }
}

/// The inputs of the forecast and the backtest, as of the newest day with results.
pub struct Inputs {
    pub today: NaiveDate,
    /// One outcome per (account, `renewal_on`) (corrections applied), of the accounts
    /// in scope, decided before `today`.
    pub outcomes: Vec<Outcome>,
    /// (account, `renewal_on`) of every outcome, future dates included: a renewal
    /// already decided is not "due".
    pub decided: HashSet<(String, NaiveDate)>,
    pub history: StoredHistory,
    /// The config versions that computed the stored results the backtest read.
    pub stored_config_versions: Vec<String>,
    /// Accounts in scope as they stand now, by id, former customers included (the
    /// forecast leaves them out itself; the backtest judges their past).
    pub accounts: HashMap<String, Current>,
}

/// Loads the inputs; `None` before any results. `since`: the earliest `renewal_on`
/// any caller will score (older outcomes are not loaded).
pub async fn load(
    ch: &clickhouse::Client,
    scope: &Scope,
    since: impl Fn(NaiveDate) -> NaiveDate,
) -> Result<Option<Inputs>> {
    let Some(today) = latest_day(ch).await? else { return Ok(None) };
    let since = since(today);
    let mut current = Sql::new(
        "SELECT account_id, name, segment, csm, arr, renewal_on, score, color, former \
         FROM account_health_latest FINAL WHERE 1",
    );
    // Former customers' renewals are exactly the outcomes the backtest learns from.
    scope.with_former().push(&mut current);
    let events = Sql::new("SELECT payload FROM crm_events FINAL WHERE type = 'renewal'");
    let (current, payloads) =
        futures::future::try_join(current.query(ch).fetch_all::<Current>(), events.query(ch).fetch_all::<String>())
            .await?;
    let accounts: HashMap<String, Current> = current.into_iter().map(|c| (c.account_id.clone(), c)).collect();
    let renewals: Vec<RenewalEvent> = payloads
        .iter()
        .filter_map(|p| match serde_json::from_str::<Event>(p) {
            Ok(Event::Renewal(r)) => Some(r),
            _ => {
                tracing::warn!("crm_events: a renewal row whose payload is not a renewal event");
                None
            }
        })
        .filter(|r| scope.is_empty() || accounts.contains_key(&r.account_id))
        .collect();
    let all = backtest::latest_outcomes(&renewals);
    let decided = all.iter().map(|o| (o.account_id.clone(), o.renewal_on)).collect();
    let outcomes: Vec<Outcome> = all.into_iter().filter(|o| o.renewal_on < today && o.renewal_on >= since).collect();
    let (history, stored_config_versions) = load_history(ch, &outcomes).await?;
    Ok(Some(Inputs { today, outcomes, decided, history, stored_config_versions, accounts }))
}

/// The results the backtest and the back-cast read for `outcomes`, in one query.
async fn load_history(ch: &clickhouse::Client, outcomes: &[Outcome]) -> Result<(StoredHistory, Vec<String>)> {
    if outcomes.is_empty() {
        return Ok((StoredHistory::default(), Vec::new()));
    }
    // Exact days: `renewal_on - h` per horizon, and the day before the renewal's
    // quarter (when a back-cast of that quarter forecast it).
    let mut points: BTreeSet<(&str, NaiveDate)> = BTreeSet::new();
    for o in outcomes {
        for h in HORIZONS {
            if let Some(d) = o.renewal_on.checked_sub_days(Days::new(u64::from(h))) {
                points.insert((&o.account_id, d));
            }
        }
        if let Some(d) = forecast::quarter_start(o.renewal_on).pred_opt() {
            points.insert((&o.account_id, d));
        }
    }
    let ids: Vec<String> = points.iter().map(|(a, _)| (*a).to_owned()).collect();
    let days: Vec<NaiveDate> = points.iter().map(|(_, d)| *d).collect();
    let lost: Vec<&Outcome> = outcomes.iter().filter(|o| o.lost()).collect();
    let lost_ids: Vec<String> = lost.iter().map(|o| o.account_id.clone()).collect();
    let lost_on: Vec<NaiveDate> = lost.iter().map(|o| o.renewal_on).collect();
    let lead_from = lost
        .iter()
        .filter_map(|o| o.renewal_on.checked_sub_days(Days::new(u64::from(backtest::LEAD_WINDOW_DAYS))))
        .min()
        .unwrap_or(NaiveDate::MIN);
    let lead_to = lost.iter().map(|o| o.renewal_on).max().unwrap_or(NaiveDate::MIN);
    // The newest version of each (account, day) by argMax: the key filter prunes
    // before the merge.
    let newest = "SELECT account_id, as_of, argMax(score, computed_at) AS score, argMax(color, computed_at) AS color, \
                  argMax(config_version, computed_at) AS config_version FROM account_health";
    let mut sql = Sql::new(&format!(
        "SELECT account_id, as_of, score, color, config_version FROM ({newest} \
         WHERE (account_id, as_of) IN (SELECT tupleElement(p, 1), tupleElement(p, 2) FROM \
         (SELECT arrayJoin(arrayZip({{ids:Array(String)}}, {{days:Array(Date)}})) AS p)) GROUP BY account_id, as_of)"
    ));
    sql.set("ids", ids).set("days", days);
    if !lost_ids.is_empty() {
        // Per lost outcome (account, renewal_on): its earliest red day in
        // `renewal_on - 180 ..= renewal_on - 1`, with that day's stored result.
        sql.push(&format!(
            " UNION ALL SELECT o.id AS account_id, min(h.as_of) AS as_of, argMin(h.score, h.as_of) AS score, \
             argMin(h.color, h.as_of) AS color, argMin(h.config_version, h.as_of) AS config_version FROM ({newest} \
             WHERE account_id IN {{lost_ids:Array(String)}} AND as_of >= {{lead_from:Date}} AND as_of < {{lead_to:Date}} \
             GROUP BY account_id, as_of) AS h INNER JOIN (SELECT tupleElement(p, 1) AS id, tupleElement(p, 2) AS due_on \
             FROM (SELECT arrayJoin(arrayZip({{lost_ids:Array(String)}}, {{lost_on:Array(Date)}})) AS p)) AS o \
             ON h.account_id = o.id WHERE h.color = 'red' AND h.as_of >= o.due_on - {{lead_days:UInt32}} AND h.as_of < o.due_on \
             GROUP BY o.id, o.due_on"
        ));
        sql.set("lost_ids", lost_ids)
            .set("lost_on", lost_on)
            .set("lead_from", lead_from)
            .set("lead_to", lead_to)
            .set("lead_days", u64::from(backtest::LEAD_WINDOW_DAYS));
    }
    let rows: Vec<HealthPoint> = sql.query(ch).fetch_all().await?;
    let mut versions = BTreeSet::new();
    let mut map = HashMap::with_capacity(rows.len());
    for r in rows {
        versions.insert(r.config_version);
        map.insert((r.account_id, r.as_of), Sample { score: r.score, color: r.color });
    }
    Ok((StoredHistory(map), versions.into_iter().collect()))
}

/// An account's lifecycle stage and verdict on a day where its stage changed.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct StageRow {
    pub account_id: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub stage: String,
    pub verdict: crate::types::Verdict,
}

/// The readiness rows of `ids` around their stage changes (the first and last day of
/// each run of one stage), by account and day: all the graduation backtest needs.
pub async fn stage_changes(ch: &clickhouse::Client, ids: Vec<String>) -> Result<Vec<StageRow>> {
    let mut sql = Sql::new(
        "SELECT account_id, as_of, stage, verdict FROM (SELECT account_id, as_of, stage, verdict, \
         lagInFrame(stage, 1, '') OVER (PARTITION BY account_id ORDER BY as_of ASC \
         ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev, \
         leadInFrame(stage, 1, '') OVER (PARTITION BY account_id ORDER BY as_of ASC \
         ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next FROM (\
         SELECT account_id, as_of, toString(argMax(lifecycle_stage, computed_at)) AS stage, \
         argMax(verdict, computed_at) AS verdict FROM graduation_readiness",
    );
    sql.arg(" WHERE account_id IN {ids:Array(String)}", "ids", ids);
    sql.push(" GROUP BY account_id, as_of)) WHERE stage != prev OR stage != next ORDER BY account_id, as_of");
    sql.query(ch).fetch_all().await
}
