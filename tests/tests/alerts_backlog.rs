//! Results that tell the truth under backlog (SPEC §5, §7): weeks of history produced at
//! once, in time order and shuffled, go through ingest and the scorer; once settled,
//! - no live transition contradicts the stored results of its own day,
//! - the live transitions in `health_alerts` are exactly the alert lines of
//!   `pulse replay --from D1 --to D2` over the same events,
//! - the webhook got nothing for a day before the notify window (history is recorded, not
//!   sent; the skipped-notification metric counted it), nothing that does not hold in the
//!   final history (while a partition catches up, transitions derived from partial data
//!   are held, and withdrawn ones never go out), and every transition of the final history
//!   within the window exactly once;
//!
//! then one late CRM event (a seats change dated nine days back) flips a past day's color
//! for one account: the transitions that no longer hold are `retracted` (ClickHouse and
//! topic) and the live history again equals replay over the updated input; the webhook
//! gets the retraction of each withdrawn transition it had been sent, and the transitions
//! that now hold, once each.
//!
//! The time-ordered backlog runs with the default notify window (today only: the day
//! whose events arrive last, from a partial day at first); the shuffled one with a week,
//! so that many transitions are derived, withdrawn and re-derived within the window while
//! the backlog streams in.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use chrono::{Days, NaiveDate, NaiveTime, Utc};
use pulse_e2e::{stored_results, CollectTotal, DayResults, IngestHandle, ScorerHandle, TestEnv};
use pulse_gen::{demo, Cohort, DemoSpec};
use pulse_runtime::Secret;
use pulse_scorer::FixedClock;

/// 15 accounts: every demo cohort once. Six weeks of history.
const ACCOUNTS: u32 = 15;
const DAYS: u32 = 42;
const SEED: u64 = 11;

/// One transition as compared with replay: (account, rule, state, opened_on, as_of).
type Key = (String, String, String, String, String);

/// A stored alert row (all columns as strings, `details` parsed).
#[derive(Debug, Clone)]
struct AlertRow {
    account_id: String,
    rule: String,
    transition: String,
    state: String,
    opened_on: String,
    as_of: String,
    severity: String,
    message: String,
    details: serde_json::Value,
}

impl AlertRow {
    fn key(&self) -> Key {
        (self.account_id.clone(), self.rule.clone(), self.state.clone(), self.opened_on.clone(), self.as_of.clone())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Time,
    Shuffled,
}

/// The demo backlog ending yesterday: its lines and the spec.
fn backlog() -> (Vec<Vec<u8>>, DemoSpec) {
    let end = Utc::now().date_naive().checked_sub_days(Days::new(1)).expect("yesterday");
    let spec = DemoSpec { accounts: ACCOUNTS, days: DAYS, end, seed: SEED, malformed: false };
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(&spec, &mut ndjson).expect("demo data");
    let lines =
        ndjson.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).map(<[u8]>::to_vec).collect();
    (lines, spec)
}

fn first_day(spec: &DemoSpec) -> NaiveDate {
    spec.end.checked_sub_days(Days::new(u64::from(spec.days) - 1)).expect("first day")
}

fn timestamp(line: &[u8]) -> chrono::DateTime<Utc> {
    pulse_core::parse_event(line).expect("demo lines are valid").timestamp()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// A seeded Fisher-Yates permutation (splitmix64).
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// `pulse replay --from D1 --to D2` ([`pulse_e2e::replay_series`]): the alert lines as
/// keys, each with (severity, message), and the health/readiness results per day.
fn replay_series(
    ndjson: &[u8],
    from: NaiveDate,
    to: NaiveDate,
) -> (BTreeMap<Key, (String, String)>, BTreeMap<String, DayResults>) {
    let (lines, results) = pulse_e2e::replay_series(ndjson, from, to);
    let mut alerts = BTreeMap::new();
    for v in &lines {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let key = (s("account_id"), s("rule"), s("state"), s("opened_on"), s("as_of"));
        assert!(alerts.insert(key.clone(), (s("severity"), s("message"))).is_none(), "replay printed {key:?} twice");
    }
    (alerts, results)
}

/// Every row of `health_alerts FINAL` (live and retracted).
async fn alert_rows(env: &TestEnv) -> Vec<AlertRow> {
    type Raw = (String, String, String, String, String, String, String, String, String);
    let rows: Vec<Raw> = env
        .ch()
        .query(
            "SELECT account_id, toString(rule), toString(transition), toString(state), toString(opened_on), \
             toString(as_of), toString(severity), message, details FROM health_alerts FINAL",
        )
        .fetch_all()
        .await
        .expect("read health_alerts");
    rows.into_iter()
        .map(|(account_id, rule, transition, state, opened_on, as_of, severity, message, details)| AlertRow {
            account_id,
            rule,
            transition,
            state,
            opened_on,
            as_of,
            severity,
            message,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
        .collect()
}

fn live(rows: &[AlertRow]) -> BTreeMap<Key, AlertRow> {
    rows.iter().filter(|r| r.state != "retracted").map(|r| (r.key(), r.clone())).collect()
}

/// Stored minus expected and expected minus stored, for the failure message.
fn difference(stored: &BTreeSet<Key>, expected: &BTreeSet<Key>) -> String {
    let extra: Vec<&Key> = stored.difference(expected).collect();
    let missing: Vec<&Key> = expected.difference(stored).collect();
    format!("stored but not in replay: {extra:#?}\nin replay but not stored: {missing:#?}")
}

/// (a) No live `opened` transition contradicts the stored results of its own day.
async fn assert_no_contradiction(env: &TestEnv, rows: &[AlertRow]) -> usize {
    type Raw = (String, String, String, String, String);
    let health: Vec<Raw> = env
        .ch()
        .query("SELECT account_id, toString(as_of), toString(color), arrayStringConcat(red_flags, ','), result FROM account_health FINAL")
        .fetch_all()
        .await
        .expect("read account_health");
    let health: BTreeMap<(String, String), (String, Vec<String>, serde_json::Value)> = health
        .into_iter()
        .map(|(a, d, color, flags, result)| {
            (
                (a, d),
                (
                    color,
                    flags.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect(),
                    serde_json::from_str(&result).unwrap_or(serde_json::Value::Null),
                ),
            )
        })
        .collect();
    let mut checked = 0;
    for r in rows.iter().filter(|r| r.state != "retracted" && r.transition == "opened") {
        let day = (r.account_id.clone(), r.as_of.clone());
        let check =
            |ok: bool, why: &str| assert!(ok, "{} {} opened on {}: {why}; alert: {r:?}", r.account_id, r.rule, r.as_of);
        let ctx = health.get(&day);
        match r.rule.as_str() {
            "health_dropped" => {
                let (color, _, _) = ctx.unwrap_or_else(|| panic!("no stored health for {day:?}, alert {r:?}"));
                check(color != "green", &format!("that day's stored color is {color}"));
            }
            "low_engagement" => {
                let (_, flags, _) = ctx.unwrap_or_else(|| panic!("no stored health for {day:?}, alert {r:?}"));
                check(
                    flags.iter().any(|f| f == "low_engagement"),
                    &format!("that day's stored red flags are {flags:?}"),
                );
            }
            "usage_declining" => {
                let (_, flags, result) = ctx.unwrap_or_else(|| panic!("no stored health for {day:?}, alert {r:?}"));
                let metric = ["wau_change_pct", "mau_change_pct"]
                    .into_iter()
                    .find(|m| r.details.get(*m).is_some())
                    .unwrap_or_else(|| panic!("usage_declining details name no change metric: {r:?}"));
                let open_at = r.details["open_at_pct"].as_f64().unwrap_or_else(|| panic!("no open_at_pct in {r:?}"));
                let value = result["metrics"][metric].as_f64();
                check(
                    flags.iter().any(|f| f == "usage_declining") || value.is_some_and(|v| v <= open_at),
                    &format!(
                        "that day's stored {metric} is {value:?} (opens at {open_at}) and red flags are {flags:?}"
                    ),
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    checked
}

/// Waits until ingest has consumed `produced` messages and the scorer has applied all
/// that ingest forwarded, then until the live transitions equal `expected` (polling:
/// the scorer writes a batch after it applied it). Returns the rows at the end.
async fn settle(
    env: &TestEnv,
    ingest: &IngestHandle,
    scorer: &ScorerHandle,
    produced: u64,
    expected: &BTreeSet<Key>,
) -> Vec<AlertRow> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while ingest.consumed() < produced || scorer.metrics.events.collect_total() < ingest.metrics.forwarded.get() {
        assert!(
            Instant::now() < deadline,
            "pipeline did not drain: ingest consumed {} of {produced}, scorer applied {} of {} forwarded",
            ingest.consumed(),
            scorer.metrics.events.collect_total(),
            ingest.metrics.forwarded.get()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = alert_rows(env).await;
        let keys: BTreeSet<Key> = live(&rows).into_keys().collect();
        if &keys == expected || Instant::now() > deadline {
            // Let a last batch land, then read again.
            tokio::time::sleep(Duration::from_secs(2)).await;
            return alert_rows(env).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// (b) stored live transitions == replay, transition for transition (and with the same
/// severity and message).
fn assert_same_transitions(rows: &[AlertRow], expected: &BTreeMap<Key, (String, String)>, what: &str) {
    let stored = live(rows);
    let stored_keys: BTreeSet<Key> = stored.keys().cloned().collect();
    let expected_keys: BTreeSet<Key> = expected.keys().cloned().collect();
    assert!(
        stored_keys == expected_keys,
        "{what}: live transitions differ from replay\n{}",
        difference(&stored_keys, &expected_keys)
    );
    for (k, (severity, message)) in expected {
        let r = &stored[k];
        assert_eq!((&r.severity, &r.message), (severity, message), "{what}: severity/message of {k:?}");
    }
}

/// What the alerts feed reads (`alerts_current`, one row per alert) is open exactly for the
/// alerts replay leaves open: opened and not resolved. One open alert per account and rule.
async fn assert_open_alerts(env: &TestEnv, expected: &BTreeMap<Key, (String, String)>, what: &str) {
    let resolved: BTreeSet<(String, String, String)> =
        expected.keys().filter(|k| k.2 == "resolved").map(|k| (k.0.clone(), k.1.clone(), k.3.clone())).collect();
    let want: BTreeSet<(String, String, String)> = expected
        .keys()
        .filter(|k| k.2 == "opened")
        .map(|k| (k.0.clone(), k.1.clone(), k.3.clone()))
        .filter(|a| !resolved.contains(a))
        .collect();
    let got: Vec<(String, String, String)> = env
        .ch()
        .query("SELECT account_id, rule, toString(opened_on) FROM alerts_current FINAL WHERE status = 'open'")
        .fetch_all()
        .await
        .expect("alerts_current");
    let got: BTreeSet<(String, String, String)> = got.into_iter().collect();
    assert!(
        got == want,
        "{what}: open alerts in alerts_current differ from replay: stored only {:?}, replay only {:?}",
        got.difference(&want).collect::<Vec<_>>(),
        want.difference(&got).collect::<Vec<_>>()
    );
    let per_rule: BTreeSet<(&String, &String)> = got.iter().map(|(a, r, _)| (a, r)).collect();
    assert_eq!(per_rule.len(), got.len(), "{what}: more than one open alert for an account and rule");
}

/// Stored health and readiness equal the replay series, every day of the range.
async fn assert_same_results(
    env: &TestEnv,
    expected: &BTreeMap<String, BTreeMap<(String, String), serde_json::Value>>,
    what: &str,
) {
    for (day, want) in expected {
        let d: NaiveDate = day.parse().expect("date");
        let stored = stored_results(env, d).await.expect("stored results");
        for (key, v) in want {
            assert_eq!(stored.get(key), Some(v), "{what}: stored result for {key:?} on {day}");
        }
        assert_eq!(stored.len(), want.len(), "{what}: no extra results on {day}");
    }
}

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn hook(State(r): State<Receiver>, Json(body): Json<serde_json::Value>) -> StatusCode {
    if let Ok(mut b) = r.bodies.lock() {
        b.push(body);
    }
    StatusCode::OK
}

impl Receiver {
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("bodies").clone()
    }

    /// Waits until every key of `want` was notified at least once (or 60 s), then a little
    /// longer so that a duplicate or a straggler would show; returns the bodies after `skip`.
    async fn wait_for(&self, skip: usize, want: &BTreeSet<Key>) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got: BTreeSet<Key> = self.bodies().iter().skip(skip).map(body_key).collect();
            if want.is_subset(&got) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.bodies().into_iter().skip(skip).collect()
    }
}

/// A notified transition as compared with replay; a retraction is keyed by the transition
/// it withdraws (state `retracted:opened` / `retracted:resolved`).
fn body_key(b: &serde_json::Value) -> Key {
    let s = |k: &str| b["alert"][k].as_str().unwrap_or_default().to_owned();
    let state = match s("state").as_str() {
        "retracted" => format!("retracted:{}", s("retracts")),
        other => other.to_owned(),
    };
    (s("account_id"), s("rule"), state, s("opened_on"), s("as_of"))
}

/// (c) The receiver got nothing for a day before the notify window (`oldest` is its
/// first day).
fn assert_no_past_notifications(bodies: &[serde_json::Value], oldest: NaiveDate, what: &str) {
    for b in bodies {
        let as_of: NaiveDate = b["alert"]["as_of"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("webhook body without alert.as_of: {b}"));
        assert!(as_of >= oldest, "{what}: webhook notified a day before the window (from {oldest}): {b}");
    }
}

/// (d) Every notification is one of `allowed` (a transition that holds in the final
/// history, or the retraction of one notified before), every key of `want` was notified
/// exactly once, and nothing twice.
fn assert_notified_exactly(bodies: &[serde_json::Value], allowed: &BTreeSet<Key>, want: &BTreeSet<Key>, what: &str) {
    let mut count: BTreeMap<Key, usize> = BTreeMap::new();
    for b in bodies {
        *count.entry(body_key(b)).or_default() += 1;
    }
    let unfounded: Vec<&Key> = count.keys().filter(|k| !allowed.contains(*k)).collect();
    assert!(
        unfounded.is_empty(),
        "{what}: {} webhook calls for transitions that do not hold in the final history \
         (derived from partial data, later withdrawn): {unfounded:#?}",
        unfounded.len()
    );
    let twice: Vec<(&Key, &usize)> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: notified more than once: {twice:#?}");
    let missing: Vec<&Key> = want.iter().filter(|k| !count.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{what}: transitions within the notify window never notified: {missing:#?}");
}

async fn backlog_tells_the_truth(order: Order) {
    let env = TestEnv::new(3).await;
    let (mut lines, spec) = backlog();
    let (d1, d2) = (first_day(&spec), spec.end);
    match order {
        Order::Time => lines.sort_by_key(|l| timestamp(l)),
        Order::Shuffled => shuffle(&mut lines, 0x5eed ^ SEED),
    }
    let ndjson = join(&lines);
    let (expected, expected_results) = replay_series(&ndjson, d1, d2);
    let past: usize = expected.keys().filter(|k| k.4 < d2.to_string()).count();
    assert!(
        past > 0 && expected.keys().any(|k| k.2 == "resolved"),
        "the backlog has past openings and resolutions: {expected:#?}"
    );

    // Webhook receiver; the scorer's today is the backlog's last day.
    let receiver = Receiver::default();
    let app = Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = pulse_e2e::scorer_config(&env);
    cfg.webhook.url = Some(Secret::new(format!("http://{addr}/hook")));
    cfg.webhook.timeout_ms = 2_000;
    assert_eq!(cfg.notify_window_days, 0, "default: today only");
    cfg.notify_window_days = cfg_window(order);
    let today = d2;
    let oldest = today.checked_sub_days(Days::new(u64::from(cfg.notify_window_days))).expect("window");
    let in_window = |k: &Key| k.4 >= oldest.to_string();
    let clock = FixedClock::new(today.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());

    let started = Instant::now();
    let ingest = env.spawn_ingest(env.ingest_config());
    let scorer = env.spawn_scorer(cfg, Arc::new(clock));
    let mut produced = 0u64;
    match order {
        // Day by day, each day's lines acknowledged before the next: the history arrives
        // (about) in the order it happened, as fast as the broker takes it.
        Order::Time => {
            let mut start = 0;
            while start < lines.len() {
                let day = timestamp(&lines[start]).date_naive();
                let end = start + lines[start..].iter().take_while(|l| timestamp(l).date_naive() == day).count();
                produced += env.produce_routed(&join(&lines[start..end])).await as u64;
                start = end;
            }
        }
        Order::Shuffled => produced += env.produce_routed(&ndjson).await as u64,
    }
    let expected_keys: BTreeSet<Key> = expected.keys().cloned().collect();
    let rows = settle(&env, &ingest, &scorer, produced, &expected_keys).await;
    eprintln!(
        "{order:?}: backlog of {produced} events settled in {:?}; {} live transitions",
        started.elapsed(),
        live(&rows).len()
    );

    // (b) the live history is replay's, and results are replay's, every day.
    assert_same_transitions(&rows, &expected, &format!("{order:?} backlog"));
    assert_open_alerts(&env, &expected, &format!("{order:?} backlog")).await;
    assert_same_results(&env, &expected_results, &format!("{order:?} backlog")).await;
    // (a) no transition contradicts its day.
    let checked = assert_no_contradiction(&env, &rows).await;
    assert!(checked > 0, "some openings were checked against their day");
    // (c) nothing sent for the past; what was held back is counted. (d) nothing sent that
    // does not hold, everything within the window that holds sent once.
    let notify1: BTreeSet<Key> = expected.keys().filter(|k| in_window(k)).cloned().collect();
    let bodies1 = receiver.wait_for(0, &notify1).await;
    let what = format!("{order:?} backlog (notify window {} days)", cfg_window(order));
    assert_no_past_notifications(&bodies1, oldest, &what);
    assert_notified_exactly(&bodies1, &expected_keys, &notify1, &what);
    let skipped = scorer.metrics.webhook_skipped.collect_total();
    assert!(
        skipped > 0,
        "{order:?}: past transitions were recorded, not sent: pulse_scorer_webhook_skipped_total = {skipped}"
    );
    let m = &scorer.metrics;
    eprintln!(
        "{order:?}: {checked} openings checked against their day; webhook calls {} (of {} transitions within the \
         window), skipped {skipped}; while catching up held {}, released {}, withdrawn {}, dropped {}",
        bodies1.len(),
        notify1.len(),
        m.webhook_held.collect_total(),
        m.webhook_released.collect_total(),
        m.webhook_withdrawn.collect_total(),
        m.webhook_dropped.collect_total()
    );

    // 2. A late seats change for the sudden-drop account, dated nine days back: its
    // color worsens days earlier, so the openings derived for the later days no longer
    // hold.
    let account = demo::plan(&spec)
        .into_iter()
        .find(|a| a.cohort == Cohort::SuddenDrop)
        .expect("a sudden-drop account")
        .account_id;
    let late_day = d2.checked_sub_days(Days::new(9)).expect("late day");
    let late = format!(
        r#"{{"type":"account","event_id":"late-seats-{account}","account_id":"{account}","timestamp":"{late_day}T09:00:00Z","licensed_seats":300}}"#
    );
    let mut updated = ndjson.clone();
    updated.extend_from_slice(late.as_bytes());
    updated.push(b'\n');
    let (expected2, expected_results2) = replay_series(&updated, d1, d2);
    // The CH identity of a transition (its row): account, rule, opened_on, transition.
    let ch_key = |k: &Key| (k.0.clone(), k.1.clone(), k.3.clone(), k.2.clone());
    let now_keys: BTreeSet<_> = expected2.keys().map(ch_key).collect();
    let withdrawn: Vec<&Key> = expected.keys().filter(|k| !now_keys.contains(&ch_key(k))).collect();
    assert!(
        !withdrawn.is_empty(),
        "the late event withdraws a transition (replay before/after):\n{}",
        difference(&expected_keys, &expected2.keys().cloned().collect())
    );
    assert!(withdrawn.iter().all(|k| k.0 == account));
    let c0 = late_day.to_string();
    let before = ingest.consumed();
    produced = before + env.produce_routed(&updated[ndjson.len()..]).await as u64;
    let expected2_keys: BTreeSet<Key> = expected2.keys().cloned().collect();
    let rows2 = settle(&env, &ingest, &scorer, produced, &expected2_keys).await;

    assert_same_transitions(&rows2, &expected2, &format!("{order:?} backlog + late seats change"));
    assert_open_alerts(&env, &expected2, &format!("{order:?} backlog + late seats change")).await;
    let retracted: BTreeMap<_, &AlertRow> = rows2
        .iter()
        .filter(|r| r.state == "retracted")
        .map(|r| ((r.account_id.clone(), r.rule.clone(), r.opened_on.clone(), r.transition.clone()), r))
        .collect();
    for k in &withdrawn {
        let r = retracted.get(&ch_key(k)).unwrap_or_else(|| {
            panic!(
                "{order:?}: no retracted row for the withdrawn {k:?}; rows of {account}: {:#?}",
                rows2.iter().filter(|r| r.account_id == account).collect::<Vec<_>>()
            )
        });
        assert_eq!(r.as_of, k.4, "the retraction names the withdrawn transition's day");
    }
    assert!(expected2.keys().any(|k| k.0 == account && k.2 == "opened" && k.4 == c0), "replay opens on the late day");
    assert_same_results(&env, &expected_results2, &format!("{order:?} backlog + late seats change")).await;
    assert_no_contradiction(&env, &rows2).await;
    // The webhook: the retraction of each withdrawn transition it was sent, and each
    // transition that now holds and was not sent before; nothing else, nothing twice.
    let retraction = |k: &Key| (k.0.clone(), k.1.clone(), format!("retracted:{}", k.2), k.3.clone(), k.4.clone());
    let sent1: BTreeSet<Key> = bodies1.iter().map(body_key).collect();
    let notify2: BTreeSet<Key> = withdrawn
        .iter()
        .filter(|k| sent1.contains(*k))
        .map(|k| retraction(k))
        .chain(expected2.keys().filter(|k| in_window(k) && !expected.contains_key(*k)).cloned())
        .collect();
    // A transition that holds before and after may be re-sent when its numbers changed.
    let allowed2: BTreeSet<Key> =
        notify2.iter().cloned().chain(expected2.keys().filter(|k| in_window(k)).cloned()).collect();
    let bodies2 = receiver.wait_for(bodies1.len(), &notify2).await;
    let what2 = format!("{order:?} backlog + late seats change");
    assert_no_past_notifications(&bodies2, oldest, &what2);
    assert_notified_exactly(&bodies2, &allowed2, &notify2, &what2);
    eprintln!(
        "{order:?}: late event: webhook calls {} ({} expected once each); held {}, released {}, withdrawn {}",
        bodies2.len(),
        notify2.len(),
        m.webhook_held.collect_total(),
        m.webhook_released.collect_total(),
        m.webhook_withdrawn.collect_total()
    );
    // The retraction is on the topic too, naming the transition it withdraws.
    let msgs = env.consume(&env.topics.alerts, usize::MAX, Duration::from_secs(10)).await;
    // Keyed by account, so one partition in order: the last word on each withdrawn
    // transition is its retraction.
    let mut last: BTreeMap<(String, String, String), serde_json::Value> = BTreeMap::new();
    for v in msgs
        .iter()
        .filter_map(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).ok())
        .filter(|v| v["account_id"] == account.as_str())
    {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let kind = if s("state") == "retracted" { s("retracts") } else { s("state") };
        last.insert((s("rule"), s("opened_on"), kind), v.clone());
    }
    for k in &withdrawn {
        let v = last
            .get(&(k.1.clone(), k.3.clone(), k.2.clone()))
            .unwrap_or_else(|| panic!("{order:?}: {k:?} never on the alerts topic"));
        assert!(
            v["state"] == "retracted" && v["as_of"] == k.4.as_str(),
            "{order:?}: the last message on the alerts topic for the withdrawn {k:?} is {v}"
        );
    }
    eprintln!(
        "{order:?}: late event withdrew {} transitions: {withdrawn:?}; total {:?}",
        withdrawn.len(),
        started.elapsed()
    );

    scorer.stop().await;
    ingest.stop().await;
    env.drop_database().await;
}

fn cfg_window(order: Order) -> u32 {
    match order {
        Order::Time => 0,
        Order::Shuffled => 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_in_time_order_stores_the_replay_alert_history_and_notifies_nothing_past() {
    backlog_tells_the_truth(Order::Time).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_backlog_stores_the_replay_alert_history_and_notifies_nothing_past() {
    backlog_tells_the_truth(Order::Shuffled).await;
}
