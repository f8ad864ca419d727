//! SPEC §4: measures, weights, missing-data redistribution, bands, reasons,
//! previous color, config version. D = day 40.

mod common;
use common::*;
use pulse_core::config::Measure;
use pulse_core::{Color, ScoringConfig};

const D: i64 = 40;

/// Only one measure weighted: the score is that measure's score.
fn only(m: &str) -> ScoringConfig {
    let mut w = vec![("adoption", 0), ("trend", 0), ("breadth", 0), ("stickiness", 0), ("sentiment", 0)];
    for x in &mut w {
        if x.0 == m {
            x.1 = 100;
        }
    }
    let w: Vec<String> = w.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    cfg(&format!("core_features = [\"a\", \"b\", \"c\", \"d\"]\n[health.weights]\n{}", w.join("\n")))
}

fn check(name: &str, c: &ScoringConfig, e: &Events, score: f64, color: Color) {
    let h = e.eval_with(c, "acme", D).health;
    assert_eq!((h.score, h.color), (score, color), "case: {name}: {:#?}", h.measures);
}

#[test]
fn trend() {
    let c = only("trend");
    // last week 10 users; this week n -> change (n - 10) x 10 %
    for (n, score, color) in [
        (12, 100.0, Color::Green),
        (10, 100.0, Color::Green),
        (9, 66.7, Color::Yellow),
        (8, 33.3, Color::Red),
        (7, 0.0, Color::Red),
        (3, 0.0, Color::Red),
    ] {
        let mut e = Events::new();
        e.seats("acme", 0, 20).active("acme", 10, D - 9).active("acme", n, D - 1);
        check(&format!("wau 10 -> {n}"), &c, &e, score, color);
    }
}

#[test]
fn adoption_and_bands() {
    let c = only("adoption");
    for (usage, score, color) in [
        (10.0, 100.0, Color::Green),
        (7.0, 70.0, Color::Green), // green at exactly 70
        (6.99, 69.9, Color::Yellow),
        (4.0, 40.0, Color::Yellow), // yellow at exactly 40
        (3.99, 39.9, Color::Red),
        (0.0, 0.0, Color::Red),
    ] {
        let mut e = Events::new();
        e.usage("acme", "a", D).assess("acme", D, "usage", usage);
        check(&format!("usage {usage}"), &c, &e, score, color);
    }
    // computed usage: weekly 100 seats, mau 49 wau 28 -> 7.0 -> 70
    let mut e = Events::new();
    e.seats("acme", 0, 100).active("acme", 49, D - 20).active("acme", 28, D);
    check("computed usage 7.0", &c, &e, 70.0, Color::Green);
}

#[test]
fn breadth() {
    let c = only("breadth");
    let mut e = Events::new();
    e.feature("acme", "u1", D, "a")
        .feature("acme", "u2", D - 27, "b")
        .feature("acme", "u1", D - 28, "c")
        .feature("acme", "u1", D, "zzz");
    check("2 of 4 core features in 28 days", &c, &e, 50.0, Color::Yellow);
    // none configured: left out
    let mut c2 = c.clone();
    c2.core_features.clear();
    let h = e.eval_with(&c2, "acme", D).health;
    assert_eq!(h.missing_measures, [Measure::Breadth]);
}

#[test]
fn stickiness() {
    let c = only("stickiness");
    let profile = |p: &str| format!(r#","usage_profile":"{p}""#);
    // 10 users this month, 1 of them every day: mean DAU 1 / MAU 10 = 0.1
    let base = || {
        let mut e = Events::new();
        e.seats("acme", 0, 10).active("acme", 10, D - 20).active_days("acme", 1, D - 6..=D);
        e
    };
    let mut e = base();
    e.account("acme", 0, &profile("weekly"));
    check("weekly: 0.1 of target 0.2", &c, &e, 50.0, Color::Yellow);
    let mut e = base();
    e.account("acme", 0, &profile("daily"));
    check("daily: 0.1 of target 0.5", &c, &e, 20.0, Color::Red);
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 3, D - 6..=D);
    check("capped at 100", &c, &e, 100.0, Color::Green);

    let mut e = base();
    e.account("acme", 0, &profile("periodic"));
    let h = e.eval_with(&c, "acme", D).health;
    assert_eq!(h.missing_measures, [Measure::Stickiness], "periodic: left out");
    let mut e = Events::new();
    e.seats("acme", 0, 10).usage("acme", "a", D - 30);
    let h = e.eval_with(&c, "acme", D).health;
    assert_eq!(h.missing_measures, [Measure::Stickiness], "mau 0: left out");

    // rounded once: mean DAU 17/7 over MAU 6 = 0.40476..., published as 0.4 like
    // every measure value (2 decimals), not 0.405 -> 0.41
    let mut e = Events::new();
    e.seats("acme", 0, 10);
    for (k, n) in [3, 3, 3, 2, 2, 2, 2].into_iter().enumerate() {
        e.active("acme", n, D - k as i64);
    }
    e.active("acme", 6, D - 20);
    let h = e.eval_with(&c, "acme", D).health;
    assert_eq!(h.metrics.mau, 6);
    let m = &h.measures[0];
    assert_eq!((m.value, m.score), (0.4, 100.0), "{h:#?}");
    assert!(h.reasons.is_empty());
    let mut e2 = e.clone();
    e2.account("acme", 0, r#","usage_profile":"daily""#);
    let h = e2.eval_with(&c, "acme", D).health;
    assert_eq!((h.measures[0].value, h.measures[0].score), (0.4, 81.0));
}

#[test]
fn sentiment() {
    let c = only("sentiment");
    let mut e = Events::new();
    e.usage("acme", "a", D).assess("acme", 1, "stakeholder", 8.0);
    check("stakeholder 8", &c, &e, 80.0, Color::Green);
    let mut e = Events::new();
    e.usage("acme", "a", D).raw(
        "stakeholder",
        "acme",
        1,
        r#","role":"champion","person":"ann","status":"active","sentiment":"negative""#,
    );
    check("from evidence: champion negative, no sponsor", &c, &e, 10.0, Color::Red);
}

#[test]
fn missing_data_redistribution() {
    // weekly, 10 seats: 10 users every day of 4 weeks -> adoption 100, trend 100 (0%),
    // stickiness 100 (ratio 1 of 0.2); breadth (no core features) and sentiment
    // (no stakeholder data) have no data: their 25 points go to the other 75.
    let mut e = Events::new();
    e.seats("acme", 0, 10).active_days("acme", 10, D - 27..=D);
    let h = e.eval("acme", D).health;
    let weights: Vec<(Measure, f64)> = h.measures.iter().map(|m| (m.name, m.weight)).collect();
    assert_eq!(weights, [(Measure::Adoption, 53.33), (Measure::Trend, 33.33), (Measure::Stickiness, 13.33)]);
    assert_eq!(h.missing_measures, [Measure::Breadth, Measure::Sentiment]);
    assert_eq!((h.score, h.color), (100.0, Color::Green));

    // mixed scores: adoption 50 (wau 2 of 4 needed...), sentiment 20
    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 7, D - 20).active("acme", 2, D).assess("acme", 1, "stakeholder", 2.0);
    let h = e.eval("acme", D).health;
    let got: Vec<(Measure, f64, f64)> = h.measures.iter().map(|m| (m.name, m.score, m.weight)).collect();
    // adoption 5.0 -> 50; trend null (nobody last week); stickiness: mean DAU 2/7 / MAU 7 = 0.041 -> 20.4
    assert_eq!(
        got,
        [(Measure::Adoption, 50.0, 66.67), (Measure::Stickiness, 20.4, 16.67), (Measure::Sentiment, 20.0, 16.67)]
    );
    // (40 x 50 + 10 x 20.41 + 10 x 20) / 60 = 40.07
    assert_eq!((h.score, h.color), (40.1, Color::Yellow));
    assert_eq!(h.reasons.len(), 3, "{:#?}", h.reasons);
    assert!(h.reasons[0].starts_with("adoption 50: usage dimension 5/10"), "{}", h.reasons[0]);
}

#[test]
fn seats_unknown_leaves_adoption_out() {
    let mut e = Events::new();
    e.active_days("acme", 4, D - 13..=D);
    let h = e.eval("acme", D).health;
    assert!(h.missing_measures.contains(&Measure::Adoption));
    assert_eq!(h.red_flags, [pulse_core::RedFlag::SeatsUnknown]);
    assert_eq!(h.metrics.wau_pct, None);
}

#[test]
fn no_data_at_all_is_red() {
    let mut e = Events::new();
    e.account("acme", 0, r#","name":"Acme""#);
    let h = e.eval("acme", D).health;
    assert_eq!((h.score, h.color), (0.0, Color::Red));
    assert!(h.measures.is_empty());
    // SPEC v3 §10: nothing applicable has a value, so the data is insufficient too
    assert_eq!(h.reasons.len(), 2, "{:#?}", h.reasons);
    assert_eq!(
        h.reasons[1],
        "data insufficient: coverage 0 (seats unknown since 2026-11-01, trend without comparison data, \
         stickiness without monthly active users, sentiment unassessed)"
    );
    assert_eq!((h.coverage, h.data_status), (0.0, pulse_core::DataStatus::Insufficient));
}

#[test]
fn previous_color_is_yesterdays() {
    let c = only("adoption");
    let mut e = Events::new();
    e.usage("acme", "a", D - 5).assess("acme", D - 5, "usage", 9.0).assess("acme", D, "usage", 5.0);
    let eng = e.engine_with(c);
    let today = eng.evaluate("acme", d(D)).expect("exists").health;
    assert_eq!((today.color, today.previous_color), (Color::Yellow, Some(Color::Green)));
    let yesterday = eng.evaluate("acme", d(D - 1)).expect("exists").health;
    assert_eq!(yesterday.color, Color::Green);
    let first = eng.evaluate("acme", d(D - 5)).expect("exists").health;
    assert_eq!(first.previous_color, None, "no events before the first day");
}

#[test]
fn overrides_per_profile_and_segment() {
    let c = cfg(r#"
        [[overrides]]
        profile = "periodic"
        health_bands = { green = 90, yellow = 50 }

        [[overrides]]
        segment = "smb"
        usage_thresholds = { mau_pct = 40 }
        health_weights = { adoption = 100 }
    "#);
    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 4, D - 3).active("acme", 4, D - 10).assess("acme", 0, "stakeholder", 8.0);
    // base: adoption (mau 40 of 70, wau 40 of 40 -> 5.7) ...
    let base = e.eval_with(&c, "acme", D).health;
    assert_eq!(base.measures[0].score, 57.0);
    // smb: only adoption, threshold mau 40 -> 10
    e.account("acme", 0, r#","segment":"smb""#);
    let smb = e.eval_with(&c, "acme", D).health;
    assert_eq!((smb.score, smb.color, smb.segment.as_deref()), (100.0, Color::Green, Some("smb")));
    // periodic smb: both overrides, bands 90/50
    e.account("acme", 1, r#","usage_profile":"periodic""#);
    let p = e.eval_with(&c, "acme", D).health;
    assert_eq!((p.score, p.color), (100.0, Color::Green));
    e.seats("acme", 2, 20);
    let p = e.eval_with(&c, "acme", D).health;
    assert_eq!((p.score, p.color), (50.0, Color::Yellow)); // mau 20% of 40 -> 5.0: yellow at 50, green needs 90
}

#[test]
fn json_shape() {
    let mut e = Events::new();
    e.seats("acme", 0, 10).active("acme", 3, D);
    let ev = e.eval("acme", D);
    let h = serde_json::to_value(&ev.health).expect("serializes");
    for key in [
        "account_id",
        "as_of",
        "score",
        "color",
        "metrics",
        "measures",
        "reasons",
        "red_flags",
        "previous_color",
        "config_version",
    ] {
        assert!(h.get(key).is_some(), "health lacks {key}: {h}");
    }
    assert!(h.get("kind").is_none());
    assert_eq!(h["as_of"], "2026-12-11");
    let metric_keys: Vec<&str> = h["metrics"].as_object().expect("object").keys().map(String::as_str).collect();
    let mut want = [
        "seats",
        "dau",
        "wau",
        "mau",
        "dau_pct",
        "wau_pct",
        "mau_pct",
        "wau_change_pct",
        "mau_change_pct", // SPEC v2
    ];
    want.sort();
    let mut got = metric_keys.clone();
    got.sort();
    assert_eq!(got, want);
    let m = &h["measures"][0];
    for key in ["name", "value", "score", "weight"] {
        assert!(m.get(key).is_some(), "measure lacks {key}");
    }
    assert_eq!(h["config_version"], ScoringConfig::default().version());
    let r = serde_json::to_value(&ev.readiness).expect("serializes");
    for key in [
        "account_id",
        "as_of",
        "total",
        "verdict",
        "dimensions",
        "blockers",
        "overdue",
        "recovery_plan_needed",
        "days_in_stage",
    ] {
        assert!(r.get(key).is_some(), "readiness lacks {key}");
    }
    for dim in ["technical", "knowledge", "usage", "value", "stakeholder"] {
        assert!(r["dimensions"][dim].get("score").is_some() && r["dimensions"][dim].get("source").is_some());
    }
    // results deserialize back (the scorer may re-read them)
    let back: pulse_core::Evaluation = serde_json::from_value(serde_json::to_value(&ev).expect("ser")).expect("de");
    assert_eq!(back, ev);
}
