//! Ingest against the real broker and ClickHouse: valid events land in ClickHouse and on
//! the events topic, every kind of invalid input lands in the DLQ with its reason, the
//! renewal outcome event is stored with its payload (or dead-lettered when invalid), a
//! duplicate is stored once, and a crash mid-stream loses nothing.

use std::{collections::HashSet, time::Duration};

use pulse_e2e::{dead_letter_schema, usage, CollectTotal, TestEnv};
use pulse_ingest::dlq::DeadLetter;

const WAIT: Duration = Duration::from_secs(60);

/// Waits until ingest has written `n` usage rows (copies included) to ClickHouse.
async fn wait_inserted(ingest: &pulse_e2e::IngestHandle, n: u64) {
    let rows = ingest.metrics.inserted_rows.with_label_values(&["usage_events"]);
    let deadline = std::time::Instant::now() + WAIT;
    while rows.get() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.get(), n, "rows written by ingest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_native_and_segment_events_land_in_clickhouse_and_on_the_events_topic() {
    let env = TestEnv::new(3).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let ts = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let segment = format!(
        r#"{{"type":"track","messageId":"seg-1","userId":"u-9","event":"dashboard.opened","timestamp":"{ts}","context":{{"groupId":"globex"}},"properties":{{"feature":"dashboards"}}}}"#
    );
    let account = format!(
        r#"{{"type":"account","event_id":"crm-1","account_id":"acme","timestamp":"{ts}","name":"Acme","licensed_seats":25,"usage_profile":"daily"}}"#
    );
    env.produce(&env.topics.usage, &[(None, usage("n-1", "acme", "u-1", 10)), (None, segment.into_bytes())]).await;
    env.produce(&env.topics.crm, &[(Some("acme".into()), account.into_bytes())]).await;

    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", 2, WAIT).await, 2);
    assert_eq!(env.wait_scalar("SELECT count() FROM crm_events FINAL", 1, WAIT).await, 1);
    // Segment mapping: account from context.groupId, feature from properties.
    let (acct, user, feature): (String, String, String) = env
        .ch()
        .query("SELECT account_id, user_id, feature FROM usage_events FINAL WHERE event_id = 'seg-1'")
        .fetch_one()
        .await
        .expect("segment row");
    assert_eq!((acct.as_str(), user.as_str(), feature.as_str()), ("globex", "u-9", "dashboards"));
    // Unknown extra fields are kept in storage.
    let raw: String =
        env.ch().query("SELECT raw FROM usage_events FINAL WHERE event_id = 'n-1'").fetch_one().await.expect("raw");
    assert!(raw.contains("extra_field"), "raw keeps unknown fields: {raw}");
    let seats: String = env.ch().query("SELECT payload FROM crm_events FINAL").fetch_one().await.expect("payload");
    assert!(seats.contains("\"licensed_seats\":25"), "{seats}");

    // Forwarded, normalized, keyed by account.
    let fwd = env.consume(&env.topics.events, 3, WAIT).await;
    assert_eq!(fwd.len(), 3);
    for m in &fwd {
        let ev = pulse_core::parse_event(&m.payload).expect("forwarded events are valid normalized events");
        assert_eq!(m.key.as_deref(), Some(ev.account_id().as_bytes()), "keyed by account id");
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
        assert_ne!(v["type"], "track", "segment is normalized to native usage");
    }
    assert_eq!(ingest.metrics.invalid.collect_total(), 0);
    ingest.stop().await;
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_invalid_input_goes_to_the_dlq_with_its_reason_and_ingest_keeps_going() {
    let env = TestEnv::new(1).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let now = chrono::Utc::now();
    let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let future = (now + chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let long = "x".repeat(200);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not_json", b"{this is not json".to_vec()),
        ("not_json", vec![0xff, 0xfe, 0x00]),
        ("missing_field", format!(r#"{{"type":"usage","event_id":"m1","account_id":"a","event":"x","timestamp":"{ts}"}}"#).into_bytes()),
        ("wrong_type", format!(r#"{{"type":"usage","event_id":"w1","account_id":"a","user_id":42,"event":"x","timestamp":"{ts}"}}"#).into_bytes()),
        ("unknown_type", format!(r#"{{"type":"pageview","event_id":"u1","account_id":"a","timestamp":"{ts}"}}"#).into_bytes()),
        ("bad_timestamp", br#"{"type":"usage","event_id":"b1","account_id":"a","user_id":"u","event":"x","timestamp":"2026-13-45 25:00"}"#.to_vec()),
        ("oversize_field", format!(r#"{{"type":"usage","event_id":"o1","account_id":"{long}","user_id":"u","event":"x","timestamp":"{ts}"}}"#).into_bytes()),
        ("future_timestamp", format!(r#"{{"type":"usage","event_id":"f1","account_id":"a","user_id":"u","event":"x","timestamp":"{future}"}}"#).into_bytes()),
    ];
    let mut msgs: Vec<(Option<String>, Vec<u8>)> = cases.iter().map(|(_, p)| (Some("k".into()), p.clone())).collect();
    msgs.push((None, usage("good-after", "a", "u", 1)));
    env.produce(&env.topics.usage, &msgs).await;

    // The valid event after the bad ones still lands: ingest kept going.
    assert_eq!(
        env.wait_scalar("SELECT count() FROM usage_events FINAL WHERE event_id = 'good-after'", 1, WAIT).await,
        1
    );
    let dlq = env.consume(&env.topics.dlq, cases.len(), WAIT).await;
    assert_eq!(dlq.len(), cases.len());
    let schema = dead_letter_schema::validator();
    for m in &dlq {
        dead_letter_schema::assert_valid(&schema, &m.payload);
    }
    let letters: Vec<DeadLetter> =
        dlq.iter().map(|m| serde_json::from_slice(&m.payload).expect("dlq envelope is json")).collect();
    for (i, (reason, payload)) in cases.iter().enumerate() {
        let d = &letters[i];
        assert_eq!(d.reason.as_str(), *reason, "case {i}: detail {}", d.detail);
        assert!(!d.detail.is_empty());
        assert_eq!(d.original_bytes().as_deref(), Some(payload.as_slice()), "case {i}: original bytes kept");
        assert_eq!(d.source_topic, env.topics.usage);
        assert_eq!(d.source_partition, 0);
        assert_eq!(d.source_offset, i as i64, "case {i}: source offset");
        assert_eq!(d.source_key.as_deref(), Some("k"));
    }
    for (reason, _) in &cases {
        assert!(ingest.metrics.invalid.with_label_values(&[reason]).get() >= 1, "metric counts {reason}");
    }
    assert_eq!(env.scalar("SELECT count() FROM usage_events FINAL").await, 1, "nothing invalid stored");
    ingest.stop().await;
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_outcome_lands_in_crm_events_and_an_invalid_one_in_the_dlq() {
    let env = TestEnv::new(1).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let at = chrono::Utc::now() - chrono::Duration::days(10);
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let on = at.date_naive();
    let renewal = |id: &str, fields: &str| {
        format!(r#"{{"type":"renewal","event_id":"{id}","account_id":"acme","timestamp":"{ts}",{fields}}}"#)
            .into_bytes()
    };
    let valid = renewal(
        "ren-1",
        &format!(
            r#""outcome":"churned","renewal_on":"{on}","arr_before":48000,"arr_after":0,"reason":"budget cut","crm_opportunity":"OPP-7""#
        ),
    );
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid_value",
            renewal("ren-2", &format!(r#""outcome":"lost","renewal_on":"{on}","arr_before":48000,"arr_after":0"#)),
        ),
        (
            "invalid_value",
            renewal("ren-3", &format!(r#""outcome":"renewed","renewal_on":"{on}","arr_before":1,"arr_after":-5"#)),
        ),
        ("missing_field", renewal("ren-4", r#""outcome":"renewed","arr_before":1,"arr_after":1"#)),
    ];
    let mut msgs: Vec<(Option<String>, Vec<u8>)> =
        invalid.iter().map(|(_, p)| (Some("acme".into()), p.clone())).collect();
    msgs.push((Some("acme".into()), valid));
    env.produce(&env.topics.crm, &msgs).await;

    assert_eq!(env.wait_scalar("SELECT count() FROM crm_events FINAL", 1, WAIT).await, 1);
    let (ty, payload, raw): (String, String, String) = env
        .ch()
        .query("SELECT toString(type), payload, raw FROM crm_events FINAL WHERE event_id = 'ren-1'")
        .fetch_one()
        .await
        .expect("renewal row");
    assert_eq!(ty, "renewal");
    let p: serde_json::Value = serde_json::from_str(&payload).expect("payload is json");
    assert_eq!(p["outcome"], "churned", "{payload}");
    assert_eq!(p["renewal_on"], on.to_string(), "{payload}");
    assert_eq!((p["arr_before"].as_f64(), p["arr_after"].as_f64()), (Some(48000.0), Some(0.0)), "{payload}");
    assert_eq!(p["reason"], "budget cut", "{payload}");
    assert!(raw.contains("OPP-7"), "raw keeps unknown fields: {raw}");

    // Forwarded to the scorer as the normalized renewal event.
    let fwd = env.consume(&env.topics.events, 1, WAIT).await;
    assert_eq!(fwd.len(), 1);
    match pulse_core::parse_event(&fwd[0].payload).expect("normalized event") {
        pulse_core::Event::Renewal(r) => {
            assert_eq!((r.outcome, r.renewal_on, r.arr_after), (pulse_core::event::RenewalOutcome::Churned, on, 0.0));
        }
        other => panic!("forwarded {other:?}"),
    }

    let dlq = env.consume(&env.topics.dlq, invalid.len(), WAIT).await;
    assert_eq!(dlq.len(), invalid.len());
    for (i, (reason, payload)) in invalid.iter().enumerate() {
        let d: DeadLetter = serde_json::from_slice(&dlq[i].payload).expect("dlq envelope");
        assert_eq!(d.reason.as_str(), *reason, "case {i}: {}", d.detail);
        assert_eq!(d.original_bytes().as_deref(), Some(payload.as_slice()), "case {i}");
        assert_eq!(d.source_topic, env.topics.crm);
    }
    assert!(dlq.iter().any(|m| String::from_utf8_lossy(&m.payload).contains("outcome")), "the detail names the field");
    assert_eq!(ingest.metrics.invalid.with_label_values(&["invalid_value"]).get(), 2);
    ingest.stop().await;
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_event_id_is_stored_once_as_read_back() {
    let env = TestEnv::new(2).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let e = usage("dup-1", "acme", "u-1", 3);
    // Same event three times: twice in one batch, once later in another batch.
    env.produce(&env.topics.usage, &[(Some("acme".into()), e.clone()), (Some("acme".into()), e.clone())]).await;
    wait_inserted(&ingest, 2).await;
    env.produce(&env.topics.usage, &[(Some("acme".into()), e)]).await;
    // Every copy is written (current ClickHouse may already collapse copies within one
    // insert block: `optimize_on_insert`), so count what ingest wrote, then read back.
    wait_inserted(&ingest, 3).await;
    assert_eq!(env.scalar("SELECT count() FROM usage_events FINAL").await, 1, "read back deduplicated");
    assert_eq!(env.scalar("SELECT count() FROM usage_events_dedup").await, 1, "dedup view");
    ingest.stop().await;
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_loses_nothing_and_double_counts_nothing() {
    let env = TestEnv::new(3).await;
    let n = 20_000u64;
    let msgs: Vec<(Option<String>, Vec<u8>)> = (0..n)
        .map(|i| {
            let acct = format!("acct-{}", i % 50);
            (Some(acct.clone()), usage(&format!("ev-{i}"), &acct, &format!("u-{}", i % 700), (i % 600) as i64))
        })
        .collect();
    env.produce(&env.topics.usage, &msgs).await;

    let mut cfg = env.ingest_config();
    cfg.batch_max_rows = 1_000;
    // Crash twice mid-stream (no final flush, no commit), then run to the end.
    for _ in 0..2 {
        let ingest = env.spawn_ingest(cfg.clone());
        let deadline = std::time::Instant::now() + WAIT;
        while ingest.metrics.committed_batches.get() < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ingest.metrics.committed_batches.get() >= 3, "made progress before the crash");
        ingest.kill().await;
    }
    let ingest = env.spawn_ingest(cfg);
    assert_eq!(
        env.wait_scalar("SELECT uniqExact(event_id) FROM usage_events", n, WAIT).await,
        n,
        "every event arrived"
    );
    assert_eq!(env.scalar("SELECT count() FROM usage_events FINAL").await, n, "each exactly once as read back");
    // Forwarded topic: every event at least once.
    let fwd = env.consume(&env.topics.events, usize::MAX, Duration::from_secs(10)).await;
    let ids: HashSet<String> =
        fwd.iter().map(|m| pulse_core::parse_event(&m.payload).expect("valid").event_id().to_owned()).collect();
    assert_eq!(ids.len() as u64, n, "every event forwarded at least once");
    ingest.stop().await;
    env.drop_database().await;
}

/// One batch whose events span every accepted timestamp, from year 1 to the skew limit:
/// each is stored or dead-lettered with a reason, nothing is retried forever, and ingest
/// goes on with the next message. (With 001's month partitions this batch spanned ~1,500
/// months and exceeded `max_partitions_per_insert_block`: ingest retried it forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_batch_spanning_the_whole_accepted_timestamp_range_is_stored_or_dead_lettered() {
    let env = TestEnv::new(1).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let now = chrono::Utc::now();
    let ev = |id: &str, ts: &str| {
        format!(
            r#"{{"type":"usage","event_id":"{id}","account_id":"span","user_id":"u","event":"x","timestamp":"{ts}"}}"#
        )
        .into_bytes()
    };
    // Out of the storable range (SPEC v3 §1: UTC dates 1970-01-01..=2149-06-06).
    let too_old = [
        "0001-01-01T00:00:00Z",
        "1066-10-14T09:00:00Z",
        "1899-12-31T23:59:59.999Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",
    ];
    let mut stored_ts: Vec<String> = vec![
        "1970-01-01T00:00:00Z".into(),
        "1970-01-01T00:00:00.001Z".into(),
        "1970-01-01T12:00:00+11:00".into(),
        "2000-02-29T12:00:00+05:30".into(),
    ];
    // One event in every year from 1971 to now: ~55 years, ~670 months.
    for y in 1971..=chrono::Datelike::year(&now) - 1 {
        stored_ts.push(format!("{y}-06-15T12:00:00Z"));
    }
    stored_ts.push((now + chrono::Duration::hours(12)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut msgs: Vec<(Option<String>, Vec<u8>)> = Vec::new();
    for (i, ts) in too_old.iter().enumerate() {
        msgs.push((None, ev(&format!("old-{i}"), ts)));
    }
    for (i, ts) in stored_ts.iter().enumerate() {
        msgs.push((None, ev(&format!("ok-{i}"), ts)));
    }
    env.produce(&env.topics.usage, &msgs).await;
    // Then a normal event: it lands only if the batch above did not wedge ingest.
    env.produce(&env.topics.usage, &[(None, usage("after-span", "span", "u", 1))]).await;

    let want = stored_ts.len() as u64 + 1;
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", want, WAIT).await, want);
    let dlq = env.consume(&env.topics.dlq, too_old.len(), WAIT).await;
    assert_eq!(dlq.len(), too_old.len());
    for m in &dlq {
        let d: DeadLetter = serde_json::from_slice(&m.payload).expect("dlq envelope");
        assert_eq!(d.reason.as_str(), "out_of_range", "{}", d.detail);
        assert!(d.detail.contains("1970-01-01"), "the reason says what is storable: {}", d.detail);
    }
    // Timestamps are stored exactly (millisecond precision, offsets normalized to UTC).
    let first: String = env
        .ch()
        .query("SELECT toString(timestamp) FROM usage_events FINAL WHERE event_id = 'ok-0'")
        .fetch_one()
        .await
        .expect("first");
    assert_eq!(first, "1970-01-01 00:00:00.000");
    let leap: String = env
        .ch()
        .query("SELECT toString(timestamp) FROM usage_events FINAL WHERE event_id = 'ok-3'")
        .fetch_one()
        .await
        .expect("leap");
    assert_eq!(leap, "2000-02-29 06:30:00.000");
    ingest.stop().await;
    env.drop_database().await;
}

/// Copies of one event id that differ (another user, another time) are one event as read
/// back, and the earliest copy wins whatever the arrival order (SPEC §1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differing_copies_of_an_event_id_collapse_to_the_earliest() {
    let env = TestEnv::new(1).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let now = chrono::Utc::now();
    let at = |m: i64| (now - chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let copy = |user: &str, ts: &str| {
        format!(
            r#"{{"type":"usage","event_id":"dup","account_id":"a","user_id":"{user}","event":"x","timestamp":"{ts}"}}"#
        )
        .into_bytes()
    };
    // Latest first, earliest in the middle: arrival order must not matter.
    let msgs = vec![(None, copy("late", &at(10))), (None, copy("earliest", &at(50))), (None, copy("middle", &at(30)))];
    env.produce(&env.topics.usage, &msgs).await;
    wait_inserted(&ingest, 3).await;
    assert_eq!(env.scalar("SELECT count() FROM usage_events FINAL").await, 1);
    let user: String = env.ch().query("SELECT user_id FROM usage_events FINAL").fetch_one().await.expect("winner");
    assert_eq!(user, "earliest");
    ingest.stop().await;
    env.drop_database().await;
}

/// A batch ClickHouse refuses for its content (here: a constraint on the table) does not
/// stop the pipeline: the refused row is isolated and dead-lettered with the server's
/// reason, every other row of the batch is stored once, and ingest goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_row_is_isolated_and_dead_lettered_and_the_rest_is_stored() {
    let env = TestEnv::new(1).await;
    env.ch()
        .query("ALTER TABLE usage_events ADD CONSTRAINT no_poison CHECK user_id != 'poison'")
        .execute()
        .await
        .expect("add constraint");
    let mut cfg = env.ingest_config();
    cfg.batch_max_rows = 500;
    cfg.batch_max_wait_ms = 2_000; // one batch holds all of them
    let ingest = env.spawn_ingest(cfg);
    let n = 200u64;
    let msgs: Vec<(Option<String>, Vec<u8>)> = (0..n)
        .map(|i| {
            let user = if i == 137 { "poison".to_owned() } else { format!("u-{i}") };
            (Some("acme".into()), usage(&format!("ev-{i}"), "acme", &user, 5))
        })
        .collect();
    env.produce(&env.topics.usage, &msgs).await;
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", n - 1, WAIT).await, n - 1);
    let dlq = env.consume(&env.topics.dlq, 1, WAIT).await;
    assert_eq!(dlq.len(), 1);
    dead_letter_schema::assert_valid(&dead_letter_schema::validator(), &dlq[0].payload);
    let d: DeadLetter = serde_json::from_slice(&dlq[0].payload).expect("envelope");
    assert_eq!(d.reason.as_str(), "storage_rejected");
    assert!(d.detail.contains("VIOLATED_CONSTRAINT"), "the server's reason: {}", d.detail);
    assert_eq!(d.source_offset, 137);
    assert_eq!(d.original_bytes().as_deref(), Some(msgs[137].1.as_slice()), "original bytes kept");
    assert!(ingest.ready.get(), "ready again after isolating");
    // And it goes on.
    env.produce(&env.topics.usage, &[(None, usage("after-poison", "acme", "u-x", 1))]).await;
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", n, WAIT).await, n);
    assert_eq!(ingest.metrics.invalid.with_label_values(&["storage_rejected"]).get(), 1);
    ingest.stop().await;
    env.drop_database().await;
}

/// A setup error (the table is gone) stops ingest with the server's message instead of
/// retrying forever; nothing is committed, so a fixed setup re-reads the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_error_stops_ingest_naming_the_problem() {
    let env = TestEnv::new(1).await;
    env.ch().query("DROP TABLE usage_events").execute().await.expect("drop table");
    let ingest = env.spawn_ingest(env.ingest_config());
    env.produce(&env.topics.usage, &[(None, usage("e-1", "acme", "u", 1))]).await;
    let err = ingest.ended(WAIT).await.expect_err("ingest stops");
    let msg = err.to_string();
    assert!(msg.contains("UNKNOWN_TABLE") || msg.contains("usage_events"), "{msg}");
    env.drop_database().await;
}

/// `ingest.forward_as_parsed` (issue 24 item 3): an event reaches the events topic while
/// its batch is still open (a window far longer than the test), before any row of it is
/// stored or any offset committed; the batch is then stored and committed as usual. With
/// the option off, nothing is forwarded before the batch's write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_forwarded_as_parsed_before_their_batch_is_written() {
    for as_parsed in [true, false] {
        let env = TestEnv::new(2).await;
        let cfg = pulse_ingest::IngestConfig {
            batch_max_wait_ms: 60_000,
            forward_as_parsed: as_parsed,
            ..env.ingest_config()
        };
        let ingest = env.spawn_ingest(cfg);
        let events: Vec<_> = (0..3).map(|i| (None, usage(&format!("fwd-{i}"), "acme", "u-1", 10))).collect();
        env.produce(&env.topics.usage, &events).await;
        let wait = if as_parsed { WAIT } else { Duration::from_secs(5) };
        let early = env.consume(&env.topics.events, 3, wait).await;
        assert_eq!(ingest.metrics.committed_batches.get(), 0, "the batch is still open");
        assert_eq!(env.scalar("SELECT count() FROM usage_events").await, 0, "no row stored yet");
        assert_eq!(early.len(), if as_parsed { 3 } else { 0 }, "forwarded before the write (as_parsed = {as_parsed})");
        // The final flush stores and commits the batch; every event is on the topic once.
        ingest.stop().await;
        assert_eq!(env.scalar("SELECT count() FROM usage_events").await, 3);
        let all = env.consume(&env.topics.events, 4, Duration::from_secs(5)).await;
        assert_eq!(all.len(), 3, "each event forwarded once (as_parsed = {as_parsed})");
        env.drop_database().await;
    }
}
