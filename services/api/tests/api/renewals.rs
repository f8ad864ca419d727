//! The renewal forecast and scorecard accuracy (SPEC §8) on a hand-written scenario
//! whose every number is worked out below by hand: daily health rows on the days the
//! backtest looks at, renewal outcomes in `crm_events` (one corrected), readiness rows
//! around two graduations. "Today" (the newest day with results) is 2026-06-30.
//!
//! Outcomes of the trailing year (2025-06-30 ..= 2026-06-29), colors/scores at
//! 90 / 60 / 30 days before the renewal:
//!
//! | account | renewal_on | outcome | ARR before→after | h90 | h60 | h30 | other rows |
//! |---|---|---|---|---|---|---|---|
//! | a1 | 2026-03-15 | churned | 100→0 | red 20 | red 20 | red 20 | 2025-12-31 red 22 |
//! | a2 | 2026-04-10 | renewed | 200→200 | green 85 | green 85 | green 85 | |
//! | a3 | 2026-05-20 | contracted (corrects "renewed") | 50→30 | green 75 | green 75 | green 75 | |
//! | a4 | 2026-02-01 | renewed | 80→80 | yellow 60 | yellow 55 | red 35 | 2025-12-31 yellow 58 |
//! | a5 | 2025-11-10 | expanded | 40→60 | green 90 | green 90 | green 90 | 2025-09-30 green 88 |
//! | a6 | 2025-09-01 | churned | 60→0 | green 72 | yellow 52 | yellow 50 | 2025-08-22 red 30, 2025-06-30 green 80 |
//!
//! Calibration (lost/outcomes; p_lost = (lost+1)/(outcomes+2)):
//! - h30: green 1/3 → 0.4, yellow 1/1 → 0.6667, red 1/2 → 0.5
//! - h60: green 1/3 → 0.4, yellow 1/2 → 0.5, red 1/1 → 0.6667
//! - h90: green 2/4 → 0.5, yellow 0/1 → 0.3333, red 1/1 → 0.6667
//!
//! Renewals due (rows on 2026-06-30): d1 2026-07-20 (20 days → h30) green $1000 → 600;
//! d2 2026-08-29 (60 → h60) red $3000 → 1000; d3 2026-09-28 (90 → h90) yellow $600 →
//! 400; d4 2026-11-27 (150 → h90) green $2000 → 1000. Not due: d5 (2027-02-01, past 180
//! days), d6 (2026-07-10, already decided), d7 (2026-06-15, in the past).

use chrono::NaiveDate;
use pulse_core::{
    event::{RenewalEvent, RenewalOutcome},
    ScoringConfig,
};
use pulse_e2e::TestEnv;
use serde_json::{json, Value};

use crate::common::*;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

async fn exec(env: &TestEnv, sql: &str) {
    env.ch().query(sql).execute().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// (account, day, score, color, segment, arr, renewal_on)
type Health<'a> = (&'a str, &'a str, f64, &'a str, &'a str, Option<f64>, Option<&'a str>);

async fn health(env: &TestEnv, rows: &[Health<'_>]) {
    let version = ScoringConfig::default().version();
    let values: Vec<String> = rows
        .iter()
        .map(|(a, day, score, color, seg, arr, renewal)| {
            format!(
                "('{a}', '{day}', {score}, '{color}', 'Account {a}', '{seg}', 'Casey CSM', 'adoption', {}, {}, '{version}', now())",
                arr.map_or("NULL".to_owned(), |v| v.to_string()),
                renewal.map_or("NULL".to_owned(), |r| format!("'{r}'")),
            )
        })
        .collect();
    exec(
        env,
        &format!(
            "INSERT INTO account_health (account_id, as_of, score, color, name, segment, csm, lifecycle_stage, arr, \
             renewal_on, config_version, computed_at) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
}

/// (account, day, stage, verdict)
async fn readiness(env: &TestEnv, rows: &[(&str, &str, &str, &str)]) {
    let values: Vec<String> = rows
        .iter()
        .map(|(a, day, stage, verdict)| format!("('{a}', '{day}', 0.5, '{verdict}', '{stage}', 'v', now())"))
        .collect();
    exec(
        env,
        &format!(
            "INSERT INTO graduation_readiness (account_id, as_of, total, verdict, lifecycle_stage, config_version, \
             computed_at) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
}

/// (account, renewal_on, outcome, arr_before, arr_after, reported at)
async fn renewals(env: &TestEnv, rows: &[(&str, &str, RenewalOutcome, f64, f64, &str)]) {
    let events: Vec<RenewalEvent> = rows
        .iter()
        .enumerate()
        .map(|(i, (a, on, outcome, before, after, at))| RenewalEvent {
            event_id: format!("ren-{i}"),
            account_id: (*a).to_owned(),
            timestamp: format!("{at}T12:00:00Z").parse().expect("timestamp"),
            outcome: *outcome,
            renewal_on: d(on),
            arr_before: *before,
            arr_after: *after,
            reason: None,
        })
        .collect();
    let rows = pulse_api::fixtures::renewal_rows(&events, 1, 0);
    assert_eq!(rows.len(), events.len());
    let mut ins = env.ch().insert::<pulse_storage::CrmRow>(pulse_storage::tables::CRM_EVENTS).await.expect("insert");
    for r in &rows {
        ins.write(r).await.expect("write");
    }
    ins.end().await.expect("end");
}

async fn scenario() -> TestEnv {
    let env = fresh().await;
    use RenewalOutcome::*;
    let e = "enterprise";
    health(
        &env,
        &[
            ("a1", "2026-02-13", 20.0, "red", e, None, None),
            ("a1", "2026-01-14", 20.0, "red", e, None, None),
            ("a1", "2025-12-15", 20.0, "red", e, None, None),
            ("a1", "2025-12-31", 22.0, "red", e, None, None),
            ("a2", "2026-03-11", 85.0, "green", e, None, None),
            ("a2", "2026-02-09", 85.0, "green", e, None, None),
            ("a2", "2026-01-10", 85.0, "green", e, None, None),
            ("a3", "2026-04-20", 75.0, "green", e, None, None),
            ("a3", "2026-03-21", 75.0, "green", e, None, None),
            ("a3", "2026-02-19", 75.0, "green", e, None, None),
            ("a4", "2026-01-02", 35.0, "red", e, None, None),
            ("a4", "2025-12-03", 55.0, "yellow", e, None, None),
            ("a4", "2025-11-03", 60.0, "yellow", e, None, None),
            ("a4", "2025-12-31", 58.0, "yellow", e, None, None),
            ("a5", "2025-10-11", 90.0, "green", e, None, None),
            ("a5", "2025-09-11", 90.0, "green", e, None, None),
            ("a5", "2025-08-12", 90.0, "green", e, None, None),
            ("a5", "2025-09-30", 88.0, "green", e, None, None),
            ("a6", "2025-08-02", 50.0, "yellow", e, None, None),
            ("a6", "2025-07-03", 52.0, "yellow", e, None, None),
            ("a6", "2025-06-03", 72.0, "green", e, None, None),
            ("a6", "2025-08-22", 30.0, "red", e, None, None),
            ("a6", "2025-06-30", 80.0, "green", e, None, None),
            ("d1", "2026-06-30", 80.0, "green", e, Some(1000.0), Some("2026-07-20")),
            ("d2", "2026-06-30", 25.0, "red", e, Some(3000.0), Some("2026-08-29")),
            ("d3", "2026-06-30", 55.0, "yellow", "smb", Some(600.0), Some("2026-09-28")),
            ("d4", "2026-06-30", 88.0, "green", "smb", Some(2000.0), Some("2026-11-27")),
            ("d5", "2026-06-30", 90.0, "green", "smb", Some(5000.0), Some("2027-02-01")),
            ("d6", "2026-06-30", 30.0, "red", e, Some(700.0), Some("2026-07-10")),
            ("d7", "2026-06-30", 40.0, "red", "smb", Some(900.0), Some("2026-06-15")),
        ],
    )
    .await;
    renewals(
        &env,
        &[
            ("a1", "2026-03-15", Churned, 100.0, 0.0, "2026-03-16"),
            ("a2", "2026-04-10", Renewed, 200.0, 200.0, "2026-04-10"),
            ("a3", "2026-05-20", Renewed, 50.0, 50.0, "2026-05-20"),
            ("a3", "2026-05-20", Contracted, 50.0, 30.0, "2026-05-25"),
            ("a4", "2026-02-01", Renewed, 80.0, 80.0, "2026-02-01"),
            ("a5", "2025-11-10", Expanded, 40.0, 60.0, "2025-11-10"),
            ("a6", "2025-09-01", Churned, 60.0, 0.0, "2025-09-02"),
            ("d6", "2026-07-10", Renewed, 700.0, 700.0, "2026-06-20"),
        ],
    )
    .await;
    readiness(
        &env,
        &[
            ("a2", "2025-06-09", "onboarding", "ready"),
            ("a2", "2025-06-10", "adoption", "ready"),
            ("a3", "2025-08-01", "onboarding", "not_ready"),
            ("a3", "2025-08-02", "adoption", "close"),
            ("a1", "2025-08-01", "onboarding", "not_ready"),
        ],
    )
    .await;
    env
}

fn close(v: &Value, want: f64, what: &str) {
    let got = v.as_f64().unwrap_or(f64::NAN);
    assert!((got - want).abs() < 1e-9, "{what}: got {v}, want {want}");
}

fn rate(outcomes: u64, lost: u64, lost_rate: Value, p_lost: f64) -> Value {
    json!({"outcomes": outcomes, "lost": lost, "lost_rate": lost_rate, "p_lost": p_lost})
}

#[tokio::test]
async fn forecast_of_a_scenario_with_known_rates() {
    let env = scenario().await;
    let api = spawn(&env).await;
    let r = api.ok("/api/v1/renewals").await;
    assert_eq!(r["as_of"], "2026-06-30");
    assert_eq!(r["horizons"], json!([30, 60, 90]));
    assert_eq!(r["stored_config_versions"], json!([ScoringConfig::default().version()]));
    let cal = &r["calibration"];
    assert_eq!((cal["from"].as_str(), cal["to"].as_str()), (Some("2025-06-30"), Some("2026-06-29")));
    assert_eq!((cal["outcomes"].as_u64(), cal["lost"].as_u64()), (Some(6), Some(3)), "{cal}");
    let h = &cal["horizons"];
    assert_eq!(h[0]["horizon_days"], 30);
    assert_eq!(h[0]["green"], rate(3, 1, json!(0.3333), 0.4));
    assert_eq!(h[0]["yellow"], rate(1, 1, json!(1.0), 0.6667));
    assert_eq!(h[0]["red"], rate(2, 1, json!(0.5), 0.5));
    assert_eq!(h[1]["green"], rate(3, 1, json!(0.3333), 0.4));
    assert_eq!(h[1]["yellow"], rate(2, 1, json!(0.5), 0.5));
    assert_eq!(h[1]["red"], rate(1, 1, json!(1.0), 0.6667));
    assert_eq!(h[2]["green"], rate(4, 2, json!(0.5), 0.5));
    assert_eq!(h[2]["yellow"], rate(1, 0, json!(0.0), 0.3333));
    assert_eq!(h[2]["red"], rate(1, 1, json!(1.0), 0.6667));
    for x in h.as_array().expect("horizons") {
        assert_eq!((x["outcomes"].as_u64(), x["lost"].as_u64()), (Some(6), Some(3)), "{x}");
    }

    let w90 = &r["windows"][0];
    assert_eq!(w90["days"], 90);
    assert_eq!((w90["from"].as_str(), w90["to"].as_str()), (Some("2026-06-30"), Some("2026-09-28")));
    assert_eq!(w90["renewals"], 3);
    close(&w90["arr_due"], 4600.0, "arr due 90");
    close(&w90["expected_retained_arr"], 2000.0, "retained 90");
    close(&w90["expected_lost_arr"], 2600.0, "lost 90");
    let accounts = w90["accounts"].as_array().expect("accounts");
    assert_eq!(strs(accounts, "account_id"), ["d1", "d2", "d3"], "soonest first; d6 decided, d7 past");
    let want = [(20, 30, 0.4, 600.0, "green"), (60, 60, 0.6667, 1000.0, "red"), (90, 90, 0.3333, 400.0, "yellow")];
    for (a, (days_left, horizon, p, retained, color)) in accounts.iter().zip(want) {
        assert_eq!(a["days_left"], days_left, "{a}");
        assert_eq!(a["horizon_days"], horizon, "{a}");
        close(&a["p_lost"], p, "p_lost");
        close(&a["expected_retained_arr"], retained, "retained");
        assert_eq!(a["color"], color);
        assert_eq!(a["name"], format!("Account {}", a["account_id"].as_str().expect("account_id")));
        assert_eq!(a["arr_unknown"], false);
    }
    let by = w90["by_color"].as_array().expect("by color");
    let by: Vec<(String, u64, f64, f64)> = by
        .iter()
        .map(|c| {
            (
                c["color"].as_str().expect("color").to_owned(),
                c["renewals"].as_u64().expect("renewals"),
                c["arr_due"].as_f64().expect("arr_due"),
                c["expected_retained_arr"].as_f64().expect("expected_retained_arr"),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("green".to_owned(), 1, 1000.0, 600.0),
            ("yellow".to_owned(), 1, 600.0, 400.0),
            ("red".to_owned(), 1, 3000.0, 1000.0)
        ]
    );
    let w180 = &r["windows"][1];
    assert_eq!(w180["days"], 180);
    assert_eq!(w180["renewals"], 4);
    close(&w180["arr_due"], 6600.0, "arr due 180");
    close(&w180["expected_retained_arr"], 3000.0, "retained 180");
    let last = &w180["accounts"][3];
    assert_eq!((last["account_id"].as_str(), last["days_left"].as_i64()), (Some("d4"), Some(150)));
    assert_eq!(last["horizon_days"], 90, "150 days left: the nearest horizon is 90");
    close(&last["p_lost"], 0.5, "d4 p_lost");

    // The same method as of the day before each past quarter (worked out in the
    // module docs of pulse_core::forecast; here by hand):
    // 2025-Q2: no renewals. 2025-Q3: a6 green on 2025-06-30, 63 days → h60, no history
    // before → 0.5. 2025-Q4: a5 green on 2025-09-30, 41 days → h30; rates from a6 only
    // (yellow at h30) → green 0.5. 2026-Q1: rates from a5 (kept, green) and a6 (lost:
    // yellow at h30 and h60, green at h90); a4 yellow on 2025-12-31, 32 days → h30
    // yellow 2/3; a1 red, 74 days → h60 red 1/2.
    let q = r["backcast"].as_array().expect("backcast");
    let got: Vec<Value> = q
        .iter()
        .map(|x| {
            json!([
                x["quarter"],
                x["as_of"],
                x["renewals"],
                x["arr_due"],
                x["forecast_retained_arr"],
                x["actual_retained_arr"],
                x["actual_arr_after"],
                x["lost"],
                x["expected_lost"]
            ])
        })
        .collect();
    assert_eq!(
        got,
        [
            json!(["2025-Q2", "2025-03-31", 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0]),
            json!(["2025-Q3", "2025-06-30", 1, 60.0, 30.0, 0.0, 0.0, 1, 0.5]),
            json!(["2025-Q4", "2025-09-30", 1, 40.0, 20.0, 40.0, 60.0, 0, 0.5]),
            json!(["2026-Q1", "2025-12-31", 2, 180.0, 76.67, 80.0, 80.0, 1, 1.17]),
        ]
    );
    let two = api.ok("/api/v1/renewals?quarters=2").await;
    assert_eq!(two["backcast"].as_array().map(Vec::len), Some(2));
    assert_eq!(two["backcast"][1]["quarter"], "2026-Q1");
}

#[tokio::test]
async fn scope_restricts_rates_forecast_and_backcast_to_its_accounts() {
    let env = scenario().await;
    let api = spawn(&env).await;
    // smb has no outcomes: every chance of loss is the coin flip of the smoothing.
    let r = api.ok("/api/v1/renewals?segment=smb").await;
    assert_eq!(r["calibration"]["outcomes"], 0);
    assert_eq!(r["calibration"]["horizons"][0]["green"], rate(0, 0, Value::Null, 0.5));
    assert_eq!(strs(r["windows"][1]["accounts"].as_array().expect("accounts"), "account_id"), ["d3", "d4"]);
    close(&r["windows"][1]["expected_retained_arr"], 1300.0, "smb retained 180");
    close(&r["windows"][0]["expected_retained_arr"], 300.0, "smb retained 90");
    assert!(r["backcast"].as_array().expect("backcast").iter().all(|q| q["renewals"] == 0));
    // enterprise holds every outcome: the whole portfolio's rates.
    let r = api.ok("/api/v1/renewals?segment=enterprise&csm=Casey%20CSM").await;
    assert_eq!(r["calibration"]["outcomes"], 6);
    close(&r["windows"][0]["expected_retained_arr"], 1600.0, "enterprise retained 90");
    let a = api.ok("/api/v1/accuracy?segment=smb").await;
    assert_eq!(a["outcomes"], 0);
    let a = api.ok("/api/v1/accuracy?csm=Casey%20CSM").await;
    assert_eq!(a["outcomes"], 6);
}

#[tokio::test]
async fn accuracy_of_a_scenario_with_known_outcomes() {
    let env = scenario().await;
    let api = spawn(&env).await;
    let a = api.ok("/api/v1/accuracy").await;
    assert_eq!(a["as_of"], "2026-06-30");
    assert_eq!(a["config_version"], ScoringConfig::default().version());
    assert_eq!((a["from"].as_str(), a["to"].as_str()), (Some("2025-06-30"), Some("2026-06-29")));
    assert_eq!((a["outcomes"].as_u64(), a["lost"].as_u64()), (Some(6), Some(3)));
    let h = a["horizons"].as_array().expect("horizons");
    assert_eq!(h.len(), 3);
    // h30: red {a1 lost, a4 kept}, yellow {a6 lost}, green {a2, a5 kept, a3 lost}.
    // AUC: lost {20, 75, 50} vs kept {85, 35, 90}: 3 + 2 + 2 of 9 pairs.
    // Lead: a1 first red 90 days before, a6 10 days, a3 never red: median 50.
    let want = [
        (30, json!({"precision": 0.5, "recall": 0.3333}), json!({"precision": 0.6667, "recall": 0.6667}), 0.7778),
        (60, json!({"precision": 1.0, "recall": 0.3333}), json!({"precision": 0.6667, "recall": 0.6667}), 0.8889),
        (90, json!({"precision": 1.0, "recall": 0.3333}), json!({"precision": 0.5, "recall": 0.3333}), 0.7778),
    ];
    for (x, (days, red, at_risk, auc)) in h.iter().zip(want) {
        assert_eq!(x["kind"], "backtest");
        assert_eq!(x["horizon_days"], days);
        assert_eq!((x["outcomes"].as_u64(), x["lost"].as_u64()), (Some(6), Some(3)));
        assert_eq!(x["red"], red, "h{days}");
        assert_eq!(x["at_risk"], at_risk, "h{days}");
        close(&x["auc"], auc, &format!("auc h{days}"));
        close(&x["median_lead_days"], 50.0, "lead");
    }
    assert_eq!(h[0]["by_color"]["green"], json!({"outcomes": 3, "lost": 1, "lost_rate": 0.3333}));
    assert_eq!(h[2]["by_color"]["yellow"], json!({"outcomes": 1, "lost": 0, "lost_rate": 0.0}));
    // Graduations: a2 ready on 2025-06-09 then renewed; a3 not ready on 2025-08-01 then
    // contracted; a1 never left onboarding.
    let g = &a["graduation"]["by_verdict"];
    assert_eq!(g["ready"], json!({"outcomes": 1, "lost": 0, "lost_rate": 0.0}));
    assert_eq!(g["close"], json!({"outcomes": 0, "lost": 0, "lost_rate": null}));
    assert_eq!(g["not_ready"], json!({"outcomes": 1, "lost": 1, "lost_rate": 1.0}));
    // Missed: a6 (green at h90, $60) before a3 (green throughout, $50). False alarm: a4.
    let missed = a["lost_while_green"].as_array().expect("missed");
    assert_eq!(strs(missed, "account_id"), ["a6", "a3"]);
    assert_eq!(missed[1]["outcome"], "contracted", "the correction wins");
    assert_eq!(missed[0]["first_red"], "2025-08-22");
    assert_eq!(
        missed[0]["at"],
        json!([
            {"horizon_days": 30, "color": "yellow", "score": 50.0},
            {"horizon_days": 60, "color": "yellow", "score": 52.0},
            {"horizon_days": 90, "color": "green", "score": 72.0}
        ])
    );
    let alarms = a["red_that_renewed"].as_array().expect("alarms");
    assert_eq!(strs(alarms, "account_id"), ["a4"]);
    assert_eq!(alarms[0]["first_red"], Value::Null);
    assert_eq!(alarms[0]["name"], "Account a4");
}

#[tokio::test]
async fn pages_show_the_forecast_and_the_misses_with_account_links() {
    let env = scenario().await;
    let api = spawn(&env).await;
    let auth = format!("Bearer {}", api.token);
    let html = api.raw("/renewals", Some(&auth)).await.text().await.expect("html");
    for want in [
        r#"data-testid="renewals-90">3<"#,
        r#"data-testid="arr-due-90">$4,600<"#,
        r#"data-testid="retained-90">$2,000<"#,
        r#"data-testid="retained-180">$3,000<"#,
        r#"<a href="/accounts/d1">Account d1</a>"#,
        r#"<tr data-horizon="60" data-color="red">"#,
        r#"<tr data-quarter="2026-Q1">"#,
        "66.7%",
        r#"href="/renewals" class="active""#,
    ] {
        assert!(html.contains(want), "/renewals lacks {want}");
    }
    assert_eq!(html.matches(r#"<svg class="chart""#).count(), 1, "the back-cast chart");
    assert_eq!(html.matches(r#"data-series="actually kept""#).count(), 4, "one bar per quarter");
    assert!(!html.contains(r#"data-testid="no-outcomes""#));
    let html = api.raw("/accuracy", Some(&auth)).await.text().await.expect("html");
    for want in [
        r#"data-testid="outcomes">6<"#,
        r#"data-testid="auc-60">0.89<"#,
        r#"<a href="/accounts/a6">Account a6</a>"#,
        r#"<a href="/accounts/a4">Account a4</a>"#,
        r#"data-testid="lost-while-green""#,
        r#"data-testid="red-that-renewed""#,
        r#"<tr data-verdict="not_ready">"#,
        "0.5</b> means",
    ] {
        assert!(html.contains(want), "/accuracy lacks {want}");
    }
    // A scope without outcomes says so instead of showing empty tables.
    let html = api.raw("/renewals?segment=smb", Some(&auth)).await.text().await.expect("html");
    assert!(html.contains(r#"data-testid="no-outcomes""#) && html.contains("coin flip"));
    let html = api.raw("/accuracy?segment=smb", Some(&auth)).await.text().await.expect("html");
    assert!(html.contains(r#"data-testid="no-outcomes""#));
}

#[tokio::test]
async fn empty_database_answers_with_empty_states() {
    let env = fresh().await;
    let api = spawn(&env).await;
    let r = api.ok("/api/v1/renewals").await;
    assert_eq!((r["as_of"].clone(), r["calibration"].clone()), (Value::Null, Value::Null));
    assert_eq!((r["windows"].clone(), r["backcast"].clone()), (json!([]), json!([])));
    let a = api.ok("/api/v1/accuracy").await;
    assert_eq!(a["as_of"], Value::Null);
    assert_eq!(a["horizons"], json!([]));
    assert_eq!(a["lost_while_green"], json!([]));
    let auth = format!("Bearer {}", api.token);
    for page in ["/renewals", "/accuracy"] {
        let r = api.raw(page, Some(&auth)).await;
        assert_eq!(r.status().as_u16(), 200, "{page}");
        assert!(r.text().await.expect("html").contains(r#"data-testid="empty""#), "{page}");
    }
    // Results but no outcomes: coin flips, said so.
    health(&env, &[("z1", "2026-06-30", 80.0, "green", "smb", None, Some("2026-07-30"))]).await;
    let r = api.ok("/api/v1/renewals").await;
    assert_eq!(r["calibration"]["outcomes"], 0);
    let z = &r["windows"][0]["accounts"][0];
    assert_eq!((z["account_id"].as_str(), z["arr_unknown"].as_bool()), (Some("z1"), Some(true)));
    close(&z["p_lost"], 0.5, "coin flip");
    assert_eq!(r["windows"][0]["arr_unknown"], 1);
    let a = api.ok("/api/v1/accuracy").await;
    assert_eq!((a["outcomes"].as_u64(), a["horizons"][0]["auc"].clone()), (Some(0), Value::Null));
    let html = api.raw("/accuracy", Some(&auth)).await.text().await.expect("html");
    assert!(html.contains(r#"data-testid="no-outcomes""#));
}

/// The forecast and the accuracy page read every account, every renewal outcome and
/// the results before each: more rows than one query may return at scale (issue 24:
/// past 200,000 accounts both answered 503). Under a read limit far below the data,
/// they read it in pieces and answer exactly what the default limit answers.
#[tokio::test]
async fn the_whole_portfolio_is_read_in_pieces_under_the_read_limit() {
    for env in [scenario().await, loaded(ACCOUNTS, 120).await] {
        let api = spawn(&env).await;
        let small =
            spawn_with(&env, pulse_api::ApiConfig { max_result_rows: 10, ..pulse_api::ApiConfig::default() }).await;
        let rows: u64 = env.ch().query("SELECT count() FROM account_health_latest").fetch_one().await.expect("count");
        assert!(rows > 10, "the data must exceed the limit: {rows} accounts");
        for path in [
            "/api/v1/renewals",
            "/api/v1/renewals?quarters=8&include_former=true",
            "/api/v1/renewals?segment=enterprise",
            "/api/v1/accuracy",
            "/api/v1/accuracy?csm=Casey%20CSM",
        ] {
            let (status, got) = small.get(path).await;
            assert_eq!(status, 200, "GET {path} under max_result_rows = 10: {got}");
            assert_eq!(got, api.ok(path).await, "GET {path}: the same answer under any read limit");
        }
        let auth = format!("Bearer {}", small.token);
        for page in ["/renewals", "/accuracy"] {
            assert_eq!(small.raw(page, Some(&auth)).await.status().as_u16(), 200, "{page}");
        }
    }
}

#[tokio::test]
async fn renewal_parameters_are_validated() {
    let env = shared().await;
    let api = spawn(env).await;
    api.bad("/api/v1/renewals?quarters=0", "parameter `quarters`: 0 is out of range 1..=8").await;
    api.bad("/api/v1/renewals?quarters=9", "parameter `quarters`").await;
    api.bad("/api/v1/renewals?quarters=four", "not an integer").await;
    api.bad("/api/v1/renewals?days=90", "unknown parameter `days`").await;
    api.bad("/api/v1/accuracy?quarters=4", "unknown parameter `quarters`").await;
    api.bad("/api/v1/accuracy?horizon=30", "unknown parameter").await;
    api.bad(&format!("/api/v1/accuracy?segment={}", "x".repeat(129)), "longer than 128").await;
    api.bad("/api/v1/renewals?csm=a%0Ab", "control characters").await;
    let r = api.raw("/renewals?quarters=99", Some(&format!("Bearer {}", api.token))).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("html").contains("parameter `quarters`"));
}

/// The API's backtest of stored daily results equals `pulse backtest` recomputing the
/// same demo events through the core: the fixtures store what the scorer would have,
/// day by day, and both sides go through `pulse_core::backtest`.
#[tokio::test]
async fn accuracy_of_the_demo_agrees_with_pulse_backtest() {
    // A year of outcomes, the 90-day horizon before the earliest, and the 180-day lead
    // window before that: the stored history must cover every day the backtest reads.
    let (accounts, days) = (20, 365 + 180 + 2);
    let env = loaded(accounts, days).await;
    let api = spawn(&env).await;
    let a = api.ok("/api/v1/accuracy").await;
    assert!(a["outcomes"].as_u64().expect("outcomes") >= 10 && a["lost"].as_u64().expect("lost") >= 2, "{a}");
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(
        &pulse_gen::DemoSpec { accounts, days: days + 27, end: end(), seed: 7, malformed: false },
        &mut ndjson,
    )
    .expect("demo");
    let from = d(a["from"].as_str().expect("from"));
    let to = d(a["to"].as_str().expect("to"));
    let config = ScoringConfig::default();
    let options = pulse_replay::backtest::BacktestOptions::new(from, to).expect("options");
    let mut out = Vec::new();
    pulse_replay::backtest::backtest_bytes(
        &ndjson,
        &[pulse_replay::backtest::Candidate { label: None, config: &config }],
        &options,
        &mut out,
        &mut std::io::sink(),
    )
    .expect("backtest");
    let lines: Vec<Value> =
        String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (api_line, cli_line) in a["horizons"].as_array().expect("horizons").iter().zip(&lines) {
        assert_eq!(api_line, cli_line, "API vs pulse backtest");
    }
    assert_eq!(a["graduation"], lines[3]);
}
