//! SPEC v3 §1-§2: which copy of a repeated event id counts is decided per day: for day
//! `D` the copies dated within `D-55..=D` compete and the earliest wins (ties: the smaller
//! user key, then feature key); older copies take no part. So a day's result depends
//! only on the events up to its end: evaluating `D` after feeding everything up to `D`
//! at once, in any order (`replay --as-of D`), equals evaluating it at the end of a
//! day-by-day run started on any earlier day (`replay --from S --to D`, the scorer).
//! Issue 21: before, the earliest copy was forgotten once its day left the horizon, so a
//! later copy counted or not depending on where the run started.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use pulse_core::event::canonical_json;
use pulse_core::event::*;
use pulse_core::{Engine, ScoringConfig};

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid")
}

fn date(day: i64) -> NaiveDate {
    day0() + chrono::Duration::days(day)
}

fn ts(day: i64, sec: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date(day).and_hms_opt(0, 0, 0).expect("valid")) + chrono::Duration::seconds(i64::from(sec))
}

fn cfg() -> ScoringConfig {
    ScoringConfig::from_toml_str(r#"core_features = ["f0", "f1"]"#).expect("valid")
}

fn usage(id: &str, user: u8, day: i64, sec: u32, feature: Option<u8>) -> Event {
    Event::Usage(UsageEvent {
        event_id: id.into(),
        account_id: "acme".into(),
        user_id: format!("u{user}"),
        event: "x".into(),
        feature: feature.map(|f| format!("f{f}")),
        timestamp: ts(day, sec),
        properties: serde_json::json!({}),
    })
}

fn seats() -> Event {
    Event::Account(AccountEvent {
        event_id: "seats".into(),
        account_id: "acme".into(),
        timestamp: ts(0, 0),
        name: None,
        licensed_seats: Some(10),
        usage_profile: None,
        segment: None,
        arr: None,
        csm: None,
        lifecycle_stage: None,
        onboarding_started_on: None,
        target_graduation_on: None,
        renewal_on: None,
    })
}

const LAST: i64 = 200;

/// Events of one account over 200 days: plain events and event ids repeated with copies
/// up to 130 days apart (across the 55-day window, the 60-day horizon and the 116-day
/// retention), with other users and features, and exact ties of timestamp.
fn history() -> impl Strategy<Value = Vec<Event>> {
    let copy = (0..6u8, 0..=LAST, prop_oneof![Just(0u32), Just(3_600u32)], prop::option::of(0..3u8));
    let repeated = (prop::collection::vec(copy.clone(), 1..4), 0..=LAST, 0..130i64);
    let plain = prop::collection::vec(copy, 0..40);
    (prop::collection::vec(repeated, 1..12), plain).prop_map(|(reps, plain)| {
        let mut out = vec![seats()];
        for (i, (copies, start, spread)) in reps.into_iter().enumerate() {
            for (j, (user, d, sec, f)) in copies.into_iter().enumerate() {
                // Copies around `start`, up to `spread` days apart.
                let day = (start + (d * spread) / LAST.max(1) * if j % 2 == 0 { 1 } else { -1 }).clamp(0, LAST);
                out.push(usage(&format!("r{i}"), user, day, sec, f));
            }
        }
        for (k, (user, d, sec, f)) in plain.into_iter().enumerate() {
            out.push(usage(&format!("p{k}"), user, d, sec, f));
        }
        out
    })
}

fn day_of(ev: &Event) -> i64 {
    (ev.timestamp().date_naive() - day0()).num_days()
}

/// `replay --as-of D`: everything up to the end of D, in the given order.
fn at_once(events: &[Event], d: i64) -> Option<pulse_core::Evaluation> {
    let mut e = Engine::new(cfg());
    for ev in events.iter().filter(|ev| day_of(ev) <= d) {
        e.apply(ev);
    }
    e.evaluate("acme", date(d))
}

/// A day-by-day run from `start`: the events up to `start`, then each day's, evaluating
/// every day on the way (as the scorer and `replay --from` do).
fn day_by_day(events: &[Event], start: i64, d: i64) -> Option<pulse_core::Evaluation> {
    let mut e = Engine::new(cfg());
    for ev in events.iter().filter(|ev| day_of(ev) <= start) {
        e.apply(ev);
    }
    let mut last = e.evaluate("acme", date(start));
    for day in start + 1..=d {
        for ev in events.iter().filter(|ev| day_of(ev) == day) {
            e.apply(ev);
        }
        last = e.evaluate("acme", date(day));
    }
    last
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_days_result_does_not_depend_on_the_range_or_the_order(
        events in history(),
        d in 60..=LAST,
        back in 1..120i64,
        seed in any::<u64>(),
    ) {
        let want = at_once(&events, d);
        let start = (d - back).max(0);
        prop_assert_eq!(&day_by_day(&events, start, d), &want, "--from {} --to {}", start, d);
        let mut shuffled = events.clone();
        let n = shuffled.len();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(&at_once(&shuffled, d), &want, "shuffled");
        // The scorer: everything (later days too) in a shuffled order, then day D.
        let mut e = Engine::new(cfg());
        for ev in shuffled.iter().filter(|ev| day_of(ev) <= (d + 50).min(LAST)) {
            e.apply(ev);
        }
        prop_assert_eq!(&e.evaluate("acme", date(d)), &want, "after later days, shuffled");
    }
}

/// The example of issue 21, by hand: the earliest copy of `r` on day 0 (user 1), a
/// later copy on day 10 (user 2). For days 10..=55 the day-0 copy is within the window
/// and wins; from day 56 it is out and the day-10 copy counts (until day 65). Users 1
/// (event `c`, day 10) and 3 (day 60) are plain.
#[test]
fn a_later_copy_counts_once_the_earlier_one_is_out_of_the_window() {
    let events = vec![
        seats(),
        usage("r", 1, 0, 0, None),
        usage("r", 2, 10, 0, None),
        usage("c", 1, 10, 0, None),
        usage("d", 3, 60, 0, None),
    ];
    let metrics = |d: i64| at_once(&events, d).expect("evaluated").health.metrics;
    // Day 37: the MAU window 10..=37 holds user 1 only; user 2's copy loses to day 0's.
    assert_eq!(metrics(37).mau, 1);
    // Day 65: copies dated 10..=65 compete, day 0's takes no part: user 2 counts in the
    // MAU of day 37 as day 65 reads it (2 users), so MAU 1 (user 3) is -50%.
    let m = metrics(65);
    assert_eq!(m.mau, 1);
    assert_eq!(m.mau_change_pct, Some(-50.0));
    // Every range and order agrees, every day.
    for d in 30..=70 {
        let want = at_once(&events, d);
        assert_eq!(day_by_day(&events, 0, d), want, "--from 0 --to {d}");
        assert_eq!(day_by_day(&events, 30, d), want, "--from 30 --to {d}");
        assert_eq!(day_by_day(&events, d - 1, d), want, "--from {} --to {d}", d - 1);
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(at_once(&reversed, d), want, "reversed, day {d}");
    }
}

/// SPEC v3 §1: CRM copies that tie on the timestamp (to the microsecond) are ordered by
/// their canonical JSON: defined fields only, no timestamp, no nulls, keys sorted
/// bytewise, integral numbers without a fraction.
#[test]
fn crm_ties_break_on_the_canonical_json() {
    let line = r#"{"type":"account","event_id":"a-1","account_id":"acme","timestamp":"2026-01-01T10:00:00.000001Z","licensed_seats":20,"arr":12000.0,"name":null,"segment":"smb","crm_id":"x"}"#;
    let ev = pulse_core::parse_event(line.as_bytes()).expect("valid");
    assert_eq!(
        canonical_json(&ev),
        r#"{"account_id":"acme","arr":12000,"event_id":"a-1","licensed_seats":20,"segment":"smb","type":"account"}"#
    );
    let kpi = r#"{"type":"kpi","event_id":"k","account_id":"acme","timestamp":"2026-01-01T10:00:00Z","kpi":"x","baseline":0.1,"target":2.5e3,"value":-0}"#;
    let ev = pulse_core::parse_event(kpi.as_bytes()).expect("valid");
    assert_eq!(
        canonical_json(&ev),
        r#"{"account_id":"acme","baseline":0.1,"confirmed":false,"event_id":"k","kpi":"x","target":2500,"type":"kpi","value":0}"#
    );
    // Two copies in the same microsecond (nanoseconds differ): seats 20 and 9. The
    // canonical JSON of seats 20 ("...":20) sorts before seats 9 ("...":9): 20 wins in
    // either order.
    let copy = |seats: u32, ns: &str| {
        pulse_core::parse_event(
            format!(r#"{{"type":"account","event_id":"a-1","account_id":"acme","timestamp":"2026-01-01T10:00:00.000001{ns}Z","licensed_seats":{seats}}}"#)
                .as_bytes(),
        )
        .expect("valid")
    };
    let (a, b) = (copy(20, "900"), copy(9, "100"));
    for order in [[&a, &b], [&b, &a]] {
        let mut e = Engine::new(cfg());
        for ev in order {
            e.apply(ev);
        }
        let attrs = e.attributes("acme", date(0)).expect("attributes");
        assert_eq!(attrs.licensed_seats, Some(20));
    }
}
