//! Retry a write until it succeeds, pausing consumption meanwhile.
//!
//! Used by every consuming service for its outputs: nothing is dropped, memory stays
//! bounded (the partitions are paused, so no new batch builds up), and the consumer keeps
//! being polled so it stays in its group. Anything already fetched that still arrives is
//! held for the next batch (its offset is past the batch being written, so nothing is
//! skipped or repeated). Partitions assigned while it retries (a rebalance during an
//! outage) are paused as soon as they are seen, so they do not fill memory either; on
//! success the current assignment is resumed.

use std::{fmt::Display, future::Future, time::Duration};

use rdkafka::{
    consumer::{Consumer, ConsumerContext, StreamConsumer},
    message::OwnedMessage,
    TopicPartitionList,
};
use tokio::sync::watch;

/// Exponential backoff bounds.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay after `delay`: doubled, at most `max`.
    pub fn next(&self, delay: Duration) -> Duration {
        (delay * 2).min(self.max)
    }
}

/// Runs `op` until it succeeds or `stop` is set, backing off between attempts, without
/// touching a consumer: for work that runs beside the poll loop (the notifier's dead
/// letters), where the loop keeps polling and bounds memory itself.
pub async fn retry_until_ok<T, E, F, Fut>(
    stage: &'static str,
    backoff: Backoff,
    stop: &watch::Receiver<bool>,
    mut on_failure: impl FnMut(&'static str, &E, Duration),
    mut op: F,
) -> Result<T, Stopped>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = backoff.initial;
    let mut stop = stop.clone();
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => on_failure(stage, &e, delay),
        }
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return Err(Stopped),
            () = tokio::time::sleep(delay) => {}
        }
        delay = backoff.next(delay);
    }
}

/// The service is stopping: the retry gave up without success.
#[derive(Debug)]
pub struct Stopped;

/// What happened, for the caller's metrics, logs and readiness.
pub enum RetryEvent<'a> {
    Failed { stage: &'static str, error: &'a dyn Display, retry_in: Duration },
    Paused,
    Resumed { stage: &'static str },
}

/// Resolves once the stop flag is set (the guard of `wait_for` never crosses an await).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `op` until it succeeds or `stop` is set.
pub async fn retry_paused<C, T, E, F, Fut>(
    stage: &'static str,
    backoff: Backoff,
    consumer: &StreamConsumer<C>,
    held: &mut Vec<OwnedMessage>,
    stop: &watch::Receiver<bool>,
    mut on_event: impl FnMut(RetryEvent<'_>),
    mut op: F,
) -> Result<T, Stopped>
where
    C: ConsumerContext + 'static,
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = backoff.initial;
    let mut paused: Option<TopicPartitionList> = None;
    let mut stop = stop.clone();
    loop {
        match op().await {
            Ok(v) => {
                if let Some(tpl) = paused.take() {
                    // What it holds now: partitions revoked meanwhile are not its to resume.
                    let tpl = consumer.assignment().unwrap_or(tpl);
                    if let Err(e) = consumer.resume(&tpl) {
                        tracing::warn!(error = %e, "resume failed");
                    }
                    on_event(RetryEvent::Resumed { stage });
                }
                return Ok(v);
            }
            Err(e) => {
                on_event(RetryEvent::Failed { stage, error: &e, retry_in: delay });
                if paused.is_none() {
                    if let Ok(tpl) = consumer.assignment() {
                        if let Err(e) = consumer.pause(&tpl) {
                            tracing::warn!(error = %e, "pause failed");
                        }
                        paused = Some(tpl);
                    }
                    on_event(RetryEvent::Paused);
                }
                // The operation may have changed the assignment (or a rebalance did it
                // in the last poll): pause what is new before polling again.
                pause_new(consumer, &mut paused);
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        biased;
                        () = stopped(&mut stop) => return Err(Stopped),
                        () = &mut sleep => break,
                        m = consumer.recv() => if let Ok(m) = m { held.push(m.detach()) },
                    }
                    // A rebalance runs inside `recv`: pause what it assigned.
                    pause_new(consumer, &mut paused);
                }
                delay = backoff.next(delay);
            }
        }
    }
}

/// Pauses the partitions assigned since `paused` was taken and adds them to it.
fn pause_new<C: ConsumerContext + 'static>(consumer: &StreamConsumer<C>, paused: &mut Option<TopicPartitionList>) {
    let (Some(tpl), Ok(now)) = (paused.as_mut(), consumer.assignment()) else { return };
    let mut new = TopicPartitionList::new();
    for e in now.elements() {
        if tpl.find_partition(e.topic(), e.partition()).is_none() {
            new.add_partition(e.topic(), e.partition());
        }
    }
    if new.count() == 0 {
        return;
    }
    match consumer.pause(&new) {
        Ok(()) => {
            tracing::info!(partitions = new.count(), "partitions assigned while writes are retried: paused");
            for e in new.elements() {
                tpl.add_partition(e.topic(), e.partition());
            }
        }
        Err(e) => tracing::warn!(error = %e, "pause of newly assigned partitions failed"),
    }
}

/// The standard reaction of a service to retry events: count the failure under
/// `errors{stage, error_type="write_failed"}`, log it, and mirror the pause in the
/// `paused` gauge and in readiness (`/readyz` fails while writes are refused).
pub fn observe(
    ev: RetryEvent<'_>,
    errors: &prometheus::IntCounterVec,
    paused: &prometheus::IntGauge,
    ready: &crate::http::Readiness,
) {
    match ev {
        RetryEvent::Failed { stage, error, retry_in } => {
            errors.with_label_values(&[stage, "write_failed"]).inc();
            tracing::warn!(stage, error = %error, retry_in_ms = retry_in.as_millis() as u64, "write failed, retrying");
        }
        RetryEvent::Paused => {
            paused.set(1);
            ready.set(false);
        }
        RetryEvent::Resumed { stage } => {
            paused.set(0);
            ready.set(true);
            tracing::info!(stage, "writes succeed again; consumption resumed");
        }
    }
}
