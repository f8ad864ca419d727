//! SPEC §5: alert state machine, one open alert per account and rule, hysteresis.

mod common;
use common::*;
use pulse_core::config::Severity;
use pulse_core::{AlertRule, AlertState, AlertTracker, Color, Evaluation, ScoringConfig};

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
        let got: Vec<AlertState> = t
            .update(&ev)
            .into_iter()
            .filter(|x| x.rule == rule)
            .map(|x| x.state)
            .collect();
        assert_eq!(
            got,
            want.iter().copied().collect::<Vec<_>>(),
            "{rule:?} step {i}"
        );
        // feeding the same evaluation again never emits anything
        assert!(t.update(&ev).is_empty(), "{rule:?} step {i}: repeat");
    }
}

use AlertState::{Opened as O, Resolved as R};

#[test]
fn usage_declining_hysteresis() {
    let change =
        |x: Option<f64>| -> Step { Box::new(move |e| e.health.metrics.wau_change_pct = x) };
    let seq = [
        Some(-5.0),
        Some(-10.0),
        Some(-20.0),
        Some(-7.0),
        None,
        Some(-5.0),
        Some(-4.99),
        Some(-9.99),
        Some(-10.0),
    ];
    let expect = [
        None,
        Some(O),
        None,
        None,
        None,
        None,
        Some(R),
        None,
        Some(O),
    ];
    check(
        &ScoringConfig::default(),
        AlertRule::UsageDeclining,
        seq.iter().map(|x| change(*x)).collect(),
        &expect,
    );
}

#[test]
fn low_engagement_hysteresis() {
    let mau = |x: Option<f64>| -> Step { Box::new(move |e| e.health.metrics.mau_pct = x) };
    let seq = [
        Some(60.0),
        Some(49.99),
        Some(50.0),
        Some(54.99),
        None,
        Some(55.0),
        Some(50.0),
        Some(40.0),
    ];
    let expect = [None, Some(O), None, None, None, Some(R), None, Some(O)];
    check(
        &ScoringConfig::default(),
        AlertRule::LowEngagement,
        seq.iter().map(|x| mau(*x)).collect(),
        &expect,
    );
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
    check(
        &ScoringConfig::default(),
        AlertRule::HealthDropped,
        steps,
        &expect,
    );

    // severity: a drop to red is critical
    let mut t = AlertTracker::new(&ScoringConfig::default());
    let mut ev = base();
    ev.health.color = Red;
    ev.health.previous_color = Some(Green);
    let tr = t.update(&ev);
    let x = tr
        .iter()
        .find(|x| x.rule == AlertRule::HealthDropped)
        .expect("opened");
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
    let steps = || {
        vec![
            r(false, false),
            r(true, false),
            r(true, false),
            r(true, true),
            r(true, true),
            r(false, false),
        ]
    };
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

    // an older day (re-emitted after a late event) cannot resolve it
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
