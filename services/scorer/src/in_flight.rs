//! A batch's write while the next batch is consumed and evaluated
//! (`scorer.overlap_writes`).
//!
//! The first attempt at writing a batch's outputs runs as a task; the service keeps the
//! outputs (shared with the task) and what it measures once they are written. At most
//! one write is in flight: the service settles it (awaits it, retries it with the
//! partitions paused if it failed, observes the freshness metrics) before it starts the
//! next write and before it takes any snapshot, so writes keep their order and a
//! snapshot only covers state whose outputs are written (`service`'s invariants).
//!
//! Why a task and not a future polled by the loop: the loop awaits one step at a time,
//! so a write it owned would only progress while the loop waited on it.

use std::{sync::Arc, time::Instant};

use rdkafka::producer::FutureProducer;
use tokio::task::{JoinError, JoinHandle};

use crate::outputs::{self, OutputTopics, Outputs, WriteError, Written};

/// The result of one attempt at [`outputs::write`].
pub(crate) type Attempted = Result<Written, WriteError>;

/// What a write covers, kept by the service while it is in flight.
pub(crate) struct Pending {
    /// What is written; the task holds the other reference while it runs, the retries
    /// of a failed attempt write it again from here.
    pub out: Arc<Outputs>,
    pub topics: Arc<OutputTopics>,
    /// When the write started: the insert and produce durations count from here.
    pub started: Instant,
    /// Produce times (ms) of the events the write covers, for the event-to-result
    /// histograms, observed once the write is settled.
    pub event_times: Vec<i64>,
}

/// A write started and not settled yet.
pub(crate) struct InFlight {
    pending: Pending,
    attempt: Attempt,
}

/// Its first attempt.
enum Attempt {
    Running(JoinHandle<Attempted>),
    /// Done, the result not looked at yet (a task that panicked: `Err`).
    Finished(Result<Attempted, JoinError>),
}

impl InFlight {
    /// Starts writing `out` in a task (the client and the producer are handles to
    /// shared connections: cloning them is cheap).
    pub fn spawn(
        ch: &clickhouse::Client,
        producer: &FutureProducer,
        topics: OutputTopics,
        out: Outputs,
        event_times: Vec<i64>,
    ) -> Self {
        let (out, topics) = (Arc::new(out), Arc::new(topics));
        let task = {
            let (ch, producer, out, topics) = (ch.clone(), producer.clone(), out.clone(), topics.clone());
            tokio::spawn(async move { outputs::write(&ch, &producer, &topics, &out).await })
        };
        let pending = Pending { out, topics, started: Instant::now(), event_times };
        Self { pending, attempt: Attempt::Running(task) }
    }

    /// Writes `out` once, to the end, in the caller's task (no overlap).
    pub async fn run(
        ch: &clickhouse::Client,
        producer: &FutureProducer,
        topics: OutputTopics,
        out: Outputs,
        event_times: Vec<i64>,
    ) -> Self {
        let started = Instant::now();
        let r = outputs::write(ch, producer, &topics, &out).await;
        let pending = Pending { out: Arc::new(out), topics: Arc::new(topics), started, event_times };
        Self { pending, attempt: Attempt::Finished(Ok(r)) }
    }

    /// Resolves once the first attempt has finished. Cancel-safe (the consumer loop
    /// drops it whenever something else comes first): the result is kept in the same
    /// poll that yields it.
    pub async fn finished(&mut self) {
        if let Attempt::Running(task) = &mut self.attempt {
            let r = task.await;
            self.attempt = Attempt::Finished(r);
        }
    }

    /// What the write covers and its first attempt's result, waiting for it if it still
    /// runs; `Err` when its task panicked (nothing is known of what it wrote: the write
    /// starts over).
    pub async fn outcome(self) -> (Pending, Result<Attempted, JoinError>) {
        let r = match self.attempt {
            Attempt::Running(task) => task.await,
            Attempt::Finished(r) => r,
        };
        (self.pending, r)
    }
}
