//! SPEC §2: DAU / WAU / MAU, shares of the seats in force on each day, and the
//! week-over-week change. D = day 40 of the test calendar.

mod common;
use common::*;
use pulse_core::{Engine, Metrics, ScoringConfig};

const D: i64 = 40;

fn check(events: &Events, expect: Metrics) {
    let got = events.eval("acme", D).health.metrics;
    assert_eq!(got, expect);
}

#[allow(clippy::too_many_arguments)]
fn m(
    seats: Option<u64>,
    dau: u32,
    wau: u32,
    mau: u32,
    dau_pct: Option<f64>,
    wau_pct: Option<f64>,
    mau_pct: Option<f64>,
    wau_change_pct: Option<f64>,
) -> Metrics {
    Metrics { seats, dau, wau, mau, dau_pct, wau_pct, mau_pct, wau_change_pct, mau_change_pct: None }
}

#[test]
fn counts_and_shares() {
    let cases: Vec<(&str, Events, Metrics)> = vec![
        (
            "three users today, 10 seats",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 10).active("acme", 3, D);
                e
            },
            m(Some(10), 3, 3, 3, Some(4.29), Some(30.0), Some(30.0), None),
        ),
        (
            "window edges: D, D-6 in WAU; D-7 in last week; D-27 in MAU; D-28 out",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 10)
                    .usage("acme", "a", D)
                    .usage("acme", "b", D - 6)
                    .usage("acme", "c", D - 7)
                    .usage("acme", "d", D - 27)
                    .usage("acme", "e", D - 28);
                e
            },
            m(Some(10), 1, 2, 4, Some(2.86), Some(20.0), Some(40.0), Some(100.0)),
        ),
        (
            "events after as_of are ignored",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 10).usage("acme", "a", D).usage("acme", "b", D + 1);
                e.seats("acme", D + 1, 1);
                e
            },
            m(Some(10), 1, 1, 1, Some(1.43), Some(10.0), Some(10.0), None),
        ),
        (
            "repeat activity and duplicates count once",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 4);
                for _ in 0..5 {
                    e.usage("acme", "a", D);
                }
                let dup = e.list.last().cloned().expect("one event");
                e.list.push(dup);
                e
            },
            m(Some(4), 1, 1, 1, Some(3.57), Some(25.0), Some(25.0), None),
        ),
        (
            "seats unknown: shares null",
            {
                let mut e = Events::new();
                e.active("acme", 3, D);
                e
            },
            m(None, 3, 3, 3, None, None, None, None),
        ),
        (
            "seats 0: shares null, seats shown",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 0).active("acme", 3, D);
                e
            },
            m(Some(0), 3, 3, 3, None, None, None, None),
        ),
        (
            "seat change: each day uses the seats in force that day",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 10).seats("acme", D - 2, 20).active_days("acme", 10, D - 6..=D);
                e
            },
            // (4 x 100 + 3 x 50) / 7
            m(Some(20), 10, 10, 10, Some(78.57), Some(50.0), Some(50.0), None),
        ),
        (
            "seats set mid-window: days before are left out of the DAU mean",
            {
                let mut e = Events::new();
                e.active_days("acme", 5, D - 6..=D).seats("acme", D - 1, 10);
                e
            },
            m(Some(10), 5, 5, 5, Some(50.0), Some(50.0), Some(50.0), None),
        ),
        (
            "latest of several seat updates, partial upserts keep seats",
            {
                let mut e = Events::new();
                e.seats("acme", 1, 50)
                    .seats("acme", 2, 10)
                    .account("acme", 3, r#","name":"Acme Inc""#)
                    .active("acme", 5, D);
                e
            },
            m(Some(10), 5, 5, 5, Some(7.14), Some(50.0), Some(50.0), None),
        ),
        (
            "wau change -10%",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 100).active("acme", 10, D - 10).active("acme", 9, D - 3);
                e
            },
            m(Some(100), 0, 9, 10, Some(1.29), Some(9.0), Some(10.0), Some(-10.0)),
        ),
        (
            "wau change null when last week had nobody",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 100).active("acme", 10, D - 20).active("acme", 9, D - 3);
                e
            },
            m(Some(100), 0, 9, 10, Some(1.29), Some(9.0), Some(10.0), None),
        ),
        (
            "silence: everybody gone this week",
            {
                let mut e = Events::new();
                e.seats("acme", 0, 10).active("acme", 4, D - 8);
                e
            },
            m(Some(10), 0, 0, 4, Some(0.0), Some(0.0), Some(40.0), Some(-100.0)),
        ),
    ];
    let mut cases = cases;
    // SPEC v2: "e" (D-28) is the MAU of D-28: 1 -> 4 users
    cases[1].2.mau_change_pct = Some(300.0);
    for (name, events, expect) in cases {
        let got = events.eval("acme", D).health.metrics;
        assert_eq!(got, expect, "case: {name}");
    }
    // the helper is the single entry point for ad-hoc checks too
    let mut e = Events::new();
    e.seats("acme", 0, 1).usage("acme", "a", D);
    check(&e, m(Some(1), 1, 1, 1, Some(14.29), Some(100.0), Some(100.0), None));
}

#[test]
fn days_are_utc_days() {
    // 01:30 at +02:00 on day D+1 is 23:30 UTC on day D.
    let json = format!(
        r#"{{"type":"usage","event_id":"x","account_id":"acme","user_id":"a","event":"e","timestamp":"{}T01:30:00+02:00"}}"#,
        d(D + 1)
    );
    let ev = pulse_core::parse_event(json.as_bytes()).expect("valid");
    let mut e = Engine::new(ScoringConfig::default());
    e.apply(&ev);
    let got = e.evaluate("acme", d(D)).expect("exists").health.metrics;
    assert_eq!((got.dau, got.wau), (1, 1));
}

#[test]
fn unknown_account_or_before_first_event() {
    let mut e = Events::new();
    e.usage("acme", "a", D);
    let engine = e.engine();
    assert!(engine.evaluate("nobody", d(D)).is_none());
    assert!(engine.evaluate("acme", d(D - 1)).is_none());
    assert!(engine.evaluate("acme", d(D)).is_some());
    // silence is a signal: later days still evaluate
    let later = engine.evaluate("acme", d(D + 10)).expect("exists").health.metrics;
    assert_eq!((later.dau, later.wau, later.mau), (0, 0, 1));
}

#[test]
fn horizon() {
    use pulse_core::ApplyOutcome::*;
    let mut e = Events::new();
    // horizon 60; activity is kept 56 days longer (the MAU-28-days-earlier windows of
    // the horizon's days reach back that far), so only day 100 - 117 is beyond it
    e.usage("acme", "a", 100)
        .usage("acme", "b", 40)
        .usage("acme", "c", 100 - 116)
        .usage("acme", "d", 100 - 117)
        .usage("acme", "a", 100);
    let mut engine = Engine::new(ScoringConfig::default());
    let got: Vec<_> = e.list.iter().map(|ev| engine.apply(ev)).collect();
    assert_eq!(got, [Applied, Applied, Applied, BeyondHorizon, Duplicate]);
    assert_eq!(engine.tracked_users(), 3);
}

#[test]
fn attributes_as_of_a_day() {
    let mut e = Events::new();
    e.account("acme", 1, r#","name":"Acme","csm":"ann","arr":1200.5,"licensed_seats":5"#)
        .account("acme", 3, r#","name":"Acme Inc","segment":"smb""#)
        .account("acme", D + 1, r#","csm":"bob""#);
    let engine = e.engine();
    let a = engine.attributes("acme", d(D)).expect("exists");
    assert_eq!(
        (a.name.as_deref(), a.csm.as_deref(), a.arr, a.licensed_seats, a.segment.as_deref()),
        (Some("Acme Inc"), Some("ann"), Some(1200.5), Some(5), Some("smb"))
    );
    assert_eq!(engine.attributes("acme", d(2)).expect("exists").name.as_deref(), Some("Acme"));
    assert!(engine.attributes("acme", d(0)).is_none());
    assert!(engine.attributes("nobody", d(D)).is_none());
}
