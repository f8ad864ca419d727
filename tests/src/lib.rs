//! Integration-test helpers: every test gets its own topics and its own ClickHouse
//! database (random suffix), so tests run in parallel against one real broker and one
//! real ClickHouse without seeing each other.
//!
//! Addresses come from `PULSE_TEST_KAFKA` and `PULSE_TEST_CLICKHOUSE` (defaults: the
//! local stack, `127.0.0.1:9092` and `http://127.0.0.1:8123`).

pub mod broker;
pub mod collect;
pub mod dead_letter_schema;
pub mod hostile;
pub mod webhook;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use futures::future::join_all;
use pulse_ingest::{Ingest, IngestConfig, IngestMetrics};
use pulse_runtime::{
    clickhouse::ClickHouseConfig,
    http::Readiness,
    kafka::{KafkaConfig, TopicsConfig},
};
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    producer::FutureRecord,
    Message,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// A fresh set of topics and a fresh, migrated database.
pub struct TestEnv {
    pub tag: String,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub clickhouse: ClickHouseConfig,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl TestEnv {
    pub async fn new(partitions: i32) -> Self {
        let brokers = std::env::var("PULSE_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
        Self::on_brokers(&brokers, partitions).await
    }

    /// [`TestEnv::new`] with its topics on `brokers` (e.g. a [`broker::PrivateBroker`]).
    pub async fn on_brokers(brokers: &str, partitions: i32) -> Self {
        pulse_runtime::telemetry::init(&pulse_runtime::telemetry::TelemetryConfig {
            log_level: "warn".into(),
            ..Default::default()
        });
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let kafka = KafkaConfig { brokers: brokers.to_owned(), ..KafkaConfig::default() };
        let topics = TopicsConfig::with_prefix(&format!("test.{tag}"));
        let clickhouse = ClickHouseConfig {
            url: std::env::var("PULSE_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
            database: format!("pulse_test_{tag}"),
            ..ClickHouseConfig::default()
        };
        pulse_runtime::kafka::create_topics(&kafka, &topics.all(), partitions, 1)
            .await
            .expect("create test topics (is the stack up? scripts/stack up --infra)");
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        pulse_runtime::migrate::migrate(&clickhouse, now).await.expect("migrate test database");
        Self { tag, kafka, topics, clickhouse }
    }

    pub fn ingest_config(&self) -> IngestConfig {
        IngestConfig {
            group_id: format!("test-ingest-{}", self.tag),
            batch_max_wait_ms: 100,
            retry_initial_ms: 100,
            retry_max_ms: 1000,
            ..IngestConfig::default()
        }
    }

    /// Starts an in-process ingest service; see [`IngestHandle`].
    pub fn spawn_ingest(&self, cfg: IngestConfig) -> IngestHandle {
        let registry = prometheus::Registry::new();
        let metrics = IngestMetrics::new(&registry);
        let ready = Readiness::default();
        let ingest = Ingest {
            cfg,
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            clickhouse: self.clickhouse.clone(),
            metrics: metrics.clone(),
            ready: ready.clone(),
        };
        let (stop, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            ingest
                .run(async move {
                    let _ = rx.await;
                })
                .await
        });
        IngestHandle { metrics, ready, registry, stop: Some(stop), join }
    }

    /// Produces `(key, payload)` pairs and checks every delivery report.
    pub async fn produce(&self, topic: &str, messages: &[(Option<String>, Vec<u8>)]) {
        let producer = self.kafka.producer().expect("producer");
        let sends = messages.iter().map(|(k, v)| {
            let mut rec = FutureRecord::to(topic).payload(v.as_slice());
            if let Some(k) = k {
                rec = rec.key(k.as_bytes());
            }
            producer.send(rec, Duration::from_secs(30))
        });
        for r in join_all(sends).await {
            r.map_err(|(e, _)| e).expect("delivery acknowledged");
        }
    }

    /// Reads `topic` from the beginning until `n` messages or `timeout`.
    pub async fn consume(&self, topic: &str, n: usize, timeout: Duration) -> Vec<Consumed> {
        let mut c = self.kafka.client_config();
        c.set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4().simple()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        let consumer: StreamConsumer = c.create().expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            match tokio::time::timeout(left, consumer.recv()).await {
                Ok(Ok(m)) => out.push(Consumed {
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or(&[]).to_vec(),
                    partition: m.partition(),
                }),
                Ok(Err(e)) => panic!("consume {topic}: {e}"),
                Err(_) => break,
            }
        }
        out
    }

    pub fn ch(&self) -> clickhouse::Client {
        self.clickhouse.client()
    }

    /// Runs a scalar `SELECT count()`-like query.
    pub async fn scalar(&self, sql: &str) -> u64 {
        self.ch().query(sql).fetch_one::<u64>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Polls `sql` until it returns `want` or `timeout`; returns the last value.
    pub async fn wait_scalar(&self, sql: &str, want: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            // A failing query is retried until the deadline (ClickHouse may be restarting
            // in a fault test), then reported: never mistaken for a value.
            match self.ch().query(sql).fetch_one::<u64>().await {
                Ok(got) if got == want => return got,
                Ok(got) if Instant::now() > deadline => return got,
                Err(e) if Instant::now() > deadline => panic!("query failed until the deadline: {sql}: {e}"),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn drop_database(&self) {
        let _ = self
            .clickhouse
            .server_client()
            .query(&format!("DROP DATABASE IF EXISTS {}", self.clickhouse.database))
            .execute()
            .await;
    }
}

pub struct Consumed {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub partition: i32,
}

/// A running in-process ingest service.
pub struct IngestHandle {
    pub metrics: IngestMetrics,
    pub ready: Readiness,
    pub registry: prometheus::Registry,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<Result<(), pulse_ingest::service::IngestError>>,
}

impl IngestHandle {
    /// Waits for ingest to end on its own (e.g. a setup error) and returns its result.
    pub async fn ended(self, timeout: Duration) -> Result<(), pulse_ingest::service::IngestError> {
        match tokio::time::timeout(timeout, self.join).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("ingest task panicked: {e}"),
            Err(_) => panic!("ingest did not stop within {timeout:?}"),
        }
    }

    /// Graceful stop: final flush and commit.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), &mut self.join).await {
            Ok(Ok(Ok(()))) | Err(_) => {}
            Ok(Ok(Err(e))) => panic!("ingest ended with an error: {e}"),
            Ok(Err(e)) if e.is_panic() => panic!("ingest task panicked: {e}"),
            Ok(Err(_)) => {}
        }
    }

    /// Hard stop, like a crash: the task is dropped mid-flight, nothing more is flushed
    /// or committed.
    pub async fn kill(self) {
        self.join.abort();
        let _ = self.join.await;
    }

    /// Total messages consumed so far (all topics).
    pub fn consumed(&self) -> u64 {
        self.metrics.consumed.collect_total()
    }
}

/// Sums a counter vec over all label values.
pub trait CollectTotal {
    fn collect_total(&self) -> u64;
}

impl CollectTotal for prometheus::IntCounterVec {
    fn collect_total(&self) -> u64 {
        use prometheus::core::Collector;
        self.collect().iter().flat_map(|f| f.get_metric()).map(|m| m.get_counter().get_value() as u64).sum()
    }
}

/// A valid native usage event, timestamped `minutes_ago` before now.
pub fn usage(event_id: &str, account: &str, user: &str, minutes_ago: i64) -> Vec<u8> {
    let ts = (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"{{"type":"usage","event_id":"{event_id}","account_id":"{account}","user_id":"{user}","event":"report.viewed","feature":"reports","timestamp":"{ts}","extra_field":{{"kept":true}}}}"#
    )
    .into_bytes()
}

/// A scorer config for tests: fast batches, frequent snapshots.
pub fn scorer_config(env: &TestEnv) -> pulse_scorer::ScorerConfig {
    pulse_scorer::ScorerConfig {
        group_id: format!("test-scorer-{}", env.tag),
        batch_max_wait_ms: 100,
        snapshot_interval_secs: 1,
        retry_initial_ms: 100,
        retry_max_ms: 1000,
        // Stalled-source detection off: test histories are dated days or months before
        // the (pinned or real) clock, which is a stalled feed by the default limits.
        // tests/tests/feed_outage.rs turns it on.
        stall: pulse_scorer::sources::StallConfig { usage_limit_secs: 0, crm_limit_secs: 0 },
        ..pulse_scorer::ScorerConfig::default()
    }
}

/// A running in-process scorer.
pub struct ScorerHandle {
    pub metrics: pulse_scorer::ScorerMetrics,
    pub ready: Readiness,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<()>,
}

impl ScorerHandle {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), &mut self.join).await;
    }
}

impl TestEnv {
    /// Starts an in-process scorer with the given clock.
    pub fn spawn_scorer(
        &self,
        cfg: pulse_scorer::ScorerConfig,
        clock: std::sync::Arc<dyn pulse_scorer::Clock>,
    ) -> ScorerHandle {
        let registry = prometheus::Registry::new();
        let metrics = pulse_scorer::ScorerMetrics::new(&registry);
        let ready = Readiness::default();
        let scoring = cfg.load_scoring().expect("scoring config");
        let scorer = pulse_scorer::Scorer {
            cfg,
            scoring,
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            clickhouse: self.clickhouse.clone(),
            metrics: metrics.clone(),
            ready: ready.clone(),
            clock,
        };
        let (stop, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            scorer
                .run(async move {
                    let _ = rx.await;
                })
                .await
                .expect("scorer run");
        });
        ScorerHandle { metrics, ready, stop: Some(stop), join }
    }

    /// Produces NDJSON lines routed like `pulse produce --route`: usage and `track` to
    /// the usage topic, everything else to the CRM topic, keyed by account.
    pub async fn produce_routed(&self, ndjson: &[u8]) -> usize {
        let mut usage = Vec::new();
        let mut crm = Vec::new();
        for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or(serde_json::Value::Null);
            let key = v["account_id"].as_str().or(v["context"]["groupId"].as_str()).map(str::to_owned);
            match v["type"].as_str() {
                Some("usage" | "track") | None => usage.push((key, line.to_vec())),
                Some(_) => crm.push((key, line.to_vec())),
            }
        }
        let n = usage.len() + crm.len();
        self.produce(&self.topics.usage.clone(), &usage).await;
        self.produce(&self.topics.crm.clone(), &crm).await;
        n
    }
}

/// Replays `ndjson` as of `day` with the default scoring config: the expected results,
/// as (account id, kind) -> JSON value.
pub fn replay_expected(
    ndjson: &[u8],
    day: chrono::NaiveDate,
) -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    replay_expected_with(ndjson, day, &pulse_core::ScoringConfig::default())
}

/// [`replay_expected`] under `cfg`.
pub fn replay_expected_with(
    ndjson: &[u8],
    day: chrono::NaiveDate,
    cfg: &pulse_core::ScoringConfig,
) -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let opts = pulse_replay::ReplayOptions::new(pulse_replay::Window::as_of(day));
    let mut out = Vec::new();
    let mut diag = Vec::new();
    pulse_replay::replay(ndjson, cfg, &opts, &mut out, &mut diag).expect("replay");
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("replay line is json");
            (
                (
                    v["account_id"].as_str().unwrap_or_default().to_owned(),
                    v["kind"].as_str().unwrap_or_default().to_owned(),
                ),
                v,
            )
        })
        .collect()
}

/// One day's results, as (account id, kind) -> JSON value.
pub type DayResults = std::collections::BTreeMap<(String, String), serde_json::Value>;

/// `pulse replay --from` `from` `--to` `to` (the library function the CLI runs) over
/// `ndjson` with the default scoring config: the alert lines in the order replay printed
/// them, and the health and readiness results by day (`as_of`), keyed like
/// [`replay_expected`].
pub fn replay_series(
    ndjson: &[u8],
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> (Vec<serde_json::Value>, std::collections::BTreeMap<String, DayResults>) {
    let cfg = pulse_core::ScoringConfig::default();
    let opts = pulse_replay::ReplayOptions::new(pulse_replay::Window::series(from, to).expect("window"));
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    pulse_replay::replay(ndjson, &cfg, &opts, &mut out, &mut diag).expect("replay");
    let mut alerts = Vec::new();
    let mut results: std::collections::BTreeMap<String, DayResults> = std::collections::BTreeMap::new();
    for l in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(l).expect("replay line is json");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        match v["kind"].as_str() {
            Some("alert") => alerts.push(v),
            Some(kind) => {
                let key = (s("account_id"), kind.to_owned());
                results.entry(s("as_of")).or_default().insert(key, v);
            }
            None => panic!("replay line without kind: {v}"),
        }
    }
    (alerts, results)
}

/// Results stored in ClickHouse for `day` (the `result` column, FINAL), keyed like
/// [`replay_expected`]. A failing query is an error, never an empty result (which could
/// equal an empty expectation).
pub async fn stored_results(
    env: &TestEnv,
    day: chrono::NaiveDate,
) -> anyhow::Result<std::collections::BTreeMap<(String, String), serde_json::Value>> {
    use anyhow::Context as _;
    let mut out = std::collections::BTreeMap::new();
    for (table, kind) in [("account_health", "health"), ("graduation_readiness", "readiness")] {
        let rows: Vec<(String, String)> = env
            .ch()
            .query(&format!("SELECT account_id, result FROM {table} FINAL WHERE as_of = toDate(?)"))
            .bind(day.to_string())
            .fetch_all()
            .await
            .with_context(|| format!("reading {table} for {day}"))?;
        for (account, result) in rows {
            let v: serde_json::Value = serde_json::from_str(&result)
                .with_context(|| format!("{table} result of {account} is not JSON: {result}"))?;
            out.insert((account, kind.to_owned()), v);
        }
    }
    Ok(out)
}

/// Runs the stack script (for fault tests that stop and start ClickHouse).
pub fn stack(args: &[&str]) {
    let status = std::process::Command::new(repo_root().join("scripts/stack"))
        .args(args)
        .current_dir(repo_root())
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed");
}

/// A `pulse` subcommand running as a real process (for kill -9 and rebalance tests),
/// configured for this test's topics and database through `PULSE__*` variables.
pub struct ServiceProcess {
    pub child: std::process::Child,
    /// Where its `/metrics`, `/healthz` and `/readyz` are served.
    pub http: std::net::SocketAddr,
}

impl ServiceProcess {
    pub fn spawn(bin: &std::path::Path, env: &TestEnv, subcommand: &str, group: &str) -> Self {
        Self::spawn_with(bin, env, subcommand, group, &[])
    }

    /// [`ServiceProcess::spawn`] with more `PULSE__*` variables (later ones win).
    pub fn spawn_with(
        bin: &std::path::Path,
        env: &TestEnv,
        subcommand: &str,
        group: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        // A port free a moment ago, so the test can read the process's metrics.
        let http = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free local port");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join(format!("pulse-test-{}-{subcommand}.log", env.tag)))
            .expect("log file");
        let t = &env.topics;
        let child = std::process::Command::new(bin)
            .arg(subcommand)
            .current_dir(std::env::temp_dir())
            .env("PULSE__KAFKA__BROKERS", &env.kafka.brokers)
            .env("PULSE__TOPICS__USAGE", &t.usage)
            .env("PULSE__TOPICS__CRM", &t.crm)
            .env("PULSE__TOPICS__EVENTS", &t.events)
            .env("PULSE__TOPICS__DLQ", &t.dlq)
            .env("PULSE__TOPICS__HEALTH", &t.health)
            .env("PULSE__TOPICS__READINESS", &t.readiness)
            .env("PULSE__TOPICS__ALERTS", &t.alerts)
            .env("PULSE__CLICKHOUSE__URL", &env.clickhouse.url)
            .env("PULSE__CLICKHOUSE__DATABASE", &env.clickhouse.database)
            .env(format!("PULSE__{}__GROUP_ID", subcommand.to_uppercase()), group)
            .env(format!("PULSE__{}__HTTP_LISTEN", subcommand.to_uppercase()), http.to_string())
            .env("PULSE__SCORER__SNAPSHOT_INTERVAL_SECS", "1")
            .env("PULSE__SCORER__BATCH_MAX_WAIT_MS", "100")
            .env("PULSE__SCORER__RETRY_MAX_MS", "1000")
            .env("PULSE__SCORER__REJOIN_WHEN_IDLE_SECS", "5")
            // Stall detection off (see `scorer_config`).
            .env("PULSE__SCORER__STALL__USAGE_LIMIT_SECS", "0")
            .env("PULSE__SCORER__STALL__CRM_LIMIT_SECS", "0")
            .env("PULSE__INGEST__RETRY_MAX_MS", "1000")
            .env("PULSE__INGEST__REJOIN_WHEN_IDLE_SECS", "5")
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pulse");
        Self { child, http }
    }

    /// GET `path` on the process's HTTP port: (status, body). An error while it is not
    /// listening (yet).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.http, path).await
    }

    /// The sum of the samples of metric `name` whose labels contain every one of `labels`
    /// (e.g. `stage="publish"`), from the process's `/metrics`; 0 when there is none yet.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
        scrape(self.http, name, labels).await
    }

    /// Polls `cond` with the process's HTTP address (every 100 ms) until it holds; panics
    /// naming `what` and the last outcome once `timeout` has passed.
    pub async fn wait_until<F, Fut>(&self, what: &str, timeout: Duration, mut cond: F)
    where
        F: FnMut(std::net::SocketAddr) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let last = cond(self.http).await;
            if matches!(last, Ok(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "not within {timeout:?}: {what} (last: {last:?})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown code runs at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the graceful exit.
    pub fn terminate(mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`metric_sum`] of a service's `/metrics` at `addr`.
pub async fn scrape(addr: std::net::SocketAddr, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
    let (status, body) = http_get(addr, "/metrics").await?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    metric_sum(&body, name, labels)
}

/// A plain HTTP/1.0 GET (the services' operational endpoints): (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use anyhow::Context as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .context("no answer within 5 s")?
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let text = String::from_utf8(response).context("response is not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// The sum of the samples of `name` (exactly: not `name_bucket`) in a Prometheus text
/// exposition whose labels contain each of `labels`; 0 when there is none. A sample that
/// does not parse is an error.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (label_set, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once('}').ok_or_else(|| anyhow::anyhow!("bad sample {line:?}"))?,
            None if rest.starts_with(' ') => ("", rest),
            None => continue, // another metric with this prefix
        };
        if labels.iter().all(|l| label_set.split(',').any(|have| have == *l)) {
            let v: f64 = value.trim().parse().map_err(|e| anyhow::anyhow!("bad value in {line:?}: {e}"))?;
            sum += v;
        }
    }
    Ok(sum)
}

/// A Kafka message as (key, payload).
pub type Keyed = (Option<String>, Vec<u8>);

/// Demo scenario ending yesterday (no malformed lines): NDJSON and the normalized
/// events (key, payload) ingest would forward for it.
pub fn scenario(accounts: u32, seed: u64) -> (Vec<u8>, Vec<Keyed>, chrono::NaiveDate) {
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let spec = pulse_gen::DemoSpec { accounts, days: 35, end: day, seed, malformed: false };
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(&spec, &mut ndjson).expect("demo data");
    let events = ndjson
        .split(|b| *b == b'\n')
        .filter_map(|l| pulse_core::parse_event(l).ok())
        .map(|ev| (Some(ev.account_id().to_owned()), serde_json::to_vec(&ev).expect("serialize")))
        .collect();
    (ndjson, events, day)
}

/// Produces `events` to the events topic in `chunks` pieces, `pause` apart, so faults
/// can strike while events flow.
pub fn feed_in_chunks(
    env: &TestEnv,
    events: Vec<(Option<String>, Vec<u8>)>,
    chunks: usize,
    pause: Duration,
) -> JoinHandle<()> {
    let kafka = env.kafka.clone();
    let topic = env.topics.events.clone();
    tokio::spawn(async move {
        let producer = kafka.producer().expect("producer");
        let size = events.len().div_ceil(chunks.max(1));
        for chunk in events.chunks(size.max(1)) {
            // Like any producer that must not lose data, re-send what was not acknowledged
            // (e.g. while the broker restarts); duplicates are harmless downstream.
            let mut pending: Vec<&(Option<String>, Vec<u8>)> = chunk.iter().collect();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !pending.is_empty() {
                let sends = pending.iter().map(|(k, v)| {
                    let mut rec = FutureRecord::to(&topic).payload(v.as_slice());
                    if let Some(k) = k {
                        rec = rec.key(k.as_bytes());
                    }
                    producer.send(rec, Duration::from_secs(60))
                });
                let results = join_all(sends).await;
                pending = pending.into_iter().zip(results).filter(|(_, r)| r.is_err()).map(|(m, _)| m).collect();
                if !pending.is_empty() {
                    assert!(Instant::now() < deadline, "{} events not acknowledged within 120s", pending.len());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            tokio::time::sleep(pause).await;
        }
    })
}

/// Waits until the stored results for `day` equal `expected` (or `timeout`); returns
/// what is stored at the end. A failing query is retried until the deadline (ClickHouse
/// may be restarting in a fault test), then reported: never mistaken for a result.
pub async fn wait_for_results(
    env: &TestEnv,
    day: chrono::NaiveDate,
    expected: &std::collections::BTreeMap<(String, String), serde_json::Value>,
    timeout: Duration,
) -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        match stored_results(env, day).await {
            Ok(stored) if &stored == expected || Instant::now() > deadline => return stored,
            Err(e) if Instant::now() > deadline => panic!("stored results unreadable until the deadline: {e:#}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asserts stored results equal expected, naming the first difference.
pub fn assert_same_results(
    stored: &std::collections::BTreeMap<(String, String), serde_json::Value>,
    expected: &std::collections::BTreeMap<(String, String), serde_json::Value>,
) {
    for (key, want) in expected {
        assert_eq!(stored.get(key), Some(want), "result for {key:?}");
    }
    assert_eq!(stored.len(), expected.len(), "no extra results");
}
