//! The backtest and forecast numbers of SPEC §8 on small scenarios computed by hand.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use pulse_core::backtest::{self, Outcome, Sample};
use pulse_core::event::RenewalOutcome::{self, *};
use pulse_core::forecast::{self, Calibration, Due};
use pulse_core::Color::{self, *};

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn outcome(account: &str, renewal_on: &str, o: RenewalOutcome, arr: f64) -> Outcome {
    Outcome {
        account_id: account.into(),
        renewal_on: d(renewal_on),
        outcome: o,
        arr_before: arr,
        arr_after: if o.is_lost() { arr / 2.0 } else { arr },
    }
}

/// Health by (account, day); days not listed have no result.
#[derive(Default)]
struct Hist(HashMap<(String, NaiveDate), Sample>);

impl Hist {
    /// The same health on every day of `from..=to`.
    fn set(&mut self, account: &str, from: NaiveDate, to: NaiveDate, score: f64, color: Color) {
        for day in from.iter_days().take_while(|x| *x <= to) {
            self.0.insert((account.into(), day), Sample { score, color });
        }
    }
    fn get(&self) -> impl Fn(&str, NaiveDate) -> Option<Sample> + '_ {
        |a, day| self.0.get(&(a.to_owned(), day)).copied()
    }
}

/// Six outcomes renewing on 2026-06-30, scored at 30 and 60 days:
///
/// | account | outcome    | health on 05-31 (h=30) | on 05-01 (h=60) | first red in the 180 days |
/// |---------|------------|------------------------|-----------------|---------------------------|
/// | a       | churned    | red 20                 | yellow 50       | 05-20 (lead 41)           |
/// | b       | contracted | yellow 45              | yellow 45       | 01-01 = day -180 (lead 180)|
/// | c       | renewed    | green 80               | green 80        | -                         |
/// | d       | renewed    | red 30                 | red 30          | (kept: not looked up)     |
/// | e       | expanded   | yellow 45              | no result       | -                         |
/// | f       | churned    | green 90               | green 90        | never red                 |
fn scenario() -> (Hist, Vec<Outcome>) {
    let mut h = Hist::default();
    let start = d("2025-10-01");
    let end = d("2026-06-29");
    h.set("a", start, d("2026-05-19"), 50.0, Yellow);
    h.set("a", d("2026-05-20"), end, 20.0, Red);
    h.set("b", start, d("2025-12-31"), 45.0, Yellow);
    h.set("b", d("2026-01-01"), d("2026-01-01"), 10.0, Red); // exactly 180 days before
    h.set("b", d("2026-01-02"), end, 45.0, Yellow);
    h.set("c", start, end, 80.0, Green);
    h.set("d", start, end, 30.0, Red);
    h.set("e", d("2026-05-10"), end, 45.0, Yellow);
    h.set("f", start, end, 90.0, Green);
    let outcomes = vec![
        outcome("a", "2026-06-30", Churned, 100.0),
        outcome("b", "2026-06-30", Contracted, 200.0),
        outcome("c", "2026-06-30", Renewed, 300.0),
        outcome("d", "2026-06-30", Renewed, 400.0),
        outcome("e", "2026-06-30", Expanded, 500.0),
        outcome("f", "2026-06-30", Churned, 600.0),
    ];
    (h, outcomes)
}

#[test]
fn backtest_numbers_of_a_hand_computed_scenario() {
    let (h, outcomes) = scenario();
    let scored: Vec<_> = outcomes.into_iter().map(|o| backtest::score_outcome(&h.get(), o, &[30, 60])).collect();
    let lines = backtest::report("v1", &[30, 60], &scored);
    let json = serde_json::to_value(&lines).expect("serializes");

    // h = 30: six outcomes, three lost (a, b, f).
    // green {c kept, f lost}: 1/2; yellow {b lost, e kept}: 1/2; red {a lost, d kept}: 1/2.
    // red: precision 1/2, recall 1/3; at risk (red or yellow): precision 2/4, recall 2/3.
    // AUC, lost {a 20, b 45, f 90} vs kept {c 80, d 30, e 45}:
    //   a: < 80, < 30, < 45 -> 3;  b: < 80, > 30, = 45 -> 1.5;  f: > all -> 0.  4.5 / 9 = 0.5.
    // Lead days over lost outcomes red within the 180 days: a 41, b 180 (f never red): 110.5.
    let expect_30 = serde_json::json!({
        "kind": "backtest", "config_version": "v1", "horizon_days": 30, "outcomes": 6, "lost": 3,
        "by_color": {
            "green": {"outcomes": 2, "lost": 1, "lost_rate": 0.5},
            "yellow": {"outcomes": 2, "lost": 1, "lost_rate": 0.5},
            "red": {"outcomes": 2, "lost": 1, "lost_rate": 0.5}
        },
        "red": {"precision": 0.5, "recall": 0.3333},
        "at_risk": {"precision": 0.5, "recall": 0.6667},
        "auc": 0.5,
        "median_lead_days": 110.5
    });
    assert_eq!(json[0], expect_30);

    // h = 60: e has no result on 05-01, so five outcomes, three lost.
    // green {c kept, f lost}; yellow {a lost, b lost}: 2/2; red {d kept}: 0/1.
    // red: precision 0/1 = 0, recall 0/3 = 0; at risk: precision 2/3, recall 2/3.
    // AUC, lost {a 50, b 45, f 90} vs kept {c 80, d 30}: a 1, b 1, f 0 -> 2/6.
    let expect_60 = serde_json::json!({
        "kind": "backtest", "config_version": "v1", "horizon_days": 60, "outcomes": 5, "lost": 3,
        "by_color": {
            "green": {"outcomes": 2, "lost": 1, "lost_rate": 0.5},
            "yellow": {"outcomes": 2, "lost": 2, "lost_rate": 1.0},
            "red": {"outcomes": 1, "lost": 0, "lost_rate": 0.0}
        },
        "red": {"precision": 0.0, "recall": 0.0},
        "at_risk": {"precision": 0.6667, "recall": 0.6667},
        "auc": 0.3333,
        "median_lead_days": 110.5
    });
    assert_eq!(json[1], expect_60);
}

#[test]
fn empty_groups_give_nulls() {
    let (h, _) = scenario();
    // Only kept outcomes, all green: no red, nothing lost.
    let scored = vec![backtest::score_outcome(&h.get(), outcome("c", "2026-06-30", Renewed, 1.0), &[30])];
    let json = serde_json::to_value(backtest::report("v1", &[30], &scored)).expect("serializes");
    assert_eq!(json[0]["by_color"]["red"], serde_json::json!({"outcomes": 0, "lost": 0, "lost_rate": null}));
    assert_eq!(json[0]["red"], serde_json::json!({"precision": null, "recall": null}));
    assert_eq!(json[0]["auc"], serde_json::Value::Null);
    assert_eq!(json[0]["median_lead_days"], serde_json::Value::Null);
    // No outcomes at all.
    let json = serde_json::to_value(backtest::report("v1", &[30], &[])).expect("serializes");
    assert_eq!(json[0]["outcomes"], 0);
    assert_eq!(json[0]["at_risk"], serde_json::json!({"precision": null, "recall": null}));
}

#[test]
fn latest_outcome_per_contract_date_wins_whatever_the_order() {
    use pulse_core::event::RenewalEvent;
    let ev = |id: &str, ts: &str, o: RenewalOutcome| RenewalEvent {
        event_id: id.into(),
        account_id: "acme".into(),
        timestamp: ts.parse().expect("ts"),
        outcome: o,
        renewal_on: d("2026-06-30"),
        arr_before: 10.0,
        arr_after: 0.0,
        reason: None,
    };
    let first = ev("e1", "2026-06-30T10:00:00Z", Renewed);
    let correction = ev("e2", "2026-07-02T10:00:00Z", Churned);
    for events in [vec![&first, &correction], vec![&correction, &first, &correction]] {
        let got = backtest::latest_outcomes(events);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].outcome, Churned);
    }
}

/// The forecast with known rates: the trailing year's 30-day backtest has green 1 lost
/// of 8 (p = 2/10 = 0.2), yellow 3 of 8 (p = 0.4), red 5 of 6 (p = 0.75).
#[test]
fn forecast_of_a_scenario_with_known_rates() {
    let today = d("2026-11-30");
    let mut h = Hist::default();
    let mut outcomes = Vec::new();
    let renewal_on = d("2026-08-31"); // within the trailing 365 days
    let at = renewal_on - Days::new(30);
    let mut add = |prefix: &str, color: Color, n: usize, lost: usize| {
        for i in 0..n {
            let id = format!("{prefix}{i}");
            h.set(&id, at, at, if color == Green { 80.0 } else { 30.0 }, color);
            outcomes.push(outcome(&id, "2026-08-31", if i < lost { Churned } else { Renewed }, 1.0));
        }
    };
    add("g", Green, 8, 1);
    add("y", Yellow, 8, 3);
    add("r", Red, 6, 5);
    // An outcome older than the trailing year does not count.
    h.set("old", d("2025-10-01"), d("2025-10-01"), 80.0, Green);
    outcomes.push(outcome("old", "2025-10-31", Churned, 1.0));

    let cal = Calibration::measure(&h.get(), &outcomes, &[30, 60, 90], "v1", today);
    assert_eq!(cal.from, d("2025-11-30"));
    assert_eq!(cal.to, d("2026-11-29"));
    assert_eq!(cal.p_lost(Green, 10), Some((30, 0.2)));
    assert_eq!(cal.p_lost(Yellow, 40), Some((30, 0.4)));
    assert_eq!(cal.p_lost(Red, 0), Some((30, 0.75)));
    // 60 and 90 days: no results that early, so every color is a coin flip.
    assert_eq!(cal.p_lost(Red, 80), Some((90, 0.5)));

    let due = vec![
        Due { account_id: "n1".into(), renewal_on: d("2026-12-10"), arr: 1000.0, color: Green, score: 80.0 },
        Due { account_id: "n2".into(), renewal_on: d("2026-12-20"), arr: 2000.0, color: Red, score: 20.0 },
        Due { account_id: "n3".into(), renewal_on: d("2027-01-05"), arr: 500.0, color: Yellow, score: 50.0 },
        Due { account_id: "n4".into(), renewal_on: d("2027-04-01"), arr: 4000.0, color: Green, score: 75.0 },
        Due { account_id: "n5".into(), renewal_on: d("2027-07-01"), arr: 9000.0, color: Green, score: 75.0 },
    ];
    let w90 = forecast::forecast_window(&cal, &due, today, 90);
    // n1: 10 days left -> h30, green 0.2 -> 800; n2: 20 days, red 0.75 -> 500;
    // n3: 36 days -> h30, yellow 0.4 -> 300. n4 is 122 days out, n5 213.
    assert_eq!(w90.renewals, 3);
    assert_eq!(w90.arr_due, 3500.0);
    assert_eq!(w90.expected_retained_arr, 1600.0);
    let ids: Vec<&str> = w90.accounts.iter().map(|a| a.due.account_id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2", "n3"]);
    assert_eq!(w90.accounts[1].p_lost, 0.75);
    assert_eq!(w90.accounts[1].expected_retained_arr, 500.0);
    let w180 = forecast::forecast_window(&cal, &due, today, 180);
    // n4: 122 days -> h90, green with no 90-day history: 0.5 -> 2000.
    assert_eq!(w180.renewals, 4);
    assert_eq!(w180.expected_retained_arr, 3600.0);
    assert_eq!(w180.by_color[0].renewals, 2); // green: n1, n4
    assert_eq!(w180.by_color[0].expected_retained_arr, 2800.0);
}

#[test]
fn past_quarters_are_forecast_as_of_their_start() {
    // Two outcomes in 2026-Q3 (July..September). As of 2026-06-30 the trailing year
    // holds one green kept and one red lost outcome, both with results 30 days before
    // only: at 30 days green p = 1/3 and red p = 2/3, at 60 and 90 days 1/2. Q3's
    // accounts on 06-30: x green (arr 300, renewed), y red (arr 600, churned).
    let mut h = Hist::default();
    h.set("old-g", d("2026-03-01"), d("2026-03-01"), 80.0, Green);
    h.set("old-r", d("2026-03-01"), d("2026-03-01"), 10.0, Red);
    h.set("x", d("2026-06-30"), d("2026-06-30"), 80.0, Green);
    h.set("y", d("2026-06-30"), d("2026-06-30"), 10.0, Red);
    let outcomes = vec![
        outcome("old-g", "2026-03-31", Renewed, 1.0),
        outcome("old-r", "2026-03-31", Churned, 1.0),
        outcome("x", "2026-08-10", Renewed, 300.0),
        outcome("y", "2026-09-15", Churned, 600.0),
    ];
    let quarters = forecast::backcast(&h.get(), &outcomes, &[30, 60, 90], "v1", d("2026-11-30"), 2);
    assert_eq!(quarters.len(), 2);
    assert_eq!(quarters[0].quarter, "2026-Q2");
    let q3 = &quarters[1];
    assert_eq!(
        (q3.quarter.as_str(), q3.from, q3.to, q3.as_of),
        ("2026-Q3", d("2026-07-01"), d("2026-09-30"), d("2026-06-30"))
    );
    assert_eq!(q3.renewals, 2);
    assert_eq!(q3.arr_due, 900.0);
    // x: 41 days left -> h30, green 1/3; y: 77 days -> h90: no 90-day history -> 1/2.
    // 300 x 2/3 + 600 x 1/2 = 500.
    assert_eq!(q3.forecast_retained_arr, 500.0);
    assert_eq!(q3.actual_retained_arr, 300.0);
    assert_eq!(q3.actual_arr_after, 600.0); // x 300 + y 300 (half, see `outcome`)
    assert_eq!(q3.lost, 1);
    assert_eq!(q3.expected_lost, round2(1.0 / 3.0 + 0.5));
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
