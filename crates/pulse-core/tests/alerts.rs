//! SPEC §5: alert state machine, one open alert per account and rule, hysteresis.

mod common;
use common::*;
use pulse_core::config::Severity;
use std::collections::BTreeMap;

use pulse_core::alerts::{AlertTransition, TransitionKind};
use pulse_core::event::UsageProfile;
use pulse_core::{AlertRule, AlertState, AlertTracker, Color, Engine, Evaluation, RedFlag, ScoringConfig};

fn base() -> Evaluation {
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 10, 0..=30);
    e.eval("acme", 30)
}

/// Feed `steps` (each mutating a copy of the base evaluation, one day apart) and
/// compare the transitions of `rule` per step: `Some(Opened)`, `Some(Resolved)`,
/// or `None`.
type Step = Box<dyn Fn(&mut Evaluation)>;

fn check(cfg: &ScoringConfig, rule: AlertRule, steps: Vec<Step>, expect: &[Option<AlertState>]) {
    let mut t = AlertTracker::new(cfg);
    let b = base();
    for (i, (step, want)) in steps.iter().zip(expect).enumerate() {
        let mut ev = b.clone();
        ev.health.as_of = d(30 + i as i64);
        ev.readiness.as_of = ev.health.as_of;
        step(&mut ev);
        let got: Vec<AlertState> = t.update(&ev).into_iter().filter(|x| x.rule == rule).map(|x| x.state).collect();
        assert_eq!(got, want.iter().copied().collect::<Vec<_>>(), "{rule:?} step {i}");
        // feeding the same evaluation again never emits anything
        assert!(t.update(&ev).is_empty(), "{rule:?} step {i}: repeat");
    }
}

use AlertState::{Opened as O, Resolved as R};

#[test]
fn usage_declining_hysteresis() {
    let change = |x: Option<f64>| -> Step { Box::new(move |e| e.health.metrics.wau_change_pct = x) };
    let seq =
        [Some(-5.0), Some(-10.0), Some(-20.0), Some(-7.0), None, Some(-5.0), Some(-4.99), Some(-9.99), Some(-10.0)];
    let expect = [None, Some(O), None, None, None, None, Some(R), None, Some(O)];
    check(&ScoringConfig::default(), AlertRule::UsageDeclining, seq.iter().map(|x| change(*x)).collect(), &expect);
}

#[test]
fn low_engagement_hysteresis() {
    let mau = |x: Option<f64>| -> Step { Box::new(move |e| e.health.metrics.mau_pct = x) };
    let seq = [Some(60.0), Some(49.99), Some(50.0), Some(54.99), None, Some(55.0), Some(50.0), Some(40.0)];
    let expect = [None, Some(O), None, None, None, Some(R), None, Some(O)];
    check(&ScoringConfig::default(), AlertRule::LowEngagement, seq.iter().map(|x| mau(*x)).collect(), &expect);
}

#[test]
fn health_dropped() {
    let h = |color: Color, prev: Option<Color>, score: f64| -> Step {
        Box::new(move |e| {
            e.health.color = color;
            e.health.previous_color = prev;
            e.health.score = score;
        })
    };
    use Color::*;
    let steps = vec![
        h(Green, None, 80.0),
        h(Green, Some(Green), 80.0),
        h(Yellow, Some(Green), 65.0), // dropped
        h(Red, Some(Yellow), 30.0),   // worse still: already open
        h(Green, Some(Red), 71.0),    // green again but within the margin
        h(Green, Some(Green), 72.0),  // resolved
        h(Yellow, Some(Green), 69.9), // dropped again
    ];
    let expect = [None, None, Some(O), None, None, Some(R), Some(O)];
    check(&ScoringConfig::default(), AlertRule::HealthDropped, steps, &expect);

    // severity: a drop to red is critical
    let mut t = AlertTracker::new(&ScoringConfig::default());
    let mut ev = base();
    ev.health.color = Red;
    ev.health.previous_color = Some(Green);
    let tr = t.update(&ev);
    let x = tr.iter().find(|x| x.rule == AlertRule::HealthDropped).expect("opened");
    assert_eq!((x.severity, x.state), (Severity::Critical, O));
    assert!(x.message.contains("green to red"), "{}", x.message);
}

#[test]
fn overdue_and_recovery() {
    let r = |overdue: bool, recovery: bool| -> Step {
        Box::new(move |e| {
            e.readiness.overdue = overdue;
            e.readiness.recovery_plan_needed = recovery;
        })
    };
    let steps = || vec![r(false, false), r(true, false), r(true, false), r(true, true), r(true, true), r(false, false)];
    check(
        &ScoringConfig::default(),
        AlertRule::GraduationOverdue,
        steps(),
        &[None, Some(O), None, None, None, Some(R)],
    );
    check(
        &ScoringConfig::default(),
        AlertRule::RecoveryPlanNeeded,
        steps(),
        &[None, None, None, Some(O), None, Some(R)],
    );
}

#[test]
fn stale_evaluations_and_disabled_rules() {
    let cfg = ScoringConfig::default();
    let mut t = AlertTracker::new(&cfg);
    let mut ev = base();
    ev.health.metrics.wau_change_pct = Some(-50.0);
    let opened = t.update(&ev);
    assert_eq!(opened.len(), 1);
    assert_eq!(
        (opened[0].rule, opened[0].opened_on, opened[0].as_of),
        (AlertRule::UsageDeclining, ev.health.as_of, ev.health.as_of)
    );

    // an earlier day is re-derived: with no decline it changes nothing
    let mut old = base();
    old.health.as_of = ev.health.as_of.pred_opt().expect("valid");
    old.health.metrics.wau_change_pct = Some(10.0);
    assert!(t.update(&old).is_empty());
    assert_eq!(t.open_len(), 1);

    // snapshot / restore
    let json = serde_json::to_string(&t).expect("serializes");
    let mut restored: AlertTracker = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(restored, t);

    // disabling the rule resolves what it opened
    let mut off = cfg.clone();
    off.alerts.usage_declining.enabled = false;
    restored.set_config(&off);
    let mut next = ev.clone();
    next.health.as_of = ev.health.as_of.succ_opt().expect("valid");
    let tr = restored.update(&next);
    assert_eq!(tr.len(), 1);
    assert_eq!((tr[0].state, tr[0].opened_on), (R, ev.health.as_of));
    assert_eq!(restored.open_len(), 0);
}

#[test]
fn end_to_end_decline_and_recovery() {
    // 20 users every day, then 15 from day 20, then 20 again from day 30.
    let mut e = Events::new();
    e.seats("acme", 0, 20);
    for day in 0..45 {
        let n = if (20..30).contains(&day) { 15 } else { 20 };
        e.active("acme", n, day);
    }
    let engine = e.engine();
    let mut t = AlertTracker::new(engine.config());
    let mut log = Vec::new();
    for day in 0..45 {
        let ev = engine.evaluate("acme", d(day)).expect("exists");
        for tr in t.update(&ev) {
            if tr.rule == AlertRule::UsageDeclining {
                log.push((day, tr.state));
            }
        }
    }
    // wau(20) = 20 (u0..u19 active D-6..D), first drop visible when u15..u19 are out
    // of the last 7 days: day 26 -> wau 15 vs 20 = -25%; back when wau(D) >= 19.
    assert_eq!(log, [(26, O), (30, R)]);
}

/// Per-profile decline (SPEC §2-5): the change metric is `wau_change_pct` for daily and
/// weekly, `mau_change_pct` for periodic; opens at -10 / -20, resolves above -5 / -10; a
/// day without comparison data neither opens nor resolves.
#[test]
#[allow(clippy::type_complexity)] // a table: (name, profile, days, expected transitions)
fn usage_declining_per_profile() {
    type Day = (Option<f64>, Option<f64>); // (wau_change_pct, mau_change_pct)
    let cases: Vec<(&str, UsageProfile, Vec<Day>, Vec<Option<AlertState>>)> = vec![
        (
            "weekly: wau opens at -10, resolves only above -5",
            UsageProfile::Weekly,
            vec![
                (Some(-9.99), Some(-50.0)),
                (Some(-10.0), None),
                (Some(-5.0), None),
                (None, None),
                (Some(-4.99), None),
            ],
            vec![None, Some(O), None, None, Some(R)],
        ),
        (
            "daily: same lines as weekly",
            UsageProfile::Daily,
            vec![(Some(-10.0), Some(0.0)), (Some(-6.0), Some(0.0)), (Some(0.0), Some(-90.0))],
            vec![Some(O), None, Some(R)],
        ),
        (
            "periodic: a -50% week is its rhythm; mau opens at -20",
            UsageProfile::Periodic,
            vec![
                (Some(-50.0), Some(-19.99)),
                (Some(-50.0), Some(-20.0)),
                (Some(50.0), Some(-10.0)),
                (None, None),
                (Some(-80.0), Some(-9.99)),
            ],
            vec![None, Some(O), None, None, Some(R)],
        ),
        (
            "periodic: no comparison month holds",
            UsageProfile::Periodic,
            vec![(Some(-50.0), None), (Some(-50.0), Some(-30.0)), (Some(0.0), None), (Some(0.0), Some(-10.01))],
            vec![None, Some(O), None, None],
        ),
    ];
    for (name, profile, days, expect) in cases {
        let mut t = AlertTracker::new(&ScoringConfig::default());
        let b = base();
        for (i, ((w, m), want)) in days.iter().zip(&expect).enumerate() {
            let mut ev = b.clone();
            ev.health.as_of = d(30 + i as i64);
            ev.readiness.as_of = ev.health.as_of;
            ev.health.usage_profile = profile;
            ev.health.metrics.wau_change_pct = *w;
            ev.health.metrics.mau_change_pct = *m;
            let got: Vec<AlertState> =
                t.update(&ev).into_iter().filter(|x| x.rule == AlertRule::UsageDeclining).map(|x| x.state).collect();
            assert_eq!(got, want.iter().copied().collect::<Vec<_>>(), "{name}: day {i}");
        }
    }
    // thresholds are configuration
    let cfg = ScoringConfig::from_toml_str(
        "[alerts.usage_declining]\nperiodic_open_at_pct = -40\nperiodic_resolve_at_pct = -30\n",
    )
    .expect("valid");
    let mut t = AlertTracker::new(&cfg);
    let mut ev = base();
    ev.health.usage_profile = UsageProfile::Periodic;
    ev.health.metrics.mau_change_pct = Some(-39.0);
    assert!(t.update(&ev).is_empty());
    let bad = ScoringConfig::from_toml_str(
        "[alerts.usage_declining]\nperiodic_open_at_pct = -10\nperiodic_resolve_at_pct = -30\n",
    )
    .expect_err("hysteresis");
    assert!(bad.to_string().contains("alerts.usage_declining.periodic_resolve_at_pct"), "{bad}");
}

/// The red flag and `trend` follow the profile's change metric too: a periodic account
/// used in alternate weeks is not declining; a weekly one with the same usage is.
#[test]
fn red_flag_and_trend_use_the_profiles_change_metric() {
    let cases = [("weekly", true, 0.0), ("periodic", false, 100.0)];
    for (profile, flagged, trend) in cases {
        let mut e = Events::new();
        e.seats("acme", 0, 10).account("acme", 0, &format!(r#","usage_profile":"{profile}""#));
        // 8 users on week days 0..6 of even weeks, nobody in odd weeks, for 10 weeks;
        // evaluated at the end of an odd week: WAU 0 against 8 (-100%), MAU flat
        for week in 0..10i64 {
            if week % 2 == 0 {
                e.active_days("acme", 8, week * 7..=week * 7 + 1);
            }
        }
        let ev = e.eval("acme", 9 * 7 + 6);
        let h = &ev.health;
        assert_eq!(h.metrics.wau_change_pct, Some(-100.0), "{profile}");
        assert_eq!(h.metrics.mau_change_pct, Some(0.0), "{profile}");
        assert_eq!(h.red_flags.contains(&RedFlag::UsageDeclining), flagged, "{profile}: {:?}", h.red_flags);
        let t = h.measures.iter().find(|m| m.name.as_str() == "trend").expect("trend");
        assert_eq!(t.score, trend, "{profile}");
        assert_eq!(ev.readiness.red_flags.contains(&RedFlag::UsageDeclining), flagged);
    }
}

/// Store of alert rows as ClickHouse keeps them: the newest word per (account, rule,
/// opened_on, transition); live = not retracted.
fn apply(
    store: &mut BTreeMap<(String, AlertRule, chrono::NaiveDate, TransitionKind), AlertTransition>,
    out: Vec<AlertTransition>,
) {
    for t in out {
        store.insert((t.account_id.clone(), t.rule, t.opened_on, t.transition()), t);
    }
}

fn live(
    store: &BTreeMap<(String, AlertRule, chrono::NaiveDate, TransitionKind), AlertTransition>,
) -> Vec<AlertTransition> {
    let mut v: Vec<AlertTransition> = store.values().filter(|t| t.state != AlertState::Retracted).cloned().collect();
    v.sort_by(|a, b| (a.as_of, a.rule, &a.account_id).cmp(&(b.as_of, b.rule, &b.account_id)));
    v
}

/// Transitions derived from scratch over days `from..=to` of a final engine.
fn derived(engine: &Engine, account: &str, from: i64, to: i64) -> Vec<AlertTransition> {
    let mut t = AlertTracker::new(engine.config());
    let mut all = Vec::new();
    for day in from..=to {
        if let Some(ev) = engine.evaluate(account, d(day)) {
            all.extend(t.update(&ev));
        }
    }
    all.sort_by(|a, b| (a.as_of, a.rule, &a.account_id).cmp(&(b.as_of, b.rule, &b.account_id)));
    all
}

#[test]
fn a_late_event_that_flips_a_past_days_color_retracts_and_re_emits() {
    // 8 users of 10 seats every day: green. Seats raised to 100 on day 25 (usage share
    // collapses: health drops); then a late CRM event says they were raised on day 15.
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 8, 0..=30).seats("acme", 25, 100);
    let mut late = Events::new();
    late.seats("acme", 15, 100);
    let late_ev = late.list[0].clone();
    // give the late event its own id
    let late_ev = match late_ev {
        pulse_core::Event::Account(mut a) => {
            a.event_id = "late-1".into();
            pulse_core::Event::Account(a)
        }
        other => other,
    };

    let mut engine = Engine::new(ScoringConfig::default());
    let mut tracker = AlertTracker::new(engine.config());
    let mut store = BTreeMap::new();
    let mut next = 0;
    let mut list = e.list.clone();
    list.sort_by_key(|x| x.timestamp());
    for day in 0..=30 {
        while next < list.len() && list[next].timestamp().date_naive() <= d(day) {
            engine.apply(&list[next]);
            next += 1;
        }
        let ev = engine.evaluate("acme", d(day)).expect("exists");
        apply(&mut store, tracker.update(&ev));
    }
    let drop = live(&store).into_iter().find(|t| t.rule == AlertRule::HealthDropped).expect("health dropped");
    assert_eq!((drop.state, drop.as_of), (O, d(25)));

    // the late event: re-evaluate its day onwards, feed the tracker at once
    engine.apply(&late_ev);
    let evs: Vec<Evaluation> = (15..=30).filter_map(|x| engine.evaluate("acme", d(x))).collect();
    let out = tracker.update_many(&evs);
    let retracted: Vec<&AlertTransition> = out.iter().filter(|t| t.state == AlertState::Retracted).collect();
    assert!(
        retracted.iter().any(|t| t.rule == AlertRule::HealthDropped
            && t.retracts == Some(TransitionKind::Opened)
            && t.as_of == d(25)
            && t.opened_on == d(25)
            && t.message.contains("health dropped")),
        "{out:#?}"
    );
    // retractions come before the transitions that now hold
    let first_new = out.iter().position(|t| t.state != AlertState::Retracted).unwrap_or(out.len());
    assert!(out[first_new..].iter().all(|t| t.state != AlertState::Retracted));
    assert!(out.iter().any(|t| t.rule == AlertRule::HealthDropped && t.state == O && t.as_of == d(15)), "{out:#?}");
    apply(&mut store, out);
    // the history after the retractions equals the history derived from scratch
    assert_eq!(live(&store), derived(&engine, "acme", 0, 30));
    // no stored transition contradicts the results of its day
    for t in live(&store) {
        let ev = engine.evaluate("acme", t.as_of).expect("exists");
        if t.rule == AlertRule::HealthDropped && t.state == O {
            assert_ne!(ev.health.color, Color::Green, "{t:?}");
        }
        if t.rule == AlertRule::LowEngagement && t.state == O {
            assert!(ev.health.red_flags.contains(&RedFlag::LowEngagement), "{t:?}");
        }
    }
    // feeding the same results again changes nothing
    assert!(tracker.update_many(&evs).is_empty());
    // and the tracker snapshot round-trips
    let json = serde_json::to_string(&tracker).expect("ser");
    let back: AlertTracker = serde_json::from_str(&json).expect("de");
    assert_eq!(back, tracker);
}

#[test]
fn the_tracker_forgets_days_beyond_the_horizon() {
    let cfg = ScoringConfig::default();
    let mut t = AlertTracker::new(&cfg);
    let b = base();
    for i in 0..200 {
        let mut ev = b.clone();
        ev.health.as_of = d(i);
        ev.readiness.as_of = ev.health.as_of;
        ev.health.metrics.wau_change_pct = Some(if (i / 10) % 2 == 0 { -50.0 } else { 0.0 });
        t.update(&ev);
    }
    assert_eq!(t.days_held(), cfg.horizon_days as usize + 1);
    // a day before the window is final: ignored
    let mut old = b.clone();
    old.health.as_of = d(10);
    old.health.metrics.wau_change_pct = Some(0.0);
    assert!(t.update(&old).is_empty());
}

/// One row per alert, applied in emission order the way ClickHouse's `alerts_current`
/// view does (schemas/clickhouse/005): opened -> open, resolved -> resolved, a withdrawn
/// opening -> withdrawn, a withdrawn resolution -> open again.
fn current(out: &[AlertTransition]) -> BTreeMap<(AlertRule, chrono::NaiveDate), &'static str> {
    let mut m = BTreeMap::new();
    for t in out {
        let status = match (t.state, t.retracts) {
            (AlertState::Opened, _) => "open",
            (AlertState::Resolved, _) => "resolved",
            (AlertState::Retracted, Some(TransitionKind::Opened)) => "withdrawn",
            (AlertState::Retracted, _) => "open",
        };
        m.insert((t.rule, t.opened_on), status);
    }
    m
}

#[test]
fn an_alert_withdrawn_with_its_resolution_ends_withdrawn_in_a_one_row_per_alert_store() {
    // Seats raised on day 20 (health drops, alert opens), back on day 24 (it resolves);
    // then a late event says the seats were raised on day 5 already: the day-20 alert,
    // opening and resolution, never held.
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 8, 0..=34).seats("acme", 20, 100).seats("acme", 24, 10);
    let mut late = Events::new();
    late.seats("acme", 5, 100);
    let late_ev = match late.list[0].clone() {
        pulse_core::Event::Account(mut a) => {
            a.event_id = "late-5".into();
            pulse_core::Event::Account(a)
        }
        other => other,
    };
    let mut engine = Engine::new(ScoringConfig::default());
    let mut tracker = AlertTracker::new(engine.config());
    let mut emitted = Vec::new();
    let mut list = e.list.clone();
    list.sort_by_key(|x| x.timestamp());
    let mut next = 0;
    for day in 0..=34 {
        while next < list.len() && list[next].timestamp().date_naive() <= d(day) {
            engine.apply(&list[next]);
            next += 1;
        }
        emitted.extend(tracker.update(&engine.evaluate("acme", d(day)).expect("exists")));
    }
    assert_eq!(current(&emitted).get(&(AlertRule::HealthDropped, d(20))), Some(&"resolved"), "{emitted:#?}");
    engine.apply(&late_ev);
    let evs: Vec<Evaluation> = (5..=34).filter_map(|x| engine.evaluate("acme", d(x))).collect();
    emitted.extend(tracker.update_many(&evs));
    let now = current(&emitted);
    assert_eq!(now.get(&(AlertRule::HealthDropped, d(20))), Some(&"withdrawn"), "{emitted:#?}");
    // Whatever is open in the store is exactly what is open when derived from scratch.
    let from_scratch = current(&derived(&engine, "acme", 0, 34));
    let open = |m: &BTreeMap<(AlertRule, chrono::NaiveDate), &'static str>| {
        m.iter().filter(|(_, s)| **s == "open").map(|(k, _)| *k).collect::<Vec<_>>()
    };
    assert_eq!(open(&now), open(&from_scratch));
}

#[test]
fn a_transition_that_holds_again_after_its_retraction_is_numbered() {
    // Day 10 is revised twice by late data: declining, then not, then declining again.
    // The re-opening is the alert's second opening (seq 2), not a repeat of the first,
    // and its retraction names the number it withdraws.
    let cfg = ScoringConfig::default();
    let mut t = AlertTracker::new(&cfg);
    let b = base();
    let day = |i: i64, change: f64| {
        let mut ev = b.clone();
        ev.health.as_of = d(i);
        ev.readiness.as_of = ev.health.as_of;
        ev.health.metrics.wau_change_pct = Some(change);
        ev
    };
    for i in 0..10 {
        assert!(t.update(&day(i, 0.0)).is_empty());
    }
    let declining = |out: &[AlertTransition], state: AlertState| -> Vec<u32> {
        out.iter().filter(|x| x.rule == AlertRule::UsageDeclining && x.state == state).map(|x| x.seq).collect()
    };
    let first = t.update(&day(10, -50.0));
    assert_eq!(declining(&first, O), vec![1], "{first:#?}");
    for round in 1..=3u32 {
        let withdrawn = t.update(&day(10, 0.0));
        assert_eq!(declining(&withdrawn, AlertState::Retracted), vec![round], "{withdrawn:#?}");
        assert!(declining(&withdrawn, O).is_empty());
        let again = t.update(&day(10, -50.0));
        assert_eq!(declining(&again, O), vec![round + 1], "{again:#?}");
        // the same results again: nothing new, so no new number either
        assert!(t.update(&day(10, -50.0)).is_empty());
    }
    // the count survives a snapshot (a restarted scorer re-derives the same numbers)
    let json = serde_json::to_string(&t).expect("ser");
    let mut back: AlertTracker = serde_json::from_str(&json).expect("de");
    assert_eq!(back, t);
    let withdrawn = back.update(&day(10, 0.0));
    assert_eq!(declining(&withdrawn, AlertState::Retracted), vec![4]);
    // the wire omits seq when it is 1 and reads it back as 1 when absent
    let v = serde_json::to_value(&first[0]).expect("json");
    assert!(v.get("seq").is_none(), "{v}");
    let v = serde_json::to_value(&withdrawn[0]).expect("json");
    assert_eq!(v["seq"], 4);
}

/// Issue 20 item 4, the `alerts_backlog` finding: late data that changes the numbers of a
/// resolved alert's opening day (but not whether it opens, nor its resolution) re-emits
/// the opening; a one-row-per-alert store (`alerts_current`) read the re-emitted opening
/// as "open" again. The resolution that still holds is emitted after it.
#[test]
fn a_re_emitted_opening_of_a_resolved_alert_leaves_it_resolved_in_a_one_row_per_alert_store() {
    let cfg = ScoringConfig::default();
    let mut t = AlertTracker::new(&cfg);
    let b = base();
    let day = |i: i64, change: f64| {
        let mut ev = b.clone();
        ev.health.as_of = d(i);
        ev.readiness.as_of = ev.health.as_of;
        ev.health.metrics.wau_change_pct = Some(change);
        ev
    };
    let mut emitted = Vec::new();
    for i in 0..20 {
        let change = if (10..15).contains(&i) { -50.0 } else { 0.0 };
        emitted.extend(t.update(&day(i, change)));
    }
    assert_eq!(current(&emitted).get(&(AlertRule::UsageDeclining, d(10))), Some(&"resolved"), "{emitted:#?}");
    // Late data: day 10 declined by 60%, not 50%: the opening's numbers change.
    let late = t.update(&day(10, -60.0));
    assert!(
        late.iter().any(|x| x.rule == AlertRule::UsageDeclining && x.state == O && x.as_of == d(10)),
        "the opening is re-emitted with its new numbers: {late:#?}"
    );
    emitted.extend(late);
    assert_eq!(current(&emitted).get(&(AlertRule::UsageDeclining, d(10))), Some(&"resolved"), "{emitted:#?}");
}
