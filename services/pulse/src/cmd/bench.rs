//! `pulse bench ingest`: ingest throughput against the real local stack, next to the
//! practical ceiling, a bare rdkafka consumer (no parsing, no output) reading the same
//! topic from the same broker in the same run. Uses throwaway topics and database.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::join_all;
use pulse_ingest::{Ingest, IngestMetrics};
use pulse_runtime::{http::Readiness, kafka::TopicsConfig};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::FutureRecord,
};

use crate::settings::Settings;

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// Ingest throughput vs a bare consumer on the same topic.
    Ingest {
        /// Events to produce and ingest.
        #[arg(long, default_value_t = 500_000)]
        events: u64,
        /// Partitions of the throwaway topics.
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Keep the throwaway database afterwards (to inspect it).
        #[arg(long)]
        keep: bool,
    },
}

pub async fn run(c: BenchCmd, s: Settings) -> anyhow::Result<()> {
    match c {
        BenchCmd::Ingest { events, partitions, keep } => ingest(s, events, partitions, keep).await,
    }
}

fn event(i: u64, ts: &str) -> String {
    format!(
        r#"{{"type":"usage","event_id":"e-{i:010}","account_id":"acct-{:05}","user_id":"u-{:06}","event":"report.viewed","feature":"reports","timestamp":"{ts}"}}"#,
        i % 1000,
        i % 20_000
    )
}

async fn ingest(mut s: Settings, events: u64, partitions: i32, keep: bool) -> anyhow::Result<()> {
    let tag = format!("{}{}", std::process::id(), chrono::Utc::now().timestamp_millis() % 1_000_000);
    s.topics = TopicsConfig::with_prefix(&format!("bench.{tag}"));
    s.clickhouse.database = format!("pulse_bench_{tag}");
    pulse_runtime::kafka::create_topics(&s.kafka, &s.topics.all(), partitions, 1).await.context("create topics")?;
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    pulse_runtime::migrate::migrate(&s.clickhouse, now).await.context("migrate")?;

    // 1. produce
    let ts = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let producer = s.kafka.producer()?;
    let started = Instant::now();
    let mut i = 0;
    let mut bytes = 0usize;
    while i < events {
        let end = (i + 50_000).min(events);
        let lines: Vec<(String, String)> = (i..end).map(|n| (format!("acct-{:05}", n % 1000), event(n, &ts))).collect();
        bytes += lines.iter().map(|l| l.1.len()).sum::<usize>();
        let sends = lines
            .iter()
            .map(|(k, v)| producer.send(FutureRecord::to(&s.topics.usage).key(k).payload(v), Duration::from_secs(60)));
        for r in join_all(sends).await {
            r.map_err(|(e, _)| e).context("produce")?;
        }
        i = end;
    }
    let produce_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {events} events ({} bytes avg) in {produce_secs:.2}s ({:.0}/s)",
        bytes as u64 / events.max(1),
        events as f64 / produce_secs
    );

    // 2. bare consumer ceiling
    let bare = {
        let kafka = s.kafka.clone();
        let topic = s.topics.usage.clone();
        tokio::task::spawn_blocking(move || bare_consume(&kafka, &topic, events)).await??
    };
    eprintln!("bare consumer: {events} messages in {bare:.2}s ({:.0}/s)", events as f64 / bare);

    // 3. ingest
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::new(&registry);
    let mut cfg = s.ingest.clone();
    cfg.group_id = format!("bench-ingest-{tag}");
    let ingest = Ingest {
        cfg,
        kafka: s.kafka.clone(),
        topics: s.topics.clone(),
        clickhouse: s.clickhouse.clone(),
        metrics: metrics.clone(),
        ready: Readiness::default(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(ingest.run(async move {
        let _ = stop_rx.await;
    }));
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    let ingest_secs = loop {
        let consumed = metrics.consumed.with_label_values(&[s.topics.usage.as_str()]).get();
        if first.is_none() && consumed > 0 {
            first = Some(Instant::now());
        }
        let inserted = metrics.inserted_rows.with_label_values(&["usage_events"]).get();
        if inserted >= events {
            break first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
        }
        anyhow::ensure!(Instant::now() < deadline, "ingest did not finish within 600s ({inserted}/{events})");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = stop_tx.send(());
    let _ = handle.await;
    let ingest_rate = events as f64 / ingest_secs;
    let bare_rate = events as f64 / bare;
    println!(
        "{{\"events\":{events},\"partitions\":{partitions},\"bare_consumer_per_s\":{bare_rate:.0},\"ingest_per_s\":{ingest_rate:.0},\"ratio\":{:.2}}}",
        ingest_rate / bare_rate
    );
    eprintln!(
        "ingest: {events} events validated, stored in ClickHouse, forwarded and committed in {ingest_secs:.2}s ({ingest_rate:.0}/s) = {:.0}% of the bare consumer",
        100.0 * ingest_rate / bare_rate
    );
    // Where the time went: the loop waits on its flushes (ClickHouse inserts and broker
    // acknowledgements, concurrently; then the commit); the rest is consuming and
    // validating.
    let flush = metrics.batch_duration.get_sample_sum();
    eprintln!(
        "ingest time in flushes: {flush:.2}s of {ingest_secs:.2}s ({:.0}%) over {} batches; consuming and validating: the rest",
        100.0 * flush / ingest_secs.max(f64::EPSILON),
        metrics.batch_duration.get_sample_count()
    );
    if !keep {
        let _ = s
            .clickhouse
            .server_client()
            .query(&format!("DROP DATABASE IF EXISTS {}", s.clickhouse.database))
            .execute()
            .await;
    }
    Ok(())
}

/// Seconds from the first to the `n`th message of a bare BaseConsumer.
fn bare_consume(kafka: &pulse_runtime::kafka::KafkaConfig, topic: &str, n: u64) -> anyhow::Result<f64> {
    let mut c = kafka.client_config();
    c.set("group.id", format!("bench-bare-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = c.create()?;
    consumer.subscribe(&[topic])?;
    let mut count = 0u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count < n {
        anyhow::ensure!(Instant::now() < deadline, "bare consumer timed out at {count}/{n}");
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            r?;
            first.get_or_insert_with(Instant::now);
            count += 1;
        }
    }
    Ok(first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0))
}
