//! SPEC v3 §8: former customers. An account is former from the later of a `churned`
//! renewal outcome's `renewal_on` and that event's own day, or from the day an account
//! event sets the stage `churned`, until a later account event sets another stage. Its
//! results are still computed and carry `former`; it opens no alerts, and its open
//! alerts resolve that day with reason `churned`.

use chrono::{NaiveDate, TimeZone, Utc};
use pulse_core::alerts::TransitionReason;
use pulse_core::{parse_event, AlertRule, AlertState, AlertTracker, Engine, Evaluation, ScoringConfig};

fn date(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + chrono::Duration::days(day)
}

fn ts(day: i64) -> String {
    Utc.from_utc_datetime(&date(day).and_hms_opt(12, 0, 0).expect("time")).to_rfc3339()
}

/// Seats 10; 8 users a day for 40 days, then one (low engagement from there).
fn history() -> Vec<String> {
    let mut lines = vec![format!(
        r#"{{"type":"account","event_id":"a0","account_id":"acme","timestamp":"{}","licensed_seats":10,"lifecycle_stage":"adoption"}}"#,
        ts(0)
    )];
    for d in 0..120 {
        let users = if d < 40 { 8 } else { 1 };
        for u in 0..users {
            lines.push(format!(
                r#"{{"type":"usage","event_id":"u{d}-{u}","account_id":"acme","user_id":"u{u}","event":"x","timestamp":"{}"}}"#,
                ts(d)
            ));
        }
    }
    lines
}

fn run(lines: &[String], to: i64) -> (Vec<Evaluation>, Vec<pulse_core::AlertTransition>) {
    let mut e = Engine::new(ScoringConfig::default());
    for l in lines {
        e.apply(&parse_event(l.as_bytes()).expect("valid"));
    }
    let evs: Vec<Evaluation> = (0..=to).filter_map(|d| e.evaluate("acme", date(d))).collect();
    let mut tracker = AlertTracker::new(&ScoringConfig::default());
    let transitions = tracker.update_many(&evs);
    (evs, transitions)
}

#[test]
fn a_churned_outcome_makes_the_account_former_from_its_renewal_date() {
    let mut lines = history();
    // Decided on day 80 for the contract date of day 90.
    lines.push(format!(
        r#"{{"type":"renewal","event_id":"r1","account_id":"acme","timestamp":"{}","outcome":"churned","renewal_on":"{}","arr_before":1000,"arr_after":0}}"#,
        ts(80),
        date(90)
    ));
    let (evs, transitions) = run(&lines, 119);
    for ev in &evs {
        let d = (ev.health.as_of - date(0)).num_days();
        assert_eq!(ev.health.former, d >= 90, "health former on day {d}");
        assert_eq!(ev.readiness.former, d >= 90, "readiness former on day {d}");
    }
    let low: Vec<_> = transitions.iter().filter(|t| t.rule == AlertRule::LowEngagement).collect();
    assert!(low.first().is_some_and(|t| t.state == AlertState::Opened && t.as_of < date(90)), "{low:?}");
    let last = low.last().expect("transitions");
    assert_eq!(
        (last.state, last.as_of, last.reason),
        (AlertState::Resolved, date(90), Some(TransitionReason::Churned))
    );
    assert!(
        transitions.iter().all(|t| t.as_of <= date(90)),
        "nothing opens after the account is former: {:?}",
        transitions.iter().filter(|t| t.as_of > date(90)).collect::<Vec<_>>()
    );
    // Every resolve that is not the churn has no reason.
    assert!(transitions.iter().filter(|t| t.as_of < date(90)).all(|t| t.reason.is_none()));
}

#[test]
fn a_past_renewal_date_makes_it_former_from_the_outcome_event_not_before() {
    let mut lines = history();
    // Recorded on day 70 for a contract date of day 50: former from day 70 (a result
    // never depends on an event after its day).
    lines.push(format!(
        r#"{{"type":"renewal","event_id":"r1","account_id":"acme","timestamp":"{}","outcome":"churned","renewal_on":"{}","arr_before":1000,"arr_after":0}}"#,
        ts(70),
        date(50)
    ));
    let (evs, _) = run(&lines, 100);
    let former: Vec<i64> =
        evs.iter().filter(|e| e.health.former).map(|e| (e.health.as_of - date(0)).num_days()).collect();
    assert_eq!(former.first(), Some(&70));
    assert_eq!(former.len(), 31);
}

#[test]
fn the_churned_stage_holds_until_another_stage_is_set() {
    let mut lines = history();
    lines.push(format!(
        r#"{{"type":"account","event_id":"a1","account_id":"acme","timestamp":"{}","lifecycle_stage":"churned"}}"#,
        ts(70)
    ));
    lines.push(format!(
        r#"{{"type":"account","event_id":"a2","account_id":"acme","timestamp":"{}","lifecycle_stage":"adoption"}}"#,
        ts(85)
    ));
    let (evs, transitions) = run(&lines, 100);
    for ev in &evs {
        let d = (ev.health.as_of - date(0)).num_days();
        assert_eq!(ev.health.former, (70..85).contains(&d), "day {d}");
    }
    // Low engagement opens on day 67, resolves (churned) on day 70, opens again on day
    // 85 (still low engagement once the account is a customer again).
    let low: Vec<_> = transitions.iter().filter(|t| t.rule == AlertRule::LowEngagement).collect();
    assert!(low.iter().any(|t| t.state == AlertState::Opened && t.as_of == date(67)), "{low:?}");
    assert!(low.iter().any(|t| t.as_of == date(70) && t.reason == Some(TransitionReason::Churned)), "{low:?}");
    assert!(low.iter().any(|t| t.state == AlertState::Opened && t.as_of == date(85)), "{low:?}");
}
