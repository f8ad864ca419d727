//! `pulse_runtime::batch_producer` against the real broker: a batch is acknowledged only
//! when every record is, each record arrives once with its key and timestamp, and a batch
//! that cannot be delivered ends with an error instead of waiting forever.

use std::{collections::BTreeSet, time::Duration};

use pulse_e2e::TestEnv;
use pulse_runtime::batch_producer::{Outgoing, Record};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_a_batch_is_acknowledged_and_arrives_once() {
    let env = TestEnv::new(3).await;
    let producer = env.kafka.batch_producer().expect("producer");
    let payloads: Vec<(String, Vec<u8>)> =
        (0..5_000).map(|i| (format!("k-{}", i % 17), format!("{{\"n\":{i}}}").into_bytes())).collect();
    // Two batches back to back on one producer, the second to another topic: each waits
    // for its own acknowledgements only.
    let records = payloads.iter().map(|(k, v)| Record {
        topic: &env.topics.events,
        key: Some(k.as_bytes()),
        payload: v,
        timestamp: Some(1_700_000_000_000),
    });
    producer.send_all(&records.collect::<Vec<_>>(), Duration::from_secs(30)).await.expect("batch acknowledged");
    let letters = [Record { topic: &env.topics.dlq, key: None, payload: b"letter", timestamp: None }];
    producer.send_all(&letters, Duration::from_secs(30)).await.expect("second batch acknowledged");

    let got = env.consume(&env.topics.events, 5_000, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 5_000, "every record arrived");
    let distinct: BTreeSet<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(distinct.len(), 5_000, "each once");
    for m in &got {
        let n: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
        let i = n["n"].as_u64().expect("n");
        assert_eq!(m.key.as_deref(), Some(format!("k-{}", i % 17).as_bytes()), "key kept");
    }
    let dlq = env.consume(&env.topics.dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].key, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_broker_never_acknowledges_fails_within_the_message_timeout() {
    let env = TestEnv::new(1).await;
    // Nothing listens on port 1: no record can be delivered.
    let mut kafka = env.kafka.clone();
    kafka.brokers = "127.0.0.1:1".into();
    kafka.properties.insert("message.timeout.ms".into(), "2000".into());
    let producer = kafka.batch_producer().expect("producer");
    let records: Vec<Record<'_>> =
        (0..100).map(|_| Record { topic: "nowhere", key: None, payload: b"x", timestamp: None }).collect();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(30), producer.send_all(&records, Duration::from_secs(5)))
        .await
        .expect("send_all ends on its own once the records time out");
    let err = r.expect_err("an undeliverable batch is an error");
    assert!(err.to_string().to_lowercase().contains("timed out"), "{err}");
    assert_eq!(err.indexes(), (0..100).collect::<Vec<_>>(), "every record is named as failed");
    assert!(started.elapsed() >= Duration::from_millis(1_500), "not before the message timeout");
}

/// Issue 19: one record the producer refuses is named alone; the others of the batch
/// are delivered (and so are never sent again by a caller that retries the failed ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_producer_refuses_is_named_and_the_others_are_delivered() {
    let env = TestEnv::new(1).await;
    let mut kafka = env.kafka.clone();
    kafka.properties.insert("message.max.bytes".into(), "1000".into());
    let producer = kafka.batch_producer().expect("producer");
    let big = vec![b'x'; 5_000];
    let records = [
        Record { topic: &env.topics.events, key: None, payload: b"small-1", timestamp: None },
        Record { topic: &env.topics.events, key: None, payload: &big, timestamp: None },
        Record { topic: &env.topics.events, key: None, payload: b"small-2", timestamp: None },
    ];
    let err = tokio::time::timeout(Duration::from_secs(30), producer.send_all(&records, Duration::from_secs(5)))
        .await
        .expect("ends")
        .expect_err("a record larger than message.max.bytes fails");
    assert!(err.to_string().contains("Message size too large") || err.to_string().contains("MsgSizeTooLarge"), "{err}");
    assert_eq!(err.indexes(), [1], "only the refused record is named");
    let got = env.consume(&env.topics.events, 2, Duration::from_secs(30)).await;
    let payloads: BTreeSet<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(payloads, BTreeSet::from([&b"small-1"[..], &b"small-2"[..]]), "the others are delivered");
}

/// Records sent ahead with `send_now` (ingest's forward as parsed) and the rest by
/// `finish` form one batch: a record refused on the way is named by its index in the
/// whole batch, wherever it was sent from, and every other record arrives once. A local
/// queue too small for the batch leaves the rest to `finish`, which waits for room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_ahead_and_the_rest_form_one_batch() {
    let env = TestEnv::new(2).await;
    let mut kafka = env.kafka.clone();
    kafka.properties.insert("message.max.bytes".into(), "1000".into());
    kafka.properties.insert("queue.buffering.max.messages".into(), "100".into());
    let producer = kafka.batch_producer().expect("producer");
    let big = vec![b'x'; 5_000];
    let payloads: Vec<Vec<u8>> = (0..1_000).map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect();
    let mut records: Vec<Record<'_>> =
        payloads.iter().map(|p| Record { topic: &env.topics.events, key: None, payload: p, timestamp: None }).collect();
    // One refused record among those sent ahead, one among those `finish` sends.
    records[3].payload = &big;
    records[900].payload = &big;
    let mut out = Outgoing::new();
    for r in &records[..600] {
        producer.send_now(&mut out, r);
    }
    assert!(!out.is_open(), "a 100-message queue cannot take 600 records at once");
    assert!(out.sent() > 3 && out.sent() < 600, "a prefix went ahead: {}", out.sent());
    let err = tokio::time::timeout(Duration::from_secs(60), producer.finish(out, &records, Duration::from_secs(30)))
        .await
        .expect("ends")
        .expect_err("the refused records fail");
    assert_eq!(err.indexes(), [3, 900], "named by their index in the whole batch");
    let got = env.consume(&env.topics.events, 1_000, Duration::from_secs(30)).await;
    let distinct: BTreeSet<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!((got.len(), distinct.len()), (998, 998), "every other record, once");
}
