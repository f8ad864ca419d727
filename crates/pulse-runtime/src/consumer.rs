//! One batching-consumer loop for the services that read Kafka in batches (ingest, the
//! scorer): poll, batch, flush when the batch is full or has waited long enough, a
//! once-a-second tick for housekeeping, the group-rejoin watchdog, the poll-gap
//! histogram, and a graceful stop with a bounded final flush.
//!
//! What is service-specific stays in the service, behind [`Batcher`]: what a message adds
//! to the batch, how a batch is made durable and which offsets that covers (ingest
//! commits after its inserts and produces are acknowledged; the scorer after a snapshot),
//! what the tick does. Retries with consumption paused are `crate::retry`'s, called from
//! inside those steps, so every service pauses, backs off and reports readiness the same
//! way.
//!
//! Why one loop: the two copies this replaces had drifted. The watchdog that works around
//! a group coordinator dropping a crashed member without a rebalance (seen with the
//! development broker) existed only in the scorer, so a SIGKILLed ingest replaced by a
//! new one sat idle with its partitions unassigned.

use std::time::Duration;

use prometheus::{Histogram, IntCounter};
use rdkafka::{
    consumer::{Consumer, ConsumerContext, StreamConsumer},
    error::KafkaError,
    message::{BorrowedMessage, OwnedMessage},
};
use tokio::{sync::watch, time::Instant};

use crate::retry::{stopped, Stopped};

/// Why a step of a [`Batcher`] did not complete.
#[derive(Debug)]
pub enum Halt<F> {
    /// The service is stopping; what the step covered stays uncommitted (read again
    /// after the restart).
    Stopped,
    /// Permanent: the loop ends and [`run`] returns this error.
    Fatal(F),
}

impl<F> From<Stopped> for Halt<F> {
    fn from(_: Stopped) -> Self {
        Halt::Stopped
    }
}

/// A step's result.
pub type Step<F> = Result<(), Halt<F>>;

/// A service's decisions inside the shared loop. Each step gets the stop signal for the
/// retries it runs (`crate::retry::retry_paused` ends them when it is set).
// Only this workspace's services implement it, on concrete types the caller spawns, so
// the futures' `Send` is checked where it matters.
#[allow(async_fn_in_trait)]
pub trait Batcher {
    /// A permanent failure that ends the service (e.g. ClickHouse refusing the setup).
    type Fatal;

    /// A message arrived: add it to the pending batch.
    async fn add(&mut self, m: OwnedMessage, stop: &watch::Receiver<bool>) -> Step<Self::Fatal>;

    /// A message arrived, still borrowed from the consumer: [`Batcher::add`] of a copy,
    /// by default. A batcher that only reads the message overrides it and skips the
    /// copy (`detach` copies the payload, the key and the topic and makes librdkafka
    /// parse the headers: about 5% of ingest's CPU per event, issue 24 item 4).
    async fn add_borrowed(&mut self, m: &BorrowedMessage<'_>, stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        self.add(m.detach(), stop).await
    }

    /// When the pending batch got its first message; `None` while it is empty.
    fn started(&self) -> Option<Instant>;

    /// Whether the pending batch must be flushed now (size limits).
    fn full(&self) -> bool;

    /// Makes the pending batch durable and commits what it covers, or starts doing so in
    /// the background (then [`Batcher::ready`] and [`Batcher::settle`] finish it, while
    /// the loop goes on consuming the next batch).
    async fn flush(&mut self, stop: &watch::Receiver<bool>) -> Step<Self::Fatal>;

    /// Resolves when work the batcher runs in the background (ingest's overlapped write
    /// of the previous batch) has finished and must be settled by [`Batcher::settle`]
    /// (retries, commit). Never, by default. Must be cancel-safe: the loop drops it
    /// whenever another event comes first.
    async fn ready(&mut self) {
        std::future::pending::<()>().await;
    }

    /// Settles what [`Batcher::ready`] reported finished. Nothing by default.
    async fn settle(&mut self, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        Ok(())
    }

    /// Housekeeping, once per [`LoopSettings::tick`] (rebalance notices, snapshots, daily
    /// work). Nothing by default.
    async fn tick(&mut self, _stop: &watch::Receiver<bool>) -> Step<Self::Fatal> {
        Ok(())
    }

    /// After the loop ended by a stop signal between steps: the last flush and commit. It runs under
    /// [`LoopSettings::grace`] with a stop signal that never fires (the one that ended the
    /// loop would cut its retries short). Returns whether everything held was made durable
    /// and committed.
    async fn finish(&mut self, stop: &watch::Receiver<bool>) -> bool;

    /// A consume error (counted and logged by the service; the loop goes on: librdkafka
    /// recovers from them by itself).
    fn consume_error(&self, e: &KafkaError);
}

/// The loop's timing.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// A batch is flushed at the latest this long after its first message.
    pub max_wait: Duration,
    /// Interval of [`Batcher::tick`] and of the watchdog's check.
    pub tick: Duration,
    /// Bound on the final [`Batcher::finish`].
    pub grace: Duration,
    /// Rejoin the group after holding no partition this long (see [`RejoinWatchdog`]).
    /// 0 disables it.
    pub rejoin_when_idle_secs: u64,
    /// What the consumer is subscribed to (to subscribe again on a rejoin).
    pub topics: Vec<String>,
}

/// The loop's instruments, registered by the service under its own names.
#[derive(Clone)]
pub struct LoopMetrics {
    /// Time from each wake-up of the loop to its next wait: how long the consumer went
    /// without being polled (`max.poll.interval.ms` bounds it).
    pub poll_gap: Histogram,
    /// Rejoins by the watchdog.
    pub rejoins: IntCounter,
}

/// How [`run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Stopped, and the final flush committed everything.
    Clean,
    /// Stopped with something uncommitted (read again after the restart).
    Uncommitted,
}

/// Runs `batcher` over `consumer` until `stop` is set between steps (then
/// [`Batcher::finish`] within the grace period), a step is stopped midway or fails
/// permanently (then no final flush: what was not committed is read again by the next
/// owner).
pub async fn run<B, C>(
    consumer: &StreamConsumer<C>,
    batcher: &mut B,
    settings: &LoopSettings,
    metrics: &LoopMetrics,
    stop: watch::Receiver<bool>,
) -> Result<Ended, B::Fatal>
where
    B: Batcher,
    C: ConsumerContext + 'static,
{
    let mut stop_rx = stop.clone();
    // Pinned once, like the flush timer: a new `wait_for` per message was about 1% of
    // ingest's CPU.
    let stop_signal = stopped(&mut stop_rx);
    tokio::pin!(stop_signal);
    let mut tick = tokio::time::interval(settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watchdog = RejoinWatchdog::new(settings.rejoin_when_idle_secs);
    let mut woke: Option<Instant> = None;
    // One timer for the batch deadline, reset only when the deadline changes: a new
    // `sleep_until` per message registered and dropped a timer entry each time (about 3%
    // of ingest's CPU per event).
    let flush_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(flush_timer);
    let mut armed: Option<Instant> = None;
    let ended: Result<(), Halt<B::Fatal>> = loop {
        if let Some(w) = woke.take() {
            metrics.poll_gap.observe(w.elapsed().as_secs_f64());
        }
        let deadline = batcher.started().map(|s| s + settings.max_wait);
        if let Some(d) = deadline {
            if armed != Some(d) {
                flush_timer.as_mut().reset(d);
                armed = Some(d);
            }
        }
        let step = tokio::select! {
            biased;
            () = &mut stop_signal => break Ok(()),
            () = batcher.ready() => {
                woke = Some(Instant::now());
                batcher.settle(&stop).await
            }
            () = &mut flush_timer, if deadline.is_some() => {
                woke = Some(Instant::now());
                armed = None;
                batcher.flush(&stop).await
            }
            _ = tick.tick() => {
                woke = Some(Instant::now());
                let held = consumer.assignment().map(|a| a.count()).unwrap_or(0);
                if watchdog.due(held, std::time::Instant::now()) {
                    rejoin(consumer, &settings.topics, metrics);
                }
                batcher.tick(&stop).await
            }
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    woke = Some(Instant::now());
                    match batcher.add_borrowed(&m, &stop).await {
                        Ok(()) if batcher.full() => batcher.flush(&stop).await,
                        other => other,
                    }
                }
                Err(e) => {
                    batcher.consume_error(&e);
                    Ok(())
                }
            },
        };
        if let Err(halt) = step {
            break Err(halt);
        }
    };
    match ended {
        Ok(()) => {
            let (_never_tx, never) = watch::channel(false);
            let clean = tokio::time::timeout(settings.grace, batcher.finish(&never)).await.unwrap_or(false);
            Ok(if clean { Ended::Clean } else { Ended::Uncommitted })
        }
        // Stopped inside a step (e.g. while retrying a write): that step's batch is half
        // taken apart, so no final flush (it could commit offsets whose outputs were never
        // written); it is read again after the restart.
        Err(Halt::Stopped) => Ok(Ended::Uncommitted),
        Err(Halt::Fatal(f)) => Err(f),
    }
}

/// Leaves the group and joins it again: the coordinator then runs a rebalance.
fn rejoin<C: ConsumerContext + 'static>(consumer: &StreamConsumer<C>, topics: &[String], metrics: &LoopMetrics) {
    tracing::warn!("no partition held: rejoining the consumer group");
    metrics.rejoins.inc();
    consumer.unsubscribe();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    if let Err(e) = consumer.subscribe(&topics) {
        tracing::warn!(error = %e, "resubscribe failed");
    }
}

/// When to rejoin the group while holding no partition: after `rejoin_when_idle_secs`,
/// five times at that interval (a crashed member may take a session timeout to expire),
/// then doubling up to 10 minutes while still idle. 0 = never.
///
/// Why: a group coordinator that drops a crashed member without starting a rebalance
/// (seen with the development broker) leaves the survivors, or the crashed process's
/// replacement, idle forever; leaving and joining again makes it rebalance.
#[derive(Debug)]
pub struct RejoinWatchdog {
    every: Duration,
    after: Duration,
    since: Option<std::time::Instant>,
    rejoins: u32,
}

impl RejoinWatchdog {
    pub fn new(secs: u64) -> Self {
        let every = Duration::from_secs(secs);
        Self { every, after: every, since: None, rejoins: 0 }
    }

    /// Whether to rejoin now, holding `held` partitions at `now`.
    pub fn due(&mut self, held: usize, now: std::time::Instant) -> bool {
        if self.every.is_zero() || held > 0 {
            *self = Self::new(self.every.as_secs());
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) < self.after {
            return false;
        }
        self.since = Some(now);
        self.rejoins += 1;
        if self.rejoins >= 5 {
            self.after = (self.after * 2).min(Duration::from_secs(600));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_consumer_rejoins_then_backs_off() {
        let t0 = std::time::Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut w = RejoinWatchdog::new(10);
        assert!(!w.due(0, s(0)), "idle only from now");
        assert!(!w.due(0, s(9)));
        assert!(w.due(0, s(10)), "idle for the interval");
        assert!(!w.due(0, s(15)));
        // Five rejoins at the interval, then the delay doubles.
        for k in 2..=5 {
            assert!(w.due(0, s(10 * k)), "rejoin {k}");
        }
        assert!(!w.due(0, s(60)), "the sixth waits 20 s");
        assert!(w.due(0, s(70)));
        // Holding a partition resets it.
        assert!(!w.due(1, s(71)));
        assert!(!w.due(0, s(72)));
        assert!(w.due(0, s(82)));
    }

    #[test]
    fn zero_disables_the_watchdog() {
        let t0 = std::time::Instant::now();
        let mut w = RejoinWatchdog::new(0);
        for n in 0..2_000 {
            assert!(!w.due(0, t0 + Duration::from_secs(n)));
        }
    }
}
