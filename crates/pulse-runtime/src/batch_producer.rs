//! A producer for batches: send many records, then wait until the broker acknowledged all
//! of them (or one failed).
//!
//! Why not rdkafka's `FutureProducer`: it makes one future, one oneshot channel and one
//! boxed delivery slot per record, and ingest then polls 20,000 of them per batch. In
//! the ingest benchmark that machinery (the futures, their wake-ups, the polling thread
//! answering each one) was about an eighth of ingest's CPU. Here a batch shares one
//! counter: each delivery report decrements it, the last one wakes the waiting task.

use std::{
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

/// The delivery reports of one batch (the producer's delivery opaque).
#[derive(Default)]
pub struct Acks {
    /// Records not yet acknowledged, plus one while the batch is still being sent.
    pending: AtomicUsize,
    /// The first failure.
    error: Mutex<Option<KafkaError>>,
    done: Notify,
}

impl Acks {
    fn fail(&self, e: KafkaError) {
        let mut slot = self.error.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert(e);
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
        if let Err((e, _)) = result {
            acks.fail(e.clone());
        }
        acks.settle_one();
    }
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

    /// Sends every record and waits for every acknowledgement. All-or-nothing from the
    /// caller's view: on `Err` some records may have been written (the caller sends the
    /// whole batch again; duplicates downstream are harmless, a gap would not be).
    /// A record the local queue has no room for waits until there is (at most
    /// `queue_timeout`); each record is acknowledged or failed within the producer's
    /// `message.timeout.ms`, so this always ends.
    pub async fn send_all<'a>(
        &self,
        records: impl IntoIterator<Item = Record<'a>>,
        queue_timeout: Duration,
    ) -> Result<(), KafkaError> {
        let acks = Arc::new(Acks { pending: AtomicUsize::new(1), ..Acks::default() });
        let mut sent = Ok(());
        'records: for r in records {
            let mut rec = BaseRecord::with_opaque_to(r.topic, acks.clone()).payload(r.payload);
            if let Some(k) = r.key {
                rec = rec.key(k);
            }
            if let Some(ts) = r.timestamp {
                rec = rec.timestamp(ts);
            }
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
                        acks.pending.fetch_sub(1, Ordering::AcqRel);
                        sent = Err(e);
                        break 'records;
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
        sent?;
        let failed = acks.error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        failed.map_or(Ok(()), Err)
    }

    /// Waits up to `timeout` for everything queued to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
