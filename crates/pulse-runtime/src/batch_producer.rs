//! A producer for batches: send many records, then wait until the broker acknowledged all
//! of them (or one failed).
//!
//! Why not rdkafka's `FutureProducer`: it makes one future, one oneshot channel and one
//! boxed delivery slot per record, and ingest then polls 20,000 of them per batch. In
//! the ingest benchmark that machinery (the futures, their wake-ups, the polling thread
//! answering each one) was about an eighth of ingest's CPU. Here a batch shares one
//! counter: each delivery report decrements it, the last one wakes the waiting task.
//!
//! A failure names the records that failed ([`BatchError::failed`]), so the caller
//! re-sends those only: one record the broker refuses never makes the rest of the batch
//! go out again (issue 19: a refused dead letter re-sent 20,000 forwarded events on
//! every retry). Failed records are recognized in the delivery report by a fingerprint
//! of (topic, key, payload), computed only when something failed; identical records
//! share it and are re-sent together, which is harmless.

use std::{
    hash::{Hash, Hasher},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::DeliveryResult,
    producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer},
    ClientContext,
};
use tokio::sync::Notify;

/// One record to send.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// Kafka timestamp in ms (default: the produce time).
    pub timestamp: Option<i64>,
}

/// Why a batch was not wholly acknowledged: every record that failed, by its index in
/// the slice given to [`BatchProducer::send_all`], with its error. The others are
/// acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} records not acknowledged, first: {}", failed.len(), first_error(failed))]
pub struct BatchError {
    pub failed: Vec<(usize, KafkaError)>,
    pub total: usize,
}

fn first_error(failed: &[(usize, KafkaError)]) -> String {
    failed.first().map(|(_, e)| e.to_string()).unwrap_or_default()
}

impl BatchError {
    /// The indexes of the failed records, ascending.
    pub fn indexes(&self) -> Vec<usize> {
        self.failed.iter().map(|(i, _)| *i).collect()
    }
}

/// Identifies a record in a delivery report without keeping a per-record slot.
fn fingerprint(topic: &str, key: Option<&[u8]>, payload: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (topic, key, payload).hash(&mut h);
    h.finish()
}

/// The delivery reports of one batch (the producer's delivery opaque).
#[derive(Default)]
pub struct Acks {
    /// Records not yet acknowledged, plus one while the batch is still being sent.
    pending: AtomicUsize,
    /// Every failure: (fingerprint of the record, error).
    errors: Mutex<Vec<(u64, KafkaError)>>,
    done: Notify,
}

impl Acks {
    fn fail(&self, fingerprint: u64, e: KafkaError) {
        let mut slot = self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.push((fingerprint, e));
    }

    fn settle_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_waiters();
        }
    }
}

/// Routes each delivery report to its batch.
pub struct AckContext;

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Arc<Acks>;

    fn delivery(&self, result: &DeliveryResult<'_>, acks: Arc<Acks>) {
        if let Err((e, m)) = result {
            use rdkafka::Message as _;
            acks.fail(fingerprint(m.topic(), m.key(), m.payload().unwrap_or(&[])), e.clone());
        }
        acks.settle_one();
    }
}

/// A batch being sent: the records [`BatchProducer::send_now`] already queued, which
/// [`BatchProducer::finish`] completes. Why: ingest forwards each event as soon as it is
/// parsed, so the scorer sees it while the rest of its batch is still being gathered
/// (issue 24 item 3); the batch is still acknowledged as a whole before its offsets are
/// committed.
pub struct Outgoing {
    acks: Arc<Acks>,
    /// How many records (a prefix of the batch) were handed to the producer or refused.
    sent: usize,
    /// Records refused before they were queued, by index.
    refused: Vec<(usize, KafkaError)>,
    /// False once the local queue was full: the rest waits for `finish`.
    open: bool,
}

impl Outgoing {
    pub fn new() -> Self {
        // One pending count for the batch itself, released by `finish`.
        Self {
            acks: Arc::new(Acks { pending: AtomicUsize::new(1), ..Acks::default() }),
            sent: 0,
            refused: Vec::new(),
            open: true,
        }
    }

    /// How many records were sent ahead of [`BatchProducer::finish`].
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Whether [`BatchProducer::send_now`] still sends (the local queue was never full).
    pub fn is_open(&self) -> bool {
        self.open
    }
}

impl Default for Outgoing {
    fn default() -> Self {
        Self::new()
    }
}

fn base_record<'a>(r: &Record<'a>, acks: &Arc<Acks>) -> BaseRecord<'a, [u8], [u8], Arc<Acks>> {
    let mut rec = BaseRecord::with_opaque_to(r.topic, acks.clone()).payload(r.payload);
    if let Some(k) = r.key {
        rec = rec.key(k);
    }
    if let Some(ts) = r.timestamp {
        rec = rec.timestamp(ts);
    }
    rec
}

/// A Kafka producer that acknowledges whole batches. Cheap to clone.
#[derive(Clone)]
pub struct BatchProducer {
    inner: Arc<ThreadedProducer<AckContext>>,
}

impl BatchProducer {
    pub(crate) fn new(inner: ThreadedProducer<AckContext>) -> Self {
        Self { inner: Arc::new(inner) }
    }

    /// Sends every record and waits for every acknowledgement. On `Err` the error names
    /// the records that failed; every other record is acknowledged (the caller re-sends
    /// the failed ones only).
    /// A record the local queue has no room for waits until there is (at most
    /// `queue_timeout`); each record is acknowledged or failed within the producer's
    /// `message.timeout.ms`, so this always ends.
    pub async fn send_all(&self, records: &[Record<'_>], queue_timeout: Duration) -> Result<(), BatchError> {
        self.finish(Outgoing::new(), records, queue_timeout).await
    }

    /// Sends `r`, the next record of the batch `out`, right away if the local queue has
    /// room for it: it goes out while the rest of the batch is still being gathered.
    /// Records must be sent in the order of the slice [`BatchProducer::finish`] gets; the
    /// first one that finds the queue full (and every later one) is left to `finish`,
    /// which waits for room. Never blocks.
    pub fn send_now(&self, out: &mut Outgoing, r: &Record<'_>) {
        if !out.open {
            return;
        }
        out.acks.pending.fetch_add(1, Ordering::AcqRel);
        match self.inner.send(base_record(r, &out.acks)) {
            Ok(()) => out.sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                out.acks.pending.fetch_sub(1, Ordering::AcqRel);
                out.open = false;
            }
            Err((e, _)) => {
                // Refused before it was queued (e.g. over message.max.bytes).
                out.acks.pending.fetch_sub(1, Ordering::AcqRel);
                out.refused.push((out.sent, e));
                out.sent += 1;
            }
        }
    }

    /// Sends the records of `records` that [`BatchProducer::send_now`] did not send yet
    /// (it sent a prefix) and waits for every acknowledgement of the batch: as
    /// [`BatchProducer::send_all`], with failures indexed in `records`.
    pub async fn finish(
        &self,
        out: Outgoing,
        records: &[Record<'_>],
        queue_timeout: Duration,
    ) -> Result<(), BatchError> {
        let Outgoing { acks, sent, mut refused, .. } = out;
        for (i, r) in records.iter().enumerate().skip(sent) {
            let mut rec = base_record(r, &acks);
            acks.pending.fetch_add(1, Ordering::AcqRel);
            let deadline = tokio::time::Instant::now() + queue_timeout;
            loop {
                match self.inner.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if tokio::time::Instant::now() < deadline =>
                    {
                        // The producer's thread drains the queue as the broker acknowledges.
                        rec = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => {
                        // Refused before it was queued (e.g. over message.max.bytes):
                        // the others still go.
                        acks.pending.fetch_sub(1, Ordering::AcqRel);
                        refused.push((i, e));
                        break;
                    }
                }
            }
        }
        acks.settle_one();
        loop {
            let done = acks.done.notified();
            if acks.pending.load(Ordering::Acquire) == 0 {
                break;
            }
            done.await;
        }
        let errors = std::mem::take(&mut *acks.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if !errors.is_empty() {
            for (i, r) in records.iter().enumerate() {
                let fp = fingerprint(r.topic, r.key, r.payload);
                if let Some((_, e)) = errors.iter().find(|(f, _)| *f == fp) {
                    refused.push((i, e.clone()));
                }
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        refused.sort_by_key(|(i, _)| *i);
        refused.dedup_by_key(|(i, _)| *i);
        Err(BatchError { failed: refused, total: records.len() })
    }

    /// Waits up to `timeout` for everything queued to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
