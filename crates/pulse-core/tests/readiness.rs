//! SPEC §3: the five-dimension graduation scorecard. D = day 40.

mod common;
use common::*;
use pulse_core::event::Dimension;
use pulse_core::readiness::{BlockerKind, Source};
use pulse_core::{RedFlag, Verdict};

const D: i64 = 40;

/// 10 seats, 10 users active every day for four weeks: usage 10, no red flag.
fn healthy() -> Events {
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 10, D - 27..=D);
    e
}

/// Scorecard with every dimension assessed (usage as an explicit override).
fn scorecard([t, k, u, v, s]: [f64; 5]) -> Events {
    let mut e = healthy();
    e.assess4("acme", D - 1, [t, k, v, s]).assess("acme", D - 1, "usage", u);
    e
}

#[test]
fn total_and_verdict() {
    // (scores technical, knowledge, usage, value, stakeholder) -> (total, verdict, blockers)
    let cases: &[([f64; 5], f64, Verdict, usize)] = &[
        ([9.0, 8.0, 7.0, 9.0, 8.0], 8.30, Verdict::Ready, 0), // the spec's worked example
        ([8.0, 8.0, 8.0, 8.0, 8.0], 8.0, Verdict::Ready, 0),  // ready at exactly 8.0
        ([7.9, 7.9, 7.9, 7.9, 7.9], 7.9, Verdict::Close, 0),  // no blocker but below 8.0
        ([10.0, 10.0, 6.9, 10.0, 10.0], 9.38, Verdict::Close, 1), // 6.9 is not green
        ([10.0, 10.0, 7.0, 10.0, 10.0], 9.4, Verdict::Ready, 0), // 7.0 is green
        ([6.0, 6.0, 6.0, 6.0, 6.0], 6.0, Verdict::Close, 5),  // close at exactly 6.0
        ([5.9, 5.9, 5.9, 5.9, 5.9], 5.9, Verdict::NotReady, 5),
        ([0.0, 0.0, 0.0, 0.0, 0.0], 0.0, Verdict::NotReady, 5),
        ([10.0, 10.0, 10.0, 10.0, 10.0], 10.0, Verdict::Ready, 0),
    ];
    for (scores, total, verdict, blockers) in cases {
        let r = scorecard(*scores).eval("acme", D).readiness;
        assert_eq!(
            (r.total, r.verdict, r.blockers.len()),
            (*total, *verdict, *blockers),
            "{scores:?}: {:#?}",
            r.blockers
        );
    }
}

#[test]
fn worked_example_via_telemetry() {
    // usage 7.0 computed, not assessed: weekly profile, 100 seats, mau 49% and wau 28%
    let mut e = Events::new();
    e.seats("acme", 0, 100).active("acme", 49, D - 20).active("acme", 28, D);
    e.assess4("acme", D - 1, [9.0, 8.0, 9.0, 8.0]);
    let r = e.eval("acme", D).readiness;
    assert_eq!(r.dimensions.usage.score, Some(7.0));
    assert_eq!(r.dimensions.usage.source, Source::Computed);
    assert_eq!(r.total, 8.3);
    // 49% monthly is low engagement for a weekly profile: a blocker, so only close
    assert_eq!(r.red_flags, [RedFlag::LowEngagement]);
    assert_eq!(r.verdict, Verdict::Close);
    let json = serde_json::to_value(&r).expect("serializes");
    assert_eq!(json["total"], 8.3);
    assert_eq!(json["dimensions"]["technical"]["source"], "assessment");
    assert_eq!(json["verdict"], "close");
}

/// (events, expected usage score, source)
fn check_usage(name: &str, e: &Events, score: Option<f64>, source: Source) {
    let u = e.eval("acme", D).readiness.dimensions.usage;
    assert_eq!((u.score, u.source), (score, source), "case: {name}: {}", u.detail);
}

#[test]
fn usage_by_profile() {
    let profile = |p: &str| format!(r#","usage_profile":"{p}""#);
    let mut cases: Vec<(&str, Events, Option<f64>, Source)> = Vec::new();

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 10, D);
    cases.push(("weekly default, everyone active", e, Some(10.0), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 7, D - 10).active("acme", 4, D);
    cases.push(("weekly at both thresholds exactly", e, Some(10.0), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 7, D - 10).active("acme", 2, D);
    cases.push(("weekly, wau 20 of 40 is the weaker share", e, Some(5.0), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, &profile("daily")).active_days("acme", 8, D - 6..=D);
    cases.push(("daily at wau 80 and dau 80", e, Some(10.0), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, &profile("daily")).active("acme", 8, D);
    // dau_pct = 80 / 7 = 11.43 of 50
    cases.push(("daily, one busy day is not daily use", e, Some(2.3), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, &profile("periodic")).active("acme", 5, D - 20);
    cases.push(("periodic at mau 50", e, Some(10.0), Source::Computed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, &profile("periodic")).active("acme", 2, D - 20);
    cases.push(("periodic at mau 20 of 50", e, Some(4.0), Source::Computed));

    let mut e = Events::new();
    e.active("acme", 10, D);
    cases.push(("seats unknown: unassessed", e, None, Source::Unassessed));

    let mut e = Events::new();
    e.seats("acme", 0, 0).active("acme", 10, D);
    cases.push(("seats 0: unassessed", e, None, Source::Unassessed));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 1, D).assess("acme", D, "usage", 9.0);
    cases.push(("usage assessment overrides telemetry", e, Some(9.0), Source::Override));

    let mut e = Events::new();
    e.active("acme", 1, D).assess("acme", D, "usage", 6.0);
    cases.push(("override works with seats unknown", e, Some(6.0), Source::Override));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 10, D).assess_until("acme", D - 5, "usage", 3.0, D);
    cases.push(("expired override gives way to telemetry", e, Some(10.0), Source::Computed));

    for (name, e, score, source) in &cases {
        check_usage(name, e, *score, *source);
    }

    // the override keeps the telemetry score visible
    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 1, D).assess("acme", D, "usage", 9.0);
    let u = e.eval("acme", D).readiness.dimensions.usage;
    assert_eq!(u.computed_score, Some(1.4));
    assert!(u.detail.contains("overrides"), "{}", u.detail);
}

/// (events, dimension) -> (score, source)
fn check_dim(name: &str, e: &Events, dim: Dimension, score: Option<f64>, source: Source) {
    let r = e.eval("acme", D).readiness;
    let got = r.dimensions.get(dim);
    assert_eq!((got.score, got.source), (score, source), "case: {name}: {}", got.detail);
}

#[test]
fn assessments_latest_unexpired_wins() {
    use Dimension::Technical as T;
    let mut cases: Vec<(&str, Events, Option<f64>, Source)> = Vec::new();

    let mut e = Events::new();
    e.assess("acme", 10, "technical", 5.0).assess("acme", 20, "technical", 8.0);
    cases.push(("later wins", e, Some(8.0), Source::Assessment));

    let mut e = Events::new();
    e.assess("acme", 20, "technical", 8.0).assess("acme", 10, "technical", 5.0);
    cases.push(("later wins whatever the arrival order", e, Some(8.0), Source::Assessment));

    let mut e = Events::new();
    e.assess("acme", 10, "technical", 5.0).assess_until("acme", 20, "technical", 8.0, D);
    cases.push(("expired on as_of: the older unexpired one counts", e, Some(5.0), Source::Assessment));

    let mut e = Events::new();
    e.assess("acme", 10, "technical", 5.0).assess_until("acme", 20, "technical", 8.0, D + 1);
    cases.push(("expires tomorrow: still valid", e, Some(8.0), Source::Assessment));

    let mut e = Events::new();
    e.assess_until("acme", 10, "technical", 5.0, D - 1);
    cases.push(("all expired: unassessed", e, None, Source::Unassessed));

    let mut e = Events::new();
    e.assess("acme", 10, "technical", 5.0).assess("acme", D + 1, "technical", 9.0);
    cases.push(("assessment after as_of ignored", e, Some(5.0), Source::Assessment));

    let mut e = Events::new();
    e.assess("acme", 10, "technical", 4.0).raw("milestone", "acme", 11, r#","item":"sso","status":"done""#);
    cases.push(("assessment beats evidence", e, Some(4.0), Source::Assessment));

    let mut e = Events::new();
    e.assess_until("acme", 10, "technical", 4.0, 20).raw("milestone", "acme", 11, r#","item":"sso","status":"done""#);
    cases.push(("expired assessment falls back to evidence", e, Some(10.0), Source::Evidence));

    for (name, e, score, source) in &cases {
        check_dim(name, e, T, *score, *source);
    }
}

#[test]
fn evidence_derived_dimensions() {
    let ms = |item: &str, status: &str| format!(r#","item":"{item}","status":"{status}""#);
    let tr = |user: &str, score: Option<f64>| match score {
        Some(s) => format!(r#","user_id":"{user}","module":"admin","score_pct":{s}"#),
        None => format!(r#","user_id":"{user}","module":"admin""#),
    };
    let kpi = |name: &str, value: f64, confirmed: bool| {
        format!(r#","kpi":"{name}","baseline":6,"target":3,"value":{value},"confirmed":{confirmed}"#)
    };
    let sh = |role: &str, person: &str, status: &str, sentiment: &str| {
        format!(r#","role":"{role}","person":"{person}","status":"{status}","sentiment":"{sentiment}""#)
    };
    let mut cases: Vec<(&str, Events, Dimension, Option<f64>)> = Vec::new();

    let mut e = Events::new();
    e.raw("milestone", "acme", 1, &ms("a", "done")).raw("milestone", "acme", 1, &ms("b", "done")).raw(
        "milestone",
        "acme",
        1,
        &ms("c", "blocked"),
    );
    cases.push(("checklist 2 of 3 done", e, Dimension::Technical, Some(6.7)));

    let mut e = Events::new();
    e.raw("milestone", "acme", 1, &ms("a", "done")).raw("milestone", "acme", 2, &ms("a", "pending"));
    cases.push(("latest status of an item counts", e, Dimension::Technical, Some(0.0)));

    let mut e = Events::new();
    e.raw("training", "acme", 1, &tr("u1", Some(85.0)))
        .raw("training", "acme", 1, &tr("u2", Some(70.0)))
        .raw("training", "acme", 2, &tr("u2", Some(80.0)))
        .raw("training", "acme", 2, &tr("u3", None));
    cases.push(("training: pass at 80, best retake, attendance is no pass", e, Dimension::Knowledge, Some(6.7)));

    let mut e = Events::new();
    e.raw("kpi", "acme", 1, &kpi("invoice_days", 2.8, true));
    cases.push(("kpi beyond target, confirmed", e, Dimension::Value, Some(10.0)));

    let mut e = Events::new();
    e.raw("kpi", "acme", 1, &kpi("invoice_days", 2.8, false));
    cases.push(("kpi unconfirmed is capped", e, Dimension::Value, Some(6.0)));

    let mut e = Events::new();
    e.raw("kpi", "acme", 1, &kpi("invoice_days", 4.5, true)).raw("kpi", "acme", 1, &kpi("other", 3.0, true));
    cases.push(("mean over kpis: 5.0 and 10.0", e, Dimension::Value, Some(7.5)));

    let mut e = Events::new();
    e.raw("kpi", "acme", 1, &kpi("k", 7.0, true));
    cases.push(("kpi worse than baseline scores 0", e, Dimension::Value, Some(0.0)));

    let mut e = Events::new();
    e.raw("stakeholder", "acme", 1, &sh("champion", "ann", "active", "positive")).raw(
        "stakeholder",
        "acme",
        1,
        &sh("executive_sponsor", "bob", "active", "positive"),
    );
    cases.push(("champion and sponsor positive", e, Dimension::Stakeholder, Some(10.0)));

    let mut e = Events::new();
    e.raw("stakeholder", "acme", 1, &sh("champion", "ann", "active", "positive"))
        .raw("stakeholder", "acme", 2, &sh("champion", "ann", "left", "positive"))
        .raw("stakeholder", "acme", 1, &sh("executive_sponsor", "bob", "active", "neutral"));
    cases.push(("champion left", e, Dimension::Stakeholder, Some(3.0)));

    for (name, e, dim, score) in &cases {
        let source = if score.is_some() { Source::Evidence } else { Source::Unassessed };
        check_dim(name, e, *dim, *score, source);
    }

    // a configured checklist counts items never reported as not done
    let mut e = Events::new();
    e.raw("milestone", "acme", 1, &ms("a", "done")).raw("milestone", "acme", 1, &ms("z", "done"));
    let c = cfg(r#"evidence.technical_checklist = ["a", "b", "c", "d"]"#);
    let t = e.eval_with(&c, "acme", D).readiness.dimensions.technical;
    assert_eq!(t.score, Some(2.5));
}

#[test]
fn red_flags_and_blockers() {
    let ticket =
        |id: &str, sev: &str, status: &str| format!(r#","ticket_id":"{id}","severity":"{sev}","status":"{status}""#);
    let mut cases: Vec<(&str, Events, Vec<RedFlag>)> = Vec::new();

    cases.push(("healthy", healthy(), vec![]));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 5, D);
    cases.push(("mau exactly 50% is not low engagement (weekly)", e, vec![]));

    let mut e = Events::new();
    e.seats("acme", 0, 100).active("acme", 49, D);
    cases.push(("mau 49% is low engagement", e, vec![RedFlag::LowEngagement]));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, r#","usage_profile":"daily""#).active("acme", 5, D).active(
        "acme",
        10,
        D - 20,
    );
    cases.push(("daily looks at wau: 50% is fine even with mau 100%", e, vec![]));

    let mut e = Events::new();
    e.seats("acme", 0, 10).account("acme", 0, r#","usage_profile":"daily""#).active("acme", 4, D).active(
        "acme",
        10,
        D - 20,
    );
    cases.push(("daily wau 40%", e, vec![RedFlag::LowEngagement]));

    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 10, D - 8).active("acme", 9, D);
    cases.push(("wau -10% is declining", e, vec![RedFlag::UsageDeclining]));

    let mut e = Events::new();
    e.seats("acme", 0, 100).active("acme", 100, D - 8).active("acme", 91, D);
    cases.push(("wau -9% is not", e, vec![]));

    let mut e = Events::new();
    e.active("acme", 3, D);
    cases.push(("seats unknown", e, vec![RedFlag::SeatsUnknown]));

    let mut e = healthy();
    e.raw("ticket", "acme", 5, &ticket("T1", "critical", "open")).raw(
        "ticket",
        "acme",
        6,
        &ticket("T2", "high", "open"),
    );
    cases.push(("open critical ticket", e, vec![RedFlag::CriticalTicketsOpen]));

    let mut e = healthy();
    e.raw("ticket", "acme", 5, &ticket("T1", "critical", "open")).raw(
        "ticket",
        "acme",
        6,
        &ticket("T1", "critical", "resolved"),
    );
    cases.push(("resolved critical ticket", e, vec![]));

    let mut e = healthy();
    e.raw("stakeholder", "acme", 5, r#","role":"champion","person":"ann","status":"left""#);
    cases.push(("champion left", e, vec![RedFlag::ChampionLeft]));

    let mut e = healthy();
    e.raw("stakeholder", "acme", 5, r#","role":"champion","person":"ann","status":"left""#).raw(
        "stakeholder",
        "acme",
        6,
        r#","role":"champion","person":"cy","status":"active""#,
    );
    cases.push(("champion replaced", e, vec![]));

    for (name, e, flags) in &cases {
        let r = e.eval("acme", D).readiness;
        assert_eq!(&r.red_flags, flags, "case: {name}");
        let flag_blockers: Vec<RedFlag> = r.blockers.iter().filter_map(|b| b.flag).collect();
        assert_eq!(&flag_blockers, flags, "case: {name}: every red flag is a blocker");
        for b in &r.blockers {
            assert!(!b.reason.is_empty() && !b.needed_to_clear.is_empty(), "case: {name}: {b:?}");
        }
    }
}

#[test]
fn blockers_say_what_clears_them() {
    let mut e = Events::new();
    e.seats("acme", 0, 100).active("acme", 30, D - 20).active("acme", 20, D);
    e.assess("acme", 1, "technical", 6.5);
    let r = e.eval("acme", D).readiness;
    let find = |kind: BlockerKind, dim: Dimension| {
        r.blockers
            .iter()
            .find(|b| b.kind == kind && b.dimension == Some(dim))
            .unwrap_or_else(|| panic!("{kind:?} {dim:?} in {:#?}", r.blockers))
    };
    // usage: mau 30 of 70, wau 20 of 40 -> 4.3; green needs 49 and 28
    let u = find(BlockerKind::BelowGreen, Dimension::Usage);
    assert!(u.needed_to_clear.contains("mau_pct >= 49"), "{}", u.needed_to_clear);
    assert!(u.needed_to_clear.contains("wau_pct >= 28"), "{}", u.needed_to_clear);
    let t = find(BlockerKind::BelowGreen, Dimension::Technical);
    assert!(t.needed_to_clear.contains("technical assessment of 7"), "{}", t.needed_to_clear);
    let k = find(BlockerKind::Unassessed, Dimension::Knowledge);
    assert!(k.needed_to_clear.contains("training"), "{}", k.needed_to_clear);
    let json = serde_json::to_value(&r.blockers[0]).expect("serializes");
    assert!(json.get("kind").is_some() && json.get("needed_to_clear").is_some());
}

#[test]
fn time_in_stage() {
    let stage = |started: i64, target: i64, extra: &str| {
        format!(r#","onboarding_started_on":"{}","target_graduation_on":"{}"{extra}"#, d(started), d(target))
    };
    // (name, account fields, ready?) -> (days_in_stage, days_past_target, overdue, recovery)
    type Case = (&'static str, String, bool, Option<i64>, Option<i64>, bool, bool);
    let cases: Vec<Case> = vec![
        ("before target", stage(10, D + 5, ""), false, Some(30), Some(-5), false, false),
        ("on the target day", stage(10, D, ""), false, Some(30), Some(0), false, false),
        ("one day past", stage(10, D - 1, ""), false, Some(30), Some(1), true, false),
        ("29 days past", stage(0, D - 29, ""), false, Some(40), Some(29), true, false),
        ("30 days past", stage(0, D - 30, ""), false, Some(40), Some(30), true, true),
        ("past but ready", stage(0, D - 30, ""), true, Some(40), Some(30), false, false),
        (
            "past but graduated",
            stage(0, D - 30, r#","lifecycle_stage":"adoption""#),
            false,
            Some(40),
            Some(30),
            false,
            false,
        ),
        (
            "explicitly onboarding",
            stage(0, D - 30, r#","lifecycle_stage":"onboarding""#),
            false,
            Some(40),
            Some(30),
            true,
            true,
        ),
        ("start in the future", stage(D + 3, D + 60, ""), false, None, Some(-60), false, false),
        ("no dates", String::new(), false, None, None, false, false),
    ];
    for (name, fields, ready, in_stage, past, overdue, recovery) in cases {
        let mut e = if ready { scorecard([10.0; 5]) } else { healthy() };
        e.account("acme", 0, &fields);
        let r = e.eval("acme", D).readiness;
        assert_eq!(r.verdict == Verdict::Ready, ready, "case: {name}");
        assert_eq!(
            (r.days_in_stage, r.days_past_target, r.overdue, r.recovery_plan_needed),
            (in_stage, past, overdue, recovery),
            "case: {name}"
        );
    }
}

#[test]
fn overrides_change_weights_per_segment() {
    let c = cfg(r#"
        [[overrides]]
        segment = "enterprise"
        readiness_weights = { technical = 40, knowledge = 10, usage = 10, value = 30, stakeholder = 10 }
    "#);
    let mut e = scorecard([5.0, 10.0, 10.0, 10.0, 10.0]);
    assert_eq!(e.eval_with(&c, "acme", D).readiness.total, 9.0);
    e.account("acme", 1, r#","segment":"enterprise""#);
    assert_eq!(e.eval_with(&c, "acme", D).readiness.total, 8.0);
}
