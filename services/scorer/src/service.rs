//! The scorer loop: restore partition state, apply events, evaluate touched accounts,
//! publish, snapshot, commit.
//!
//! Invariants:
//! - A partition's state covers exactly the offsets below its `next_offset`. A message
//!   past it (a gap: the committed offset is ahead of the restored snapshot, e.g. after a
//!   scoring-config change) makes the scorer seek back and replay; a message before it is
//!   a replay, applied again harmlessly.
//! - Outputs of a batch are written (retried until acknowledged, with the partitions
//!   paused) before the next batch's outputs are: with `scorer.overlap_writes` the next
//!   batch is consumed and evaluated while they are written (`in_flight`), but at most
//!   one write is in flight and each flush, snapshot, revoke and the final flush first
//!   settle it. A snapshot is taken only of state whose outputs are written (messages
//!   read while a write was retried are applied only at the next message, tick or
//!   flush, never between a flush and its snapshot); a Kafka offset is committed only
//!   after a snapshot covering it is stored.
//! - Notifications are for the present and for results that hold: an alert transition is
//!   published with `"notify": true` only when it is within the notify window and its
//!   partition is caught up; while it catches up transitions are published with
//!   `"notify": false` and held, withdrawn ones are never released, the others are
//!   published again with `"notify": true` once it caught up (`notify`). The notifier
//!   (`notifier`, its own consumer group on the alerts topic) delivers what is marked.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{Days, NaiveDate};
use pulse_core::{parse_event, ApplyOutcome, Evaluation, ScoringConfig};
use pulse_runtime::{
    clickhouse::ClickHouseConfig,
    consumer::{self, Batcher, Ended, LoopMetrics, LoopSettings, Step},
    dlq::{DeadLetter, Origin},
    http::Readiness,
    kafka::{KafkaConfig, TopicsConfig},
    retry::{retry_paused, Backoff, RetryEvent, Stopped},
};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::KafkaError,
    message::OwnedMessage,
    producer::FutureProducer,
    statistics::Statistics,
    ClientContext, Message, Offset, TopicPartitionList,
};
use tokio::{sync::watch, time::Instant};

use crate::{
    clock::Clock,
    config::ScorerConfig,
    in_flight::{InFlight, Pending},
    metrics::ScorerMetrics,
    notifier::Notifier,
    notify::{Change, Hold, Observation, PartitionNotify},
    outputs::{self, tagged, Kind, OutputTopics, Outputs},
    rows::{alert_id, next_version, Attributes},
    snapshot::{self, SnapshotStore},
    sources::{self, Source, StallChange, StallMonitor, Watermarks},
    state::PartitionState,
};

#[derive(Debug, thiserror::Error)]
pub enum ScorerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// The scorer, fully configured; [`Scorer::run`] drives it.
pub struct Scorer {
    pub cfg: ScorerConfig,
    pub scoring: ScoringConfig,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub clickhouse: ClickHouseConfig,
    pub metrics: ScorerMetrics,
    pub ready: Readiness,
    pub clock: Arc<dyn Clock>,
}

/// Rebalance notices, recorded by the consumer context (which runs inside `recv`) and
/// acted on by the loop right after.
#[derive(Default)]
struct Notices {
    assigned: Vec<i32>,
    revoked: Vec<i32>,
}

struct ScorerContext {
    metrics: ScorerMetrics,
    topic: String,
    notices: Mutex<Notices>,
    /// High watermark per partition of the events topic, as librdkafka last saw it in a
    /// fetch response (from its statistics, every second: no broker round trip).
    high_watermarks: Mutex<HashMap<i32, i64>>,
}

impl ClientContext for ScorerContext {
    fn stats(&self, stats: Statistics) {
        if let Some(lag) = pulse_runtime::kafka::consumer_lag(&stats, &self.topic) {
            self.metrics.consumer_lag.with_label_values(&[self.topic.as_str()]).set(lag);
        }
        if let (Some(t), Ok(mut hw)) = (stats.topics.get(&self.topic), self.high_watermarks.lock()) {
            for p in t.partitions.values().filter(|p| p.partition >= 0 && p.hi_offset >= 0) {
                hw.insert(p.partition, p.hi_offset);
            }
        }
    }
}

impl ScorerContext {
    fn high_watermark(&self, p: i32) -> Option<i64> {
        self.high_watermarks.lock().ok().and_then(|hw| hw.get(&p).copied())
    }

    /// Forgets what is known of `p`'s watermark (it may be stale after a rebalance).
    fn forget_watermark(&self, p: i32) {
        if let Ok(mut hw) = self.high_watermarks.lock() {
            hw.remove(&p);
        }
    }
}

impl ConsumerContext for ScorerContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Revoke(tpl), Ok(mut n)) = (rebalance, self.notices.lock()) {
            n.revoked.extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Assign(tpl), Ok(mut n)) = (rebalance, self.notices.lock()) {
            n.assigned.extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }
}

type ScorerConsumer = StreamConsumer<ScorerContext>;

/// Mutable loop state.
struct Run {
    parts: HashMap<i32, PartitionState>,
    /// Partitions sought back to their state's offset: messages past it are skipped
    /// until the replay arrives.
    seeking: HashSet<i32>,
    /// (partition, account) -> earliest day touched in this batch.
    touched: HashMap<(i32, String), NaiveDate>,
    /// Original produce times (ms) of the batch's events, for the latency histogram.
    event_times: Vec<i64>,
    batch_events: usize,
    batch_started: Option<Instant>,
    /// Messages that arrived while a write or a load was retried (partitions paused),
    /// applied before the next message the loop reads (`Scorer::drain_held`).
    held: Vec<OwnedMessage>,
    /// The previous batch's write, while the next batch is consumed and evaluated
    /// (`scorer.overlap_writes`); settled by `Scorer::settle`.
    in_flight: Option<InFlight>,
    last_snapshot: Instant,
    snapshot_bytes: HashMap<i32, usize>,
    /// Per partition: whether its notifications may go out, and what it holds back.
    notify: HashMap<i32, PartitionNotify>,
    /// Per partition: the newest event time (Unix seconds) applied since the last check
    /// of its notification gate.
    newest_event: HashMap<i32, i64>,
    /// The input sources stalled now (SPEC v3 §10), judged on every flush and tick.
    stalls: StallMonitor,
}

/// What the open stalls mean for one evaluation pass: results of days from `stale_from`
/// are published `stale`, with the color of the day before.
#[derive(Debug, Clone, Copy, Default)]
struct StallView {
    stale_from: Option<NaiveDate>,
    usage: bool,
    crm: bool,
}

impl StallView {
    fn of(m: &StallMonitor) -> Self {
        Self { stale_from: m.held_from(), usage: m.is_stalled(Source::Usage), crm: m.is_stalled(Source::Crm) }
    }
}

impl Scorer {
    fn consumer(&self) -> Result<ScorerConsumer, KafkaError> {
        let mut c = self.kafka.consumer_config(&self.cfg.group_id, "earliest", self.cfg.fetch_wait_max_ms);
        // Statistics every second: they carry the high watermarks the notification gate
        // compares the applied offsets with (rust-rdkafka has no binding of the cached
        // rd_kafka_get_watermark_offsets, and fetch_watermarks asks the broker).
        c.set("statistics.interval.ms", "1000");
        c.create_with_context(ScorerContext {
            metrics: self.metrics.clone(),
            topic: self.topics.events.clone(),
            notices: Mutex::new(Notices::default()),
            high_watermarks: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `shutdown` resolves; then publishes, snapshots and commits what it holds.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ScorerError> {
        let consumer = self.consumer()?;
        consumer.subscribe(&[self.topics.events.as_str()])?;
        let producer = self.kafka.producer()?;
        let ch = self.clickhouse.client();
        let store = SnapshotStore::new(ch.clone(), self.topics.events.clone(), self.scoring.clone());
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        // The notifier: its own consumer group on the alerts topic, stopped with the scorer.
        // The scorer is ready only while it runs: a notifier that failed would otherwise
        // leave alerts unsent behind a green /readyz.
        let notifier = (self.cfg.notify_in_scorer && self.cfg.webhook.url.is_some()).then(|| {
            let notify_ready = Readiness::default();
            self.ready.depend_on(&notify_ready);
            let n = Notifier {
                cfg: self.cfg.clone(),
                kafka: self.kafka.clone(),
                topics: self.topics.clone(),
                metrics: self.metrics.clone(),
                ready: notify_ready.clone(),
                clock: self.clock.clone(),
            };
            let mut rx = stop.clone();
            supervise(
                n.run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                }),
                notify_ready,
                self.metrics.clone(),
                stop.clone(),
            )
        });
        tracing::info!(topic = %self.topics.events, group = %self.cfg.group_id, config_version = %self.scoring.version(), "scorer started");
        self.ready.set(true);

        let run = Run {
            parts: HashMap::new(),
            seeking: HashSet::new(),
            touched: HashMap::new(),
            event_times: Vec::new(),
            batch_events: 0,
            batch_started: None,
            held: Vec::new(),
            in_flight: None,
            last_snapshot: Instant::now(),
            snapshot_bytes: HashMap::new(),
            notify: HashMap::new(),
            newest_event: HashMap::new(),
            stalls: StallMonitor::default(),
        };
        let settings = LoopSettings {
            max_wait: Duration::from_millis(self.cfg.batch_max_wait_ms),
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(30),
            rejoin_when_idle_secs: self.cfg.rejoin_when_idle_secs,
            topics: vec![self.topics.events.clone()],
        };
        let loop_metrics =
            LoopMetrics { poll_gap: self.metrics.poll_gap_seconds.clone(), rejoins: self.metrics.rejoins.clone() };
        let io = Io { consumer: &consumer, producer: &producer, ch: &ch, store: &store };
        let mut batcher = ScorerLoop { svc: &self, io, run };
        match consumer::run(&consumer, &mut batcher, &settings, &loop_metrics, stop).await {
            Ok(Ended::Clean) => tracing::info!("scorer stopped after a final publish, snapshot and commit"),
            Ok(Ended::Uncommitted) => {
                tracing::warn!("scorer stopped without a final snapshot; the log since the last one will be replayed")
            }
            Err(never) => match never {},
        }
        if let Some(n) = notifier {
            match tokio::time::timeout(Duration::from_secs(30), n).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "notifier failed"),
                _ => tracing::warn!("notifier did not stop in time"),
            }
        }
        self.ready.set(false);
        Ok(())
    }

    /// Acts on rebalance notices: restores assigned partitions (so silent accounts still
    /// get their daily evaluation), snapshots and drops revoked ones.
    async fn rebalance(&self, io: &Io<'_>, run: &mut Run, stop: &watch::Receiver<bool>) -> Result<(), Stopped> {
        let (assigned, revoked) = match io.consumer.context().notices.lock() {
            Ok(mut n) => (std::mem::take(&mut n.assigned), std::mem::take(&mut n.revoked)),
            Err(_) => return Ok(()),
        };
        if !revoked.is_empty() {
            // Publish what is pending for them, snapshot them (best effort: the new owner
            // may already have restored an older snapshot, and replays the difference).
            self.flush(io, run, stop).await?;
            self.settle(io, run, stop).await?;
            for p in &revoked {
                if let Some(st) = run.parts.get_mut(p) {
                    st.saves += 1;
                    let st = &*st;
                    let now = self.now_secs();
                    let saved = match off_loop(|| snapshot::encode(st)) {
                        Ok(bytes) => io.store.save(*p, st.next_offset, &bytes, now).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = saved {
                        tracing::warn!(partition = p, error = %e, "snapshot on revoke failed; the new owner replays more of the log");
                    }
                }
                run.parts.remove(p);
                run.seeking.remove(p);
                run.snapshot_bytes.remove(p);
                run.newest_event.remove(p);
                io.consumer.context().forget_watermark(*p);
                self.forget_gate(run, *p);
            }
            // Read while the write above was retried: the new owner reads them again (they
            // are past the snapshot), here they would restore a partition not held.
            run.held.retain(|m| !revoked.contains(&m.partition()));
            tracing::info!(partitions = ?revoked, "partitions revoked");
        }
        for p in assigned {
            io.consumer.context().forget_watermark(p);
            self.ensure_partition(io, run, p, stop).await?;
        }
        self.metrics.partitions.set(run.parts.len() as i64);
        Ok(())
    }

    async fn ensure_partition(
        &self,
        io: &Io<'_>,
        run: &mut Run,
        p: i32,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        if run.parts.contains_key(&p) {
            return Ok(());
        }
        let restored = self.retry("snapshot_load", io, &mut run.held, stop, || io.store.load(p)).await?;
        if !restored.undecodable.is_empty() {
            self.metrics.restores.with_label_values(&["undecodable"]).inc_by(restored.undecodable.len() as u64);
        }
        let st = match restored.state {
            Some(st) => {
                self.metrics.restores.with_label_values(&["snapshot"]).inc();
                tracing::info!(
                    partition = p,
                    next_offset = st.next_offset,
                    accounts = st.engine.accounts_len(),
                    "partition restored from snapshot"
                );
                st
            }
            None => {
                let old =
                    self.retry("snapshot_load", io, &mut run.held, stop, || io.store.load_other_config(p)).await?;
                match old {
                    Some(old) => self.rebuild(io, run, p, &old, stop).await?,
                    None => {
                        self.metrics.restores.with_label_values(&["empty"]).inc();
                        tracing::info!(
                            partition = p,
                            "no snapshot under any scoring config: partition starts from the beginning of the log"
                        );
                        PartitionState::new(&self.scoring)
                    }
                }
            }
        };
        run.parts.insert(p, st);
        Ok(())
    }

    /// A scoring-config change: the partition's accounts (those of `old`, its newest
    /// snapshot under the previous config) are rebuilt under the new config from the raw
    /// events in ClickHouse, and the log continues where `old` ended (`rebuild`). Every
    /// rebuilt account is re-evaluated at the next flush, from the earliest day an event
    /// changed (bounded by `reemit_max_days`), so its results and alerts follow the new
    /// rules at once; its alert history is carried over.
    async fn rebuild(
        &self,
        io: &Io<'_>,
        run: &mut Run,
        p: i32,
        old: &PartitionState,
        stop: &watch::Receiver<bool>,
    ) -> Result<PartitionState, Stopped> {
        let accounts: Vec<String> = old.engine.account_ids().map(str::to_owned).collect();
        let started = std::time::Instant::now();
        let (st, rebuilt) = self
            .retry("rebuild_read", io, &mut run.held, stop, || async {
                let mut st = PartitionState::new(&self.scoring);
                let rebuilt = crate::rebuild::from_raw(io.ch, &accounts, &mut st).await?;
                Ok::<_, clickhouse::error::Error>((st, rebuilt))
            })
            .await?;
        let mut st = st;
        st.next_offset = old.next_offset;
        st.last_tick = old.last_tick;
        // The alert history goes on (as after any restore under a changed config: open
        // alerts stay open until the new rules resolve them): a fresh tracker would open
        // every alert that holds again on the first re-evaluated day, beside the one
        // already open.
        st.alerts = old.alerts.clone();
        st.alerts.set_config(&self.scoring);
        st.held = old.held.clone();
        st.watermarks = old.watermarks;
        st.alerts_held_from = old.alerts_held_from;
        st.dirty = true;
        for (account, day) in rebuilt.touched {
            let slot = run.touched.entry((p, account)).or_insert(day);
            *slot = (*slot).min(day);
        }
        if run.batch_started.is_none() {
            run.batch_started = Some(Instant::now());
        }
        self.metrics.restores.with_label_values(&["clickhouse"]).inc();
        tracing::info!(
            partition = p,
            accounts = accounts.len(),
            crm_events = rebuilt.crm_events,
            usage_events = rebuilt.usage_events,
            unparsable = rebuilt.unparsable,
            next_offset = st.next_offset,
            seconds = started.elapsed().as_secs_f64(),
            "scoring config changed: partition rebuilt from the raw events in ClickHouse; the log continues where the last snapshot ended"
        );
        Ok(st)
    }

    async fn handle(
        &self,
        io: &Io<'_>,
        run: &mut Run,
        m: &OwnedMessage,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let p = m.partition();
        self.ensure_partition(io, run, p, stop).await?;
        let Some(st) = run.parts.get_mut(&p) else { return Ok(()) };
        let offset = m.offset();
        if offset > st.next_offset {
            // Gap: the state does not cover what precedes this message. Seek back once
            // and skip until the replay arrives.
            if run.seeking.insert(p) {
                tracing::info!(
                    partition = p,
                    from = st.next_offset,
                    at = offset,
                    "state behind the log position: seeking back to replay"
                );
                if let Err(e) =
                    io.consumer.seek(&self.topics.events, p, Offset::Offset(st.next_offset), Duration::from_secs(10))
                {
                    tracing::warn!(partition = p, error = %e, "seek failed; retrying on the next message");
                    run.seeking.remove(&p);
                }
            }
            self.metrics.events.with_label_values(&["skipped_gap"]).inc();
            return Ok(());
        }
        run.seeking.remove(&p);
        st.next_offset = st.next_offset.max(offset + 1);
        st.dirty = true;
        run.batch_events += 1;
        if run.batch_started.is_none() {
            run.batch_started = Some(Instant::now());
        }
        if let Some(ts) = m.timestamp().to_millis() {
            run.event_times.push(ts);
        }
        let ev = match parse_event(m.payload().unwrap_or(&[])) {
            Ok(ev) => ev,
            Err(e) => {
                // Only ingest writes this topic, so this is a bug or a foreign producer:
                // dead-letter it like ingest would, never drop it silently.
                self.metrics.invalid.inc();
                tracing::warn!(
                    partition = p,
                    offset,
                    reason = e.reason.as_str(),
                    "invalid message on the events topic"
                );
                let letter = DeadLetter::new(
                    e.reason.into(),
                    e.detail,
                    Origin { topic: &self.topics.events, partition: p, offset },
                    m.key(),
                    m.payload().unwrap_or(&[]),
                    self.clock.now(),
                    pulse_runtime::dlq::DEFAULT_MAX_ORIGINAL_BYTES,
                );
                let dlq = self.topics.dlq.clone();
                self.retry("dlq", io, &mut run.held, stop, || {
                    pulse_runtime::kafka::send_dead_letter(io.producer, &dlq, m.key(), &letter)
                })
                .await?;
                return Ok(());
            }
        };
        let ts = ev.timestamp().timestamp();
        st.watermarks.observe(Source::of(&ev), ev.timestamp().timestamp_millis(), self.clock.now().timestamp_millis());
        run.newest_event.entry(p).and_modify(|t| *t = (*t).max(ts)).or_insert(ts);
        let outcome = st.engine.apply(&ev);
        self.metrics.events.with_label_values(&[outcome.as_str()]).inc();
        if outcome == ApplyOutcome::Applied {
            let day = ev.timestamp().date_naive();
            let slot = run.touched.entry((p, ev.account_id().to_owned())).or_insert(day);
            *slot = (*slot).min(day);
        }
        Ok(())
    }

    fn now_secs(&self) -> u32 {
        u32::try_from(self.clock.now().timestamp()).unwrap_or(u32::MAX)
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    /// Evaluates `account` for each day of `from..=to`, publishes every day before `to`
    /// and `to` itself only when it changed, then feeds those days' results to the alert
    /// tracker at once: it re-derives the account's alerts from the earliest changed day
    /// and returns retractions and new transitions (SPEC §5).
    ///
    /// While a source is stalled (`stalls`), results of the days from the stall's start
    /// are published `stale` with the color of the day before it, and the days from
    /// the partition's `alerts_held_from` are not fed to the tracker (SPEC v3 §10: the
    /// alert rules are held); `release_held` feeds them once the source flows again.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_days(
        &self,
        p: i32,
        st: &mut PartitionState,
        account: &str,
        from: NaiveDate,
        to: NaiveDate,
        now: u32,
        stalls: StallView,
        out: &mut Outputs,
    ) {
        let mut d = from;
        let mut evs = Vec::new();
        let hold_from = st.alerts_held_from;
        // The color of the last day before the stall, computed once per account.
        let mut before_stall: Option<Option<pulse_core::Color>> = None;
        while d <= to {
            if let Some(mut ev) = st.engine.evaluate(account, d) {
                self.metrics.evaluations.inc();
                let held = hold_from.is_some_and(|h| d >= h);
                match stalls.stale_from.filter(|f| d >= *f) {
                    Some(f) => {
                        let color = *before_stall.get_or_insert_with(|| {
                            f.pred_opt().and_then(|y| st.engine.evaluate(account, y)).map(|e| e.health.color)
                        });
                        let fresh = (!held).then(|| ev.clone());
                        mark_stale(&mut ev, color, stalls);
                        self.publish(st, &ev, d == to, now, out);
                        evs.extend(fresh);
                    }
                    None => {
                        self.publish(st, &ev, d == to, now, out);
                        if !held {
                            evs.push(ev);
                        }
                    }
                }
            }
            d = match d.checked_add_days(Days::new(1)) {
                Some(n) => n,
                None => break,
            };
        }
        let now_us = self.clock.now().timestamp_micros();
        for t in st.alerts.update_many(&evs) {
            self.metrics.alerts.with_label_values(&[t.rule.as_str(), t.state.as_str()]).inc();
            out.push_transition(p, t, now_us);
        }
    }

    /// [`Self::evaluate_days`] for every account of partition `p`, in account id order
    /// (the daily re-evaluation and the release of held alert days). `rewrite_latest`:
    /// forget what was last published, so `to`'s row is written even when unchanged.
    /// Returns the number of accounts.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_partition(
        &self,
        p: i32,
        st: &mut PartitionState,
        from: NaiveDate,
        to: NaiveDate,
        now: u32,
        stalls: StallView,
        rewrite_latest: bool,
        out: &mut Outputs,
    ) -> usize {
        let mut ids: Vec<String> = st.engine.account_ids().map(str::to_owned).collect();
        ids.sort_unstable();
        for id in &ids {
            if rewrite_latest {
                st.last_published.remove(id);
            }
            self.evaluate_days(p, st, id, from, to, now, stalls, out);
        }
        ids.len()
    }

    /// Judges the input sources against the wall clock (SPEC v3 §10): updates
    /// `pulse_source_lag_seconds`, adds a `source_stalled` system alert to `out` for each
    /// stall that opened or resolved, marks every partition's alerts held from the
    /// stall's first day, and once every source flows again releases what was held:
    /// each account of a partition is re-evaluated from its held day and those days are
    /// fed to the tracker at once, so the alert history becomes what it would have been
    /// without the stall (and the results lose their `stale` mark).
    fn check_sources(&self, run: &mut Run, out: &mut Outputs) {
        if run.parts.is_empty() {
            return;
        }
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let wm = Watermarks::merged(run.parts.values().map(|s| &s.watermarks));
        for s in Source::ALL {
            if let Some(w) = wm.get(s) {
                let lag = (now_ms.saturating_sub(w) as f64 / 1000.0).max(0.0);
                self.metrics.source_lag_seconds.with_label_values(&[s.as_str()]).set(lag);
            }
        }
        for change in run.stalls.check(&wm, now_ms, &self.cfg.stall) {
            let (stall, opened) = match change {
                StallChange::Opened(s) => (s, true),
                StallChange::Resolved(s) => (s, false),
            };
            let source = stall.source.as_str();
            self.metrics.source_stalled.with_label_values(&[source]).set(i64::from(opened));
            let message = if opened {
                sources::describe(stall.source, stall.since_ms, now_ms)
            } else {
                format!(
                    "{source} feed flows again (it had stopped at {} UTC)",
                    sources::millis_to_datetime(stall.since_ms).format("%Y-%m-%d %H:%M")
                )
            };
            if opened {
                tracing::warn!(source, since = %sources::millis_to_datetime(stall.since_ms), limit_secs = stall.limit_secs, "input source stalled: results are published stale and account alerts held until it flows again");
            } else {
                tracing::info!(source, "input source flows again: held alert days are re-derived");
            }
            out.push_system_alert(&stall, opened, &message, now_ms, wm.get(stall.source));
        }
        let held = run.stalls.held_from();
        let today = self.today();
        let earliest = today.checked_sub_days(Days::new(u64::from(self.cfg.reemit_max_days))).unwrap_or(today);
        let secs = self.now_secs();
        for (p, st) in run.parts.iter_mut() {
            match (held, st.alerts_held_from) {
                (Some(h), cur) => {
                    let next = Some(cur.map_or(h, |c| c.min(h)));
                    if next != cur {
                        st.alerts_held_from = next;
                        st.dirty = true;
                    }
                }
                (None, Some(from)) => {
                    st.alerts_held_from = None;
                    st.dirty = true;
                    let from = from.clamp(earliest, today);
                    tracing::info!(partition = p, from = %from, "releasing alert days held during a stall");
                    off_loop(|| self.evaluate_partition(*p, st, from, today, secs, StallView::default(), false, out));
                }
                (None, None) => {}
            }
        }
    }

    fn publish(&self, st: &mut PartitionState, ev: &Evaluation, latest: bool, now: u32, out: &mut Outputs) {
        let health = tagged("health", &ev.health).to_string();
        let readiness = tagged("readiness", &ev.readiness).to_string();
        if latest {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            health.hash(&mut h);
            readiness.hash(&mut h);
            let digest = (ev.health.as_of, h.finish());
            if st.last_published.get(&ev.health.account_id) == Some(&digest) {
                return;
            }
            st.last_published.insert(ev.health.account_id.clone(), digest);
        }
        let attrs = attributes(st, &ev.health.account_id, ev.health.as_of);
        out.push_evaluation(ev, health, readiness, &attrs, now);
    }

    /// Evaluates the batch's touched accounts (from the earliest day an event changed,
    /// so late events re-emit the days they affect) and publishes.
    ///
    /// With `scorer.overlap_writes` the write is only started: the previous one is
    /// settled first (after this batch is evaluated, so evaluating overlaps it too), and
    /// this one is settled by the loop as soon as it finishes, or by whatever needs it
    /// written first (the next flush, a snapshot).
    async fn flush(&self, io: &Io<'_>, run: &mut Run, stop: &watch::Receiver<bool>) -> Result<(), Stopped> {
        self.drain_held(io, run, stop).await?;
        if run.touched.is_empty() && run.batch_events == 0 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let today = self.today();
        let earliest = today.checked_sub_days(Days::new(u64::from(self.cfg.reemit_max_days))).unwrap_or(today);
        let now = self.now_secs();
        let mut out = Outputs::default();
        self.check_sources(run, &mut out);
        let stalls = StallView::of(&run.stalls);
        let touched = std::mem::take(&mut run.touched);
        let parts = &mut run.parts;
        off_loop(|| {
            for ((p, account), day) in touched {
                let Some(st) = parts.get_mut(&p) else { continue };
                let from = day.clamp(earliest, today);
                self.evaluate_days(p, st, &account, from, today, now, stalls, &mut out);
            }
        });
        self.metrics.evaluation_seconds.observe(started.elapsed().as_secs_f64());
        let event_times = std::mem::take(&mut run.event_times);
        self.write(io, run, out, event_times, stop).await?;
        run.batch_events = 0;
        run.batch_started = None;
        self.metrics.accounts.set(run.parts.values().map(|s| s.engine.accounts_len() as i64).sum());
        self.metrics.tracked_users.set(run.parts.values().map(|s| s.engine.tracked_users() as i64).sum());
        Ok(())
    }

    /// Applies the messages that arrived while a write or a load was retried with the
    /// partitions paused. They precede every message the loop reads after them, so this
    /// runs before a new message is handled, on the tick and at the start of a flush;
    /// never between a flush and the snapshot after it, which would then cover events
    /// whose results are not written.
    async fn drain_held(&self, io: &Io<'_>, run: &mut Run, stop: &watch::Receiver<bool>) -> Result<(), Stopped> {
        // Handling one may retry and hold more (read after these): they stay for the
        // next drain.
        for m in std::mem::take(&mut run.held) {
            self.handle(io, run, &m, stop).await?;
        }
        Ok(())
    }

    /// Writes `out`, which covers the events produced at `event_times` (ms, for the
    /// latency histograms): settles the write in flight first (at most one), then
    /// starts this one as a task when `scorer.overlap_writes`, else writes it to the end
    /// (retried until acknowledged, [`outputs::write`]).
    async fn write(
        &self,
        io: &Io<'_>,
        run: &mut Run,
        mut out: Outputs,
        event_times: Vec<i64>,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        // Which transitions may be notified: marked on their messages before publishing.
        self.notify(io, run, &mut out);
        if out.is_empty() {
            // Nothing to publish: the events are as fresh as they will get.
            self.observe_latency(&event_times, None);
            return Ok(());
        }
        self.settle(io, run, stop).await?;
        let topics = OutputTopics {
            health: self.topics.health.clone(),
            readiness: self.topics.readiness.clone(),
            alerts: self.topics.alerts.clone(),
            dlq: self.topics.dlq.clone(),
        };
        if self.cfg.overlap_writes {
            run.in_flight = Some(InFlight::spawn(io.ch, io.producer, topics, out, event_times));
            Ok(())
        } else {
            run.in_flight = Some(InFlight::run(io.ch, io.producer, topics, out, event_times).await);
            self.settle(io, run, stop).await
        }
    }

    /// Settles the write in flight, if any: waits for its first attempt, retries it with
    /// the partitions paused until it is acknowledged when it failed (the retries write
    /// it all again, as [`outputs::write`] allows), then observes its metrics. A stop
    /// during the retries leaves it unsettled: nothing after it is snapshotted or
    /// committed.
    async fn settle(&self, io: &Io<'_>, run: &mut Run, stop: &watch::Receiver<bool>) -> Result<(), Stopped> {
        let Some(in_flight) = run.in_flight.take() else { return Ok(()) };
        let (pending, first) = in_flight.outcome().await;
        let mut first = match first {
            Ok(attempted) => Some(attempted),
            Err(e) => {
                // Only I/O futures run in the task: a panic there is a bug. What it wrote
                // is unknown, so the whole write goes again (duplicates are harmless).
                self.metrics.errors.with_label_values(&["publish", "task_failed"]).inc();
                tracing::error!(error = %e, "a write task failed; writing its outputs again");
                None
            }
        };
        let (out, topics) = (&*pending.out, &*pending.topics);
        let written = self
            .retry("publish", io, &mut run.held, stop, || {
                // The first attempt's result counts as the retry loop's first attempt, so
                // a failure backs off and pauses exactly as a failed write always did.
                let first = first.take();
                async move {
                    match first {
                        Some(attempted) => attempted,
                        None => outputs::write(io.ch, io.producer, topics, out).await,
                    }
                }
            })
            .await?;
        self.observe_written(&pending, &written);
        Ok(())
    }

    /// The metrics of a settled write: insert and produce durations from its start (its
    /// retries included), refused rows, published results, and the event-to-result
    /// latencies of the events it covers.
    fn observe_written(&self, pending: &Pending, w: &outputs::Written) {
        let m = &self.metrics;
        m.insert_seconds.observe(w.stored_at.saturating_duration_since(pending.started).as_secs_f64());
        m.produce_seconds.observe(w.published_at.saturating_duration_since(pending.started).as_secs_f64());
        if w.refused > 0 {
            m.errors.with_label_values(&["clickhouse_insert", "row_refused"]).inc_by(w.refused as u64);
        }
        let out = &pending.out;
        m.published.with_label_values(&["health"]).inc_by(out.health.len() as u64);
        m.published.with_label_values(&["readiness"]).inc_by(out.readiness.len() as u64);
        m.published.with_label_values(&["alert"]).inc_by(out.alerts.len() as u64);
        self.observe_latency(&pending.event_times, Some(w));
    }

    /// Event-to-result latencies of events produced at `event_times` (ms): to the
    /// broker's acknowledgement of their results and to ClickHouse's of their rows
    /// (`None`: nothing was written for them, both now).
    fn observe_latency(&self, event_times: &[i64], written: Option<&outputs::Written>) {
        // Wall-clock times of the acknowledgements (the clock may be a test's).
        let now = std::time::Instant::now();
        let now_ms = self.clock.now().timestamp_millis();
        let at_ms = |at: Option<std::time::Instant>| {
            at.map_or(now_ms, |at| now_ms - i64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(0))
        };
        let published_ms = at_ms(written.map(|w| w.published_at));
        let stored_ms = at_ms(written.map(|w| w.stored_at));
        for ts in event_times {
            self.metrics.event_to_publish_seconds.observe(((published_ms - ts).max(0) as f64) / 1000.0);
            self.metrics.event_to_stored_seconds.observe(((stored_ms - ts).max(0) as f64) / 1000.0);
        }
    }

    /// Notifications for the present (SPEC §5; the bookkeeping is `notify`'s, delivery is
    /// the notifier's). Checks whether each partition is caught up (lag from the high
    /// watermark librdkafka last saw, no broker round trip; the age of the events applied
    /// since the last check), then marks each alert message of `out` with its emission
    /// `version` (its `health_alerts` row's) and `notify`: false for a transition of a day
    /// before the notify window (history is recorded, never sent); true for one of a
    /// caught-up partition that holds nothing back; false for any other, which is held
    /// (a retraction withdraws a held transition instead). Last, partitions caught up
    /// release what they held: published again, in order, with `notify: true`.
    fn notify(&self, io: &Io<'_>, run: &mut Run, out: &mut Outputs) {
        let gate = self.cfg.notify_gate();
        let now = std::time::Instant::now();
        let now_ts = self.clock.now().timestamp();
        for (p, st) in &run.parts {
            let lag = io.consumer.context().high_watermark(*p).map(|high| (high - st.next_offset).max(0));
            let age = run.newest_event.remove(p).map(|ts| now_ts - ts);
            let n = run.notify.entry(*p).or_default();
            match n.gate.observe(&gate, Observation { lag, newest_event_age_secs: age }, now) {
                Some(Change::CaughtUp { lag }) => tracing::info!(
                    partition = p,
                    lag,
                    held = st.held.len(),
                    "partition caught up: alert notifications go out again, held ones first"
                ),
                Some(Change::CatchingUp(behind)) => tracing::info!(
                    partition = p,
                    ?behind,
                    "partition catching up: alert notifications held until it is caught up"
                ),
                None => {}
            }
        }
        self.metrics
            .partitions_catching_up
            .set(run.parts.keys().filter(|p| !run.notify.get(p).is_some_and(|n| n.gate.is_open())).count() as i64);
        let today = self.today();
        let oldest = today.checked_sub_days(Days::new(u64::from(self.cfg.notify_window_days))).unwrap_or(today);
        let m = &self.metrics;
        let transitions = std::mem::take(&mut out.transitions);
        // `push_transition` adds a row, a message and a transition at once: the i-th alert
        // message is the i-th transition's, versioned like the i-th row.
        let messages: Vec<usize> =
            out.messages.iter().enumerate().filter(|(_, (k, _, _))| *k == Kind::Alert).map(|(i, _)| i).collect();
        let aligned = messages.len() == transitions.len() && out.alerts.len() == transitions.len();
        if !aligned {
            tracing::error!(
                messages = messages.len(),
                transitions = transitions.len(),
                "alert messages and transitions do not line up: published without a notify mark"
            );
        }
        for (i, (p, t)) in transitions.into_iter().enumerate() {
            let labels = [t.rule.as_str(), t.state.as_str()];
            let notify_now = if t.as_of < oldest {
                m.webhook_skipped.with_label_values(&labels).inc();
                false
            } else {
                let open = run.notify.entry(p).or_default().gate.is_open();
                match run.parts.get_mut(&p) {
                    Some(st) if !(open && st.held.is_empty()) => {
                        st.dirty = true;
                        match st.held.hold(t) {
                            Hold::Held => m.webhook_held.with_label_values(&labels).inc(),
                            Hold::Replaced => {}
                            Hold::Withdrawn(h) => {
                                m.webhook_withdrawn.with_label_values(&[h.rule.as_str(), h.state.as_str()]).inc();
                            }
                            Hold::Dropped(_) => m.webhook_dropped.with_label_values(&labels).inc(),
                        }
                        false
                    }
                    _ => true,
                }
            };
            if aligned {
                let msg = &mut out.messages[messages[i]].2;
                *msg = mark(msg, out.alerts[i].version, notify_now);
            }
        }
        let now_us = self.clock.now().timestamp_micros();
        let notify = &run.notify;
        for (_, st) in run
            .parts
            .iter_mut()
            .filter(|(p, st)| !st.held.is_empty() && notify.get(*p).is_some_and(|n| n.gate.is_open()))
        {
            st.dirty = true;
            for t in st.held.take() {
                let labels = [t.rule.as_str(), t.state.as_str()];
                if t.as_of < oldest {
                    // Held past the end of the window (the day changed meanwhile).
                    m.webhook_skipped.with_label_values(&labels).inc();
                    continue;
                }
                m.webhook_released.with_label_values(&labels).inc();
                let mut v = serde_json::to_value(&t).unwrap_or(serde_json::Value::Null);
                if let serde_json::Value::Object(map) = &mut v {
                    map.insert("alert_id".into(), alert_id(&t).into());
                    map.insert("version".into(), next_version(now_us).into());
                    map.insert("notify".into(), true.into());
                }
                out.messages.push((Kind::Alert, t.account_id.clone(), v.to_string().into_bytes()));
            }
        }
        m.webhook_holding.set(run.parts.values().map(|st| st.held.len() as i64).sum());
    }

    /// Forgets a revoked partition's gate. What it held went into the snapshot taken on
    /// revoke (`PartitionState::held`): the new owner restores it and releases it once it
    /// has caught up.
    fn forget_gate(&self, run: &mut Run, p: i32) {
        run.notify.remove(&p);
        self.metrics.webhook_holding.set(run.parts.values().map(|st| st.held.len() as i64).sum());
    }

    /// The daily re-evaluation: once per day (at `evaluation_hour`), every account of
    /// every held partition gets the days since the previous run (re-evaluating that
    /// day, now final) up to today, whether or not it had events.
    async fn daily(&self, io: &Io<'_>, run: &mut Run, stop: &watch::Receiver<bool>) -> Result<(), Stopped> {
        let now_dt = self.clock.now();
        let tick_day = (now_dt - chrono::Duration::hours(i64::from(self.cfg.evaluation_hour))).date_naive();
        let due: Vec<i32> =
            run.parts.iter().filter(|(_, st)| st.last_tick.is_none_or(|t| t < tick_day)).map(|(p, _)| *p).collect();
        if due.is_empty() {
            return Ok(());
        }
        // Pending events first, so the daily rows include them.
        self.flush(io, run, stop).await?;
        let today = self.today();
        let earliest = today.checked_sub_days(Days::new(u64::from(self.cfg.reemit_max_days))).unwrap_or(today);
        let now = self.now_secs();
        let mut out = Outputs::default();
        self.check_sources(run, &mut out);
        let stalls = StallView::of(&run.stalls);
        let mut accounts = 0usize;
        let parts = &mut run.parts;
        off_loop(|| {
            for p in &due {
                let Some(st) = parts.get_mut(p) else { continue };
                let from =
                    st.last_tick.unwrap_or_else(|| tick_day.pred_opt().unwrap_or(tick_day)).clamp(earliest, today);
                // The daily row is always written.
                accounts += self.evaluate_partition(*p, st, from, today, now, stalls, true, &mut out);
                st.last_tick = Some(tick_day);
                st.dirty = true;
            }
        });
        tracing::info!(day = %tick_day, partitions = due.len(), accounts, "daily re-evaluation");
        self.write(io, run, out, Vec::new(), stop).await
    }

    /// Snapshots every changed partition, then commits the offsets the snapshots cover.
    /// Callers flush first: the state must hold no event whose results are not written.
    async fn snapshot(
        &self,
        io: &Io<'_>,
        run: &mut Run,
        stop: &watch::Receiver<bool>,
        mode: CommitMode,
    ) -> Result<(), Stopped> {
        // The state covers the write in flight: it must be written first.
        self.settle(io, run, stop).await?;
        run.last_snapshot = Instant::now();
        let mut tpl = TopicPartitionList::new();
        let dirty: Vec<i32> = run.parts.iter().filter(|(_, s)| s.dirty).map(|(p, _)| *p).collect();
        for p in dirty {
            let now = self.now_secs();
            let Some(st) = run.parts.get_mut(&p) else { continue };
            st.saves += 1;
            let st = &*st;
            // Encoded in place (no copy of the state), off the async workers.
            let next_offset = st.next_offset;
            let started = Instant::now();
            let bytes = match off_loop(|| snapshot::encode(st)) {
                Ok(b) => b,
                Err(e) => {
                    // A state that cannot be encoded is a bug; its offsets stay uncommitted
                    // (a restart replays them), and the loop goes on.
                    self.metrics.errors.with_label_values(&["snapshot_encode", "state"]).inc();
                    tracing::error!(partition = p, error = %e, "snapshot encoding failed");
                    continue;
                }
            };
            self.metrics.snapshot_encode_seconds.observe(started.elapsed().as_secs_f64());
            self.retry("snapshot_save", io, &mut run.held, stop, || io.store.save(p, next_offset, &bytes, now)).await?;
            run.snapshot_bytes.insert(p, bytes.len());
            self.metrics.snapshots.inc();
            if let Some(s) = run.parts.get_mut(&p) {
                s.dirty = false;
            }
            if let Err(e) = tpl.add_partition_offset(&self.topics.events, p, Offset::Offset(next_offset)) {
                tracing::warn!(partition = p, error = %e, "cannot add offset to commit list");
            }
        }
        self.metrics.state_bytes.set(run.snapshot_bytes.values().sum::<usize>() as i64);
        if tpl.count() > 0 {
            if let Err(e) = io.consumer.commit(&tpl, mode) {
                // Harmless: the snapshot is the source of truth; a stale commit only
                // means a longer (idempotent) replay.
                self.metrics.errors.with_label_values(&["commit", "kafka"]).inc();
                tracing::warn!(error = %e, "offset commit failed");
            }
        }
        Ok(())
    }

    async fn retry<T, E, F, Fut>(
        &self,
        stage: &'static str,
        io: &Io<'_>,
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
        retry_paused(stage, backoff, io.consumer, held, stop, |ev| self.on_retry(ev), op).await
    }

    fn on_retry(&self, ev: RetryEvent<'_>) {
        pulse_runtime::retry::observe(ev, &self.metrics.errors, &self.metrics.paused, &self.ready);
    }
}

/// Publishes a result of a day under a stalled source (SPEC v3 §10): computed as usual,
/// marked `stale`, with the color of the last day before the stall (`None`: the account
/// had no result then; its own color stays).
/// What that does to the result is the core's ([`pulse_core::quality::mark_stalled`]):
/// the inputs resting on each stalled source become `stale`, coverage drops.
fn mark_stale(ev: &mut Evaluation, color_before: Option<pulse_core::Color>, stalls: StallView) {
    for (stalled, feed) in [(stalls.usage, Source::Usage), (stalls.crm, Source::Crm)] {
        if stalled {
            pulse_core::quality::mark_stalled(feed.feed(), &mut ev.health, &mut ev.readiness, color_before);
        }
    }
}

/// The I/O handles of one run.
struct Io<'a> {
    consumer: &'a ScorerConsumer,
    producer: &'a FutureProducer,
    ch: &'a clickhouse::Client,
    store: &'a SnapshotStore,
}

/// An alert message with the scorer's marks for the notifier: `version` (this emission's,
/// the same as its `health_alerts` row) and `notify`.
fn mark(payload: &[u8], version: u64, notify: bool) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("version".into(), version.into());
            map.insert("notify".into(), notify.into());
            serde_json::Value::Object(map).to_string().into_bytes()
        }
        _ => payload.to_vec(),
    }
}

fn attributes(st: &PartitionState, account: &str, as_of: NaiveDate) -> Attributes {
    st.engine
        .attributes(account, as_of)
        .map(|a| Attributes {
            name: a.name.unwrap_or_default(),
            csm: a.csm.unwrap_or_default(),
            arr: a.arr,
            renewal_on: a.renewal_on,
        })
        .unwrap_or_default()
}

/// Runs CPU-heavy work (encoding a snapshot, evaluating a batch's accounts or the
/// daily re-evaluation of all of them) without
/// stalling the other tasks of a multi-threaded runtime: `block_in_place` hands this
/// worker's queue to another thread first. On a current-thread runtime (tests) it
/// just runs.
fn off_loop<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The scorer's side of the shared consumer loop (`pulse_runtime::consumer`): a batch is
/// the events applied since the last flush; flushing evaluates the accounts they touched
/// and publishes; offsets are committed by the snapshots, on the tick. With
/// `scorer.overlap_writes` a flush only starts its write; `ready`/`settle` finish it as
/// soon as it is done (retries, metrics), while the next batch is consumed.
struct ScorerLoop<'a> {
    svc: &'a Scorer,
    io: Io<'a>,
    run: Run,
}

impl Batcher for ScorerLoop<'_> {
    /// The scorer retries every failure until it stops: nothing ends it from inside.
    type Fatal = std::convert::Infallible;

    async fn add(&mut self, m: OwnedMessage, stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.svc.rebalance(&self.io, &mut self.run, stop).await?;
        self.svc.drain_held(&self.io, &mut self.run, stop).await?;
        self.svc.handle(&self.io, &mut self.run, &m, stop).await?;
        Ok(())
    }

    fn started(&self) -> Option<Instant> {
        self.run.batch_started
    }

    fn full(&self) -> bool {
        self.run.batch_events >= self.svc.cfg.batch_max_events
    }

    async fn flush(&mut self, stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.svc.flush(&self.io, &mut self.run, stop).await?;
        Ok(())
    }

    async fn ready(&mut self) {
        match &mut self.run.in_flight {
            Some(w) => w.finished().await,
            None => std::future::pending().await,
        }
    }

    async fn settle(&mut self, stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.svc.settle(&self.io, &mut self.run, stop).await?;
        Ok(())
    }

    async fn tick(&mut self, stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        let (svc, io, run) = (self.svc, &self.io, &mut self.run);
        svc.rebalance(io, run, stop).await?;
        svc.drain_held(io, run, stop).await?;
        svc.daily(io, run, stop).await?;
        if run.last_snapshot.elapsed() >= Duration::from_secs(svc.cfg.snapshot_interval_secs) {
            svc.flush(io, run, stop).await?;
            svc.snapshot(io, run, stop, CommitMode::Async).await?;
        }
        // Idle: partitions that caught up send what they held. (With a batch pending, its
        // flush checks, after evaluating it.)
        // Idle, sources are judged here too (a stall shows no events at all).
        if run.batch_events == 0 && run.touched.is_empty() {
            let mut out = Outputs::default();
            svc.check_sources(run, &mut out);
            svc.write(io, run, out, Vec::new(), stop).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, stop: &watch::Receiver<bool>) -> bool {
        // The snapshot settles the write in flight, this flush's included.
        let (svc, io, run) = (self.svc, &self.io, &mut self.run);
        svc.flush(io, run, stop).await.is_ok() && svc.snapshot(io, run, stop, CommitMode::Sync).await.is_ok()
    }

    fn consume_error(&self, e: &KafkaError) {
        self.svc.metrics.errors.with_label_values(&["consume", "kafka"]).inc();
        tracing::warn!(error = %e, "consume error");
    }
}

/// Runs an embedded part (the notifier) as a task whose end, before the scorer stops,
/// clears `ready` (and so the scorer's `/readyz`), counts
/// `errors{stage="notify", error_type="stopped"}` and logs why; a panic too.
pub fn supervise<E: std::fmt::Display + Send + 'static>(
    part: impl Future<Output = Result<(), E>> + Send + 'static,
    ready: Readiness,
    metrics: ScorerMetrics,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<(), E>> {
    /// Clears readiness however the task ends, a panic included.
    struct Down(Readiness);
    impl Drop for Down {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }
    tokio::spawn(async move {
        let _down = Down(ready);
        let result = part.await;
        if !*stop.borrow() {
            metrics.errors.with_label_values(&["notify", "stopped"]).inc();
            match &result {
                Ok(()) => tracing::error!("the embedded notifier stopped; the scorer reports not ready"),
                Err(e) => tracing::error!(error = %e, "the embedded notifier failed; the scorer reports not ready"),
            }
        }
        result
    })
}

#[cfg(test)]
mod supervise_tests {
    use super::*;

    fn parts() -> (Readiness, Readiness, ScorerMetrics, watch::Sender<bool>, watch::Receiver<bool>) {
        let scorer = Readiness::default();
        scorer.set(true);
        let part = Readiness::default();
        scorer.depend_on(&part);
        part.set(true);
        let (tx, rx) = watch::channel(false);
        (scorer, part, ScorerMetrics::new(&prometheus::Registry::new()), tx, rx)
    }

    #[tokio::test]
    async fn a_part_that_fails_or_panics_makes_the_service_not_ready() {
        let (scorer, part, metrics, _tx, rx) = parts();
        assert!(scorer.get());
        let h = supervise(async { Err::<(), _>("consumer refused") }, part.clone(), metrics.clone(), rx.clone());
        assert!(h.await.expect("joined").is_err());
        assert!(!scorer.get(), "the notifier failed: /readyz fails");
        assert_eq!(metrics.errors.with_label_values(&["notify", "stopped"]).get(), 1);

        let (scorer, part, metrics, _tx, rx) = parts();
        let h = supervise(
            async {
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), String>(())
            },
            part.clone(),
            metrics,
            rx,
        );
        assert!(h.await.is_err(), "panicked");
        assert!(!scorer.get(), "a panic clears readiness too");
    }

    #[tokio::test]
    async fn a_running_part_keeps_the_service_ready_and_a_stop_is_not_a_failure() {
        let (scorer, part, metrics, tx, rx) = parts();
        let mut stop = rx.clone();
        let h = supervise(
            async move {
                let _ = stop.wait_for(|s| *s).await;
                Ok::<(), String>(())
            },
            part.clone(),
            metrics.clone(),
            rx,
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(scorer.get());
        tx.send(true).expect("stop");
        assert!(h.await.expect("joined").is_ok());
        assert_eq!(metrics.errors.with_label_values(&["notify", "stopped"]).get(), 0, "a stop is not counted");
    }
}
