//! SPEC v3 §10, data quality: each measure's and dimension's `as_of` and `state`,
//! `coverage` over the applicable ones, `data_status`, never green on insufficient
//! data, what a stalled source does to a result, and that a customer going quiet is a
//! signal, not missing data. D = day 200 (2027-05-20); limits are 90 days by default.

mod common;
use common::*;
use proptest::prelude::*;
use pulse_core::config::Measure;
use pulse_core::event::UsageProfile;
use pulse_core::quality::{self, InputState};
use pulse_core::readiness::Source;
use pulse_core::{AlertRule, AlertState, AlertTracker, Color, DataStatus, Evaluation, ScoringConfig, Verdict};

const D: i64 = 200;

use InputState::{Missing, Ok as Fine, Stale};
use Measure::{Adoption as A, Breadth as B, Sentiment as Se, Stickiness as St, Trend as T};

/// A weekly account: seats 10 set by the account event of day `seats` (none: never
/// set), 10 users active every day of D-27..D, a stakeholder assessment of 8 on day
/// `sentiment` (none: unassessed). With both recent every health measure is `ok`.
fn acct(seats: Option<i64>, sentiment: Option<i64>) -> Events {
    let mut e = Events::new();
    if let Some(day) = seats {
        e.seats("acme", day, 10);
    }
    e.active_days("acme", 10, D - 27..=D);
    if let Some(day) = sentiment {
        e.assess("acme", day, "stakeholder", 8.0);
    }
    e
}

fn with(mut e: Events, f: impl FnOnce(&mut Events)) -> Events {
    f(&mut e);
    e
}

struct Health {
    coverage: f64,
    status: DataStatus,
    color: Color,
    /// (measure, state) of the measures with a value, in order.
    states: &'static [(Measure, InputState)],
}

fn check_health(name: &str, cfg: &ScoringConfig, e: &Events, want: Health) -> Evaluation {
    let ev = e.eval_with(cfg, "acme", D);
    let h = &ev.health;
    let states: Vec<(Measure, InputState)> = h.measures.iter().map(|m| (m.name, m.state)).collect();
    assert_eq!(
        (h.coverage, h.data_status, h.color, states.as_slice()),
        (want.coverage, want.status, want.color, want.states),
        "case: {name}: score {} reasons {:#?}",
        h.score,
        h.reasons
    );
    // the line explains its own coverage
    assert_eq!(quality::health_coverage(h), h.coverage, "case: {name}");
    ev
}

const ALL_OK: &[(Measure, InputState)] = &[(A, Fine), (T, Fine), (St, Fine), (Se, Fine)];

#[test]
fn health_states_coverage_and_status() {
    let default = ScoringConfig::default();
    let weights = |w: &str| cfg(&format!("[health.weights]\n{w}"));
    let sentiment_30 = cfg("[quality.measures]\nsentiment = 30");
    let all_30 = cfg("[quality]\nstale_after_days = 30");
    let with_core = cfg("core_features = [\"a\", \"b\"]");
    let periodic = |sentiment: Option<i64>| {
        let mut e = Events::new();
        e.account("acme", D - 10, r#","licensed_seats":10,"usage_profile":"periodic""#).active_days(
            "acme",
            10,
            D - 55..=D,
        );
        if let Some(day) = sentiment {
            e.assess("acme", day, "stakeholder", 8.0);
        }
        e
    };
    let stakeholder_event = r#","role":"champion","person":"ann","status":"active","sentiment":"positive""#;
    // adoption 40, trend 25, stickiness 10, sentiment 10 apply by default (85); breadth
    // does not without core features.
    let cases: Vec<(&str, ScoringConfig, Events, Health)> = vec![
        (
            "fully covered",
            default.clone(),
            acct(Some(D - 10), Some(D - 5)),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "sentiment unassessed: missing, 75 of 85",
            default.clone(),
            acct(Some(D - 10), None),
            Health {
                coverage: 0.8824,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (St, Fine)],
            },
        ),
        (
            "breadth applies with core features (none used: a value of 0, ok), 90 of 100",
            with_core,
            acct(Some(D - 10), None),
            Health {
                coverage: 0.9,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (B, Fine), (St, Fine)],
            },
        ),
        (
            "stickiness does not apply to periodic: 65 of 75",
            default.clone(),
            periodic(None),
            Health {
                coverage: 0.8667,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine)],
            },
        ),
        (
            "periodic fully covered without stickiness",
            default.clone(),
            periodic(Some(D - 5)),
            Health {
                coverage: 1.0,
                status: DataStatus::Ok,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (Se, Fine)],
            },
        ),
        (
            "a weight of 0 does not apply (sentiment unassessed)",
            weights("adoption = 50\ntrend = 30\nstickiness = 20\nbreadth = 0\nsentiment = 0"),
            acct(Some(D - 10), None),
            Health {
                coverage: 1.0,
                status: DataStatus::Ok,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (St, Fine)],
            },
        ),
        (
            "account attributes at the limit (D-90)",
            default.clone(),
            acct(Some(D - 90), Some(D - 5)),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "account attributes past the limit (D-91): adoption stale, 45 of 85, never green",
            default.clone(),
            acct(Some(D - 91), Some(D - 5)),
            Health {
                coverage: 0.5294,
                status: DataStatus::Insufficient,
                color: Color::Yellow,
                states: &[(A, Stale), (T, Fine), (St, Fine), (Se, Fine)],
            },
        ),
        (
            "an account event of any content refreshes the attributes",
            default.clone(),
            with(acct(Some(D - 200), Some(D - 5)), |e| {
                e.account("acme", D - 30, r#","csm":"Dana""#);
            }),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "sentiment assessment at the limit",
            default.clone(),
            acct(Some(D - 10), Some(D - 90)),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "sentiment assessment past the limit: 75 of 85",
            default.clone(),
            acct(Some(D - 10), Some(D - 91)),
            Health {
                coverage: 0.8824,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (St, Fine), (Se, Stale)],
            },
        ),
        (
            "sentiment from stakeholder events past the limit",
            default.clone(),
            with(acct(Some(D - 10), None), |e| {
                e.raw("stakeholder", "acme", D - 91, stakeholder_event);
            }),
            Health {
                coverage: 0.8824,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (St, Fine), (Se, Stale)],
            },
        ),
        (
            "sentiment from stakeholder events at the limit",
            default.clone(),
            with(acct(Some(D - 10), None), |e| {
                e.raw("stakeholder", "acme", D - 90, stakeholder_event);
            }),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "a usage assessment overriding telemetry, past the limit",
            default.clone(),
            with(acct(None, Some(D - 5)), |e| {
                e.assess("acme", D - 91, "usage", 9.0);
            }),
            Health {
                coverage: 0.5294,
                status: DataStatus::Insufficient,
                color: Color::Yellow,
                states: &[(A, Stale), (T, Fine), (St, Fine), (Se, Fine)],
            },
        ),
        (
            "a usage assessment overriding telemetry, at the limit",
            default.clone(),
            with(acct(None, Some(D - 5)), |e| {
                e.assess("acme", D - 90, "usage", 9.0);
            }),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "seats unknown: adoption missing, 45 of 85",
            default.clone(),
            acct(None, Some(D - 5)),
            Health {
                coverage: 0.5294,
                status: DataStatus::Insufficient,
                color: Color::Yellow,
                states: &[(T, Fine), (St, Fine), (Se, Fine)],
            },
        ),
        (
            "a limit per measure: sentiment 30, at D-30",
            sentiment_30.clone(),
            acct(Some(D - 10), Some(D - 30)),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "a limit per measure: sentiment 30, at D-31",
            sentiment_30.clone(),
            acct(Some(D - 10), Some(D - 31)),
            Health {
                coverage: 0.8824,
                status: DataStatus::Partial,
                color: Color::Green,
                states: &[(A, Fine), (T, Fine), (St, Fine), (Se, Stale)],
            },
        ),
        (
            "a limit per measure leaves the others at the default",
            sentiment_30.clone(),
            acct(Some(D - 60), Some(D - 5)),
            Health { coverage: 1.0, status: DataStatus::Ok, color: Color::Green, states: ALL_OK },
        ),
        (
            "the default limit set to 30 applies to adoption",
            all_30,
            acct(Some(D - 31), Some(D - 5)),
            Health {
                coverage: 0.5294,
                status: DataStatus::Insufficient,
                color: Color::Yellow,
                states: &[(A, Stale), (T, Fine), (St, Fine), (Se, Fine)],
            },
        ),
        (
            "coverage exactly 0.6 is partial, and may be green",
            weights("adoption = 60\nsentiment = 40\ntrend = 0\nbreadth = 0\nstickiness = 0"),
            acct(Some(D - 10), None),
            Health { coverage: 0.6, status: DataStatus::Partial, color: Color::Green, states: &[(A, Fine)] },
        ),
        (
            "coverage 0.59 is insufficient: yellow at best",
            weights("adoption = 59\nsentiment = 41\ntrend = 0\nbreadth = 0\nstickiness = 0"),
            acct(Some(D - 10), None),
            Health { coverage: 0.59, status: DataStatus::Insufficient, color: Color::Yellow, states: &[(A, Fine)] },
        ),
        (
            "insufficient and red stays red",
            default.clone(),
            {
                // seats unknown; 10 users a fortnight ago, one now: trend 0, stickiness low
                let mut e = Events::new();
                e.active("acme", 10, D - 13).active("acme", 1, D).assess("acme", D - 5, "stakeholder", 2.0);
                e
            },
            Health {
                coverage: 0.5294,
                status: DataStatus::Insufficient,
                color: Color::Red,
                states: &[(T, Fine), (St, Fine), (Se, Fine)],
            },
        ),
    ];
    for (name, c, e, want) in cases {
        check_health(name, &c, &e, want);
    }
}

#[test]
fn insufficient_keeps_the_score_and_says_why() {
    let c = ScoringConfig::default();
    let fresh = acct(Some(D - 10), Some(D - 5)).eval_with(&c, "acme", D).health;
    assert_eq!((fresh.color, fresh.data_status), (Color::Green, DataStatus::Ok));
    assert!(fresh.reasons.is_empty(), "{:?}", fresh.reasons);

    // (events, the reason)
    let cases = [
        (
            acct(Some(D - 91), Some(D - 5)),
            format!(
                "data insufficient: coverage 0.5294 (account attributes last updated {} (over 90 days))",
                d(D - 91)
            ),
        ),
        (
            with(acct(None, Some(D - 5)), |e| {
                e.assess("acme", D - 91, "usage", 10.0);
            }),
            format!("data insufficient: coverage 0.5294 (usage assessment from {} (over 90 days))", d(D - 91)),
        ),
        (
            // the first day of the account: its first usage
            acct(None, Some(D - 5)),
            format!("data insufficient: coverage 0.5294 (seats unknown since {})", d(D - 27)),
        ),
        (
            // seats set to 0 after being known: since that day
            with(acct(Some(D - 60), Some(D - 5)), |e| {
                e.seats("acme", D - 20, 0).seats("acme", D - 12, 0);
            }),
            format!("data insufficient: coverage 0.5294 (seats unknown since {})", d(D - 20)),
        ),
        (
            acct(None, None),
            format!("data insufficient: coverage 0.4118 (seats unknown since {}, sentiment unassessed)", d(D - 27)),
        ),
        (
            acct(Some(D - 91), Some(D - 91)),
            format!(
                "data insufficient: coverage 0.4118 (account attributes last updated {} (over 90 days), \
                 sentiment from {} (over 90 days))",
                d(D - 91),
                d(D - 91)
            ),
        ),
    ];
    for (e, reason) in cases {
        let h = e.eval_with(&c, "acme", D).health;
        assert_eq!(h.data_status, DataStatus::Insufficient, "{reason}");
        assert_eq!(h.reasons.last(), Some(&reason), "{:#?}", h.reasons);
    }
    // the score is the one computed from the same values with fresh inputs
    let stale = acct(Some(D - 91), Some(D - 5)).eval_with(&c, "acme", D).health;
    assert_eq!((stale.score, stale.color), (fresh.score, Color::Yellow));
    assert_eq!(
        stale.measures.iter().map(|m| m.score).collect::<Vec<_>>(),
        fresh.measures.iter().map(|m| m.score).collect::<Vec<_>>()
    );
}

#[test]
fn as_of_is_the_newest_input_behind_each_measure() {
    let mut e = acct(Some(D - 10), Some(D - 5));
    e.account("acme", D - 3, r#","csm":"Dana""#);
    let h = e.eval("acme", D).health;
    let got: Vec<(Measure, Option<chrono::NaiveDate>)> = h.measures.iter().map(|m| (m.name, m.as_of)).collect();
    assert_eq!(got, [(A, Some(d(D - 3))), (T, Some(d(D))), (St, Some(d(D))), (Se, Some(d(D - 5)))]);

    // usage-fed: the newest day with usage among the days each reads
    let mut e = Events::new();
    e.seats("acme", D - 30, 10).active_days("acme", 5, D - 40..=D - 9);
    let h = e.eval("acme", D).health;
    let got: Vec<(Measure, Option<chrono::NaiveDate>)> = h.measures.iter().map(|m| (m.name, m.as_of)).collect();
    assert_eq!(got, [(A, Some(d(D - 30))), (T, Some(d(D - 9))), (St, Some(d(D - 9)))]);
    // the last usage is older than the 14 days trend reads: trend has no comparison data
    let mut e = Events::new();
    e.seats("acme", D - 30, 10).active_days("acme", 5, D - 40..=D - 15);
    let h = e.eval("acme", D).health;
    assert_eq!(h.missing_measures, [T, B, Se]);
    assert_eq!(h.measures.iter().find(|m| m.name == St).and_then(|m| m.as_of), Some(d(D - 15)));
}

/// Readiness: (coverage, status) and each dimension's state; the verdict keeps §3.
#[test]
fn readiness_states_coverage_and_status() {
    const DIMS: [&str; 5] = ["technical", "knowledge", "usage", "value", "stakeholder"];
    // seats fresh (usage computed from telemetry) and every other dimension assessed
    // on D-5 except those listed.
    let but = |skip: &[&str]| {
        let mut e = acct(Some(D - 10), None);
        for dim in ["technical", "knowledge", "value", "stakeholder"] {
            if !skip.contains(&dim) {
                e.assess("acme", D - 5, dim, 8.0);
            }
        }
        e
    };
    let milestone = r#","item":"sso","status":"done""#;
    let training = r#","user_id":"u1","module":"admin","score_pct":90"#;
    let kpi = r#","kpi":"days","baseline":6,"target":3,"value":3,"confirmed":true"#;
    let stakeholder = r#","role":"champion","person":"ann","status":"active","sentiment":"positive""#;
    let default = ScoringConfig::default();
    let technical_180 = cfg("[quality.dimensions]\ntechnical = 180");
    let no_stakeholder =
        cfg("[readiness.weights]\ntechnical = 30\nknowledge = 20\nusage = 20\nvalue = 30\nstakeholder = 0");
    // (name, config, events, coverage, status, states in DIMS order); the verdict and
    // total are checked equal to the fresh account's where the scores are the same.
    type Case<'a> = (&'a str, &'a ScoringConfig, Events, f64, DataStatus, [InputState; 5]);
    let cases: Vec<Case> = vec![
        ("fresh", &default, but(&[]), 1.0, DataStatus::Ok, [Fine; 5]),
        (
            "technical assessment past the limit",
            &default,
            with(but(&["technical"]), |e| {
                e.assess("acme", D - 91, "technical", 8.0);
            }),
            0.8,
            DataStatus::Partial,
            [Stale, Fine, Fine, Fine, Fine],
        ),
        (
            "milestones at the limit",
            &default,
            with(but(&["technical"]), |e| {
                e.raw("milestone", "acme", D - 90, milestone);
            }),
            1.0,
            DataStatus::Ok,
            [Fine; 5],
        ),
        (
            "milestones past the limit",
            &default,
            with(but(&["technical"]), |e| {
                e.raw("milestone", "acme", D - 91, milestone);
            }),
            0.8,
            DataStatus::Partial,
            [Stale, Fine, Fine, Fine, Fine],
        ),
        (
            "training past the limit",
            &default,
            with(but(&["knowledge"]), |e| {
                e.raw("training", "acme", D - 91, training);
            }),
            0.8,
            DataStatus::Partial,
            [Fine, Stale, Fine, Fine, Fine],
        ),
        (
            "a newer training event refreshes the knowledge evidence",
            &default,
            with(but(&["knowledge"]), |e| {
                e.raw("training", "acme", D - 91, training).raw(
                    "training",
                    "acme",
                    D - 40,
                    r#","user_id":"u2","module":"admin""#,
                );
            }),
            1.0,
            DataStatus::Ok,
            [Fine; 5],
        ),
        (
            "KPIs past the limit",
            &default,
            with(but(&["value"]), |e| {
                e.raw("kpi", "acme", D - 91, kpi);
            }),
            0.7,
            DataStatus::Partial,
            [Fine, Fine, Fine, Stale, Fine],
        ),
        (
            "stakeholder events past the limit",
            &default,
            with(but(&["stakeholder"]), |e| {
                e.raw("stakeholder", "acme", D - 91, stakeholder);
            }),
            0.9,
            DataStatus::Partial,
            [Fine, Fine, Fine, Fine, Stale],
        ),
        (
            "usage computed with account attributes past the limit",
            &default,
            {
                let mut e = acct(Some(D - 91), None);
                e.assess4("acme", D - 5, [8.0; 4]);
                e
            },
            0.8,
            DataStatus::Partial,
            [Fine, Fine, Stale, Fine, Fine],
        ),
        (
            "technical unassessed: missing",
            &default,
            but(&["technical"]),
            0.8,
            DataStatus::Partial,
            [Missing, Fine, Fine, Fine, Fine],
        ),
        (
            "three stale of 70: insufficient",
            &default,
            with(but(&["technical", "knowledge", "value"]), |e| {
                e.assess("acme", D - 91, "technical", 8.0).assess("acme", D - 100, "knowledge", 8.0).assess(
                    "acme",
                    D - 150,
                    "value",
                    8.0,
                );
            }),
            0.3,
            DataStatus::Insufficient,
            [Stale, Stale, Fine, Stale, Fine],
        ),
        (
            "a weight of 0 does not apply",
            &no_stakeholder,
            but(&["stakeholder"]),
            1.0,
            DataStatus::Ok,
            [Fine, Fine, Fine, Fine, Missing],
        ),
        (
            "a limit per dimension",
            &technical_180,
            with(but(&["technical"]), |e| {
                e.assess("acme", D - 180, "technical", 8.0);
            }),
            1.0,
            DataStatus::Ok,
            [Fine; 5],
        ),
    ];
    let fresh = but(&[]).eval("acme", D).readiness;
    assert_eq!(fresh.verdict, Verdict::Ready);
    for (name, c, e, coverage, status, states) in cases {
        let r = e.eval_with(c, "acme", D).readiness;
        let got = DIMS.map(|x| r.dimensions.get(dim(x)).state);
        assert_eq!((r.coverage, r.data_status, got), (coverage, status, states), "case: {name}");
        assert_eq!(quality::readiness_coverage(&r), r.coverage, "case: {name}");
        for x in DIMS {
            let dr = r.dimensions.get(dim(x));
            assert_eq!(dr.as_of.is_none(), dr.state == Missing, "case: {name}: {x} as_of {:?}", dr.as_of);
        }
        let scores = DIMS.map(|x| r.dimensions.get(dim(x)).score);
        if scores == DIMS.map(|x| fresh.dimensions.get(dim(x)).score) {
            // the same scores as the fresh account: data fields only inform
            assert_eq!((r.total, r.verdict), (fresh.total, fresh.verdict), "case: {name}");
        }
    }
}

fn dim(name: &str) -> pulse_core::event::Dimension {
    pulse_core::event::Dimension::ALL.into_iter().find(|d| d.as_str() == name).expect("dimension")
}

/// SPEC v3 §10: an account that stops sending usage while others flow is a real
/// signal: §4 turns it red, and its data is `ok` (every input it has is current;
/// usage measures are never stale from age in the core).
#[test]
fn real_silence_is_red_with_ok_data() {
    let mut e = Events::new();
    for a in ["quiet", "busy"] {
        e.seats(a, D - 20, 10).assess(a, D - 5, "stakeholder", 8.0);
    }
    e.active_days("quiet", 10, D - 40..=D - 10).active_days("busy", 10, D - 40..=D);
    let engine = e.engine();
    let quiet = engine.evaluate("quiet", d(D)).expect("quiet").health;
    let busy = engine.evaluate("busy", d(D)).expect("busy").health;
    assert_eq!((busy.color, busy.data_status, busy.coverage), (Color::Green, DataStatus::Ok, 1.0));
    assert_eq!((quiet.color, quiet.data_status, quiet.coverage), (Color::Red, DataStatus::Ok, 1.0), "{quiet:#?}");
    assert!(quiet.measures.iter().all(|m| m.state == Fine), "{:#?}", quiet.measures);
    // the silence shows in the usage measures' age, not in their state
    let trend = quiet.measures.iter().find(|m| m.name == T).expect("trend");
    assert_eq!((trend.as_of, trend.score), (Some(d(D - 10)), 0.0));
    assert!(quiet.reasons.iter().all(|r| !r.starts_with("data insufficient")), "{:?}", quiet.reasons);
    // and it went red from green: the alert reads the same color as the result
    let mut tracker = AlertTracker::new(engine.config());
    let mut dropped = Vec::new();
    for day in D - 14..=D {
        let ev = engine.evaluate("quiet", d(day)).expect("exists");
        for t in tracker.update(&ev) {
            if t.rule == AlertRule::HealthDropped && t.state == AlertState::Opened {
                dropped.push((t.as_of, t.details["color"].clone(), ev.health.color));
            }
        }
    }
    assert!(!dropped.is_empty(), "health_dropped opened");
    for (day, alert_color, result_color) in dropped {
        assert_eq!(alert_color, serde_json::to_value(result_color).expect("color"), "{day}");
    }
}

/// The alerts read the final color: a green score on insufficient data is yellow, and
/// `health_dropped` opens with that color, on the day the data turned insufficient.
#[test]
fn alerts_read_the_capped_color() {
    // the only account event on D-91: adoption is current on D-1 (90 days) and stale on D
    let e = acct(Some(D - 91), Some(D - 20));
    let engine = e.engine();
    let mut tracker = AlertTracker::new(engine.config());
    let mut opened = Vec::new();
    for day in D - 3..=D {
        let ev = engine.evaluate("acme", d(day)).expect("exists");
        for t in tracker.update(&ev) {
            if t.rule == AlertRule::HealthDropped && t.state == AlertState::Opened {
                opened.push((t.as_of, t.details.clone(), ev.health.clone()));
            }
        }
    }
    assert_eq!(opened.len(), 1, "{opened:#?}");
    let (day, details, h) = &opened[0];
    assert_eq!(*day, d(D));
    assert_eq!(
        (h.color, h.previous_color, h.data_status),
        (Color::Yellow, Some(Color::Green), DataStatus::Insufficient)
    );
    assert!(h.score >= 70.0, "the score stays green: {}", h.score);
    assert_eq!(details["color"], "yellow");
    assert_eq!(details["previous_color"], "green");
}

#[test]
fn a_stalled_usage_source_marks_the_usage_fed_inputs() {
    let c = ScoringConfig::default();
    let fresh = || {
        let mut e = acct(Some(D - 10), Some(D - 5));
        e.assess4("acme", D - 5, [8.0; 4]);
        e.eval_with(&c, "acme", D)
    };
    let before = fresh();
    assert_eq!((before.health.data_status, before.readiness.data_status), (DataStatus::Ok, DataStatus::Ok));
    // (last color before the stall, expected color)
    for (last, color) in [(Some(Color::Red), Color::Red), (None, before.health.color)] {
        let mut ev = fresh();
        quality::mark_source_stalled(&mut ev.health, &mut ev.readiness, last);
        let h = &ev.health;
        let states: Vec<(Measure, InputState)> = h.measures.iter().map(|m| (m.name, m.state)).collect();
        assert_eq!(states, [(A, Stale), (T, Stale), (St, Stale), (Se, Fine)]);
        // only sentiment (10 of 85) rests on current data
        assert_eq!((h.coverage, h.data_status, h.color), (0.1176, DataStatus::Stale, color));
        assert_eq!((h.score, &h.reasons), (before.health.score, &before.health.reasons), "scored as usual");
        let r = &ev.readiness;
        assert_eq!(r.dimensions.usage.state, Stale);
        assert_eq!((r.coverage, r.data_status), (0.8, DataStatus::Stale));
        assert_eq!((r.total, r.verdict), (before.readiness.total, before.readiness.verdict));
        // idempotent
        let again = ev.clone();
        quality::mark_source_stalled(&mut ev.health, &mut ev.readiness, last);
        assert_eq!(ev, again);
    }
    // a usage assessment overriding telemetry does not rest on usage
    let mut e = acct(None, Some(D - 5));
    e.assess("acme", D - 5, "usage", 9.0);
    let mut ev = e.eval_with(&c, "acme", D);
    assert_eq!(ev.readiness.dimensions.usage.source, Source::Override);
    quality::mark_source_stalled(&mut ev.health, &mut ev.readiness, None);
    let states: Vec<(Measure, InputState)> = ev.health.measures.iter().map(|m| (m.name, m.state)).collect();
    assert_eq!(states, [(A, Fine), (T, Stale), (St, Stale), (Se, Fine)]);
    assert_eq!(ev.health.coverage, 0.5882);
    assert_eq!(ev.readiness.dimensions.usage.state, Fine);
    // a stalled CRM: every CRM-fed input
    let mut ev = fresh();
    quality::mark_stalled(quality::Feed::Crm, &mut ev.health, &mut ev.readiness, None);
    let states: Vec<(Measure, InputState)> = ev.health.measures.iter().map(|m| (m.name, m.state)).collect();
    assert_eq!(states, [(A, Stale), (T, Fine), (St, Fine), (Se, Stale)]);
    assert_eq!((ev.health.coverage, ev.readiness.coverage), (0.4118, 0.0));
}

#[test]
fn results_round_trip_with_the_quality_fields() {
    let ev = acct(Some(D - 91), None).eval("acme", D);
    let json = serde_json::to_value(&ev).expect("serializes");
    let h = &json["health"];
    assert_eq!(h["data_status"], "insufficient");
    assert_eq!(h["coverage"], 0.4118);
    assert_eq!(h["applicable_weight"], 85.0);
    assert_eq!(h["measures"][0]["state"], "stale");
    assert_eq!(h["measures"][0]["as_of"], d(D - 91).to_string());
    assert_eq!(h["measures"][0]["configured_weight"], 40.0);
    assert_eq!(json["readiness"]["dimensions"]["technical"]["state"], "missing");
    assert_eq!(json["readiness"]["dimensions"]["technical"]["as_of"], serde_json::Value::Null);
    let back: Evaluation = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, ev);
}

// ---------------------------------------------------------------------------------
// Property: over random configs and random sets of missing and stale inputs, coverage
// lies in 0..1, is what the measures' states and configured weights say, and below
// 0.6 the result is insufficient and never green.

#[derive(Debug, Clone)]
struct Case {
    /// Health weights in tens, summing to 10 (often some 0).
    weights: [u32; 5],
    core_features: bool,
    limit: u32,
    profile: UsageProfile,
    /// Age in days of the account event setting seats (none: never set).
    seats_age: Option<i64>,
    sentiment_age: Option<i64>,
    usage_override_age: Option<i64>,
    /// Users active per day over D-55..D (index 0 = D).
    users: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    let age = || prop::option::of(0i64..200);
    let weights = prop::array::uniform4(0u32..=10).prop_map(|mut cuts| {
        cuts.sort_unstable();
        [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], cuts[3] - cuts[2], 10 - cuts[3]]
    });
    (
        weights,
        any::<bool>(),
        prop_oneof![Just(30u32), Just(90), Just(150)],
        prop_oneof![Just(UsageProfile::Daily), Just(UsageProfile::Weekly), Just(UsageProfile::Periodic)],
        age(),
        age(),
        prop::option::weighted(0.3, 0i64..200),
        prop::collection::vec(prop_oneof![3 => Just(0u8), 2 => 1u8..6], 56),
    )
        .prop_map(
            |(weights, core_features, limit, profile, seats_age, sentiment_age, usage_override_age, users)| Case {
                weights,
                core_features,
                limit,
                profile,
                seats_age,
                sentiment_age,
                usage_override_age,
                users,
            },
        )
}

fn config_of(c: &Case) -> ScoringConfig {
    let mut cfg = ScoringConfig::default();
    cfg.health.weights =
        Measure::ALL.iter().zip(c.weights).map(|(m, w)| (m.as_str().to_owned(), f64::from(w * 10))).collect();
    if c.core_features {
        cfg.core_features = vec!["a".into(), "b".into()];
    }
    cfg.quality.stale_after_days = c.limit;
    cfg
}

fn events_of(c: &Case) -> Events {
    let mut e = Events::new();
    let profile = format!(r#","usage_profile":"{}""#, c.profile.as_str());
    match c.seats_age {
        Some(age) => e.account("acme", D - age, &format!(r#"{profile},"licensed_seats":10"#)),
        None => e.account("acme", D - 199, &profile),
    };
    for (k, n) in c.users.iter().enumerate() {
        for u in 0..*n {
            e.feature("acme", &format!("u{u}"), D - k as i64, if u % 2 == 0 { "a" } else { "z" });
        }
    }
    if let Some(age) = c.sentiment_age {
        e.assess("acme", D - age, "stakeholder", 9.0);
    }
    if let Some(age) = c.usage_override_age {
        e.assess("acme", D - age, "usage", 9.0);
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn coverage_below_the_line_is_never_green(c in case()) {
        let cfg = config_of(&c);
        prop_assert!(cfg.validate().is_ok(), "{:?}", cfg.validate());
        let ev = events_of(&c).eval_with(&cfg, "acme", D);
        let h = &ev.health;
        prop_assert!((0.0..=1.0).contains(&h.coverage), "coverage {}", h.coverage);
        prop_assert!((0.0..=1.0).contains(&ev.readiness.coverage), "readiness coverage {}", ev.readiness.coverage);
        // applicability, decided here from the config alone
        let weight = |m: Measure| cfg.health.weights[m.as_str()];
        let applies = |m: Measure| {
            let not_applicable = match m {
                B => !c.core_features,
                St => c.profile == UsageProfile::Periodic,
                _ => false,
            };
            weight(m) > 0.0 && !not_applicable
        };
        let applicable: f64 = Measure::ALL.iter().filter(|m| applies(**m)).map(|m| weight(*m)).sum();
        let ok: f64 = h.measures.iter().filter(|m| m.state == Fine).map(|m| weight(m.name)).sum();
        let want = if applicable > 0.0 { (ok / applicable * 1e4).round() / 1e4 } else { 0.0 };
        prop_assert!((h.coverage - want).abs() < 1e-9, "coverage {} want {want}", h.coverage);
        // only CRM-fed measures go stale in the core
        for m in &h.measures {
            prop_assert!(m.state == Fine || (m.state == Stale && quality::crm_fed(m.name)), "{m:?}");
        }
        let all_ok = h.measures.iter().all(|m| m.state == Fine)
            && Measure::ALL.iter().filter(|m| applies(**m)).all(|m| h.measures.iter().any(|x| x.name == *m));
        let status = if h.coverage < 0.6 {
            DataStatus::Insufficient
        } else if all_ok {
            DataStatus::Ok
        } else {
            DataStatus::Partial
        };
        prop_assert_eq!(h.data_status, status);
        let computed = if h.score >= 70.0 { Color::Green } else if h.score >= 40.0 { Color::Yellow } else { Color::Red };
        if h.coverage < 0.6 {
            prop_assert!(h.color != Color::Green, "insufficient and green: {h:#?}");
            prop_assert_eq!(h.color, computed.min(Color::Yellow));
            prop_assert!(h.reasons.last().is_some_and(|r| r.starts_with("data insufficient: coverage ")));
        } else {
            prop_assert_eq!(h.color, computed);
        }
    }
}
