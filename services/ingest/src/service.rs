//! The ingest loop: consume, process into a batch, make the batch durable, commit.
//!
//! Invariant: an offset is committed only after every output of every message at or
//! below it is durable (rows acknowledged by ClickHouse, forwarded events and dead letters
//! acknowledged by the broker). Anything that fails is retried with backoff while the
//! partitions are paused; a shutdown during retries leaves the batch uncommitted, so it is
//! re-delivered after the restart (at-least-once; outputs are idempotent).
//!
//! ClickHouse failures are classified ([`pulse_runtime::clickhouse::classify`]):
//! transient ones are retried as above; a batch the server refuses for its *content* is
//! split until the offending rows are isolated, those are dead-lettered with reason
//! `storage_rejected` and the server's message, and the rest is stored (the events were
//! valid, so they are still forwarded and scored); a setup error (credentials, a missing
//! table, a row type that does not match) stops ingest with the server's message.

use std::{collections::HashSet, future::Future, time::Duration};

use chrono::Utc;
use clickhouse::{RowOwned, RowWrite};
use pulse_runtime::{
    batch_producer::{BatchError, BatchProducer, Outgoing, Record},
    clickhouse::{classify, ClickHouseConfig, Failure},
    consumer::{self, Batcher, Ended, Halt, LoopMetrics, LoopSettings, Step},
    http::Readiness,
    kafka::{KafkaConfig, TopicsConfig},
    retry::{retry_paused, Backoff, RetryEvent, Stopped},
};
use rdkafka::{
    consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer},
    error::KafkaError,
    message::{BorrowedMessage, OwnedMessage},
    statistics::Statistics,
    ClientContext, Message, Offset, TopicPartitionList,
};
use tokio::{sync::watch, time::Instant};

use crate::{
    batch::{process, Batch, DeadRecord, Forward, Limits},
    config::IngestConfig,
    dlq::{self, DeadLetter, Reason},
    metrics::IngestMetrics,
    rows::{CrmRow, Source, UsageRow},
};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("ClickHouse refuses ingest's writes for a reason no retry can fix (fix the setup and restart): {0}")]
    Setup(String),
}

/// Why a flush did not complete.
#[derive(Debug)]
enum FlushError {
    /// The service is stopping; the batch stays uncommitted.
    Stopped,
    /// Permanent for the setup: stop the service.
    Setup(String),
}

impl From<Stopped> for FlushError {
    fn from(_: Stopped) -> Self {
        FlushError::Stopped
    }
}

/// An insert's outcome once transient failures are retried away.
type Classified = Result<(), (Failure, clickhouse::error::Error)>;

/// The ingest service, fully configured; [`Ingest::run`] drives it.
pub struct Ingest {
    pub cfg: IngestConfig,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub clickhouse: ClickHouseConfig,
    pub metrics: IngestMetrics,
    pub ready: Readiness,
}

/// Consumer context: turns librdkafka statistics into the lag gauge.
struct IngestContext {
    metrics: IngestMetrics,
    topics: HashSet<String>,
}

impl ClientContext for IngestContext {
    fn stats(&self, stats: Statistics) {
        for name in &self.topics {
            if let Some(lag) = pulse_runtime::kafka::consumer_lag(&stats, name) {
                self.metrics.consumer_lag.with_label_values(&[name.as_str()]).set(lag);
            }
        }
    }
}

impl ConsumerContext for IngestContext {}

type IngestConsumer = StreamConsumer<IngestContext>;

impl Ingest {
    fn consumer(&self) -> Result<IngestConsumer, KafkaError> {
        let c = self.kafka.consumer_config(&self.cfg.group_id, &self.cfg.auto_offset_reset, self.cfg.fetch_wait_max_ms);
        let ctx = IngestContext {
            metrics: self.metrics.clone(),
            topics: [self.topics.usage.clone(), self.topics.crm.clone()].into_iter().collect(),
        };
        c.create_with_context(ctx)
    }

    /// Runs until `shutdown` resolves, then flushes and commits what it holds.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), IngestError> {
        let consumer = self.consumer()?;
        consumer.subscribe(&[self.topics.usage.as_str(), self.topics.crm.as_str()])?;
        let producer = self.kafka.batch_producer()?;
        let ch = self.clickhouse.client();
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        tracing::info!(
            usage = %self.topics.usage, crm = %self.topics.crm, group = %self.cfg.group_id,
            "ingest started"
        );
        self.ready.set(true);

        let settings = LoopSettings {
            max_wait: Duration::from_millis(self.cfg.batch_max_wait_ms),
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(15),
            rejoin_when_idle_secs: self.cfg.rejoin_when_idle_secs,
            topics: vec![self.topics.usage.clone(), self.topics.crm.clone()],
        };
        let loop_metrics =
            LoopMetrics { poll_gap: self.metrics.poll_gap_seconds.clone(), rejoins: self.metrics.rejoins.clone() };
        let mut batcher = IngestLoop {
            svc: &self,
            consumer: &consumer,
            producer: &producer,
            ch: &ch,
            batch: Batch::default(),
            held: Vec::new(),
            in_flight: None,
            counters: Counters::new(&self.metrics, &[&self.topics.usage, &self.topics.crm]),
            limits: Limits::of(
                &self.cfg,
                self.kafka.message_max_bytes().unwrap_or(pulse_runtime::kafka::DEFAULT_MESSAGE_MAX_BYTES),
            ),
        };
        let ended = consumer::run(&consumer, &mut batcher, &settings, &loop_metrics, stop).await;
        self.ready.set(false);
        match ended {
            Ok(Ended::Clean) => tracing::info!("ingest stopped after a final flush and commit"),
            Ok(Ended::Uncommitted) => {
                tracing::warn!("ingest stopped with an uncommitted batch; it will be re-delivered on restart")
            }
            Err(message) => {
                tracing::error!(error = %message, "ClickHouse setup error: ingest stops; the batch stays uncommitted");
                return Err(IngestError::Setup(message));
            }
        }
        Ok(())
    }

    fn handle(&self, m: &impl Message, batch: &mut Batch, counters: &Counters, limits: &Limits) {
        self.handle_parts(
            m.topic(),
            m.partition(),
            m.offset(),
            m.key(),
            m.payload().unwrap_or(&[]),
            m.timestamp().to_millis(),
            batch,
            counters,
            limits,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_parts(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        timestamp_ms: Option<i64>,
        batch: &mut Batch,
        counters: &Counters,
        limits: &Limits,
    ) {
        let source = Source { topic, partition, offset };
        counters.consumed(&self.metrics, topic);
        let processed = process(payload, key, &source, Utc::now(), limits);
        match &processed {
            crate::batch::Processed::Valid { type_name, .. } => {
                counters.valid(&self.metrics, type_name);
            }
            crate::batch::Processed::Invalid(d) => {
                self.metrics.invalid.with_label_values(&[d.reason.as_str()]).inc();
                tracing::debug!(reason = %d.reason, detail = %d.detail, topic, partition, offset, "invalid message");
            }
        }
        batch.add(processed, &source, key, payload.len(), timestamp_ms);
    }

    /// Finishes making a batch durable after its first write attempt: retries what
    /// failed (partitions paused; messages that arrive meanwhile go to `held`), isolates
    /// rows ClickHouse refuses for their content, then commits the batch's offsets.
    async fn settle(
        &self,
        consumer: &IngestConsumer,
        producer: &BatchProducer,
        ch: &clickhouse::Client,
        attempt: Attempt,
        held: &mut Vec<OwnedMessage>,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), FlushError> {
        let Attempt { out, stored, produced } = attempt;
        let Outputs { usage, crm, forward, mut dead, offsets, messages, started, .. } = out;
        let (events_topic, dlq_topic) = (self.topics.events.as_str(), self.topics.dlq.as_str());
        let mut rejected: Vec<DeadRecord> = Vec::new();
        if let Err(e) = stored {
            let outcome = match classify(&e) {
                Failure::Transient => {
                    self.on_retry(RetryEvent::Failed {
                        stage: "clickhouse_insert",
                        error: &e,
                        retry_in: Duration::from_millis(self.cfg.retry_initial_ms),
                    });
                    self.retry("clickhouse_insert", consumer, held, stop, || insert_classified(ch, &usage, &crm))
                        .await?
                }
                class => Err((class, e)),
            };
            match outcome {
                Ok(()) => {}
                Err((Failure::Data, e)) => {
                    tracing::warn!(error = %e, rows = usage.len() + crm.len(), "ClickHouse refused the batch's content; isolating the rows it refuses");
                    rejected.extend(self.isolate(consumer, ch, &usage, held, stop).await?);
                    rejected.extend(self.isolate(consumer, ch, &crm, held, stop).await?);
                }
                Err((_, e)) => return Err(FlushError::Setup(e.to_string())),
            }
        }
        let refused = |tag: &str| rejected.iter().filter(|r| r.2 == tag).count();
        self.metrics.inserted_rows.with_label_values(&["usage_events"]).inc_by((usage.len() - refused("usage")) as u64);
        self.metrics.inserted_rows.with_label_values(&["crm_events"]).inc_by((crm.len() - refused("crm")) as u64);
        if let Err(e) = produced {
            // Only the records that failed go again: the rest are acknowledged.
            self.on_retry(RetryEvent::Failed {
                stage: "produce",
                error: &e,
                retry_in: Duration::from_millis(self.cfg.retry_initial_ms),
            });
            let all = records(events_topic, &forward, dlq_topic, &dead);
            let pending = std::sync::Mutex::new(e.indexes());
            self.retry("produce", consumer, held, stop, || produce_pending(producer, &all, &pending)).await?;
        }
        if !rejected.is_empty() {
            self.metrics.invalid.with_label_values(&[Reason::StorageRejected.as_str()]).inc_by(rejected.len() as u64);
            let extra: Vec<DeadRecord> =
                rejected.into_iter().map(|(k, j, _)| (k, j, Reason::StorageRejected.as_str().to_owned())).collect();
            let all = records(events_topic, &[], dlq_topic, &extra);
            let pending = std::sync::Mutex::new((0..all.len()).collect());
            self.retry("produce", consumer, held, stop, || produce_pending(producer, &all, &pending)).await?;
            dead.extend(extra);
        }
        self.metrics.forwarded.inc_by(forward.len() as u64);
        self.metrics.dead_lettered.inc_by(dead.len() as u64);

        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &offsets {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1)) {
                tracing::warn!(error = %e, topic, partition, "cannot add offset to commit list");
            }
        }
        // Async commit: durability of the outputs is already settled, a lost commit only
        // means re-delivery. A partition revoked meanwhile fails here harmlessly.
        match consumer.commit(&tpl, CommitMode::Async) {
            Ok(()) => self.metrics.committed_batches.inc(),
            Err(e) => {
                self.metrics.errors.with_label_values(&["commit", "kafka"]).inc();
                tracing::warn!(error = %e, "offset commit failed; the batch may be re-delivered");
            }
        }
        self.metrics.batch_rows.observe(messages as f64);
        self.metrics.batch_duration.observe(started.elapsed().as_secs_f64());
        tracing::debug!(messages, elapsed_ms = started.elapsed().as_millis() as u64, "batch committed");
        Ok(())
    }

    /// Finds the rows of `rows` that ClickHouse refuses for their content by inserting
    /// halves of a refused range until single rows remain; stores every other row and
    /// returns a dead letter (key, envelope, table tag) for each refused one. Transient
    /// failures on the way are retried like any write; a setup error stops the flush.
    async fn isolate<R: RawTableRow>(
        &self,
        consumer: &IngestConsumer,
        ch: &clickhouse::Client,
        rows: &[R],
        held: &mut Vec<OwnedMessage>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<DeadRecord>, FlushError> {
        let mut out = Vec::new();
        let mut todo: Vec<std::ops::Range<usize>> = Vec::new();
        if !rows.is_empty() {
            todo.push(0..rows.len());
        }
        while let Some(range) = todo.pop() {
            let chunk = &rows[range.clone()];
            let outcome = self
                .retry("clickhouse_insert", consumer, held, stop, || async move {
                    classified(insert_rows(ch, R::TABLE, chunk).await)
                })
                .await?;
            match outcome {
                Ok(()) => {}
                Err((Failure::Data, e)) if chunk.len() == 1 => {
                    let row = &chunk[0];
                    let source = Source {
                        topic: row.source_topic(),
                        partition: row.source_partition(),
                        offset: row.source_offset(),
                    };
                    let letter = DeadLetter::new(
                        Reason::StorageRejected,
                        format!("ClickHouse refused the row for {}: {e}", R::TABLE),
                        dlq::origin(&source),
                        Some(row.account_id().as_bytes()),
                        row.raw().as_bytes(),
                        Utc::now(),
                        self.cfg.dead_letter_max_original_bytes,
                    );
                    tracing::warn!(table = R::TABLE, offset = row.source_offset(), error = %e, "row refused by ClickHouse: dead-lettered");
                    out.push((Some(row.account_id().as_bytes().to_vec()), letter.to_json(), R::TAG.to_owned()));
                }
                Err((Failure::Data, _)) => {
                    let mid = range.start + chunk.len() / 2;
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                }
                Err((_, e)) => return Err(FlushError::Setup(e.to_string())),
            }
        }
        Ok(out)
    }

    /// Retries `op` until it succeeds or the service stops, with the partitions paused
    /// meanwhile (see `pulse_runtime::retry`), keeping metrics and readiness in step.
    async fn retry<T, E, F, Fut>(
        &self,
        stage: &'static str,
        consumer: &IngestConsumer,
        held: &mut Vec<OwnedMessage>,
        stop: &watch::Receiver<bool>,
        op: F,
    ) -> Result<T, Stopped>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let backoff = Backoff {
            initial: Duration::from_millis(self.cfg.retry_initial_ms),
            max: Duration::from_millis(self.cfg.retry_max_ms),
        };
        retry_paused(stage, backoff, consumer, held, stop, |ev| self.on_retry(ev), op).await
    }

    fn on_retry(&self, ev: RetryEvent<'_>) {
        pulse_runtime::retry::observe(ev, &self.metrics.errors, &self.metrics.paused, &self.ready);
    }
}

/// Ingest's side of the shared consumer loop (`pulse_runtime::consumer`): a batch is the
/// messages processed since the last flush; flushing stores and forwards them, then
/// commits their offsets.
///
/// With `ingest.overlap_writes` (the default) a flush only *starts* the batch's first
/// write attempt, as a task, and the loop goes on consuming the next batch meanwhile; the
/// write is settled (retries, commit) as soon as it finishes, and at the latest when the
/// next batch is flushed, so at most one write is in flight and offsets are committed in
/// batch order, each after its own batch is durable. Why: consuming and writing take
/// about the same time, and one after the other each waits for the other.
struct IngestLoop<'a> {
    svc: &'a Ingest,
    consumer: &'a IngestConsumer,
    producer: &'a BatchProducer,
    ch: &'a clickhouse::Client,
    batch: Batch,
    /// Messages that arrived while a write was retried (partitions paused): the next
    /// batch's first.
    held: Vec<OwnedMessage>,
    /// The previous batch's write, while this batch is consumed.
    in_flight: Option<InFlight>,
    counters: Counters,
    limits: Limits,
}

/// The per-message counters, resolved once: a labelled lookup per message (hashing the
/// label values) was about 2% of ingest's CPU.
struct Counters {
    consumed: Vec<(String, prometheus::IntCounter)>,
    valid: Vec<(&'static str, prometheus::IntCounter)>,
}

impl Counters {
    /// Event types as `Event::type_name` names them (any other still counts, looked up).
    const TYPES: [&'static str; 9] =
        ["usage", "account", "assessment", "milestone", "training", "kpi", "stakeholder", "ticket", "renewal"];

    fn new(metrics: &IngestMetrics, topics: &[&str]) -> Self {
        Self {
            consumed: topics.iter().map(|t| ((*t).to_owned(), metrics.consumed.with_label_values(&[*t]))).collect(),
            valid: Self::TYPES.iter().map(|t| (*t, metrics.valid.with_label_values(&[*t]))).collect(),
        }
    }

    fn consumed(&self, metrics: &IngestMetrics, topic: &str) {
        match self.consumed.iter().find(|(t, _)| t == topic) {
            Some((_, c)) => c.inc(),
            None => metrics.consumed.with_label_values(&[topic]).inc(),
        }
    }

    fn valid(&self, metrics: &IngestMetrics, type_name: &str) {
        match self.valid.iter().find(|(t, _)| *t == type_name) {
            Some((_, c)) => c.inc(),
            None => metrics.valid.with_label_values(&[type_name]).inc(),
        }
    }
}

/// A batch's write in the background.
enum InFlight {
    Running(tokio::task::JoinHandle<Attempt>),
    /// Finished; not settled yet (boxed: once per batch, and it keeps the slot small).
    Finished(Box<Result<Attempt, tokio::task::JoinError>>),
}

/// A batch's outputs, taken out of it to be written, and what they cover.
struct Outputs {
    usage: Vec<UsageRow>,
    crm: Vec<CrmRow>,
    forward: Vec<Forward>,
    dead: Vec<DeadRecord>,
    offsets: Vec<((String, i32), i64)>,
    messages: usize,
    /// The forwarded events already sent (completed by the first attempt).
    outgoing: Option<Outgoing>,
    /// When the write started.
    started: std::time::Instant,
}

impl Outputs {
    /// Empties `batch` into its outputs (the next batch gets room for as many rows).
    fn take(batch: &mut Batch) -> Self {
        let room = batch.usage_rows.len();
        let b = std::mem::replace(batch, Batch::with_capacity(room));
        Self {
            usage: b.usage_rows,
            crm: b.crm_rows,
            forward: b.forward,
            dead: b.dead,
            offsets: b.offsets,
            messages: b.messages,
            outgoing: Some(b.outgoing),
            started: std::time::Instant::now(),
        }
    }
}

/// A batch's first write attempt and how it went.
struct Attempt {
    out: Outputs,
    stored: Result<(), clickhouse::error::Error>,
    produced: Result<(), BatchError>,
}

/// The first attempt at making `out` durable: ClickHouse and the broker concurrently.
/// Whatever failed is retried by [`Ingest::settle`].
async fn first_attempt(
    ch: clickhouse::Client,
    producer: BatchProducer,
    events_topic: String,
    dlq_topic: String,
    mut out: Outputs,
) -> Attempt {
    let outgoing = out.outgoing.take().unwrap_or_default();
    let all = records(&events_topic, &out.forward, &dlq_topic, &out.dead);
    let (stored, produced) =
        tokio::join!(insert_all(&ch, &out.usage, &out.crm), producer.finish(outgoing, &all, PRODUCE_QUEUE_TIMEOUT));
    drop(all);
    Attempt { out, stored, produced }
}

impl IngestLoop<'_> {
    /// Settles the write in flight, if any (waiting for it first), then starts the next
    /// batch with the messages held while it retried.
    async fn settle_in_flight(&mut self, stop: &watch::Receiver<bool>) -> Step<String> {
        let attempt = match self.in_flight.take() {
            None => return Ok(()),
            Some(InFlight::Running(task)) => task.await,
            Some(InFlight::Finished(r)) => *r,
        };
        // The task only awaits I/O futures; a panic there is a bug, not bad data.
        let attempt = attempt.map_err(|e| Halt::Fatal(format!("a batch write task failed: {e}")))?;
        let (svc, consumer, producer, ch) = (self.svc, self.consumer, self.producer, self.ch);
        match svc.settle(consumer, producer, ch, attempt, &mut self.held, stop).await {
            Ok(()) => {}
            Err(FlushError::Stopped) => return Err(Halt::Stopped),
            Err(FlushError::Setup(m)) => return Err(Halt::Fatal(m)),
        }
        for m in std::mem::take(&mut self.held) {
            svc.handle(&m, &mut self.batch, &self.counters, &self.limits);
        }
        self.forward_now();
        Ok(())
    }

    /// With `ingest.forward_as_parsed`, hands the batch's forwarded events not sent yet
    /// to the producer now (see `BatchProducer::send_now`); the write sends the rest.
    fn forward_now(&mut self) {
        if !self.svc.cfg.forward_as_parsed {
            return;
        }
        let topic = self.svc.topics.events.as_str();
        let b = &mut self.batch;
        while b.outgoing.is_open() && b.outgoing.sent() < b.forward.len() {
            let (key, json, ts) = &b.forward[b.outgoing.sent()];
            let record = Record { topic, key: Some(key.as_bytes()), payload: json, timestamp: *ts };
            self.producer.send_now(&mut b.outgoing, &record);
        }
    }

    /// Settles the previous write (at most one is in flight), then writes the pending
    /// batch: in the background when `overlap`, else to the end.
    async fn write(&mut self, stop: &watch::Receiver<bool>, overlap: bool) -> Step<String> {
        let waited = std::time::Instant::now();
        let step = self.write_inner(stop, overlap).await;
        self.svc.metrics.write_wait_seconds.observe(waited.elapsed().as_secs_f64());
        step
    }

    async fn write_inner(&mut self, stop: &watch::Receiver<bool>, overlap: bool) -> Step<String> {
        self.settle_in_flight(stop).await?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let attempt = first_attempt(
            self.ch.clone(),
            self.producer.clone(),
            self.svc.topics.events.clone(),
            self.svc.topics.dlq.clone(),
            Outputs::take(&mut self.batch),
        );
        if overlap {
            self.in_flight = Some(InFlight::Running(tokio::spawn(attempt)));
            Ok(())
        } else {
            self.in_flight = Some(InFlight::Finished(Box::new(Ok(attempt.await))));
            self.settle_in_flight(stop).await
        }
    }
}

impl Batcher for IngestLoop<'_> {
    /// ClickHouse refusing the setup (credentials, a missing table, a row type that does
    /// not match): the server's message.
    type Fatal = String;

    async fn add(&mut self, m: OwnedMessage, _stop: &watch::Receiver<bool>) -> Step<String> {
        self.svc.handle(&m, &mut self.batch, &self.counters, &self.limits);
        self.forward_now();
        Ok(())
    }

    /// Ingest only reads the message: no copy of it.
    async fn add_borrowed(&mut self, m: &BorrowedMessage<'_>, _stop: &watch::Receiver<bool>) -> Step<String> {
        self.svc.handle(m, &mut self.batch, &self.counters, &self.limits);
        self.forward_now();
        Ok(())
    }

    fn started(&self) -> Option<Instant> {
        self.batch.started.map(Instant::from_std)
    }

    fn full(&self) -> bool {
        self.batch.messages >= self.svc.cfg.batch_max_rows || self.batch.bytes >= self.svc.cfg.batch_max_bytes
    }

    async fn flush(&mut self, stop: &watch::Receiver<bool>) -> Step<String> {
        self.write(stop, self.svc.cfg.overlap_writes).await
    }

    async fn ready(&mut self) {
        match &mut self.in_flight {
            // Cancel-safe: the result is stored in the same poll that yields it.
            Some(InFlight::Running(task)) => {
                let r = task.await;
                self.in_flight = Some(InFlight::Finished(Box::new(r)));
            }
            Some(InFlight::Finished(_)) => {}
            None => std::future::pending().await,
        }
    }

    async fn settle(&mut self, stop: &watch::Receiver<bool>) -> Step<String> {
        let waited = std::time::Instant::now();
        let step = self.settle_in_flight(stop).await;
        self.svc.metrics.write_wait_seconds.observe(waited.elapsed().as_secs_f64());
        step
    }

    async fn finish(&mut self, stop: &watch::Receiver<bool>) -> bool {
        // Settling a write starts the next batch with what arrived while it retried:
        // write that too.
        for _ in 0..3 {
            if self.write(stop, false).await.is_err() {
                return false;
            }
            if self.batch.is_empty() {
                return true;
            }
        }
        false
    }

    fn consume_error(&self, e: &KafkaError) {
        self.svc.metrics.errors.with_label_values(&["consume", "kafka"]).inc();
        tracing::warn!(error = %e, "consume error");
    }
}

/// A raw-table row: what [`Ingest::isolate`] needs to dead-letter it.
trait RawTableRow: RowOwned + RowWrite + Sync {
    const TABLE: &'static str;
    /// Which table, in the isolation result.
    const TAG: &'static str;
    fn account_id(&self) -> &str;
    fn raw(&self) -> &str;
    fn source_topic(&self) -> &str;
    fn source_partition(&self) -> i32;
    fn source_offset(&self) -> i64;
}

macro_rules! raw_table_row {
    ($t:ty, $table:literal, $tag:literal) => {
        impl RawTableRow for $t {
            const TABLE: &'static str = $table;
            const TAG: &'static str = $tag;
            fn account_id(&self) -> &str {
                &self.account_id
            }
            fn raw(&self) -> &str {
                &self.raw
            }
            fn source_topic(&self) -> &str {
                &self.source_topic
            }
            fn source_partition(&self) -> i32 {
                self.source_partition
            }
            fn source_offset(&self) -> i64 {
                self.source_offset
            }
        }
    };
}
raw_table_row!(UsageRow, "usage_events", "usage");
raw_table_row!(CrmRow, "crm_events", "crm");

/// [`insert_all`] with its failure classified: transient errors are `Err` (retried by the
/// caller), content and setup errors `Ok(Err(..))` (not retried).
async fn insert_classified(
    ch: &clickhouse::Client,
    usage: &[UsageRow],
    crm: &[CrmRow],
) -> Result<Classified, clickhouse::error::Error> {
    classified(insert_all(ch, usage, crm).await)
}

/// An insert's result with its failure classified: transient errors stay `Err` (the
/// caller retries them), content and setup errors become `Ok(Err(..))` (not retried).
fn classified(r: Result<(), clickhouse::error::Error>) -> Result<Classified, clickhouse::error::Error> {
    match r {
        Ok(()) => Ok(Ok(())),
        Err(e) => match classify(&e) {
            Failure::Transient => Err(e),
            class => Ok(Err((class, e))),
        },
    }
}

/// Both raw tables (a batch is durable in ClickHouse when both inserts succeeded).
async fn insert_all(
    ch: &clickhouse::Client,
    usage: &[crate::rows::UsageRow],
    crm: &[crate::rows::CrmRow],
) -> Result<(), clickhouse::error::Error> {
    insert_rows(ch, "usage_events", usage).await?;
    insert_rows(ch, "crm_events", crm).await
}

async fn insert_rows<R: RowOwned + RowWrite>(
    ch: &clickhouse::Client,
    table: &str,
    rows: &[R],
) -> Result<(), clickhouse::error::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = ch.insert::<R>(table).await?;
    for r in rows {
        insert.write(r).await?;
    }
    insert.end().await
}

/// How long a record waits for room in the producer's local queue.
const PRODUCE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// The records of a batch: every forwarded event, then every dead letter.
fn records<'a>(
    events_topic: &'a str,
    forward: &'a [Forward],
    dlq_topic: &'a str,
    dead: &'a [DeadRecord],
) -> Vec<Record<'a>> {
    let mut records = Vec::with_capacity(forward.len() + dead.len());
    for (key, payload, ts) in forward {
        records.push(Record { topic: events_topic, key: Some(key.as_bytes()), payload, timestamp: *ts });
    }
    for (key, payload, _) in dead {
        records.push(Record { topic: dlq_topic, key: key.as_deref(), payload, timestamp: None });
    }
    records
}

/// Sends the records of `all` whose indexes are in `pending` and leaves there those
/// that failed again: a retry never re-sends what the broker acknowledged.
async fn produce_pending(
    producer: &BatchProducer,
    all: &[Record<'_>],
    pending: &std::sync::Mutex<Vec<usize>>,
) -> Result<(), BatchError> {
    let lock = || pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let idx = lock().clone();
    let subset: Vec<Record<'_>> = idx.iter().filter_map(|&i| all.get(i).copied()).collect();
    match producer.send_all(&subset, PRODUCE_QUEUE_TIMEOUT).await {
        Ok(()) => {
            lock().clear();
            Ok(())
        }
        Err(e) => {
            *lock() = e.indexes().into_iter().filter_map(|j| idx.get(j).copied()).collect();
            Err(e)
        }
    }
}
