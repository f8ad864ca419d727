//! Durable alert notifications: webhook delivery driven by the alerts topic.
//!
//! The notifier is a consumer of `topics.alerts` in its own consumer group
//! (`scorer.notify_group_id`). It runs as a task of `pulse scorer` (the default, so a
//! configured `scorer.webhook.url` keeps working with nothing else to deploy) or alone as
//! `pulse notify` (`scorer.notify_in_scorer = false` on the scorers), and several run
//! side by side sharing the partitions. For each message, in order:
//!
//! - a transition the scorer published with `"notify": false` (derived while its
//!   partition was catching up, or of a day outside the notify window) is recorded only;
//!   the scorer publishes it again with `"notify": true` once its partition caught up, if
//!   no retraction withdrew it meanwhile (`notify`, in the scorer);
//! - a transition of a day before the notify window (against the notifier's clock: a
//!   notifier that was down overnight does not page for yesterday) is recorded only;
//! - a retraction of a transition still queued here withdraws it: neither is sent;
//! - anything else is POSTed with its idempotency key (`Idempotency-Key` header and
//!   `idempotency_key` in the body, stable per emission: see `webhook`), retried with
//!   backoff on timeouts, connection errors, 408, 429 and 5xx up to
//!   `scorer.webhook.max_attempts`, and dead-lettered (`webhook_failed`, or
//!   `webhook_rejected` at once for other 4xx) to `topics.dlq`;
//! - an offset is committed only when every message before it was delivered,
//!   dead-lettered (the broker acknowledged the dead letter) or skipped.
//!
//! So a crash loses nothing: what was not committed is read again, and at most the
//! notifications between the last commit and the crash are sent again, under the same
//! idempotency key.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{Days, NaiveDate};
use pulse_core::{alerts::TransitionKind, AlertRule, AlertState, AlertTransition};
use pulse_runtime::{
    consumer::{self, Batcher, LoopMetrics, LoopSettings, Step},
    dlq::{DeadLetter, Origin, Reason},
    http::Readiness,
    kafka::{send_dead_letter, KafkaConfig, TopicsConfig},
    retry::{retry_until_ok, Backoff},
};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::KafkaError,
    message::OwnedMessage,
    producer::FutureProducer,
    ClientContext, Message, Offset, TopicPartitionList,
};
use tokio::{sync::watch, time::Instant};

use crate::{
    clock::Clock,
    config::ScorerConfig,
    metrics::ScorerMetrics,
    webhook::{self, Attempt},
};

/// Most messages queued for delivery; above it the notifier pauses its partitions.
pub const MAX_QUEUED: usize = 10_000;

/// What the notifier does with one message of the alerts topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// POST it.
    Deliver(Box<Delivery>),
    /// Recorded only: published with `"notify": false` by the scorer.
    NotForNotification,
    /// Recorded only: its day is before the notify window.
    OutsideWindow,
    /// Not an alert transition: dead-lettered.
    Invalid(Reason, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub transition: AlertTransition,
    pub key: String,
    pub body: serde_json::Value,
}

/// Decides what to do with `payload`, a message of the alerts topic. `oldest` is the
/// first day of the notify window.
pub fn decide(payload: &[u8], oldest: NaiveDate) -> Decision {
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return Decision::Invalid(Reason::NotJson, format!("alert message is not JSON: {e}")),
    };
    if !v.is_object() {
        return Decision::Invalid(Reason::NotObject, "alert message is not a JSON object".into());
    }
    if v.get("notify").and_then(serde_json::Value::as_bool) == Some(false) {
        return Decision::NotForNotification;
    }
    let t: AlertTransition = match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => return Decision::Invalid(Reason::InvalidValue, format!("not an alert transition: {e}")),
    };
    if t.as_of < oldest {
        return Decision::OutsideWindow;
    }
    let key = webhook::idempotency_key(&t);
    let body = webhook::body(&t, &key);
    Decision::Deliver(Box::new(Delivery { transition: t, key, body }))
}

/// Which transition a message is about, and whether it is that transition's retraction.
type Identity = (String, AlertRule, NaiveDate, TransitionKind, NaiveDate, bool);

fn identity(t: &AlertTransition) -> Identity {
    (t.account_id.clone(), t.rule, t.opened_on, t.transition(), t.as_of, t.state == AlertState::Retracted)
}

/// A message waiting for delivery.
#[derive(Debug, Clone)]
struct Job {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    delivery: Delivery,
}

/// The messages read and not yet finished, per partition, and what may be committed.
/// Pure bookkeeping (unit tested).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Offsets read and not finished (queued or being delivered).
    open: HashMap<i32, BTreeSet<i64>>,
    /// The offset after the last one read.
    read: HashMap<i32, i64>,
    /// The last offset committed.
    committed: HashMap<i32, i64>,
}

impl Ledger {
    /// `offset` of `p` was read; `finished` when nothing is left to do for it.
    pub fn read(&mut self, p: i32, offset: i64, finished: bool) {
        let r = self.read.entry(p).or_insert(offset + 1);
        *r = (*r).max(offset + 1);
        if !finished {
            self.open.entry(p).or_default().insert(offset);
        }
    }

    pub fn finish(&mut self, p: i32, offset: i64) {
        if let Some(o) = self.open.get_mut(&p) {
            o.remove(&offset);
        }
    }

    pub fn forget(&mut self, p: i32) {
        self.open.remove(&p);
        self.read.remove(&p);
        self.committed.remove(&p);
    }

    /// The offsets to commit now: per partition, the first one not finished (or the one
    /// after the last read), where that moved since the last commit.
    pub fn due(&self) -> Vec<(i32, i64)> {
        let mut out: Vec<(i32, i64)> = self
            .read
            .iter()
            .map(|(p, r)| (*p, self.open.get(p).and_then(|o| o.first().copied()).unwrap_or(*r)))
            .filter(|(p, o)| self.committed.get(p).is_none_or(|c| o > c))
            .collect();
        out.sort_unstable();
        out
    }

    pub fn committed(&mut self, done: &[(i32, i64)]) {
        for (p, o) in done {
            self.committed.insert(*p, *o);
        }
    }
}

#[derive(Default)]
struct Revocations(Vec<i32>);

struct NotifierContext {
    revoked: Mutex<Revocations>,
}

impl ClientContext for NotifierContext {}

impl ConsumerContext for NotifierContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Revoke(tpl), Ok(mut r)) = (rebalance, self.revoked.lock()) {
            r.0.extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }
}

/// The notifier, fully configured; [`Notifier::run`] drives it.
pub struct Notifier {
    /// `webhook`, `notify_window_days`, `notify_group_id`, `retry_*`.
    pub cfg: ScorerConfig,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub metrics: ScorerMetrics,
    pub ready: Readiness,
    pub clock: Arc<dyn Clock>,
}

/// The result of one job: its place, and how it ended.
struct Done {
    partition: i32,
    offset: i64,
    result: &'static str,
}

impl Notifier {
    /// Runs until `shutdown` resolves; then commits what was finished. Without a webhook
    /// URL it returns at once. The poll loop is the shared one (`pulse_runtime::consumer`:
    /// the rejoin watchdog, the poll-gap histogram, the graceful stop), driven by
    /// [`NotifyLoop`].
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), KafkaError> {
        let Some(url) = self.cfg.webhook.url.clone() else {
            tracing::info!("no scorer.webhook.url: the notifier has nothing to do");
            return Ok(());
        };
        let client = webhook::http_client(&self.cfg.webhook).unwrap_or_else(|e| {
            // validate() refused an unusable ca_file at start-up; this is a last resort.
            tracing::error!(error = %e, "webhook TLS setup failed; using the default client");
            reqwest::Client::default()
        });
        let group = self.cfg.notify_group();
        let consumer: StreamConsumer<NotifierContext> = self
            .kafka
            .consumer_config(&group, "earliest", 100)
            .create_with_context(NotifierContext { revoked: Mutex::new(Revocations::default()) })?;
        consumer.subscribe(&[self.topics.alerts.as_str()])?;
        let producer = self.kafka.producer()?;
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        tracing::info!(topic = %self.topics.alerts, group = %group, "notifier started");
        self.ready.set(true);
        let settings = LoopSettings {
            max_wait: Duration::from_secs(1),
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(10),
            rejoin_when_idle_secs: self.cfg.rejoin_when_idle_secs,
            topics: vec![self.topics.alerts.clone()],
        };
        let loop_metrics = LoopMetrics {
            poll_gap: self.metrics.notify_poll_gap_seconds.clone(),
            rejoins: self.metrics.rejoins.clone(),
        };
        let mut batcher = NotifyLoop {
            n: &self,
            consumer: &consumer,
            producer,
            url,
            client,
            stop: stop.clone(),
            ledger: Ledger::default(),
            queue: VecDeque::new(),
            inflight: None,
            done: None,
            paused: false,
        };
        let ended = consumer::run(&consumer, &mut batcher, &settings, &loop_metrics, stop).await;
        let queued = batcher.queue.len();
        self.ready.set(false);
        match ended {
            Ok(_) => {
                tracing::info!(queued, "notifier stopped; undelivered notifications are read again at the next start")
            }
            Err(never) => match never {},
        }
        Ok(())
    }

    /// Drops what is queued for partitions revoked in a rebalance (their new owner reads
    /// them again from the last commit).
    fn revoke(&self, consumer: &StreamConsumer<NotifierContext>, ledger: &mut Ledger, queue: &mut VecDeque<Job>) {
        let revoked = match consumer.context().revoked.lock() {
            Ok(mut r) => std::mem::take(&mut r.0),
            Err(_) => return,
        };
        for p in revoked {
            queue.retain(|j| j.partition != p);
            ledger.forget(p);
        }
    }

    /// Reads one message: queues it, withdraws a queued transition it retracts, skips it
    /// or dead-letters it.
    async fn read(
        &self,
        m: &OwnedMessage,
        ledger: &mut Ledger,
        queue: &mut VecDeque<Job>,
        producer: &FutureProducer,
        stop: &watch::Receiver<bool>,
    ) {
        let (p, offset) = (m.partition(), m.offset());
        let today = self.clock.now().date_naive();
        let oldest = today.checked_sub_days(Days::new(u64::from(self.cfg.notify_window_days))).unwrap_or(today);
        let payload = m.payload().unwrap_or(&[]);
        match decide(payload, oldest) {
            Decision::NotForNotification => {
                self.metrics.webhook.with_label_values(&["not_for_notification"]).inc();
                ledger.read(p, offset, true);
            }
            Decision::OutsideWindow => {
                self.metrics.webhook.with_label_values(&["outside_window"]).inc();
                ledger.read(p, offset, true);
            }
            Decision::Invalid(reason, detail) => {
                tracing::warn!(partition = p, offset, %reason, "invalid message on the alerts topic: dead-lettered");
                let letter = DeadLetter::new(
                    reason,
                    detail,
                    Origin { topic: &self.topics.alerts, partition: p, offset },
                    m.key(),
                    payload,
                    self.clock.now(),
                    pulse_runtime::dlq::DEFAULT_MAX_ORIGINAL_BYTES,
                );
                let done =
                    dead_letter(producer, &self.topics.dlq, m.key(), &letter, self.backoff(), stop.clone()).await;
                self.metrics.webhook.with_label_values(&["invalid"]).inc();
                // Unless stopped first: then it stays uncommitted and is read again.
                ledger.read(p, offset, done);
            }
            Decision::Deliver(d) => {
                let t = &d.transition;
                if t.state == AlertState::Retracted {
                    let (a, r, o, k, day, _) = identity(t);
                    let target = (a, r, o, k, day, false);
                    if let Some(i) =
                        queue.iter().position(|j| j.partition == p && identity(&j.delivery.transition) == target)
                    {
                        // Nobody heard of it: neither it nor its retraction is sent.
                        if let Some(w) = queue.remove(i) {
                            ledger.finish(w.partition, w.offset);
                        }
                        self.metrics.webhook.with_label_values(&["withdrawn"]).inc();
                        ledger.read(p, offset, true);
                        return;
                    }
                }
                ledger.read(p, offset, false);
                queue.push_back(Job {
                    partition: p,
                    offset,
                    key: m.key().map(<[u8]>::to_vec),
                    payload: payload.to_vec(),
                    delivery: *d,
                });
            }
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            initial: Duration::from_millis(self.cfg.retry_initial_ms),
            max: Duration::from_millis(self.cfg.retry_max_ms),
        }
    }

    /// Delivers one job (retrying) or dead-letters it; the task's result says which.
    fn process(
        &self,
        job: Job,
        url: pulse_runtime::Secret,
        client: reqwest::Client,
        producer: FutureProducer,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = Done> + Send + 'static {
        let max_attempts = self.cfg.webhook.max_attempts;
        let (topic, dlq) = (self.topics.alerts.clone(), self.topics.dlq.clone());
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        let backoff = self.backoff();
        async move {
            let d = &job.delivery;
            // Between delivery attempts: 200 ms doubling up to 30 s.
            let attempts = Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(30) };
            let mut delay = attempts.initial;
            let mut failure = (Reason::WebhookFailed, String::new());
            for attempt in 1..=max_attempts {
                match webhook::post(&client, url.expose(), &d.key, &d.body).await {
                    Attempt::Delivered => {
                        return Done { partition: job.partition, offset: job.offset, result: "delivered" }
                    }
                    Attempt::Permanent(e) => {
                        failure = (Reason::WebhookRejected, e);
                        break;
                    }
                    Attempt::Transient(e) => failure.1 = e,
                }
                tracing::warn!(attempt, error = %failure.1, key = %d.key, "alert webhook delivery failed");
                if attempt < max_attempts {
                    metrics.webhook.with_label_values(&["retried"]).inc();
                    tokio::time::sleep(delay).await;
                    delay = attempts.next(delay);
                }
            }
            let (reason, detail) = failure;
            let detail = match reason {
                Reason::WebhookRejected => format!("the webhook refused the notification: {detail}"),
                _ => format!("not delivered after {max_attempts} attempts: {detail}"),
            };
            tracing::warn!(key = %d.key, %reason, "alert notification dead-lettered");
            let letter = DeadLetter::new(
                reason,
                detail,
                Origin { topic: &topic, partition: job.partition, offset: job.offset },
                job.key.as_deref(),
                &job.payload,
                clock.now(),
                pulse_runtime::dlq::DEFAULT_MAX_ORIGINAL_BYTES,
            )
            .with_idempotency_key(d.key.clone());
            dead_letter(&producer, &dlq, job.key.as_deref(), &letter, backoff, stop).await;
            Done { partition: job.partition, offset: job.offset, result: "dead_lettered" }
        }
    }

    fn commit(&self, consumer: &StreamConsumer<NotifierContext>, ledger: &mut Ledger, mode: CommitMode) {
        let due = ledger.due();
        if due.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &due {
            if let Err(e) = tpl.add_partition_offset(&self.topics.alerts, *p, Offset::Offset(*o)) {
                tracing::warn!(partition = p, error = %e, "cannot add offset to commit list");
            }
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => ledger.committed(&due),
            Err(e) => {
                // Harmless: the next commit covers it; a crash before re-sends (same keys).
                self.metrics.errors.with_label_values(&["notify_commit", "kafka"]).inc();
                tracing::warn!(error = %e, "offset commit failed");
            }
        }
    }
}

/// The notifier's steps in the shared poll loop: a message is read into the queue
/// (or skipped, withdrawn, dead-lettered); one delivery runs at a time beside the loop
/// ([`Batcher::ready`] resolves when it finished, [`Batcher::settle`] books it and starts
/// the next), so offsets are committed in read order; the tick acts on revocations.
pub struct NotifyLoop<'a> {
    n: &'a Notifier,
    consumer: &'a StreamConsumer<NotifierContext>,
    producer: FutureProducer,
    url: pulse_runtime::Secret,
    client: reqwest::Client,
    stop: watch::Receiver<bool>,
    ledger: Ledger,
    queue: VecDeque<Job>,
    /// The delivery in progress.
    inflight: Option<Pin<Box<dyn Future<Output = Done> + Send>>>,
    /// A delivery finished and not yet booked.
    done: Option<Done>,
    paused: bool,
}

impl NotifyLoop<'_> {
    fn start_next(&mut self) {
        if self.inflight.is_some() || self.done.is_some() {
            return;
        }
        if let Some(job) = self.queue.pop_front() {
            self.inflight = Some(Box::pin(self.n.process(
                job,
                self.url.clone(),
                self.client.clone(),
                self.producer.clone(),
                self.stop.clone(),
            )));
        }
    }

    /// Pauses the partitions while [`MAX_QUEUED`] messages wait, resumes below it.
    fn pause_when_full(&mut self) {
        let full = self.queue.len() >= MAX_QUEUED;
        if full == self.paused {
            return;
        }
        if let Ok(assigned) = self.consumer.assignment() {
            let r = if full { self.consumer.pause(&assigned) } else { self.consumer.resume(&assigned) };
            if let Err(e) = r {
                tracing::warn!(error = %e, "pause/resume failed");
            }
        }
        self.paused = full;
    }
}

impl Batcher for NotifyLoop<'_> {
    type Fatal = std::convert::Infallible;

    async fn add(&mut self, m: OwnedMessage, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.n.revoke(self.consumer, &mut self.ledger, &mut self.queue);
        self.n.read(&m, &mut self.ledger, &mut self.queue, &self.producer, &self.stop).await;
        self.n.commit(self.consumer, &mut self.ledger, CommitMode::Async);
        self.start_next();
        self.pause_when_full();
        Ok(())
    }

    /// Nothing is batched: each message is handled as it arrives.
    fn started(&self) -> Option<Instant> {
        None
    }

    fn full(&self) -> bool {
        false
    }

    async fn flush(&mut self, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        Ok(())
    }

    /// Cancel-safe: the delivery stays in `inflight` while it runs; once it finished
    /// its result is moved to `done` within the same poll.
    async fn ready(&mut self) {
        if self.done.is_some() {
            return;
        }
        self.start_next();
        match self.inflight.as_mut() {
            Some(f) => {
                let d = f.await;
                self.inflight = None;
                self.done = Some(d);
            }
            None => std::future::pending().await,
        }
    }

    async fn settle(&mut self, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        if let Some(d) = self.done.take() {
            self.n.metrics.webhook.with_label_values(&[d.result]).inc();
            self.ledger.finish(d.partition, d.offset);
            self.n.commit(self.consumer, &mut self.ledger, CommitMode::Async);
        }
        self.start_next();
        self.pause_when_full();
        Ok(())
    }

    async fn tick(&mut self, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.n.revoke(self.consumer, &mut self.ledger, &mut self.queue);
        Ok(())
    }

    /// A delivery in flight is abandoned (read again after a restart, same key); what
    /// finished is committed.
    async fn finish(&mut self, _stop: &watch::Receiver<bool>) -> bool {
        self.inflight = None;
        if let Some(d) = self.done.take() {
            self.ledger.finish(d.partition, d.offset);
        }
        self.n.commit(self.consumer, &mut self.ledger, CommitMode::Sync);
        self.queue.is_empty()
    }

    fn consume_error(&self, e: &KafkaError) {
        self.n.metrics.errors.with_label_values(&["notify_consume", "kafka"]).inc();
        tracing::warn!(error = %e, "consume error");
    }
}

/// Sends `letter` to the DLQ topic (`pulse_runtime::kafka::send_dead_letter`), retried
/// with backoff (`pulse_runtime::retry::retry_until_ok`) until the broker acknowledges
/// it; `false` when stopped first.
async fn dead_letter(
    producer: &FutureProducer,
    dlq: &str,
    key: Option<&[u8]>,
    letter: &DeadLetter,
    backoff: Backoff,
    stop: watch::Receiver<bool>,
) -> bool {
    let on_failure = |_stage, e: &KafkaError, retry_in: Duration| {
        tracing::warn!(error = %e, retry_in_ms = retry_in.as_millis() as u64, "dead letter not acknowledged; retrying");
    };
    retry_until_ok("notify_dlq", backoff, &stop, on_failure, || send_dead_letter(producer, dlq, key, letter))
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_core::config::Severity;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).expect("date")
    }

    fn opened(d: u32) -> AlertTransition {
        AlertTransition {
            account_id: "acme".into(),
            rule: AlertRule::LowEngagement,
            state: AlertState::Opened,
            as_of: day(d),
            opened_on: day(d),
            severity: Severity::Warning,
            message: "low".into(),
            details: serde_json::json!({}),
            retracts: None,
            reason: None,
            seq: 1,
        }
    }

    fn message(t: &AlertTransition, notify: Option<bool>, version: Option<u64>) -> Vec<u8> {
        let mut v = serde_json::to_value(t).expect("json");
        v["alert_id"] = crate::rows::alert_id(t).into();
        if let Some(n) = notify {
            v["notify"] = n.into();
        }
        if let Some(n) = version {
            v["version"] = n.into();
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn decisions() {
        let t = opened(10);
        match decide(&message(&t, Some(true), Some(5)), day(10)) {
            Decision::Deliver(d) => {
                assert_eq!(d.transition, t);
                assert_eq!(d.key, webhook::idempotency_key(&t));
                assert_eq!(d.body["idempotency_key"], d.key.as_str());
            }
            other => panic!("{other:?}"),
        }
        // Without the scorer's fields (an older producer): delivered, the same key (a
        // re-emission of a transition is the same notification whatever its version).
        match decide(&message(&t, None, None), day(10)) {
            Decision::Deliver(d) => assert_eq!(d.key, webhook::idempotency_key(&t)),
            other => panic!("{other:?}"),
        }
        assert_eq!(decide(&message(&t, Some(false), Some(5)), day(1)), Decision::NotForNotification);
        assert_eq!(decide(&message(&t, Some(true), Some(5)), day(11)), Decision::OutsideWindow);
        assert!(matches!(decide(b"{nope", day(1)), Decision::Invalid(Reason::NotJson, _)));
        assert!(matches!(decide(b"[1]", day(1)), Decision::Invalid(Reason::NotObject, _)));
        assert!(matches!(decide(br#"{"account_id":"a"}"#, day(1)), Decision::Invalid(Reason::InvalidValue, _)));
    }

    #[test]
    fn offsets_are_committed_up_to_the_first_unfinished_message() {
        let mut l = Ledger::default();
        l.read(0, 10, false); // queued
        l.read(0, 11, true); // skipped
        l.read(0, 12, false); // queued
        l.read(1, 3, true);
        assert_eq!(l.due(), vec![(0, 10), (1, 4)]);
        l.committed(&l.due());
        assert_eq!(l.due(), vec![], "nothing moved");
        l.finish(0, 12); // finished out of order: 10 still holds the commit back
        assert_eq!(l.due(), vec![]);
        l.finish(0, 10);
        assert_eq!(l.due(), vec![(0, 13)]);
        l.committed(&l.due());
        l.forget(0);
        assert_eq!(l.due(), vec![]);
        l.read(0, 20, true);
        assert_eq!(l.due(), vec![(0, 21)]);
    }
}
