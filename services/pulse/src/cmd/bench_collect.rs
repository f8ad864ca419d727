//! `pulse bench collect`: the HTTP collector against the real broker, next to a bare
//! producer of the same events in the same run (SPEC §9, issue 23).
//!
//! The collector runs as its own process (`pulse collect`, this binary), so its CPU time
//! is its own (read from /proc): events/s per core = events / its CPU seconds. This
//! process is the load: reqwest clients posting Segment `batch` requests of `--batch`
//! `track` calls, each with a fresh `messageId`.
//!
//! 1. saturation: `--concurrency` clients post back to back, `--events` in all: the
//!    ceiling (events/s), the collector's CPU, request latency;
//! 2. the bare producer: the very records the collector wrote (read back from its topic)
//!    produced again by a `BatchProducer` in requests of the same size, as many at once:
//!    what the broker takes without the HTTP, parsing and mapping;
//! 3. half of saturation: requests sent on a fixed schedule (open loop, so a slow answer
//!    does not delay the next send) at half the rate of 1, for `--seconds`: p50/p99.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use pulse_runtime::{
    batch_producer::Record,
    kafka::{KafkaConfig, TopicsConfig},
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer as _},
    Message as _,
};

use crate::settings::Settings;

/// Options of `pulse bench collect`.
#[derive(clap::Args)]
pub struct CollectBench {
    /// Events sent in the saturation phase.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Calls per request (Segment's SDKs send up to 100 by default).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Requests in flight at once in the saturation phase (and for the bare producer).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Length of the half-saturation phase.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Partitions of the throwaway topics.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
}

const KEY: &str = "bench-write-key";

pub async fn run(a: CollectBench, mut s: Settings) -> anyhow::Result<()> {
    anyhow::ensure!((1..=10_000).contains(&a.batch), "--batch: 1..=10000");
    anyhow::ensure!((1..=1024).contains(&a.concurrency), "--concurrency: 1..=1024");
    anyhow::ensure!(a.events >= a.batch as u64, "--events: at least one batch");
    let tag = format!("{}{}", std::process::id(), chrono::Utc::now().timestamp_millis() % 1_000_000);
    s.topics = TopicsConfig::with_prefix(&format!("bench.{tag}"));
    let bare_topic = format!("bench.{tag}.bare");
    let mut all = s.topics.all().to_vec();
    all.push(&bare_topic);
    pulse_runtime::kafka::create_topics(&s.kafka, &all, a.partitions, 1).await.context("create topics")?;

    let collector = CollectorProcess::start(&s, &tag).await?;
    let url = format!("http://{}/v1/batch", collector.addr);
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.concurrency * 2).build()?;

    // 1. saturation
    let requests = a.events / a.batch as u64;
    let events = requests * a.batch as u64;
    let cpu0 = collector.cpu_secs()?;
    let started = Instant::now();
    let mut lat = closed_loop(&http, &url, "sat", requests, a.batch, a.concurrency).await?;
    let sat_secs = started.elapsed().as_secs_f64();
    let sat_cpu = collector.cpu_secs()? - cpu0;
    let sat_rate = events as f64 / sat_secs;
    let (sat_p50, sat_p99) = (quantile(&mut lat, 0.50), quantile(&mut lat, 0.99));
    eprintln!(
        "collect, saturation: {events} events in {requests} requests of {} ({} in flight) in {sat_secs:.2}s = {sat_rate:.0} events/s; \
         collector cpu {sat_cpu:.2}s = {:.0} events/s per core; latency p50 {:.1} ms, p99 {:.1} ms",
        a.batch,
        a.concurrency,
        events as f64 / sat_cpu.max(f64::EPSILON),
        sat_p50 * 1e3,
        sat_p99 * 1e3,
    );

    // 2. the bare producer, same records
    let records = read_back(&s.kafka, &s.topics.usage, events).await?;
    let self_cpu0 = cpu_secs("/proc/self/stat")?;
    let started = Instant::now();
    bare_produce(&s.kafka, &bare_topic, &records, a.batch, a.concurrency).await?;
    let bare_secs = started.elapsed().as_secs_f64();
    let bare_cpu = cpu_secs("/proc/self/stat")? - self_cpu0;
    let bare_rate = events as f64 / bare_secs;
    let avg_bytes = records.iter().map(|(_, v)| v.len()).sum::<usize>() / records.len().max(1);
    eprintln!(
        "bare producer: the same {events} records ({avg_bytes} bytes avg) in {bare_secs:.2}s = {bare_rate:.0} events/s; \
         its process cpu {bare_cpu:.2}s = {:.0} events/s per core",
        events as f64 / bare_cpu.max(f64::EPSILON)
    );

    // 3. half of saturation, open loop
    let half_rate = sat_rate / 2.0;
    let cpu0 = collector.cpu_secs()?;
    let (mut lat, sent) = open_loop(&http, &url, half_rate / a.batch as f64, a.batch, a.seconds).await?;
    let half_cpu = collector.cpu_secs()? - cpu0;
    let (p50, p99) = (quantile(&mut lat, 0.50), quantile(&mut lat, 0.99));
    eprintln!(
        "collect at half of saturation: {half_rate:.0} events/s offered for {}s ({sent} requests), collector cpu {half_cpu:.2}s; \
         latency p50 {:.1} ms, p99 {:.1} ms",
        a.seconds,
        p50 * 1e3,
        p99 * 1e3
    );
    println!(
        "{{\"batch\":{},\"concurrency\":{},\"events\":{events},\"collect_per_s\":{sat_rate:.0},\"collect_per_core_s\":{:.0},\
         \"saturation_p50_ms\":{:.2},\"saturation_p99_ms\":{:.2},\"bare_producer_per_s\":{bare_rate:.0},\"ratio\":{:.2},\
         \"half_rate_per_s\":{half_rate:.0},\"half_p50_ms\":{:.2},\"half_p99_ms\":{:.2}}}",
        a.batch,
        a.concurrency,
        events as f64 / sat_cpu.max(f64::EPSILON),
        sat_p50 * 1e3,
        sat_p99 * 1e3,
        sat_rate / bare_rate,
        p50 * 1e3,
        p99 * 1e3,
    );
    collector.stop();
    Ok(())
}

/// A request body of `n` Segment `track` calls, ids `<prefix>-<seq>-<i>`.
fn body(prefix: &str, seq: u64, n: usize, ts: &str) -> String {
    let mut b = String::with_capacity(n * 260 + 64);
    b.push_str(r#"{"batch":["#);
    for i in 0..n {
        if i > 0 {
            b.push(',');
        }
        let k = seq * n as u64 + i as u64;
        b.push_str(&format!(
            r#"{{"type":"track","messageId":"{prefix}-{seq}-{i}","userId":"u-{:06}","event":"Report Viewed","timestamp":"{ts}","context":{{"groupId":"acct-{:05}","library":{{"name":"analytics-python","version":"2.4.0"}}}},"properties":{{"feature":"reports","plan":"pro"}}}}"#,
            k % 20_000,
            k % 1_000
        ));
    }
    b.push_str(&format!(r#"],"sentAt":"{ts}"}}"#));
    b
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> anyhow::Result<f64> {
    let started = Instant::now();
    let r = http.post(url).basic_auth(KEY, Some("")).body(body).send().await.context("request")?;
    let status = r.status();
    let text = r.text().await.context("answer")?;
    anyhow::ensure!(status == 200 && text.contains(r#""rejected":[]"#), "collect answered {status}: {text}");
    Ok(started.elapsed().as_secs_f64())
}

/// `requests` requests, `concurrency` at a time, each sent when the previous one of its
/// lane is answered; the latencies.
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    prefix: &str,
    requests: u64,
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let ts = now_ts();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let lanes = (0..concurrency).map(|_| {
        let (http, url, next, ts, prefix) = (http.clone(), url.to_owned(), next.clone(), ts.clone(), prefix.to_owned());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let seq = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seq >= requests {
                    return Ok::<_, anyhow::Error>(lat);
                }
                lat.push(post(&http, &url, body(&prefix, seq, batch, &ts)).await?);
            }
        })
    });
    let mut all = Vec::new();
    for lane in futures::future::join_all(lanes).await {
        all.extend(lane.context("client task")??);
    }
    Ok(all)
}

/// Requests at `per_s` on a fixed schedule for `seconds`; (latencies, requests sent).
async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    per_s: f64,
    batch: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, u64)> {
    anyhow::ensure!(per_s > 0.0, "no rate to offer");
    let ts = now_ts();
    let interval = Duration::from_secs_f64(1.0 / per_s);
    let total = (per_s * seconds as f64).ceil() as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for seq in 0..total {
        tokio::time::sleep_until(start + interval.mul_f64(seq as f64)).await;
        let (http, url, b) = (http.clone(), url.to_owned(), body("half", seq, batch, &ts));
        tasks.push(tokio::spawn(async move { post(&http, &url, b).await }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    for t in futures::future::join_all(tasks).await {
        lat.push(t.context("client task")??);
    }
    Ok((lat, total))
}

fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// utime + stime of a /proc/PID/stat, in seconds (USER_HZ = 100 on Linux).
fn cpu_secs(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path} (Linux only)"))?;
    let rest = stat.rfind(')').map(|i| &stat[i + 2..]).context("no command name in stat")?;
    let f: Vec<&str> = rest.split(' ').collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).context("stat field");
    Ok((field(11)? + field(12)?) as f64 / 100.0)
}

/// Reads `n` records (key, payload) of `topic` from the beginning.
async fn read_back(kafka: &KafkaConfig, topic: &str, n: u64) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut c = kafka.client_config();
        c.set("group.id", format!("bench-collect-read-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer = c.create()?;
        consumer.subscribe(&[&topic])?;
        let mut out = Vec::with_capacity(n as usize);
        let deadline = Instant::now() + Duration::from_secs(300);
        while (out.len() as u64) < n {
            anyhow::ensure!(Instant::now() < deadline, "read back {} of {n} records", out.len());
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m?;
                out.push((m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec()));
            }
        }
        Ok(out)
    })
    .await?
}

/// Produces `records` in groups of `batch`, `concurrency` groups at once, each waiting
/// for every acknowledgement (as the collector does per request).
async fn bare_produce(
    kafka: &KafkaConfig,
    topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let producer = kafka.batch_producer()?;
    let groups: Vec<&[(Vec<u8>, Vec<u8>)]> = records.chunks(batch).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let lanes = (0..concurrency).map(|_| async {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(group) = groups.get(i) else { return Ok::<_, anyhow::Error>(()) };
            let recs: Vec<Record<'_>> =
                group.iter().map(|(k, v)| Record { topic, key: Some(k), payload: v, timestamp: None }).collect();
            producer.send_all(&recs, Duration::from_secs(30)).await?;
        }
    });
    for lane in futures::future::join_all(lanes).await {
        lane?;
    }
    Ok(())
}

/// `pulse collect` (this binary) as a child process on a free port, one source.
struct CollectorProcess {
    child: Child,
    addr: std::net::SocketAddr,
    config: std::path::PathBuf,
}

impl CollectorProcess {
    async fn start(s: &Settings, tag: &str) -> anyhow::Result<Self> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("a free port")?;
        let digest = pulse_collect::config::SourceConfig::with_key("bench", KEY).key_sha256;
        let config = std::env::temp_dir().join(format!("pulse-bench-collect-{tag}.toml"));
        std::fs::write(&config, format!("[[collect.sources]]\nname = \"bench\"\nkey_sha256 = \"{digest}\"\n"))
            .with_context(|| format!("writing {}", config.display()))?;
        let t = &s.topics;
        let child = Command::new(std::env::current_exe().context("this binary")?)
            .arg("collect")
            .env("PULSE_CONFIG", &config)
            .env("PULSE__KAFKA__BROKERS", &s.kafka.brokers)
            .env("PULSE__TOPICS__USAGE", &t.usage)
            .env("PULSE__TOPICS__CRM", &t.crm)
            .env("PULSE__TOPICS__DLQ", &t.dlq)
            .env("PULSE__COLLECT__HTTP_LISTEN", addr.to_string())
            .env("PULSE__TELEMETRY__LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting pulse collect for bench {tag}"))?;
        let me = Self { child, addr, config };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "pulse collect did not listen on {addr} within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(me)
    }

    fn cpu_secs(&self) -> anyhow::Result<f64> {
        cpu_secs(&format!("/proc/{}/stat", self.child.id()))
    }

    fn stop(self) {}
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}
