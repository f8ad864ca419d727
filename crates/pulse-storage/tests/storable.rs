//! SPEC v3 §1: values Pulse cannot store are invalid input, never a storage error. So
//! every event `parse_event` accepts, however extreme within its ranges, turns into
//! every row a writer stores for it (its raw row; the health, readiness and alert rows
//! of the days it touches) without a serialization error. Rows are serialized with the
//! same `clickhouse::serde` helpers the RowBinary writer calls (through serde_json),
//! which is where "2150-01-01 cannot be represented as Date" stopped the scorer.

use chrono::{DateTime, Days, NaiveDate, Utc};
use proptest::prelude::*;
use pulse_core::{
    event::{MAX_DATE, MIN_DATE},
    parse_event, AlertTracker, Engine, Event, ScoringConfig,
};
use pulse_storage::{
    alerts::AlertRow,
    raw::{raw_row, storage_time, RawRow, Source},
    scores::{evaluation_rows, Attributes},
};

fn day(offset: u32) -> NaiveDate {
    MIN_DATE.checked_add_days(Days::new(u64::from(offset))).map_or(MAX_DATE, |d| d.min(MAX_DATE))
}

/// Days across the whole storable range, with its two ends (and their neighbours)
/// drawn often.
fn any_day() -> impl Strategy<Value = NaiveDate> {
    let span = (MAX_DATE - MIN_DATE).num_days() as u32;
    prop_oneof![
        Just(MIN_DATE),
        Just(MAX_DATE),
        (0..40u32).prop_map(day),
        (0..40u32).prop_map(move |o| day(span - o)),
        (0..=span).prop_map(day),
    ]
}

fn any_seats() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1), Just(u64::from(u32::MAX)), 0..=u64::from(u32::MAX)]
}

fn any_amount() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1e15), Just(1e15 - 1.0), 0.0..=1e15]
}

fn any_kpi() -> impl Strategy<Value = f64> {
    prop_oneof![Just(-1e15), Just(1e15), Just(0.0), -1e15..=1e15]
}

fn ts(d: NaiveDate, secs: u32) -> String {
    let t = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(DateTime::<Utc>::MIN_UTC);
    (t + chrono::Duration::seconds(i64::from(secs))).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone)]
struct Case {
    event_day: NaiveDate,
    dates: [NaiveDate; 4],
    seats: u64,
    arr: f64,
    kpi: [f64; 3],
    secs: u32,
}

fn any_case() -> impl Strategy<Value = Case> {
    (
        any_day(),
        [any_day(), any_day(), any_day(), any_day()],
        any_seats(),
        any_amount(),
        [any_kpi(), any_kpi(), any_kpi()],
        0..86_400u32,
    )
        .prop_map(|(event_day, dates, seats, arr, kpi, secs)| Case { event_day, dates, seats, arr, kpi, secs })
}

fn lines(c: &Case) -> Vec<String> {
    let t = ts(c.event_day, c.secs);
    let [a, b, r, e] = c.dates;
    let (baseline, target, value) = (
        c.kpi[0],
        if c.kpi[1] != c.kpi[0] {
            c.kpi[1]
        } else if c.kpi[0] > 0.0 {
            c.kpi[0] - 1.0
        } else {
            c.kpi[0] + 1.0
        },
        c.kpi[2],
    );
    vec![
        format!(
            r#"{{"type":"account","event_id":"a1","account_id":"acme","timestamp":"{t}","name":"Acme","licensed_seats":{},"usage_profile":"weekly","arr":{},"lifecycle_stage":"onboarding","onboarding_started_on":"{a}","target_graduation_on":"{b}","renewal_on":"{r}"}}"#,
            c.seats, c.arr
        ),
        format!(
            r#"{{"type":"usage","event_id":"u1","account_id":"acme","user_id":"ann","event":"open","feature":"reports","timestamp":"{t}"}}"#
        ),
        format!(
            r#"{{"type":"usage","event_id":"u2","account_id":"acme","user_id":"bob","event":"open","timestamp":"{t}"}}"#
        ),
        format!(
            r#"{{"type":"assessment","event_id":"s1","account_id":"acme","timestamp":"{t}","dimension":"value","score":10,"author":"x","expires_on":"{e}"}}"#
        ),
        format!(
            r#"{{"type":"kpi","event_id":"k1","account_id":"acme","timestamp":"{t}","kpi":"k","baseline":{baseline},"target":{target},"value":{value},"confirmed":true}}"#
        ),
        format!(
            r#"{{"type":"renewal","event_id":"r1","account_id":"acme","timestamp":"{t}","outcome":"churned","renewal_on":"{r}","arr_before":{},"arr_after":0}}"#,
            c.arr
        ),
        format!(
            r#"{{"type":"ticket","event_id":"t1","account_id":"acme","timestamp":"{t}","ticket_id":"T","severity":"critical","status":"open"}}"#
        ),
        format!(
            r#"{{"type":"stakeholder","event_id":"h1","account_id":"acme","timestamp":"{t}","role":"champion","person":"p","status":"left"}}"#
        ),
    ]
}

fn serializes<T: serde::Serialize>(what: &str, row: &T) -> Result<(), TestCaseError> {
    serde_json::to_vec(row).map(|_| ()).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_event_becomes_storable_rows(c in any_case()) {
        let cfg = ScoringConfig::default();
        let mut engine = Engine::new(cfg.clone());
        let source = Source { topic: "pulse.crm", partition: 0, offset: 0 };
        let mut accepted: Vec<Event> = Vec::new();
        for line in lines(&c) {
            let ev = match parse_event(line.as_bytes()) {
                Ok(ev) => ev,
                Err(e) => return Err(TestCaseError::fail(format!("in-range event refused: {e}: {line}"))),
            };
            let Some(at) = storage_time(&ev) else {
                return Err(TestCaseError::fail(format!("accepted but no storage time: {line}")));
            };
            match raw_row(&ev, line.as_bytes(), &source, 1, at) {
                RawRow::Usage(r) => serializes("usage row", &r)?,
                RawRow::Crm(r) => serializes("crm row", &r)?,
            }
            engine.apply(&ev);
            accepted.push(ev);
        }
        // The scorer evaluates the event's day and the days after it up to today; the
        // last storable day is the furthest it can get.
        let mut tracker = AlertTracker::new(&cfg);
        let mut evaluations = Vec::new();
        for d in [c.event_day, c.event_day.checked_add_days(Days::new(1)).unwrap_or(MAX_DATE).min(MAX_DATE), MAX_DATE] {
            let Some(ev) = engine.evaluate("acme", d) else { continue };
            let attrs = Attributes::from(engine.attributes("acme", d).ok_or_else(|| TestCaseError::fail("attributes"))?);
            let (h, r) = evaluation_rows(&ev, &attrs, pulse_storage::types::seconds(1_700_000_000));
            serializes("health row", &h)?;
            serializes("readiness row", &r)?;
            evaluations.push(ev);
        }
        for t in tracker.update_many(&evaluations) {
            let row = AlertRow::new(&t, 1, pulse_storage::types::seconds(1_700_000_000));
            serializes("alert row", &row)?;
            serializes("retracted alert row", &row.retracted(2, pulse_storage::types::seconds(1_700_000_001)))?;
        }
    }

    /// The other side: one step past either end of the range is refused as
    /// `out_of_range`, never accepted.
    #[test]
    fn one_day_past_the_range_is_out_of_range(secs in 0..86_400u32, past_end in any::<bool>()) {
        let d = if past_end { MAX_DATE.succ_opt().unwrap_or(MAX_DATE) } else { MIN_DATE.pred_opt().unwrap_or(MIN_DATE) };
        let t = ts(d, secs);
        let usage = format!(r#"{{"type":"usage","event_id":"u","account_id":"a","user_id":"u","event":"x","timestamp":"{t}"}}"#);
        let account = format!(r#"{{"type":"account","event_id":"a","account_id":"a","timestamp":"2026-01-01T00:00:00Z","renewal_on":"{d}"}}"#);
        for line in [usage, account] {
            let r = parse_event(line.as_bytes()).map(|_| ()).map_err(|e| e.reason.as_str());
            prop_assert_eq!(r, Err("out_of_range"), "{}", line);
        }
    }
}
