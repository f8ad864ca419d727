//! Real clients against `pulse collect` (issue 23): the official Segment Python library
//! (`segment-analytics-python`) and RudderStack's Python SDK (`rudder-sdk-python`, which
//! gzips its batches by default), each pointed at an in-process collector, send `group`,
//! `identify`, `track` and `page` calls through the real pipeline (collector -> broker ->
//! ingest -> ClickHouse, scorer -> ClickHouse).
//!
//! - `group` lands in `crm_events` and sets the account's seats in its health result;
//! - `track` and `page` land in `usage_events` and change the score (0 active users
//!   before, every user the SDK sent after);
//! - `identify` is acknowledged and counted, and forwarded nowhere.
//!
//! The SDKs live in `.stack/sdk-venv` (installed by `scripts/stack up`, pinned in
//! `tests/sdk/requirements.txt`); `tests/sdk/send.py` drives them and exits non-zero
//! when the SDK reports an error, so a refused batch fails here.

use std::{sync::Arc, time::Duration};

use chrono::{Days, NaiveDate, NaiveTime, Utc};
use pulse_e2e::{collect::CollectorHandle, repo_root, scorer_config, TestEnv};
use pulse_scorer::FixedClock;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(120);
const SDKS: [(&str, &str); 2] = [("segment", "wk-segment-test"), ("rudderstack", "wk-rudder-test")];
const ACCOUNTS: usize = 2;
const SEATS: u64 = 20;

/// Users of account `a`: 3 for the first, 5 for the second (distinct counts per account).
fn users(a: usize) -> usize {
    3 + 2 * a
}

fn account(sdk: &str, a: usize) -> String {
    format!("{sdk}-acct-{a}")
}

/// Runs `tests/sdk/send.py` with `sdk` against the collector, sending `calls`.
async fn send(sdk: &str, key: &str, collector: &CollectorHandle, tag: &str, phase: &str, calls: Vec<Value>) {
    // Where scripts/stack installed the SDKs (PULSE_STACK_DIR, as the script reads it).
    let stack = std::env::var("PULSE_STACK_DIR").unwrap_or_else(|_| ".stack".into());
    let python = repo_root().join(stack).join("sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/stack up --infra (it installs the Segment and RudderStack SDKs)",
        python.display()
    );
    let plan = std::env::temp_dir().join(format!("pulse-sdk-{tag}-{sdk}-{phase}.json"));
    std::fs::write(&plan, json!({ "calls": calls }).to_string()).expect("write plan");
    let out = tokio::process::Command::new(python)
        .arg(repo_root().join("tests/sdk/send.py"))
        .args(["--sdk", sdk, "--host", &collector.url(), "--write-key", key, "--plan"])
        .arg(&plan)
        .output()
        .await
        .expect("run send.py");
    let _ = std::fs::remove_file(&plan);
    assert!(
        out.status.success(),
        "{sdk} {phase}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stored health result of `account` for `day`, once `pred` holds for it.
async fn health_when(env: &TestEnv, account: &str, day: NaiveDate, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = Value::Null;
    while std::time::Instant::now() < deadline {
        let rows: Vec<String> = env
            .ch()
            .query("SELECT result FROM account_health FINAL WHERE account_id = ? AND as_of = toDate(?)")
            .bind(account)
            .bind(day.to_string())
            .fetch_all()
            .await
            .unwrap_or_default();
        if let Some(r) = rows.first() {
            last = serde_json::from_str(r).expect("health result is JSON");
            if pred(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("{account}: {what} not within {WAIT:?}; last result: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_and_rudderstack_sdks_feed_clickhouse_and_the_scores() {
    let env = TestEnv::new(2).await;
    let day = Utc::now().date_naive().checked_sub_days(Days::new(1)).expect("yesterday");
    let clock = FixedClock::new(day.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());
    let ingest = env.spawn_ingest(env.ingest_config());
    let scorer = env.spawn_scorer(scorer_config(&env), Arc::new(clock));
    let collector = env.spawn_collector(&SDKS).await;

    // Phase 1: the accounts (group) and who the users are (identify).
    for (sdk, key) in SDKS {
        let mut calls = Vec::new();
        for a in 0..ACCOUNTS {
            calls.push(json!({"type": "group", "user_id": format!("{sdk}-u0"), "group_id": account(sdk, a),
                              "traits": {"name": format!("Account {a}"), "seats": SEATS.to_string()},
                              "message_id": format!("g-{a}"),
                              "timestamp": format!("{}T08:00:00Z", day - Days::new(10))}));
        }
        for u in 0..4 {
            calls.push(json!({"type": "identify", "user_id": format!("{sdk}-u{u}"),
                              "traits": {"email": format!("u{u}@example.com")}, "message_id": format!("i-{u}")}));
        }
        send(sdk, key, &collector, &env.tag, "accounts", calls).await;
    }
    let groups = (SDKS.len() * ACCOUNTS) as u64;
    assert_eq!(
        env.wait_scalar("SELECT count() FROM crm_events FINAL WHERE type = 'account'", groups, WAIT).await,
        groups
    );
    let mut before = Vec::new();
    for (sdk, _) in SDKS {
        for a in 0..ACCOUNTS {
            let acct = account(sdk, a);
            let h = health_when(&env, &acct, day, "seats from the group call", |h| {
                h["metrics"]["seats"].as_u64() == Some(SEATS)
            })
            .await;
            assert_eq!(h["metrics"]["mau"].as_u64(), Some(0), "{acct}: no usage yet: {h}");
            before.push((acct, h));
        }
    }

    // Phase 2: usage, as track and page calls over the last week.
    let mut sent = 0u64;
    for (sdk, key) in SDKS {
        let mut calls = Vec::new();
        for a in 0..ACCOUNTS {
            for u in 0..users(a) {
                for d in 0..7u64 {
                    let ts = format!("{}T{:02}:15:00Z", day - Days::new(d), 9 + u % 8);
                    let user = format!("{sdk}-{a}-u{u}");
                    let ctx = json!({"groupId": account(sdk, a)});
                    calls.push(json!({"type": "track", "user_id": user, "event": "Report Viewed",
                                      "properties": {"feature": "reports"}, "context": ctx,
                                      "message_id": format!("t-{a}-{u}-{d}"), "timestamp": ts}));
                    calls.push(json!({"type": "page", "user_id": user, "name": "Dashboard",
                                      "properties": {"feature": "dashboards"}, "context": ctx,
                                      "message_id": format!("p-{a}-{u}-{d}"), "timestamp": ts}));
                }
            }
        }
        sent += calls.len() as u64;
        send(sdk, key, &collector, &env.tag, "usage", calls).await;
    }
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", sent, WAIT).await, sent);
    for (sdk, _) in SDKS {
        let q = format!(
            "SELECT count() FROM usage_events FINAL WHERE event_id LIKE '{sdk}:%' AND event IN ('Report Viewed', 'page:Dashboard')"
        );
        assert_eq!(
            env.scalar(&q).await,
            sent / SDKS.len() as u64,
            "{sdk}: every track and page, ids <source>:<messageId>"
        );
    }
    for (acct, h0) in &before {
        let a: usize = acct.rsplit('-').next().and_then(|s| s.parse().ok()).expect("account index");
        let h = health_when(&env, acct, day, "the SDK's users active", |h| {
            h["metrics"]["mau"].as_u64() == Some(users(a) as u64)
        })
        .await;
        assert_ne!(h["score"], h0["score"], "{acct}: usage changed the score: before {h0}, after {h}");
    }

    // identify: acknowledged and counted, never forwarded.
    let identified = collector.metrics.accepted.with_label_values(&["identify"]).get();
    assert_eq!(identified, 4 * SDKS.len() as u64, "identify calls counted");
    assert_eq!(collector.metrics.accepted.with_label_values(&["group"]).get(), groups);
    assert_eq!(
        collector.metrics.accepted.with_label_values(&["track"]).get()
            + collector.metrics.accepted.with_label_values(&["page"]).get(),
        sent
    );
    assert_eq!(env.scalar("SELECT count() FROM crm_events FINAL").await, groups, "identify stored nowhere");

    collector.stop().await;
    scorer.stop().await;
    ingest.stop().await;
    env.drop_database().await;
}
