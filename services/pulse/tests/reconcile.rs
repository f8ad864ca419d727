//! `pulse reconcile` over what the real pipeline stored (issue 21 items 3-4): six weeks
//! of demo history, with repeated events whose copies differ (another user, another
//! feature, a timestamp days earlier or later; CRM seat updates re-sent days later with
//! other seats) and exact duplicates, all shuffled, go through ingest and the scorer;
//! once the stored results equal `pulse replay` for every day, `pulse reconcile` (the
//! real binary) finds 0 differences and exits 0. Then one stored `account_health` row is
//! altered by hand (a newer version of the row, so FINAL reads it): reconcile prints
//! exactly that difference and exits 3, and the API's last-run summary says so.
//!
//! The differing copies are what makes the zero meaningful: each carries a user who is
//! active nowhere else, so counting a copy that lost (or every copy) changes that day's
//! dau, wau and mau, and a re-sent seat update that lost changes the seats.

use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use pulse_e2e::{assert_same_results, replay_expected, scorer_config, wait_for_results, CollectTotal, TestEnv};
use pulse_gen::DemoSpec;
use pulse_scorer::FixedClock;
use serde_json::Value;

const ACCOUNTS: u32 = 12;
const DAYS: u32 = 42;
const SEED: u64 = 21;

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

fn ts(v: &Value) -> DateTime<Utc> {
    v["timestamp"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("no timestamp in {v}"))
}

fn with_ts(mut v: Value, t: DateTime<Utc>) -> Value {
    v["timestamp"] = Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    v
}

/// The demo history with differing copies and duplicates added, shuffled; and how many
/// differing usage copies and seat copies it holds.
fn history(first: NaiveDate, end: NaiveDate) -> (Vec<u8>, usize, usize) {
    let spec = DemoSpec { accounts: ACCOUNTS, days: DAYS, end, seed: SEED, malformed: false };
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(&spec, &mut ndjson).expect("demo data");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let (mut usage_copies, mut seat_copies) = (0, 0);
    let in_range = |t: DateTime<Utc>| t.date_naive() >= first && t.date_naive() <= end;
    for (n, line) in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        lines.push(line.to_vec());
        let v: Value = serde_json::from_slice(line).expect("demo lines are JSON");
        match v["type"].as_str() {
            // Every 40th native usage event is re-sent with another user and feature,
            // dated 1..=6 days later (it loses) or earlier (it wins: the original is the
            // later copy now), never a tie.
            Some("usage") if n % 40 == 0 => {
                let days = 1 + (n / 40 % 6) as u64;
                let t = ts(&v);
                let moved =
                    if n % 80 == 0 { t.checked_add_days(Days::new(days)) } else { t.checked_sub_days(Days::new(days)) };
                let Some(moved) = moved.filter(|m| in_range(*m)) else { continue };
                let mut copy = with_ts(v.clone(), moved + chrono::Duration::microseconds(n as i64 % 1000));
                copy["user_id"] = Value::String(format!("copy-user-{n}"));
                copy["feature"] = Value::String(format!("copy-feature-{}", n % 7));
                lines.push(serde_json::to_vec(&copy).expect("serialize"));
                usage_copies += 1;
            }
            // Exact duplicates of every 25th line of any kind.
            _ if n % 25 == 0 => lines.push(line.to_vec()),
            // A seat update re-sent 3 days later with other seats (it loses).
            Some("account") if v.get("licensed_seats").is_some_and(|s| s.is_u64()) => {
                let Some(later) = ts(&v).checked_add_days(Days::new(3)).filter(|t| in_range(*t)) else { continue };
                let mut copy = with_ts(v.clone(), later);
                copy["licensed_seats"] = Value::from(v["licensed_seats"].as_u64().unwrap_or(0) + 7);
                lines.push(serde_json::to_vec(&copy).expect("serialize"));
                seat_copies += 1;
            }
            _ => {}
        }
    }
    shuffle(&mut lines, SEED);
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    (out, usage_copies, seat_copies)
}

/// `pulse reconcile --from --to` against the test database: (exit code, stdout lines).
fn reconcile(env: &TestEnv, from: NaiveDate, to: NaiveDate) -> (Option<i32>, Vec<Value>) {
    let out = Command::new(Path::new(env!("CARGO_BIN_EXE_pulse")))
        .args(["reconcile", "--from", &from.to_string(), "--to", &to.to_string()])
        .current_dir(std::env::temp_dir())
        .env("PULSE__CLICKHOUSE__URL", &env.clickhouse.url)
        .env("PULSE__CLICKHOUSE__DATABASE", &env.clickhouse.database)
        .env("PULSE__TELEMETRY__LOG_LEVEL", "warn")
        .output()
        .expect("run pulse reconcile");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    eprintln!("reconcile stderr: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), lines)
}

fn summary(lines: &[Value]) -> &Value {
    let last = lines.last().unwrap_or_else(|| panic!("reconcile printed nothing"));
    assert_eq!(last["kind"], "summary", "the last line is the summary: {last}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_repeats_with_differing_copies_reconcile_to_zero_and_an_altered_row_is_reported() {
    let env = TestEnv::new(3).await;
    let end = Utc::now().date_naive().checked_sub_days(Days::new(1)).expect("yesterday");
    let first = end.checked_sub_days(Days::new(u64::from(DAYS) - 1)).expect("first day");
    let (ndjson, usage_copies, seat_copies) = history(first, end);
    assert!(usage_copies > 100 && seat_copies >= 5, "copies: {usage_copies} usage, {seat_copies} seats");
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= end).collect();
    let expected: BTreeMap<NaiveDate, _> = days.iter().map(|d| (*d, replay_expected(&ndjson, *d))).collect();
    let accounts = expected[&end].keys().filter(|(_, kind)| kind == "health").count() as u64;

    let clock = FixedClock::new(end.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());
    let ingest = env.spawn_ingest(env.ingest_config());
    let scorer = env.spawn_scorer(scorer_config(&env), Arc::new(clock));
    let produced = env.produce_routed(&ndjson).await as u64;
    let deadline = Instant::now() + Duration::from_secs(240);
    while ingest.consumed() < produced || scorer.metrics.events.collect_total() < ingest.metrics.forwarded.get() {
        assert!(Instant::now() < deadline, "pipeline did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Scores equal replay, every day.
    for (day, want) in &expected {
        let stored = wait_for_results(&env, *day, want, Duration::from_secs(60)).await;
        assert_same_results(&stored, want);
    }
    scorer.stop().await;
    ingest.stop().await;

    // 1. Nothing differs.
    let (code, lines) = reconcile(&env, first, end);
    let s = summary(&lines);
    eprintln!("{usage_copies} differing usage copies, {seat_copies} differing seat updates; reconcile: {s}");
    assert_eq!(lines.len(), 1, "no difference lines: {lines:#?}");
    assert_eq!(
        (s["accounts"].as_u64(), s["days"].as_u64(), s["differences"].as_u64()),
        (Some(accounts), Some(u64::from(DAYS)), Some(0)),
        "{s}"
    );
    let stored_rows = env
        .scalar(&format!("SELECT count() FROM account_health FINAL WHERE as_of BETWEEN '{first}' AND '{end}'"))
        .await;
    assert_eq!(s["rows_compared"].as_u64(), Some(stored_rows), "every stored row compared: {s}");
    assert_eq!(code, Some(0), "exit code with 0 differences");

    // 2. A stored row altered by hand: a newer version of one day's row with another dau.
    let (account, day, dau): (String, String, u32) = env
        .ch()
        .query(&format!(
            "SELECT account_id, toString(as_of), dau FROM account_health FINAL \
             WHERE as_of BETWEEN '{first}' AND '{end}' AND dau > 0 ORDER BY account_id, as_of LIMIT 1 OFFSET 100"
        ))
        .fetch_one()
        .await
        .expect("a stored row with active users");
    env.ch()
        .query(
            "INSERT INTO account_health SELECT * REPLACE (dau + 1 AS dau, computed_at + 3600 AS computed_at) \
             FROM account_health FINAL WHERE account_id = ? AND as_of = toDate(?)",
        )
        .bind(&account)
        .bind(&day)
        .execute()
        .await
        .expect("alter a stored row");
    let (code, lines) = reconcile(&env, first, end);
    let s = summary(&lines);
    assert_eq!((s["differences"].as_u64(), s["by_measure"]["dau"].as_u64()), (Some(1), Some(1)), "{s}");
    assert_eq!(
        lines[..lines.len() - 1],
        [serde_json::json!({"kind": "difference", "account_id": account, "day": day, "measure": "dau",
            "stored": dau + 1, "recomputed": dau})],
        "exactly the altered value is reported"
    );
    assert_eq!(code, Some(3), "exit code with differences");
    // The API's summary is the last run's.
    let last = pulse_reconcile::last_run(&env.ch()).await.expect("read reconcile_runs").expect("a stored run");
    assert_eq!((last.differences, last.rows_compared, last.from, last.to), (1, stored_rows, first, end));
    env.drop_database().await;
}
