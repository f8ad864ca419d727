//! Fixture data for tests, the browser tests and the benchmark (`pulse api
//! load-fixtures`): the seeded demo cohorts (`pulse_gen::demo`) run through the
//! real scoring core day by day, written as the scorer writes them (the rows and
//! conversions of `pulse_storage`, shared with the scorer and `pulse backfill`), so
//! every number the API shows is a real result.
//!
//! Large portfolios: the demo generator holds its events in memory, so `copies` > 1
//! scores `accounts` once and writes each result `copies` times under derived ids
//! (`<id>~<n>`, name `<name> #<n>`, CSMs rotated), which keeps the cohort mix and the
//! history shapes realistic at 10k accounts without generating 10k accounts of events.
//!
//! Renewal outcomes (SPEC §8): every `renewal` event of the demo stream is stored in
//! `crm_events` as ingest stores it (`pulse_storage::raw::raw_row`, one row per copy),
//! so the forecast and accuracy pages read what a real deployment would.
//!
//! Alert history as late data leaves it (SPEC §5): one alert of the first copy that is
//! still open at the end has its opening retracted afterwards, so `alerts_current` holds
//! it as `withdrawn` and no page or endpoint may show it.

pub mod scale;

use chrono::{Days, NaiveDate, Utc};
use pulse_core::{event::RenewalEvent, AlertTracker, Engine, Evaluation, Event, ScoringConfig};
use pulse_gen::{write_demo, DemoSpec};
use pulse_storage::{
    raw::{raw_row, storage_time, RawRow, Source},
    scores::evaluation_rows,
    tables, AlertRow, Attributes, CrmRow, TransitionState,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureSpec {
    /// Distinct simulated accounts (demo cohorts; 15 or more shows every cohort).
    pub accounts: u32,
    /// Each result is written this many times under derived account ids.
    pub copies: u32,
    /// Days of results, ending at `end` (the demo events start 27 days earlier, so the
    /// first day already has a full month of activity).
    pub days: u32,
    pub end: NaiveDate,
    pub seed: u64,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        Self { accounts: 60, copies: 1, days: 90, end: pulse_gen::DEFAULT_END, seed: 42 }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FixtureStats {
    pub accounts: u64,
    pub health_rows: u64,
    pub readiness_rows: u64,
    pub alert_rows: u64,
    /// Alerts whose opening was retracted (shown nowhere).
    pub withdrawn_alerts: u64,
    /// Renewal outcome events stored in `crm_events` (all copies).
    pub renewal_rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("invalid fixture spec: {0}")]
    Invalid(String),
    #[error("generating events: {0}")]
    Gen(#[from] pulse_gen::GenError),
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
}

const CSMS: [&str; 5] = ["Dana Whitfield", "Marco Ruiz", "Priya Raman", "Tom Becker", "Aiko Tanaka"];

/// Scores the demo data set and writes health, readiness and alert rows to `ch`
/// (a migrated database). Deterministic for a spec, except `computed_at`.
pub async fn load(
    ch: &clickhouse::Client,
    spec: &FixtureSpec,
    config: &ScoringConfig,
) -> Result<FixtureStats, FixtureError> {
    if spec.accounts == 0 || spec.copies == 0 || !(1..=730).contains(&spec.days) {
        return Err(FixtureError::Invalid("accounts and copies must be >= 1, days in 1..=730".into()));
    }
    let mut ndjson = Vec::new();
    write_demo(
        &DemoSpec { accounts: spec.accounts, days: spec.days + 27, end: spec.end, seed: spec.seed, malformed: false },
        &mut ndjson,
    )?;
    // Each day is evaluated with the events of that day and before only, as the
    // scorer evaluated it then: the engine keeps usage for its horizon, so a day long
    // before the newest event cannot be evaluated after the fact (a year of history).
    // Lines are indexed by event day and parsed again when their day comes.
    let mut lines: Vec<(NaiveDate, usize, usize)> = Vec::new();
    let mut renewals = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut pos = 0;
    for line in ndjson.split(|b| *b == b'\n') {
        let start = pos;
        pos += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        if let Ok(ev) = pulse_core::parse_event(line) {
            if let Event::Renewal(r) = &ev {
                renewals.push(r.clone());
            }
            if !ids.contains(ev.account_id()) {
                ids.insert(ev.account_id().to_owned());
            }
            lines.push((ev.timestamp().date_naive(), start, start + line.len()));
        }
    }
    lines.sort_by_key(|(day, _, _)| *day);
    let ids: Vec<String> = ids.into_iter().collect();
    let mut engine = Engine::new(config.clone());
    let mut applied = 0;
    let mut apply_through = |engine: &mut Engine, day: NaiveDate| {
        while let Some((d, start, end)) = lines.get(applied).copied() {
            if d > day {
                break;
            }
            if let Some(Ok(ev)) = ndjson.get(start..end).map(pulse_core::parse_event) {
                engine.apply(&ev);
            }
            applied += 1;
        }
    };
    let first = spec.end - Days::new(u64::from(spec.days - 1));
    let now_at = Utc::now();
    let now = u32::try_from(now_at.timestamp()).unwrap_or(0);
    let computed_at = pulse_storage::types::seconds(now);
    // Versions grow with the day written, so a later transition of an alert always wins.
    let base_version = u64::try_from(now_at.timestamp_micros()).unwrap_or(0);
    let mut version = base_version;
    // Openings of the first copy's alerts still open, by alert id (the retraction pick).
    let mut still_open: std::collections::BTreeMap<String, AlertRow> = std::collections::BTreeMap::new();
    let mut trackers: Vec<AlertTracker> = (0..spec.copies).map(|_| AlertTracker::new(config)).collect();
    let mut stats = FixtureStats { accounts: ids.len() as u64 * u64::from(spec.copies), ..FixtureStats::default() };
    let crm = renewal_rows(&renewals, spec.copies, now);
    stats.renewal_rows = crm.len() as u64;
    insert(ch, tables::CRM_EVENTS, &crm).await?;
    let mut day = first;
    while day <= spec.end {
        apply_through(&mut engine, day);
        version += 1;
        let evals: Vec<(Evaluation, Attributes)> = ids
            .iter()
            .filter_map(|id| {
                let ev = engine.evaluate(id, day)?;
                Some((ev, Attributes::from(engine.attributes(id, day).unwrap_or_default())))
            })
            .collect();
        let mut health = Vec::with_capacity(evals.len() * spec.copies as usize);
        let mut readiness = Vec::with_capacity(health.capacity());
        let mut alerts = Vec::new();
        for (copy, tracker) in trackers.iter_mut().enumerate() {
            for (ev, attrs) in &evals {
                let (ev, attrs) = derive(ev, attrs, copy as u32);
                let (h, r) = evaluation_rows(&ev, &attrs, computed_at);
                health.push(h);
                readiness.push(r);
                for row in tracker.update(&ev).iter().map(|t| AlertRow::new(t, version, now_at)) {
                    if copy == 0 {
                        match row.state {
                            TransitionState::Opened => {
                                still_open.insert(row.alert_id.clone(), row.clone());
                            }
                            TransitionState::Resolved | TransitionState::Retracted => {
                                still_open.remove(&row.alert_id);
                            }
                        }
                    }
                    alerts.push(row);
                }
            }
        }
        stats.health_rows += health.len() as u64;
        stats.readiness_rows += readiness.len() as u64;
        stats.alert_rows += alerts.len() as u64;
        insert(ch, tables::ACCOUNT_HEALTH, &health).await?;
        insert(ch, tables::GRADUATION_READINESS, &readiness).await?;
        insert(ch, tables::HEALTH_ALERTS, &alerts).await?;
        day = day + Days::new(1);
    }
    // Late data withdrew one opening: the alert never held.
    if let Some(opened) = still_open.values().next() {
        let retraction = opened.retracted(version + 1, now_at);
        insert(ch, tables::HEALTH_ALERTS, std::slice::from_ref(&retraction)).await?;
        stats.alert_rows += 1;
        stats.withdrawn_alerts += 1;
    }
    Ok(stats)
}

/// The `crm_events` rows of renewal events, once per copy (copy `n` under the derived
/// account id, as [`derive`] names it).
pub fn renewal_rows(renewals: &[RenewalEvent], copies: u32, ingested_at: u32) -> Vec<CrmRow> {
    let mut rows = Vec::with_capacity(renewals.len() * copies as usize);
    for n in 0..copies {
        for (offset, r) in renewals.iter().enumerate() {
            let mut r = r.clone();
            if n > 0 {
                r.account_id = format!("{}~{n}", r.account_id);
                r.event_id = format!("{}~{n}", r.event_id);
            }
            let ev = Event::Renewal(r);
            let Some(ts) = storage_time(&ev) else { continue };
            let raw = serde_json::to_string(&ev).unwrap_or_default();
            let source = Source { topic: "pulse.crm", partition: 0, offset: offset as i64 };
            if let RawRow::Crm(row) = raw_row(&ev, raw.as_bytes(), &source, ingested_at, ts) {
                rows.push(row);
            }
        }
    }
    rows
}

/// Copy `n` of an evaluation: copy 0 is the original.
fn derive(ev: &Evaluation, attrs: &Attributes, n: u32) -> (Evaluation, Attributes) {
    if n == 0 {
        return (ev.clone(), attrs.clone());
    }
    let mut ev = ev.clone();
    let id = format!("{}~{n}", ev.health.account_id);
    ev.health.account_id.clone_from(&id);
    ev.readiness.account_id = id;
    let mut attrs = attrs.clone();
    attrs.name = format!("{} #{n}", attrs.name);
    let i = CSMS.iter().position(|c| *c == attrs.csm).unwrap_or(0);
    attrs.csm = CSMS[(i + n as usize) % CSMS.len()].to_owned();
    (ev, attrs)
}

async fn insert<R>(ch: &clickhouse::Client, table: &str, rows: &[R]) -> Result<(), clickhouse::error::Error>
where
    R: clickhouse::RowOwned + clickhouse::RowWrite,
{
    pulse_storage::insert(ch, table, rows, 50_000).await
}
