//! Fixture data for tests, the browser tests and the benchmark (`pulse api
//! load-fixtures`): the seeded demo cohorts (`pulse_replay::gen::demo`) run through the
//! real scoring core day by day, written as the scorer writes them
//! (`pulse_scorer::rows`), so every number the API shows is a real result.
//!
//! Large portfolios: the demo generator holds its events in memory, so `copies` > 1
//! scores `accounts` once and writes each result `copies` times under derived ids
//! (`<id>~<n>`, name `<name> #<n>`, CSMs rotated), which keeps the cohort mix and the
//! history shapes realistic at 10k accounts without generating 10k accounts of events.

use chrono::{Days, NaiveDate};
use pulse_core::{AlertTracker, Engine, Evaluation, ScoringConfig};
use pulse_replay::gen::{write_demo, DemoSpec};
use pulse_scorer::{
    outputs::tagged,
    rows::{lifecycle_str, AlertRow, Attributes, HealthRow, ReadinessRow},
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
        Self { accounts: 60, copies: 1, days: 90, end: pulse_replay::gen::DEFAULT_END, seed: 42 }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FixtureStats {
    pub accounts: u64,
    pub health_rows: u64,
    pub readiness_rows: u64,
    pub alert_rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("invalid fixture spec: {0}")]
    Invalid(String),
    #[error("generating events: {0}")]
    Gen(#[from] pulse_replay::gen::GenError),
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
    let mut engine = Engine::new(config.clone());
    for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(ev) = pulse_core::parse_event(line) {
            engine.apply(&ev);
        }
    }
    drop(ndjson);
    let mut ids: Vec<String> = engine.account_ids().map(str::to_owned).collect();
    ids.sort_unstable();
    let first = spec.end - Days::new(u64::from(spec.days - 1));
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let mut trackers: Vec<AlertTracker> = (0..spec.copies).map(|_| AlertTracker::new(config)).collect();
    let mut stats = FixtureStats { accounts: ids.len() as u64 * u64::from(spec.copies), ..FixtureStats::default() };
    let mut day = first;
    while day <= spec.end {
        let evals: Vec<(Evaluation, Attributes)> = ids
            .iter()
            .filter_map(|id| {
                let ev = engine.evaluate(id, day)?;
                let a = engine.attributes(id, day).unwrap_or_default();
                let attrs = Attributes {
                    name: a.name.unwrap_or_default(),
                    csm: a.csm.unwrap_or_default(),
                    arr: a.arr,
                    renewal_on: a.renewal_on,
                };
                Some((ev, attrs))
            })
            .collect();
        let mut health = Vec::with_capacity(evals.len() * spec.copies as usize);
        let mut readiness = Vec::with_capacity(health.capacity());
        let mut alerts = Vec::new();
        for (copy, tracker) in trackers.iter_mut().enumerate() {
            for (ev, attrs) in &evals {
                let (ev, attrs) = derive(ev, attrs, copy as u32);
                let lifecycle = lifecycle_str(&ev.readiness);
                let h = tagged("health", &ev.health).to_string();
                let r = tagged("readiness", &ev.readiness).to_string();
                health.push(HealthRow::new(&ev.health, &lifecycle, &attrs, h, now));
                readiness.push(ReadinessRow::new(&ev.readiness, r, now));
                alerts.extend(tracker.update(&ev).iter().map(|t| AlertRow::new(t, now)));
            }
        }
        stats.health_rows += health.len() as u64;
        stats.readiness_rows += readiness.len() as u64;
        stats.alert_rows += alerts.len() as u64;
        insert(ch, "account_health", &health).await?;
        insert(ch, "graduation_readiness", &readiness).await?;
        insert(ch, "health_alerts", &alerts).await?;
        day = day + Days::new(1);
    }
    Ok(stats)
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
    for chunk in rows.chunks(50_000) {
        let mut ins = ch.insert::<R>(table).await?;
        for r in chunk {
            ins.write(r).await?;
        }
        ins.end().await?;
    }
    Ok(())
}
