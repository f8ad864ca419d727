//! Overlapped writes (`scorer.overlap_writes`, issue 24 item 3), with a batch's write held
//! in flight for seconds: a proxy in front of ClickHouse holds every request that names
//! `account_health` (the scorer's health insert) until it is released, while the health
//! messages beside it reach their topic.
//!
//! - With overlap, the next batch is consumed and evaluated while the write is held; no
//!   snapshot (and so no offset commit) covers the held batch until its rows are stored,
//!   not even the final one of a stop; the freshness histograms time each batch to its
//!   own acknowledgements.
//! - Without it (the previous behaviour), nothing more is read until the write is done.

use std::{sync::Arc, time::Duration};

use prometheus::Histogram;
use pulse_e2e::{scorer_config, usage, CollectTotal, TestEnv};
use pulse_runtime::http::Readiness;
use pulse_scorer::{ScorerMetrics, SystemClock};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A TCP proxy to `upstream` (host:port) that, while the gate is set, holds any chunk a
/// client sends that names `account_health` (the request line of the insert) until the
/// gate is cleared. Returns its URL and the gate.
async fn holding_proxy(upstream: String) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let (gate, held) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (held, upstream) = (held.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    // The end of the previous chunk: the name may straddle two reads.
                    let mut tail: Vec<u8> = Vec::new();
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(14).any(|w| w == b"account_health") {
                            let mut held = held.clone();
                            let _ = held.wait_for(|h| !*h).await;
                        }
                        tail.drain(..tail.len().saturating_sub(13));
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (format!("http://{addr}"), gate)
}

/// An in-process scorer on the real clock whose ClickHouse is `clickhouse_url`.
struct Running {
    metrics: ScorerMetrics,
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

fn spawn_scorer(env: &TestEnv, clickhouse_url: &str, overlap: bool) -> Running {
    let cfg = pulse_scorer::ScorerConfig {
        overlap_writes: overlap,
        // Snapshots only when the scorer stops (the test checks what they cover).
        snapshot_interval_secs: 3600,
        ..scorer_config(env)
    };
    let metrics = ScorerMetrics::new(&prometheus::Registry::new());
    let mut clickhouse = env.clickhouse.clone();
    clickhouse.url = clickhouse_url.to_owned();
    let scorer = pulse_scorer::Scorer {
        scoring: cfg.load_scoring().expect("scoring config"),
        cfg,
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse,
        metrics: metrics.clone(),
        ready: Readiness::default(),
        clock: Arc::new(SystemClock),
    };
    let (stop, mut rx) = watch::channel(false);
    let join = tokio::spawn(async move {
        scorer
            .run(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
            .expect("scorer run");
    });
    Running { metrics, stop, join }
}

/// Produces one usage event of `account` on the events topic (one partition: the
/// offsets count up from 0).
async fn event(env: &TestEnv, id: &str, account: &str) {
    env.produce(&env.topics.events, &[(Some(account.to_owned()), usage(id, account, "u1", 0))]).await;
}

async fn stored(env: &TestEnv, account: &str) -> u64 {
    env.scalar(&format!("SELECT count() FROM account_health FINAL WHERE account_id = '{account}'")).await
}

/// Waits until `account`'s health result is on the health topic (its write started).
async fn published(env: &TestEnv, account: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let got = env.consume(&env.topics.health, 1000, Duration::from_secs(2)).await;
        if got.iter().any(|m| m.key.as_deref() == Some(account.as_bytes())) {
            return;
        }
    }
    panic!("no health result of {account} on the topic");
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sum_count(h: &Histogram) -> (f64, u64) {
    (h.get_sample_sum(), h.get_sample_count())
}

/// The scorer has stored `w`'s result and finished its first ticks (the daily
/// evaluation of the new partition included): from here only new events evaluate.
async fn warm_up(env: &TestEnv, scorer: &Running) {
    event(env, "w-1", "w").await;
    let sql = "SELECT count() FROM account_health FINAL WHERE account_id = 'w'";
    assert!(env.wait_scalar(sql, 1, Duration::from_secs(120)).await >= 1, "w stored");
    let m = &scorer.metrics;
    wait_until("the first writes are settled", Duration::from_secs(30), || m.published.collect_total() > 0).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_overlap_the_next_batch_is_evaluated_while_a_write_is_in_flight_and_no_snapshot_covers_it() {
    let env = TestEnv::new(1).await;
    let upstream = env.clickhouse.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let (url, gate) = holding_proxy(upstream).await;
    let scorer = spawn_scorer(&env, &url, true);
    let m = scorer.metrics.clone();
    warm_up(&env, &scorer).await;

    // Batch 1 (offset 1): its write is held in ClickHouse once its results are out.
    let (insert0, stored0, publish0) =
        (sum_count(&m.insert_seconds), sum_count(&m.event_to_stored_seconds), sum_count(&m.event_to_publish_seconds));
    gate.send_replace(true);
    let held_at = std::time::Instant::now();
    event(&env, "a-1", "a").await;
    published(&env, "a").await;
    assert_eq!(stored(&env, "a").await, 0, "the insert is held");

    // Batch 2 (offset 2) is consumed and evaluated meanwhile.
    let evaluated = m.evaluations.get();
    event(&env, "b-1", "b").await;
    wait_until("b is evaluated while a's write is in flight", Duration::from_secs(20), || {
        m.evaluations.get() > evaluated
    })
    .await;
    assert_eq!(stored(&env, "a").await, 0, "a's write was still in flight when b was evaluated");
    assert_eq!(env.scalar("SELECT count() FROM scorer_snapshots").await, 0, "no snapshot while a write is held");

    // Released: both batches are stored, in order, and the histograms time each batch's
    // write to its own acknowledgements.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(held_at.elapsed())).await;
    gate.send_replace(false);
    let held_for = held_at.elapsed().as_secs_f64();
    let sql = "SELECT count() FROM account_health FINAL WHERE account_id IN ('a', 'b')";
    assert_eq!(env.wait_scalar(sql, 2, Duration::from_secs(60)).await, 2, "a and b stored");
    wait_until("both writes are settled", Duration::from_secs(30), || {
        m.insert_seconds.get_sample_count() >= insert0.1 + 2
    })
    .await;
    let (insert1, stored1, publish1) =
        (sum_count(&m.insert_seconds), sum_count(&m.event_to_stored_seconds), sum_count(&m.event_to_publish_seconds));
    assert_eq!(
        (insert1.1 - insert0.1, stored1.1 - stored0.1, publish1.1 - publish0.1),
        (2, 2, 2),
        "one sample per batch and per event"
    );
    assert!(
        insert1.0 - insert0.0 >= held_for - 1.0,
        "a's insert took the time it was held: {} s of {held_for}",
        insert1.0 - insert0.0
    );
    // a's results were on their topic long before its rows were stored; b's both after
    // the release.
    let (to_stored, to_publish) = (stored1.0 - stored0.0, publish1.0 - publish0.0);
    assert!(
        to_stored - to_publish >= held_for - 1.5,
        "publish {to_publish} s, stored {to_stored} s, held {held_for} s"
    );

    // Stopped while a write is in flight: the final snapshot waits for it.
    gate.send_replace(true);
    event(&env, "c-1", "c").await;
    published(&env, "c").await;
    scorer.stop.send_replace(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored(&env, "c").await, 0, "the insert is held");
    assert_eq!(env.scalar("SELECT count() FROM scorer_snapshots").await, 0, "no snapshot covers a batch not stored");
    assert!(!scorer.join.is_finished(), "the stop waits for the write");
    gate.send_replace(false);
    tokio::time::timeout(Duration::from_secs(60), scorer.join).await.expect("stopped").expect("joined");
    assert_eq!(stored(&env, "c").await, 1);
    assert_eq!(
        env.scalar("SELECT toUInt64(max(next_offset)) FROM scorer_snapshots FINAL").await,
        4,
        "the final snapshot covers w, a, b and c"
    );
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_overlap_nothing_is_read_while_a_write_is_in_flight() {
    let env = TestEnv::new(1).await;
    let upstream = env.clickhouse.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let (url, gate) = holding_proxy(upstream).await;
    let scorer = spawn_scorer(&env, &url, false);
    let m = scorer.metrics.clone();
    warm_up(&env, &scorer).await;

    gate.send_replace(true);
    event(&env, "a-1", "a").await;
    published(&env, "a").await;
    let evaluated = m.evaluations.get();
    event(&env, "b-1", "b").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(m.evaluations.get(), evaluated, "b waits for a's write");
    assert_eq!(stored(&env, "a").await, 0, "the insert is held");

    gate.send_replace(false);
    let sql = "SELECT count() FROM account_health FINAL WHERE account_id IN ('a', 'b')";
    assert_eq!(env.wait_scalar(sql, 2, Duration::from_secs(60)).await, 2);
    scorer.stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(60), scorer.join).await.expect("stopped").expect("joined");
    assert_eq!(env.scalar("SELECT toUInt64(max(next_offset)) FROM scorer_snapshots FINAL").await, 3);
    env.drop_database().await;
}
