//! `pulse backtest` (SPEC §8) end to end through the library the CLI wraps: events
//! in, the score replayed as of each horizon day, the report lines out.
//!
//! The scenario is built so every color is certain without knowing the formula's
//! details: a "full" account has every licensed seat active every day (score 100,
//! green); a "silent" account has seats and no usage at all (adoption 0, the only
//! measure with data: score 0, red from its first day). The full accounts' CRM syncs
//! monthly, so their data stays current (SPEC v3 §10: green needs coverage >= 0.6).

use chrono::{Days, NaiveDate};
use pulse_core::config::ScoringConfig;
use pulse_replay::backtest::{backtest_bytes, BacktestOptions, Candidate};
use serde_json::{json, Value};

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

struct Events(Vec<String>);

impl Events {
    fn account(&mut self, id: &str, on: NaiveDate, extra: &str) {
        let n = self.0.len();
        self.0.push(format!(
            r#"{{"type":"account","event_id":"acc-{n}","account_id":"{id}","timestamp":"{on}T08:00:00Z","licensed_seats":4,"usage_profile":"weekly"{extra}}}"#
        ));
    }
    /// Every seat active every day of `from..=to`.
    fn full_usage(&mut self, id: &str, from: NaiveDate, to: NaiveDate) {
        for day in from.iter_days().take_while(|x| *x <= to) {
            for u in 0..4 {
                self.0.push(format!(
                    r#"{{"type":"usage","event_id":"{id}-{day}-{u}","account_id":"{id}","user_id":"{id}-u{u}","event":"open","timestamp":"{day}T10:00:0{u}Z"}}"#
                ));
            }
        }
    }
    /// The CRM's monthly sync of the account (seats restated): its attributes stay
    /// current (SPEC v3 §10: an account event older than 90 days is stale data).
    fn sync(&mut self, id: &str, from: NaiveDate, to: NaiveDate) {
        for day in from.iter_days().step_by(30).take_while(|x| *x <= to) {
            self.account(id, day, "");
        }
    }
    fn renewal(&mut self, id: &str, on: NaiveDate, outcome: &str) {
        let after = if outcome == "churned" { 0 } else { 1000 };
        self.0.push(format!(
            r#"{{"type":"renewal","event_id":"ren-{id}-{on}","account_id":"{id}","timestamp":"{on}T17:00:00Z","outcome":"{outcome}","renewal_on":"{on}","arr_before":1000,"arr_after":{after}}}"#
        ));
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = self.0.join("\n");
        out.push('\n');
        out.into_bytes()
    }
}

/// g1 renewed and r1 churned on 06-30; g2 (green, lost to a budget cut) and r2
/// (red, renewed anyway) on 09-30. Silent accounts start 100 days before renewal, so
/// their first red day is 100 days before it.
fn scenario() -> Events {
    let mut e = Events(Vec::new());
    let june = d("2026-06-30");
    let sept = d("2026-09-30");
    let before = |day: NaiveDate, n: u64| day - Days::new(n);
    // g1 graduates from onboarding on 03-01: its last onboarding day is 02-28.
    e.account("g1", before(june, 150), r#","lifecycle_stage":"onboarding""#);
    e.account("g1", d("2026-03-01"), r#","lifecycle_stage":"adoption""#);
    e.full_usage("g1", before(june, 150), june);
    e.sync("g1", before(june, 149), june);
    e.renewal("g1", june, "renewed");
    e.account("r1", before(june, 100), "");
    e.renewal("r1", june, "churned");
    e.account("g2", before(sept, 150), "");
    e.full_usage("g2", before(sept, 150), sept);
    e.sync("g2", before(sept, 149), sept);
    e.renewal("g2", sept, "churned");
    e.account("r2", before(sept, 100), "");
    e.renewal("r2", sept, "renewed");
    e
}

fn run(input: &[u8], configs: &[(Option<&'static str>, ScoringConfig)], from: &str, to: &str) -> Vec<Value> {
    let candidates: Vec<Candidate<'_>> = configs.iter().map(|(l, c)| Candidate { label: *l, config: c }).collect();
    let options = BacktestOptions::new(d(from), d(to)).expect("window");
    let mut out = Vec::new();
    let mut diag = Vec::new();
    backtest_bytes(input, &candidates, &options, &mut out, &mut diag).expect("backtest");
    assert!(diag.is_empty(), "{}", String::from_utf8_lossy(&diag));
    String::from_utf8(out).expect("utf8").lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn backtest_lines_of_a_known_history() {
    let input = scenario().bytes();
    let config = ScoringConfig::default();
    let lines = run(&input, &[(None, config.clone())], "2026-01-01", "2026-12-31");
    assert_eq!(lines.len(), 4, "{lines:#?}");
    // Every horizon sees the same four outcomes: g1, g2 green; r1, r2 red.
    // green 1 lost of 2, red 1 of 2; red precision 1/2, recall 1/2; AUC: r1 (0) vs
    // g1 (100) 1, r1 vs r2 (0) 1/2, g2 (100) vs g1 tie 1/2, g2 vs r2 0 -> 2/4.
    // Lead days: r1 red from 100 days before its renewal; g2 never red.
    for (line, h) in lines.iter().zip([30, 60, 90]) {
        assert_eq!(
            line,
            &json!({
                "kind": "backtest", "config_version": config.version(), "horizon_days": h,
                "outcomes": 4, "lost": 2,
                "by_color": {
                    "green": {"outcomes": 2, "lost": 1, "lost_rate": 0.5},
                    "yellow": {"outcomes": 0, "lost": 0, "lost_rate": null},
                    "red": {"outcomes": 2, "lost": 1, "lost_rate": 0.5}
                },
                "red": {"precision": 0.5, "recall": 0.5},
                "at_risk": {"precision": 0.5, "recall": 0.5},
                "auc": 0.5,
                "median_lead_days": 100.0
            })
        );
    }
    // g1 graduated (02-28 its last onboarding day) and renewed after it; with no
    // evidence its scorecard was not ready.
    assert_eq!(
        lines[3],
        json!({"kind": "graduation_backtest", "by_verdict": {
            "ready": {"outcomes": 0, "lost": 0, "lost_rate": null},
            "close": {"outcomes": 0, "lost": 0, "lost_rate": null},
            "not_ready": {"outcomes": 1, "lost": 0, "lost_rate": 0.0}
        }})
    );
}

#[test]
fn window_and_horizon_without_a_result() {
    let input = scenario().bytes();
    // June only; at 120 days r1 did not exist yet (it starts 100 days before).
    let candidates = [Candidate { label: None, config: &ScoringConfig::default() }];
    let mut options = BacktestOptions::new(d("2026-06-01"), d("2026-06-30")).expect("window");
    options.horizons = vec![30, 120];
    let mut out = Vec::new();
    backtest_bytes(&input, &candidates, &options, &mut out, &mut Vec::new()).expect("backtest");
    let lines: Vec<Value> =
        String::from_utf8(out).expect("utf8").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!((lines[0]["horizon_days"].clone(), lines[0]["outcomes"].clone()), (json!(30), json!(2)));
    assert_eq!(lines[0]["auc"], json!(1.0));
    assert_eq!((lines[1]["horizon_days"].clone(), lines[1]["outcomes"].clone()), (json!(120), json!(1)));
    assert_eq!(lines[1]["lost"], json!(0));
    assert_eq!(lines[1]["auc"], Value::Null);
}

/// `--compare`: a scorecard that only weighs stakeholder sentiment has no data for
/// any account here, so every score is 0 and it cannot tell g1 from r1 (AUC 0.5,
/// every outcome red); the live scorecard separates them (AUC 1). B must win.
#[test]
fn compare_scores_a_candidate_on_the_same_history() {
    let input = scenario().bytes();
    let live = ScoringConfig::default();
    let blind = ScoringConfig::from_toml_str(
        "[health.weights]\nadoption = 0\ntrend = 0\nbreadth = 0\nstickiness = 0\nsentiment = 100\n",
    )
    .expect("valid config");
    let lines = run(&input, &[(Some("a"), blind.clone()), (Some("b"), live.clone())], "2026-06-01", "2026-06-30");
    assert_eq!(lines.len(), 8);
    for (a, b) in lines[..3].iter().zip(&lines[4..7]) {
        assert_eq!((a["config"].clone(), b["config"].clone()), (json!("a"), json!("b")));
        assert_eq!(a["config_version"], json!(blind.version()));
        assert_eq!(b["config_version"], json!(live.version()));
        assert_eq!(a["horizon_days"], b["horizon_days"]);
        assert_eq!(a["auc"], json!(0.5));
        assert_eq!(b["auc"], json!(1.0));
        assert_eq!(a["red"], json!({"precision": 0.5, "recall": 1.0}));
        assert_eq!(b["red"], json!({"precision": 1.0, "recall": 1.0}));
    }
    assert_eq!(lines[3]["config"], json!("a"));
    assert_eq!(lines[7]["kind"], json!("graduation_backtest"));
}

/// The backtest reads each account's health exactly as `pulse replay --as-of` that
/// day prints it (events up to the end of the day only), on a generated year with
/// late and repeated events: its by-color counts equal those rebuilt from one as-of
/// replay per renewal day.
#[test]
fn horizon_colors_equal_replay_as_of_that_day() {
    use pulse_gen::{write_synthetic, SyntheticSpec};
    use pulse_replay::{replay, ReplayOptions, Window};
    use std::collections::BTreeMap;

    let spec = SyntheticSpec { accounts: 40, users: 400, days: 200, events: 40_000, ..SyntheticSpec::default() };
    let mut input = Vec::new();
    write_synthetic(&spec, &mut input).expect("generate");
    let (from, to) = (spec.end - Days::new(120), spec.end);
    let lines = run(&input, &[(None, ScoringConfig::default())], &from.to_string(), &to.to_string());

    // Outcomes in the window, from the input itself.
    let mut outcomes: Vec<(String, NaiveDate, bool)> = Vec::new();
    for l in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(l).expect("json");
        if v["type"] == "renewal" {
            let on: NaiveDate = v["renewal_on"].as_str().expect("date").parse().expect("date");
            if on >= from && on <= to {
                let lost = matches!(v["outcome"].as_str(), Some("churned" | "contracted"));
                outcomes.push((v["account_id"].as_str().expect("id").to_owned(), on, lost));
            }
        }
    }
    assert!(outcomes.len() >= 20, "{} outcomes", outcomes.len());
    let mut colors_on: BTreeMap<NaiveDate, BTreeMap<String, String>> = BTreeMap::new();
    for h in [30u64, 60, 90] {
        let mut by_color: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (account, on, lost) in &outcomes {
            let day = *on - Days::new(h);
            let colors = colors_on.entry(day).or_insert_with(|| {
                let mut out = Vec::new();
                replay(
                    &input[..],
                    &ScoringConfig::default(),
                    &ReplayOptions::new(Window::as_of(day)),
                    &mut out,
                    &mut Vec::new(),
                )
                .expect("replay");
                String::from_utf8(out)
                    .expect("utf8")
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).expect("json"))
                    .filter(|v| v["kind"] == "health")
                    .map(|v| {
                        (v["account_id"].as_str().expect("id").to_owned(), v["color"].as_str().expect("c").to_owned())
                    })
                    .collect()
            });
            if let Some(c) = colors.get(account) {
                let e = by_color.entry(c.clone()).or_default();
                e.0 += 1;
                e.1 += u64::from(*lost);
            }
        }
        let line = lines.iter().find(|l| l["horizon_days"] == json!(h)).expect("horizon line");
        for color in ["green", "yellow", "red"] {
            let (n, lost) = by_color.get(color).copied().unwrap_or_default();
            assert_eq!(
                (line["by_color"][color]["outcomes"].clone(), line["by_color"][color]["lost"].clone()),
                (json!(n), json!(lost)),
                "horizon {h}, {color}"
            );
        }
    }
}
