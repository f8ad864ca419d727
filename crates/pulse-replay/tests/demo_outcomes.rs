//! The demo's renewal outcomes (SPEC §8) follow its usage stories: every `renewal`
//! event is valid, the trailing year holds enough of them for a backtest, accounts
//! red before their renewal were lost more often than green ones, the exceptions a
//! CS leader would recognize are there (a healthy account lost, a red one that
//! renewed), former customers go silent after they churn, and renewals come up in
//! the next 90 and 180 days.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{Days, NaiveDate};
use pulse_core::backtest::{self, HorizonReport, Sample, DEFAULT_HORIZONS};
use pulse_core::event::{Event, RenewalEvent, RenewalOutcome};
use pulse_core::{parse_event, Color, ScoringConfig};
use pulse_gen::demo::{plan, write_demo, Cohort, DemoAccount, DemoSpec, Story};
use pulse_replay::backtest::{backtest_bytes, BacktestOptions, Candidate};
use pulse_replay::{replay, ReplayOptions, Window};
use serde_json::Value;

struct Demo {
    spec: DemoSpec,
    accounts: Vec<DemoAccount>,
    events: Vec<Event>,
    /// Health by (account, day), from a daily replay of the trailing year plus 90 days.
    history: HashMap<(String, NaiveDate), Sample>,
}

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")
}

fn build(seed: u64) -> Demo {
    let spec = DemoSpec { end: end(), seed, malformed: false, ..DemoSpec::default() };
    let mut ndjson = Vec::new();
    write_demo(&spec, &mut ndjson).expect("generate");
    let events = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_event(l).unwrap_or_else(|e| panic!("valid line: {e:?}: {}", String::from_utf8_lossy(l))))
        .collect();
    let from = spec.end - Days::new(364 + 90);
    let window = Window::series(from, spec.end).expect("window");
    let mut out = Vec::new();
    let mut diag = Vec::new();
    replay(&ndjson[..], &ScoringConfig::default(), &ReplayOptions::new(window), &mut out, &mut diag).expect("replay");
    let mut history = HashMap::new();
    for line in String::from_utf8(out).expect("utf8").lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        if v["kind"] != "health" {
            continue;
        }
        let color = match v["color"].as_str() {
            Some("green") => Color::Green,
            Some("yellow") => Color::Yellow,
            _ => Color::Red,
        };
        let day = NaiveDate::parse_from_str(v["as_of"].as_str().expect("as_of"), "%Y-%m-%d").expect("day");
        let account = v["account_id"].as_str().expect("account").to_string();
        history.insert((account, day), Sample { score: v["score"].as_f64().expect("score"), color });
    }
    Demo { accounts: plan(&spec), spec, events, history }
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| build(42))
}

fn renewals(d: &Demo) -> Vec<&RenewalEvent> {
    d.events
        .iter()
        .filter_map(|e| match e {
            Event::Renewal(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The backtest of SPEC §8 over the renewals of the trailing year, from the
/// replayed history, through the core's own functions.
fn backtest(d: &Demo) -> (Vec<backtest::ScoredOutcome>, Vec<HorizonReport>) {
    let from = d.spec.end - Days::new(364);
    let trailing = renewals(d).into_iter().filter(|r| (from..=d.spec.end).contains(&r.renewal_on));
    let history = |account: &str, day: NaiveDate| d.history.get(&(account.to_string(), day)).copied();
    let scored: Vec<_> = backtest::latest_outcomes(trailing)
        .into_iter()
        .map(|o| backtest::score_outcome(&history, o, &DEFAULT_HORIZONS))
        .collect();
    let report = backtest::report("demo", &DEFAULT_HORIZONS, &scored);
    (scored, report)
}

#[test]
fn renewal_events_are_valid_and_match_the_planned_stories() {
    let d = demo();
    let planned: BTreeMap<&str, &DemoAccount> = d.accounts.iter().map(|a| (a.account_id.as_str(), a)).collect();
    let first = d.spec.end - Days::new(u64::from(d.spec.days) - 1);
    let mut seen = 0;
    for r in renewals(d) {
        seen += 1;
        let a = planned[r.account_id.as_str()];
        let p = a.last_renewal.as_ref().expect("a renewal only where one is planned");
        assert_eq!(
            (r.renewal_on, r.outcome, r.arr_before, r.arr_after),
            (p.renewal_on, p.outcome, p.arr_before, p.arr_after)
        );
        assert!(r.renewal_on <= d.spec.end && r.timestamp.date_naive() == r.renewal_on, "{r:?}");
        assert!(r.arr_before > 0.0 && r.arr_after >= 0.0, "{r:?}");
        match r.outcome {
            RenewalOutcome::Churned => assert_eq!(r.arr_after, 0.0, "{r:?}"),
            RenewalOutcome::Contracted => assert!(r.arr_after < r.arr_before, "{r:?}"),
            RenewalOutcome::Expanded => assert!(r.arr_after > r.arr_before, "{r:?}"),
            RenewalOutcome::Renewed => assert!(r.arr_after >= r.arr_before, "{r:?}"),
        }
        // Round trip: what the generator writes is what the core parses.
        let line = serde_json::to_vec(&Event::Renewal(r.clone())).expect("json");
        assert_eq!(parse_event(&line).expect("valid"), Event::Renewal(r.clone()));
    }
    // Every account past its first contract renewed (or churned) inside the data.
    let expected = d.accounts.iter().filter(|a| a.last_renewal.as_ref().is_some_and(|p| p.renewal_on >= first)).count();
    assert_eq!(seen, expected);
    assert!(
        d.accounts
            .iter()
            .all(|a| a.cohort.is_former()
                == a.last_renewal.as_ref().is_some_and(|p| p.outcome == RenewalOutcome::Churned))
    );
}

#[test]
fn the_trailing_year_backtest_tells_red_from_green() {
    let d = demo();
    let (scored, report) = backtest(d);
    for line in &report {
        eprintln!("{}", serde_json::to_string(line).expect("json"));
    }
    let lost = scored.iter().filter(|s| s.outcome.lost()).count();
    assert!((40..=80).contains(&scored.len()), "{} outcomes in the trailing year", scored.len());
    assert!(lost >= 8, "{lost} lost");
    for h in &report {
        let (red, green) = (h.by_color.red, h.by_color.green);
        assert!(h.outcomes as usize >= scored.len() * 9 / 10, "horizon {}: most outcomes have a score", h.horizon_days);
        assert!(red.outcomes >= 3 && green.outcomes >= 20, "horizon {}: {:?}", h.horizon_days, h.by_color);
        assert!(
            red.lost_rate.unwrap_or(0.0) > 2.0 * green.lost_rate.unwrap_or(1.0),
            "horizon {}: red lost more often than green: {:?}",
            h.horizon_days,
            h.by_color
        );
        assert!(h.auc.is_some_and(|a| a > 0.75), "horizon {}: auc {:?}", h.horizon_days, h.auc);
    }
    // The exceptions: lost while green (a budget cut), renewed while red (a save).
    let at60 = |s: &backtest::ScoredOutcome| s.at[1].map(|x| x.color);
    assert!(scored.iter().any(|s| s.outcome.lost() && at60(s) == Some(Color::Green)), "a green account lost");
    assert!(scored.iter().any(|s| !s.outcome.lost() && at60(s) == Some(Color::Red)), "a red account renewed");
    // Lost accounts went red well before the renewal (SPEC's median lead days).
    assert!(report[1].median_lead_days.is_some_and(|m| m >= 30.0), "{:?}", report[1].median_lead_days);
}

#[test]
fn stories_show_in_the_history_before_the_renewal() {
    let d = demo();
    let color = |a: &DemoAccount, before: u64| {
        let p = a.last_renewal.as_ref().expect("renewal");
        d.history.get(&(a.account_id.clone(), p.renewal_on - Days::new(before))).map(|s| s.color)
    };
    for a in &d.accounts {
        let Some(p) = &a.last_renewal else { continue };
        let ctx = format!("{} ({:?}, {:?}, renewal {})", a.account_id, a.cohort, p.story, p.renewal_on);
        match p.story {
            // Steady accounts were green before their renewal (the seat-unknown and
            // low-usage cohorts aside; seats never synced is never green: SPEC v3 §10).
            Story::Renewed | Story::Expanded | Story::BudgetContracted | Story::ChurnedBudgetCut
                if !matches!(a.cohort, Cohort::SeatsUnknown | Cohort::Churning | Cohort::SeatsNeverSynced) =>
            {
                assert_eq!(color(a, 60), Some(Color::Green), "{ctx}");
                assert_eq!(color(a, 30), Some(Color::Green), "{ctx}");
            }
            Story::SlumpContracted | Story::SlumpSaved | Story::ChurnedAfterDecline => {
                assert_ne!(color(a, 30), Some(Color::Green), "{ctx}");
            }
            _ => {}
        }
        if a.cohort == Cohort::SeatsNeverSynced {
            // insufficient data all along: yellow at best, whatever the usage
            assert!(![color(a, 60), color(a, 30)].contains(&Some(Color::Green)), "{ctx}");
        }
        // After a churn there is no usage at all.
        if p.outcome == RenewalOutcome::Churned {
            let after = d
                .events
                .iter()
                .filter(|e| e.account_id() == a.account_id)
                .filter(|e| matches!(e, Event::Usage(_)) && e.timestamp().date_naive() > p.renewal_on);
            assert_eq!(after.count(), 0, "{ctx}");
        }
    }
}

#[test]
fn renewals_come_up_in_the_next_90_and_180_days() {
    let d = demo();
    // The renewal date on record: the latest `account` event that set one.
    let mut on_record: BTreeMap<&str, (chrono::DateTime<chrono::Utc>, NaiveDate)> = BTreeMap::new();
    for e in &d.events {
        if let Event::Account(a) = e {
            if let Some(r) = a.renewal_on {
                let slot = on_record.entry(a.account_id.as_str()).or_insert((a.timestamp, r));
                if a.timestamp >= slot.0 {
                    *slot = (a.timestamp, r);
                }
            }
        }
    }
    let end = d.spec.end;
    let mut next90 = 0;
    let mut next180 = 0;
    for a in &d.accounts {
        let on = on_record[a.account_id.as_str()].1;
        assert_eq!(on, a.renewal_on, "{}", a.account_id);
        if a.cohort.is_former() {
            assert!(on <= end, "{}: churned, no renewal ahead", a.account_id);
            continue;
        }
        assert!(on > end && on <= end + Days::new(366), "{}: {on}", a.account_id);
        next90 += usize::from(on <= end + Days::new(90));
        next180 += usize::from(on <= end + Days::new(180));
    }
    assert!(next90 >= 5, "{next90} renewals in the next 90 days");
    assert!(next180 >= next90 + 5, "{next180} in the next 180 days, {next90} in 90");
    // The declining and churning accounts come up within the next five months.
    for a in
        d.accounts.iter().filter(|a| matches!(a.cohort, Cohort::Churning | Cohort::SlowDecline | Cohort::SuddenDrop))
    {
        assert!(a.renewal_on <= end + Days::new(150), "{}: {}", a.account_id, a.renewal_on);
    }
}

#[test]
fn outcomes_follow_the_stories_whatever_the_seed() {
    let d = build(7);
    let (scored, report) = backtest(&d);
    assert!(scored.len() >= 40);
    let h60 = &report[1];
    assert!(h60.by_color.red.lost_rate.unwrap_or(0.0) > h60.by_color.green.lost_rate.unwrap_or(1.0), "{h60:?}");
}

/// Customers whose first contract began inside the data onboarded, graduated and
/// renewed (or not) in the trailing year, so the graduation backtest (SPEC §8, the
/// last line of `pulse backtest`) has outcomes under more than one verdict, and
/// "ready" kept more of them than "not ready" (the exceptions: budget cuts).
#[test]
fn the_graduation_backtest_has_outcomes_to_score() {
    let spec = DemoSpec { end: end(), seed: 42, malformed: false, ..DemoSpec::default() };
    let mut ndjson = Vec::new();
    write_demo(&spec, &mut ndjson).expect("generate");
    let graduates: Vec<DemoAccount> = plan(&spec)
        .into_iter()
        .filter(|a| a.graduated_on().is_some())
        .filter(|a| a.last_renewal.as_ref().is_some_and(|p| p.renewal_on > spec.end - Days::new(365)))
        .collect();
    assert!(graduates.len() >= 6, "{} graduates with a renewal in the trailing year", graduates.len());
    assert!(graduates.iter().any(|a| a.cohort.is_former()), "a graduate that churned");

    let options = BacktestOptions::new(spec.end - Days::new(364), spec.end).expect("options");
    let config = ScoringConfig::default();
    let mut out = Vec::new();
    backtest_bytes(&ndjson, &[Candidate { label: None, config: &config }], &options, &mut out, &mut std::io::sink())
        .expect("backtest");
    let last: Value =
        serde_json::from_slice(out.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).expect("a line")).expect("json");
    assert_eq!(last["kind"], "graduation_backtest");
    let v = &last["by_verdict"];
    let n = |verdict: &str, k: &str| v[verdict][k].as_u64().unwrap_or_else(|| panic!("{verdict}.{k} in {v}"));
    let total: u64 = ["ready", "close", "not_ready"].iter().map(|x| n(x, "outcomes")).sum();
    assert_eq!(total, graduates.len() as u64, "each graduate's renewal counts once: {v}");
    assert!(n("ready", "outcomes") >= 3 && n("not_ready", "outcomes") >= 1, "{v}");
    let rate = |verdict: &str| n(verdict, "lost") as f64 / n(verdict, "outcomes") as f64;
    assert!(rate("ready") < rate("not_ready"), "ready should keep more than not ready: {v}");
}
