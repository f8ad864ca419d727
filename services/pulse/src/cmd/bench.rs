//! `pulse bench ingest` (`pulse bench collect`: `bench_collect.rs`): ingest throughput against the real local stack, next to the
//! practical ceiling, a bare rdkafka consumer (no parsing, no output) reading the same
//! topic from the same broker in the same run (before and after the ingest runs).
//! Ingest runs twice over the topic, with overlapped and with sequential writes, each on
//! its own consumer group and throwaway database; `--watch NAME=PID` adds the CPU time of
//! the broker and ClickHouse per phase, to show where the rest of the time goes.
//! A bare consume-and-produce passthrough (rdkafka consumer and Pulse's own producer
//! settings, each message re-sent as it came, acknowledged per batch, offsets committed)
//! runs over the same topic in the same run: ingest's own CPU per event is compared with
//! it (issue 24 item 4), since the passthrough is the least any service that reads a topic
//! and writes another can spend on this broker and client library.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::join_all;
use pulse_ingest::{Ingest, IngestMetrics};
use pulse_runtime::{http::Readiness, kafka::TopicsConfig};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::FutureRecord,
    Message as _,
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
        /// Also report the CPU time of another process per phase, as NAME=PID (e.g. the
        /// broker and ClickHouse on the same machine: where the rest of the time goes).
        /// Linux only (reads /proc). Repeatable.
        #[arg(long = "watch", value_parser = parse_watch)]
        watch: Vec<(String, u32)>,
        /// Run ingest with sequential writes first (default: overlapped first), to see
        /// whether the order favours either (the first run's ClickHouse merges may still
        /// run during the second).
        #[arg(long)]
        sequential_first: bool,
    },
    /// The HTTP collector (`pulse collect`): events/s per core and request latency at
    /// saturation and at half of it, next to a bare producer of the same events.
    Collect(super::bench_collect::CollectBench),
}

pub async fn run(c: BenchCmd, s: Settings) -> anyhow::Result<()> {
    match c {
        BenchCmd::Ingest { events, partitions, keep, watch, sequential_first } => {
            let mut cpu = Cpu::new(watch);
            ingest(s, events, partitions, keep, sequential_first, &mut cpu).await
        }
        BenchCmd::Collect(a) => super::bench_collect::run(a, s).await,
    }
}

fn event(i: u64, ts: &str) -> String {
    format!(
        r#"{{"type":"usage","event_id":"e-{i:010}","account_id":"acct-{:05}","user_id":"u-{:06}","event":"report.viewed","feature":"reports","timestamp":"{ts}"}}"#,
        i % 1000,
        i % 20_000
    )
}

async fn ingest(
    mut s: Settings,
    events: u64,
    partitions: i32,
    keep: bool,
    sequential_first: bool,
    cpu: &mut Cpu,
) -> anyhow::Result<()> {
    let tag = format!("{}{}", std::process::id(), chrono::Utc::now().timestamp_millis() % 1_000_000);
    s.topics = TopicsConfig::with_prefix(&format!("bench.{tag}"));
    pulse_runtime::kafka::create_topics(&s.kafka, &s.topics.all(), partitions, 1).await.context("create topics")?;

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

    // 2. the bare consumer's ceiling, ingest with overlapped and with sequential writes
    //    (each on its own database and consumer group), the ceiling again: the drift
    //    between the two bare runs shows how noisy the machine was.
    cpu.mark();
    let bare_before = bare(&s, events).await?;
    let bare_cpu = cpu.report("bare consumer");
    let pass_topic = format!("bench.{tag}.passthrough");
    pulse_runtime::kafka::create_topics(&s.kafka, &[pass_topic.as_str()], partitions, 1)
        .await
        .context("create the passthrough topic")?;
    cpu.mark();
    let pass_secs = {
        let (kafka, from) = (s.kafka.clone(), s.topics.usage.clone());
        tokio::task::spawn_blocking(move || passthrough(&kafka, &from, &pass_topic, events)).await??
    };
    let pass_cpu = cpu.report("passthrough");
    let mut runs = Vec::new();
    let mut overlapped_cpu = None;
    for overlap in if sequential_first { [false, true] } else { [true, false] } {
        let (name, label) = if overlap { ("overlap", "overlapped") } else { ("seq", "sequential") };
        runs.push((overlap, ingest_run(&s, &tag, name, overlap, events).await?));
        let used = cpu.report(&format!("ingest, {label} writes"));
        if overlap {
            overlapped_cpu = used;
        }
    }
    let (overlapped, sequential) = match (runs.pop(), runs.pop()) {
        (Some((true, o)), Some((_, q))) | (Some((false, q)), Some((_, o))) => (o, q),
        _ => anyhow::bail!("both ingest runs ran"),
    };
    let bare_after = bare(&s, events).await?;
    let _ = cpu.report("bare consumer");
    let bare_rate = events as f64 / ((bare_before + bare_after) / 2.0);
    let rate = |secs: f64| events as f64 / secs;
    // CPU microseconds of this process per event, per phase (setup included).
    let us = |cpu: Option<f64>| cpu.map_or_else(|| "null".to_owned(), |c| format!("{:.2}", c * 1e6 / events as f64));
    let cpu_ratio = match (overlapped_cpu, pass_cpu) {
        (Some(i), Some(p)) if p > 0.0 => format!("{:.2}", i / p),
        _ => "null".to_owned(),
    };
    println!(
        "{{\"events\":{events},\"partitions\":{partitions},\"bare_consumer_per_s\":{bare_rate:.0},\"ingest_per_s\":{:.0},\"ratio\":{:.2},\"ingest_sequential_per_s\":{:.0},\"ratio_sequential\":{:.2},\"passthrough_per_s\":{:.0},\"cpu_us_per_event\":{{\"bare_consumer\":{},\"passthrough\":{},\"ingest\":{}}},\"ingest_cpu_over_passthrough\":{cpu_ratio}}}",
        rate(overlapped.secs),
        rate(overlapped.secs) / bare_rate,
        rate(sequential.secs),
        rate(sequential.secs) / bare_rate,
        rate(pass_secs),
        us(bare_cpu),
        us(pass_cpu),
        us(overlapped_cpu),
    );
    eprintln!("bare consumer: {:.0}/s before, {:.0}/s after the ingest runs", rate(bare_before), rate(bare_after));
    for (name, r) in [("overlapped writes", &overlapped), ("sequential writes", &sequential)] {
        eprintln!(
            "ingest ({name}): {events} events validated, stored in ClickHouse, forwarded and committed in {:.2}s ({:.0}/s) = {:.0}% of the bare consumer; \
             the loop waited {:.2}s on writes ({:.0}%) over {} batches (a write took {:.0} ms on average)",
            r.secs,
            rate(r.secs),
            100.0 * rate(r.secs) / bare_rate,
            r.write_wait,
            100.0 * r.write_wait / r.secs.max(f64::EPSILON),
            r.batches,
            1000.0 * r.flush / (r.batches.max(1) as f64),
        );
    }
    if !keep {
        for db in [overlapped.database, sequential.database] {
            let _ = s.clickhouse.server_client().query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await;
        }
    }
    Ok(())
}

async fn bare(s: &Settings, events: u64) -> anyhow::Result<f64> {
    let kafka = s.kafka.clone();
    let topic = s.topics.usage.clone();
    let secs = tokio::task::spawn_blocking(move || bare_consume(&kafka, &topic, events)).await??;
    eprintln!("bare consumer: {events} messages in {secs:.2}s ({:.0}/s)", events as f64 / secs);
    Ok(secs)
}

/// One ingest run over the whole topic.
struct IngestRun {
    /// From its first consumed message to the last row inserted.
    secs: f64,
    /// Time its consume loop waited on writes.
    write_wait: f64,
    /// Summed write time (first attempt to commit) and batches.
    flush: f64,
    batches: u64,
    database: String,
}

async fn ingest_run(s: &Settings, tag: &str, name: &str, overlap: bool, events: u64) -> anyhow::Result<IngestRun> {
    let mut s = s.clone();
    s.clickhouse.database = format!("pulse_bench_{tag}_{name}");
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    pulse_runtime::migrate::migrate(&s.clickhouse, now).await.context("migrate")?;
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::new(&registry);
    let mut cfg = s.ingest.clone();
    cfg.group_id = format!("bench-ingest-{tag}-{name}");
    cfg.overlap_writes = overlap;
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
    let secs = loop {
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
    Ok(IngestRun {
        secs,
        write_wait: metrics.write_wait_seconds.get_sample_sum(),
        flush: metrics.batch_duration.get_sample_sum(),
        batches: metrics.batch_duration.get_sample_count(),
        database: s.clickhouse.database,
    })
}

fn parse_watch(v: &str) -> Result<(String, u32), String> {
    let (name, pid) = v.split_once('=').ok_or_else(|| format!("`{v}`: expected NAME=PID"))?;
    let pid = pid.parse().map_err(|e| format!("`{pid}`: {e}"))?;
    Ok((name.to_owned(), pid))
}

/// CPU seconds used per phase by this process and the watched ones.
struct Cpu {
    procs: Vec<(String, String)>,
    last: Vec<Option<f64>>,
    at: Instant,
}

impl Cpu {
    fn new(watch: Vec<(String, u32)>) -> Self {
        let mut procs = vec![("pulse".to_owned(), "/proc/self/stat".to_owned())];
        procs.extend(watch.into_iter().map(|(n, p)| (n, format!("/proc/{p}/stat"))));
        let last = vec![None; procs.len()];
        Self { procs, last, at: Instant::now() }
    }

    /// utime + stime of a /proc/PID/stat, in seconds (USER_HZ = 100 on Linux).
    fn read(path: &str) -> Option<f64> {
        let stat = std::fs::read_to_string(path).ok()?;
        // Fields after the command name (which may hold spaces) in parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    fn mark(&mut self) {
        self.last = self.procs.iter().map(|(_, p)| Self::read(p)).collect();
        self.at = Instant::now();
    }

    /// Prints the CPU seconds each process used since the last mark, then marks; returns
    /// this process's.
    fn report(&mut self, phase: &str) -> Option<f64> {
        let wall = self.at.elapsed().as_secs_f64();
        let used: Vec<Option<f64>> =
            self.procs.iter().zip(&self.last).map(|((_, path), before)| Some(Self::read(path)? - (*before)?)).collect();
        let shown: Vec<String> = self
            .procs
            .iter()
            .zip(&used)
            .map(|((name, _), u)| u.map_or_else(|| format!("{name} ?"), |u| format!("{name} {u:.2}")))
            .collect();
        eprintln!("cpu-s during {phase} ({wall:.2}s wall, setup included): {}", shown.join(", "));
        self.mark();
        used.first().copied().flatten()
    }
}

/// A `BaseConsumer` of a group of its own (`{group}-{pid}`) reading `topic` from its
/// start, committing only when told: the consumer of the bare and passthrough phases.
fn bench_consumer(kafka: &pulse_runtime::kafka::KafkaConfig, group: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let mut c = kafka.client_config();
    c.set("group.id", format!("{group}-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = c.create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Seconds from the first to the `n`th message of a bare BaseConsumer.
fn bare_consume(kafka: &pulse_runtime::kafka::KafkaConfig, topic: &str, n: u64) -> anyhow::Result<f64> {
    let consumer = bench_consumer(kafka, "bench-bare", topic)?;
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

/// Seconds from the first message of a bare consume-and-produce passthrough of `n`
/// messages from `from` to `to` until every re-sent message is acknowledged and the
/// offsets are committed: a `BaseConsumer` and Pulse's output producer (the settings of
/// ingest's, `KafkaConfig::producer`), acknowledgements awaited per 20,000 messages as
/// ingest awaits a batch's.
fn passthrough(kafka: &pulse_runtime::kafka::KafkaConfig, from: &str, to: &str, n: u64) -> anyhow::Result<f64> {
    const BATCH: usize = 20_000;
    let consumer = bench_consumer(kafka, "bench-passthrough", from)?;
    let producer = kafka.producer()?;
    let rt = tokio::runtime::Handle::current();
    let mut pending: Vec<rdkafka::producer::DeliveryFuture> = Vec::with_capacity(BATCH);
    let settle = |pending: &mut Vec<rdkafka::producer::DeliveryFuture>| -> anyhow::Result<()> {
        for r in rt.block_on(join_all(pending.drain(..))) {
            r.context("delivery future dropped")?.map_err(|(e, _)| e).context("passthrough produce")?;
        }
        consumer.commit_consumer_state(CommitMode::Async).context("commit")?;
        Ok(())
    };
    let mut count = 0u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count < n {
        anyhow::ensure!(Instant::now() < deadline, "passthrough timed out at {count}/{n}");
        let Some(r) = consumer.poll(Duration::from_millis(100)) else { continue };
        let m = r?;
        first.get_or_insert_with(Instant::now);
        let rec = FutureRecord::to(to).key(m.key().unwrap_or_default()).payload(m.payload().unwrap_or_default());
        match producer.send_result(rec) {
            Ok(f) => pending.push(f),
            Err((e, _)) => anyhow::bail!("passthrough enqueue: {e}"),
        }
        count += 1;
        if pending.len() >= BATCH {
            settle(&mut pending)?;
        }
    }
    settle(&mut pending)?;
    let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
    eprintln!("passthrough: {n} messages consumed, re-sent and acknowledged in {secs:.2}s ({:.0}/s)", n as f64 / secs);
    Ok(secs)
}
