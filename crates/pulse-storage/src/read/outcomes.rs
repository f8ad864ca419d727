//! What the renewal forecast and the accuracy page read (SPEC §8): the renewal
//! outcomes stored by ingest in `crm_events`, the daily health results the backtest
//! looks up before each of them, the accounts as they stand on the newest day, and the
//! readiness rows around each account's stage changes (the graduation backtest).
//! Every number is then decided by `pulse_core::backtest` and `pulse_core::forecast`;
//! this module only loads their inputs (the API shapes the answers).
//!
//! Whole-portfolio reads, in pieces. The forecast's back-cast needs every outcome of the
//! last two years or more, and the accounts they belong to: at 200,000 accounts that is
//! more rows than the API lets one query return (`max_result_rows`), and more exact
//! (account, day) pairs than fit in a URL as query parameters. So [`snapshot`] reads
//! every table in buckets of accounts (`cityHash64(account_id) % n`, each bucket's rows
//! bounded below the limit by counts taken first), and the days the backtest looks up are
//! derived in SQL from the same renewal payloads instead of being sent as parameters.
//! The snapshot holds the inputs of every scope at once; [`Snapshot::inputs`] cuts out
//! one request's (scope, earliest renewal), exactly what the per-request reads returned
//! before. [`fingerprint`] says cheaply whether a snapshot is still current.
//!
//! The history read is a superset: for every (account, `renewal_on`) of any renewal
//! event, the results on `renewal_on - h` per horizon and on the day before the
//! renewal's quarter (when a back-cast of that quarter forecast it), plus, for each
//! outcome reported lost by any of its events, the earliest red day of the 180 days
//! before it (all the lead-time search of `score_outcome` can find: it looks for the
//! first red day). Extra days never change an answer: the backtest looks up exactly
//! those days, and any other stored day in a lead window is red no earlier than the
//! earliest one. The config versions reported are those of the rows one request's
//! outcomes read, as before.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{Days, NaiveDate};
use futures::{StreamExt as _, TryStreamExt as _};
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

/// Bucket queries in flight at once while loading a snapshot.
const CONCURRENT_BUCKETS: usize = 2;

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

/// One account's stored results on the days a snapshot reads: `(day as days since
/// 1970-01-01, score, color, config_version)`. Grouped per account so that a bucket's
/// rows are bounded by its accounts, not by their outcomes times days.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct HealthPoints {
    account_id: String,
    points: Vec<(u16, f64, String, String)>,
}

/// One account's earliest red day before each of its lost outcomes:
/// `(renewal_on, day, score, color, config_version)`, dates as days since 1970-01-01.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct LeadPoints {
    account_id: String,
    lead: Vec<(u16, u16, f64, String, String)>,
}

/// One account's renewal event payloads.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct Payloads {
    payloads: Vec<String>,
}

/// One account's readiness rows around its stage changes:
/// `(day, stage, verdict as its Enum8 value)`, oldest first.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct StagePoints {
    account_id: String,
    rows: Vec<(u16, String, i8)>,
}

fn day(days: u16) -> NaiveDate {
    NaiveDate::default() + Days::new(u64::from(days))
}

fn color(s: &str) -> Option<Color> {
    match s {
        "green" => Some(Color::Green),
        "yellow" => Some(Color::Yellow),
        "red" => Some(Color::Red),
        _ => None,
    }
}

fn verdict(v: i8) -> Option<crate::types::Verdict> {
    use crate::types::Verdict;
    [Verdict::Ready, Verdict::Close, Verdict::NotReady].into_iter().find(|x| *x as i8 == v)
}

/// Stored daily health results, by account and day, with the config version that
/// computed each (an index into `versions`). Looked up by `&str` without allocating:
/// the backtest asks for up to 180 days of each lost outcome on every request.
#[derive(Debug, Default)]
pub struct StoredHistory {
    by_account: HashMap<String, Vec<(NaiveDate, Sample, u32)>>,
    versions: Vec<String>,
}

impl StoredHistory {
    fn insert(&mut self, account_id: String, day: NaiveDate, sample: Sample, version: &str) {
        let v = match self.versions.iter().position(|x| x == version) {
            Some(i) => i as u32,
            None => {
                self.versions.push(version.to_owned());
                (self.versions.len() - 1) as u32
            }
        };
        let days = self.by_account.entry(account_id).or_default();
        match days.binary_search_by_key(&day, |(d, _, _)| *d) {
            Ok(i) => days[i] = (day, sample, v),
            Err(i) => days.insert(i, (day, sample, v)),
        }
    }

    fn get(&self, account_id: &str, day: NaiveDate) -> Option<&(NaiveDate, Sample, u32)> {
        let days = self.by_account.get(account_id)?;
        days.binary_search_by_key(&day, |(d, _, _)| *d).ok().and_then(|i| days.get(i))
    }

    /// The config version of the stored result of `account_id` on `day`.
    fn version(&self, account_id: &str, day: NaiveDate) -> Option<&str> {
        self.get(account_id, day).and_then(|(_, _, v)| self.versions.get(*v as usize)).map(String::as_str)
    }
}

impl History for StoredHistory {
    fn health(&self, account_id: &str, day: NaiveDate) -> Option<Sample> {
        self.get(account_id, day).map(|(_, s, _)| *s)
    }
}

/// An account's lifecycle stage and verdict on a day where its stage changed.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub account_id: String,
    pub as_of: NaiveDate,
    pub stage: String,
    pub verdict: crate::types::Verdict,
}

/// Changes when the tables the snapshot reads change: any insert, merge or mutation
/// makes or replaces a part. Read from `system.parts` (metadata only), so checking it
/// costs a few milliseconds whatever the size of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, clickhouse::Row)]
pub struct Fingerprint {
    pub parts: u64,
    pub names: u64,
}

/// The [`Fingerprint`] of the tables a [`Snapshot`] reads, now.
pub async fn fingerprint(ch: &clickhouse::Client) -> Result<Fingerprint> {
    ch.query(
        "SELECT count() AS parts, sum(cityHash64(table, name)) AS names FROM system.parts \
         WHERE active AND database = currentDatabase() AND table IN \
         ('account_health', 'account_health_latest', 'crm_events', 'graduation_readiness')",
    )
    .fetch_one()
    .await
}

/// Everything the forecast and the accuracy page read, for every account.
#[derive(Debug)]
pub struct Snapshot {
    /// The newest day with results.
    pub today: NaiveDate,
    /// One outcome per (account, `renewal_on`), corrections applied, every date.
    outcomes: Vec<Outcome>,
    history: StoredHistory,
    /// The earliest red day before each (account, `renewal_on`) reported lost.
    first_red: HashMap<(String, NaiveDate), NaiveDate>,
    /// Every account as it stands now, former customers included.
    accounts: HashMap<String, Current>,
    /// The readiness rows around each account's stage changes, by day.
    stages: HashMap<String, Vec<StageRow>>,
}

/// One request's inputs of the forecast and the backtest, cut out of a [`Snapshot`].
pub struct Inputs<'a> {
    pub today: NaiveDate,
    /// One outcome per (account, `renewal_on`) (corrections applied), of the accounts
    /// in scope, decided before `today`.
    pub outcomes: Vec<Outcome>,
    /// (account, `renewal_on`) of every outcome in scope, future dates included: a
    /// renewal already decided is not "due".
    pub decided: HashSet<(&'a str, NaiveDate)>,
    pub history: &'a StoredHistory,
    /// The config versions that computed the stored results the backtest read.
    pub stored_config_versions: Vec<String>,
    /// Accounts in scope as they stand now, by id, former customers included (the
    /// forecast leaves them out itself; the backtest judges their past).
    pub accounts: HashMap<&'a str, &'a Current>,
}

impl Snapshot {
    /// The inputs of `scope` (former customers' past always included), with the
    /// outcomes of `since ..= today - 1`.
    pub fn inputs(&self, scope: &Scope, since: NaiveDate) -> Inputs<'_> {
        let accounts: HashMap<&str, &Current> = self
            .accounts
            .values()
            .filter(|c| scope.segment.as_ref().is_none_or(|s| *s == c.segment))
            .filter(|c| scope.csm.as_ref().is_none_or(|s| *s == c.csm))
            .map(|c| (c.account_id.as_str(), c))
            .collect();
        let in_scope: Vec<&Outcome> =
            self.outcomes.iter().filter(|o| scope.is_empty() || accounts.contains_key(o.account_id.as_str())).collect();
        let decided = in_scope.iter().map(|o| (o.account_id.as_str(), o.renewal_on)).collect();
        let outcomes: Vec<Outcome> =
            in_scope.into_iter().filter(|o| o.renewal_on < self.today && o.renewal_on >= since).cloned().collect();
        let mut versions: BTreeSet<&str> = BTreeSet::new();
        for o in &outcomes {
            for d in points(o.renewal_on) {
                versions.extend(self.history.version(&o.account_id, d));
            }
            if o.lost() {
                if let Some(d) = self.first_red.get(&(o.account_id.clone(), o.renewal_on)) {
                    versions.extend(self.history.version(&o.account_id, *d));
                }
            }
        }
        Inputs {
            today: self.today,
            outcomes,
            decided,
            history: &self.history,
            stored_config_versions: versions.into_iter().map(str::to_owned).collect(),
            accounts,
        }
    }

    /// The readiness rows around `account_id`'s stage changes, oldest first.
    pub fn stage_changes(&self, account_id: &str) -> &[StageRow] {
        self.stages.get(account_id).map_or(&[], Vec::as_slice)
    }
}

/// The days the backtest and the back-cast look up for a renewal on `renewal_on`:
/// `renewal_on - h` per horizon, and the day before its quarter.
fn points(renewal_on: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    HORIZONS
        .iter()
        .filter_map(move |h| renewal_on.checked_sub_days(Days::new(u64::from(*h))))
        .chain(forecast::quarter_start(renewal_on).pred_opt())
}

/// `cityHash64(account_id) % {n} = {b}`: one bucket of accounts.
const BUCKET: &str = "cityHash64(account_id) % {n:UInt64} = {b:UInt64}";

/// Renewal events' (account, `renewal_on`) in one bucket, parsed by ClickHouse from the
/// same payloads the API parses (`renewal_on` is `YYYY-MM-DD`); `lost_only`: of events
/// reporting a lost outcome.
fn renewal_keys(lost_only: bool) -> String {
    let lost = if lost_only { " AND JSONExtractString(payload, 'outcome') IN ('churned', 'contracted')" } else { "" };
    format!(
        "SELECT DISTINCT account_id, assumeNotNull(due) AS due FROM (SELECT account_id, \
         toDateOrNull(JSONExtractString(payload, 'renewal_on')) AS due FROM crm_events \
         WHERE type = 'renewal' AND {BUCKET}{lost}) WHERE due IS NOT NULL"
    )
}

/// The newest version of each (account, day) by argMax, of one bucket.
const NEWEST: &str = "SELECT account_id, as_of, argMax(score, computed_at) AS score, \
     argMax(color, computed_at) AS color, argMax(config_version, computed_at) AS config_version \
     FROM account_health";

/// How many buckets keep every query's result at or under `max_rows` rows: at most a
/// third of it expected per bucket, so the luck of the hash never reaches it.
fn buckets(rows: u64, max_rows: u64) -> u64 {
    let per_bucket = (max_rows / 3).max(1);
    rows.div_ceil(per_bucket).max(1)
}

fn bucket(text: &str, n: u64, b: u64) -> Sql {
    let mut sql = Sql::new(text);
    sql.set("n", n).set("b", b);
    sql
}

/// Loads the inputs of every scope; `None` before any results. Each query returns at
/// most `max_rows` rows (the read client's `max_result_rows`): one row per account,
/// its outcomes' data in arrays, in as many buckets of accounts as that takes.
pub async fn snapshot(ch: &clickhouse::Client, max_rows: u64) -> Result<Option<Snapshot>> {
    let Some(today) = latest_day(ch).await? else { return Ok(None) };
    // Upper bounds of every bucketed query's rows (one per account): rows not yet
    // merged are counted.
    let accounts: u64 = ch
        .query(
            "SELECT greatest(assumeNotNull((SELECT count() FROM account_health_latest)), \
             assumeNotNull((SELECT uniqExact(account_id) FROM crm_events WHERE type = 'renewal')), \
             assumeNotNull((SELECT count() FROM graduation_readiness_latest)))",
        )
        .fetch_one()
        .await?;
    let n = buckets(accounts, max_rows);
    let parts: Vec<Bucket> = futures::stream::iter(0..n)
        .map(|b| load_bucket(ch, n, b))
        .buffer_unordered(CONCURRENT_BUCKETS)
        .try_collect()
        .await?;
    let mut snap = Snapshot {
        today,
        outcomes: Vec::new(),
        history: StoredHistory::default(),
        first_red: HashMap::new(),
        accounts: HashMap::new(),
        stages: HashMap::new(),
    };
    for part in parts {
        snap.outcomes.extend(part.outcomes);
        snap.accounts.extend(part.accounts.into_iter().map(|c| (c.account_id.clone(), c)));
        for a in part.points {
            for (d, score, c, version) in a.points {
                let Some(color) = color(&c) else { continue };
                snap.history.insert(a.account_id.clone(), day(d), Sample { score, color }, &version);
            }
        }
        for a in part.lead {
            for (due, d, score, c, version) in a.lead {
                let Some(color) = color(&c) else { continue };
                snap.history.insert(a.account_id.clone(), day(d), Sample { score, color }, &version);
                snap.first_red.insert((a.account_id.clone(), day(due)), day(d));
            }
        }
        for a in part.stages {
            let rows = a
                .rows
                .into_iter()
                .filter_map(|(d, stage, v)| {
                    Some(StageRow { account_id: a.account_id.clone(), as_of: day(d), stage, verdict: verdict(v)? })
                })
                .collect();
            snap.stages.insert(a.account_id, rows);
        }
    }
    // As `latest_outcomes` sorts them: by account, then `renewal_on`.
    snap.outcomes.sort_by(|a, b| (&a.account_id, a.renewal_on).cmp(&(&b.account_id, b.renewal_on)));
    Ok(Some(snap))
}

/// What one bucket of accounts contributes to a [`Snapshot`].
struct Bucket {
    accounts: Vec<Current>,
    outcomes: Vec<Outcome>,
    points: Vec<HealthPoints>,
    lead: Vec<LeadPoints>,
    stages: Vec<StagePoints>,
}

async fn load_bucket(ch: &clickhouse::Client, n: u64, b: u64) -> Result<Bucket> {
    let accounts = bucket(
        &format!(
            "SELECT account_id, name, segment, csm, arr, renewal_on, score, color, former \
             FROM account_health_latest FINAL WHERE {BUCKET}"
        ),
        n,
        b,
    );
    let events = bucket(
        &format!(
            "SELECT groupArray(payload) AS payloads FROM crm_events FINAL \
             WHERE type = 'renewal' AND {BUCKET} GROUP BY account_id"
        ),
        n,
        b,
    );
    let days: Vec<String> = HORIZONS.iter().map(|h| format!("due - {h}")).collect();
    let points = bucket(
        &format!(
            "SELECT account_id, groupArray((toUInt16(as_of), score, toString(color), config_version)) AS points \
             FROM ({NEWEST} WHERE {BUCKET} AND (account_id, as_of) IN (SELECT account_id, \
             arrayJoin([{}, toStartOfQuarter(due) - 1]) FROM ({})) GROUP BY account_id, as_of) GROUP BY account_id",
            days.join(", "),
            renewal_keys(false)
        ),
        n,
        b,
    );
    // Per (account, renewal_on) reported lost: its earliest red day in
    // `renewal_on - 180 ..= renewal_on - 1`, with that day's stored result.
    let mut lead = bucket(
        &format!(
            "SELECT account_id, groupArray((toUInt16(renewal_on), toUInt16(as_of), score, toString(color), \
             config_version)) AS lead FROM (\
             SELECT o.account_id AS account_id, o.due AS renewal_on, min(h.as_of) AS as_of, \
             argMin(h.score, h.as_of) AS score, argMin(h.color, h.as_of) AS color, \
             argMin(h.config_version, h.as_of) AS config_version \
             FROM ({NEWEST} WHERE {BUCKET} AND account_id IN (SELECT account_id FROM ({lost})) \
             GROUP BY account_id, as_of) AS h INNER JOIN ({lost}) AS o ON h.account_id = o.account_id \
             WHERE h.color = 'red' AND h.as_of >= o.due - {{lead_days:UInt32}} AND h.as_of < o.due \
             GROUP BY o.account_id, o.due) GROUP BY account_id",
            lost = renewal_keys(true)
        ),
        n,
        b,
    );
    lead.set("lead_days", u64::from(backtest::LEAD_WINDOW_DAYS));
    // The readiness rows around each account's stage changes (the first and last day of
    // each run of one stage).
    let stages = bucket(
        &format!(
            "SELECT account_id, arraySort(groupArray((toUInt16(as_of), stage, CAST(verdict, 'Int8')))) AS rows \
             FROM (SELECT account_id, as_of, stage, verdict, \
             lagInFrame(stage, 1, '') OVER (PARTITION BY account_id ORDER BY as_of ASC \
             ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev, \
             leadInFrame(stage, 1, '') OVER (PARTITION BY account_id ORDER BY as_of ASC \
             ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next FROM (\
             SELECT account_id, as_of, toString(argMax(lifecycle_stage, computed_at)) AS stage, \
             argMax(verdict, computed_at) AS verdict FROM graduation_readiness WHERE {BUCKET} \
             GROUP BY account_id, as_of)) WHERE stage != prev OR stage != next GROUP BY account_id"
        ),
        n,
        b,
    );
    let (accounts, payloads) =
        futures::future::try_join(accounts.query(ch).fetch_all::<Current>(), events.query(ch).fetch_all::<Payloads>())
            .await?;
    let renewals: Vec<RenewalEvent> = payloads
        .iter()
        .flat_map(|a| &a.payloads)
        .filter_map(|p| match serde_json::from_str::<Event>(p) {
            Ok(Event::Renewal(r)) => Some(r),
            _ => {
                tracing::warn!("crm_events: a renewal row whose payload is not a renewal event");
                None
            }
        })
        .collect();
    drop(payloads);
    // One bucket holds every event of its accounts, so corrections resolve within it.
    let outcomes = backtest::latest_outcomes(&renewals);
    let (points, lead, stages) = futures::future::try_join3(
        points.query(ch).fetch_all::<HealthPoints>(),
        lead.query(ch).fetch_all::<LeadPoints>(),
        stages.query(ch).fetch_all::<StagePoints>(),
    )
    .await?;
    Ok(Bucket { accounts, outcomes, points, lead, stages })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_each_query_at_a_third_of_the_limit() {
        assert_eq!(buckets(0, 200_000), 1);
        assert_eq!(buckets(66_666, 200_000), 1);
        assert_eq!(buckets(66_667, 200_000), 2);
        assert_eq!(buckets(200_015, 200_000), 4);
        assert_eq!(buckets(5, 1), 5);
    }

    #[test]
    fn history_looks_up_by_day_and_keeps_versions() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let mut h = StoredHistory::default();
        let s = Sample { score: 20.0, color: Color::Red };
        h.insert("a".into(), d("2026-01-02"), s, "v1");
        h.insert("a".into(), d("2026-01-01"), s, "v2");
        assert_eq!(h.health("a", d("2026-01-01")), Some(s));
        assert_eq!(h.health("a", d("2026-01-03")), None);
        assert_eq!(h.health("b", d("2026-01-01")), None);
        assert_eq!(h.version("a", d("2026-01-02")), Some("v1"));
        assert_eq!(h.version("a", d("2026-01-01")), Some("v2"));
    }
}
