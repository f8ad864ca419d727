//! Recent event ids: what makes a retried request produce nothing twice.
//!
//! SDKs re-send a batch whenever they got no 200: after a 503 (broker outage), after a
//! timeout, after a lost connection. Two things would then put a second copy of an event
//! on the topic (stored as an extra row until ClickHouse merges it away):
//! - the first request *was* acknowledged, only its answer did not arrive;
//! - the first request was answered 503 while its records were still queued in the
//!   producer (the broker was down); they are delivered once the broker is back, up to
//!   `message.timeout.ms` later, and the retry would queue them again.
//!
//! So each `event_id` the collector produces is claimed here first. A claimed id is
//! *in flight* until the broker settles its record, then *acknowledged* (kept for
//! `collect.dedup_window_secs`, at most `collect.dedup_max_ids` of them) or *released*
//! (the broker failed it: a retry produces it anew). A call whose id is acknowledged is
//! answered without producing; one whose id is in flight waits for that flight (within
//! the request's ack timeout) instead of queueing a copy.
//!
//! Ids are kept as a 128-bit keyed hash (SipHash under two random keys of this process,
//! so no sender can craft a collision with another's ids): about 80 bytes an id, 40 MB
//! at the default bound of 500,000.
//!
//! This is per collector process: retries that reach another replica are deduplicated
//! downstream as before (same `event_id`, `FINAL`). Only ids of events that are
//! forwarded are claimed; dead letters are a log and never deduplicated.

use std::{
    collections::{hash_map::RandomState, HashMap, VecDeque},
    hash::BuildHasher,
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::sync::watch;

/// A flight: one request's records, settled when the broker settled all of them.
pub type Flight = watch::Receiver<bool>;

enum Slot {
    InFlight(Flight),
    /// Acknowledged at this instant (its entry in the eviction queue).
    Acked(Instant),
}

/// What [`Recent::claim`] decided for one id.
pub enum Claim {
    /// Not known: produce it (it is now in flight under the caller's flight).
    Produce,
    /// Acknowledged by the broker before: answer without producing.
    Acked,
    /// Another request's records hold it: wait for that flight, then ask [`Recent::acked`].
    Wait(Flight),
}

/// An id as it is kept: see [`Recent::key`].
pub type Key = u128;

struct Inner {
    slots: HashMap<Key, Slot>,
    /// Acknowledged ids, oldest first (an id acknowledged twice appears twice; only the
    /// entry matching its slot's instant evicts it).
    order: VecDeque<(Instant, Key)>,
}

/// The table of recent ids, shared by every request of a collector.
pub struct Recent {
    inner: Mutex<Inner>,
    window: Duration,
    max_ids: usize,
    hashers: (RandomState, RandomState),
}

impl Recent {
    /// Remembers acknowledged ids for `window`, at most `max_ids` of them (oldest
    /// forgotten first). `max_ids` 0 turns deduplication off.
    pub fn new(window: Duration, max_ids: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { slots: HashMap::new(), order: VecDeque::new() }),
            window,
            max_ids,
            hashers: (RandomState::new(), RandomState::new()),
        }
    }

    /// The key of `event_id` on topic `topic` (the same id on two topics is two events).
    pub fn key(&self, topic: usize, event_id: &str) -> Key {
        let (a, b) = (self.hashers.0.hash_one((topic, event_id)), self.hashers.1.hash_one((topic, event_id)));
        (u128::from(a) << 64) | u128::from(b)
    }

    pub fn enabled(&self) -> bool {
        self.max_ids > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides, for each of `ids` at once, whether the caller produces it; ids to produce
    /// become in flight under `flight`. An id repeated within `ids` is produced once.
    pub fn claim(&self, ids: &[Key], flight: &Flight, now: Instant) -> Vec<Claim> {
        if !self.enabled() {
            return ids.iter().map(|_| Claim::Produce).collect();
        }
        let mut inner = self.lock();
        self.evict(&mut inner, now);
        ids.iter()
            .map(|id| match inner.slots.get(id) {
                Some(Slot::Acked(_)) => Claim::Acked,
                Some(Slot::InFlight(f)) if f.same_channel(flight) => Claim::Acked,
                // A flight that ended without settling (its task died): produce anew.
                Some(Slot::InFlight(f)) if f.has_changed().is_err() && !*f.borrow() => {
                    inner.slots.insert(*id, Slot::InFlight(flight.clone()));
                    Claim::Produce
                }
                Some(Slot::InFlight(f)) => Claim::Wait(f.clone()),
                None => {
                    inner.slots.insert(*id, Slot::InFlight(flight.clone()));
                    Claim::Produce
                }
            })
            .collect()
    }

    /// Settles the ids a flight produced: `acked[i]` says whether the broker
    /// acknowledged `ids[i]` (else it is released for a retry to produce).
    pub fn settle(&self, ids: &[Key], acked: &[bool], now: Instant) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        for (id, ok) in ids.iter().zip(acked) {
            if *ok {
                inner.slots.insert(*id, Slot::Acked(now));
                inner.order.push_back((now, *id));
            } else {
                inner.slots.remove(id);
            }
        }
        self.evict(&mut inner, now);
    }

    /// Whether `id` is acknowledged (after waiting for the flight that held it).
    pub fn acked(&self, id: Key) -> bool {
        matches!(self.lock().slots.get(&id), Some(Slot::Acked(_)))
    }

    /// Ids remembered (in flight or acknowledged).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(&self, inner: &mut Inner, now: Instant) {
        while let Some((at, _)) = inner.order.front() {
            let expired = now.saturating_duration_since(*at) > self.window;
            if !expired && inner.order.len() <= self.max_ids {
                break;
            }
            let Some((at, id)) = inner.order.pop_front() else { break };
            if matches!(inner.slots.get(&id), Some(Slot::Acked(t)) if *t == at) {
                inner.slots.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight() -> (watch::Sender<bool>, Flight) {
        watch::channel(false)
    }

    fn kinds(c: &[Claim]) -> Vec<&'static str> {
        c.iter()
            .map(|c| match c {
                Claim::Produce => "produce",
                Claim::Acked => "acked",
                Claim::Wait(_) => "wait",
            })
            .collect()
    }

    #[test]
    fn an_id_is_produced_once_then_waited_for_then_acknowledged() {
        let r = Recent::new(Duration::from_secs(60), 100);
        let [x, y, z] = ["x", "y", "z"].map(|id| r.key(0, id));
        assert_ne!(r.key(0, "x"), r.key(1, "x"), "the same id on another topic is another event");
        let t = Instant::now();
        let (_a, fa) = flight();
        let (_b, fb) = flight();
        assert_eq!(kinds(&r.claim(&[x, y, x], &fa, t)), ["produce", "produce", "acked"]);
        assert_eq!(kinds(&r.claim(&[x, z], &fb, t)), ["wait", "produce"]);
        r.settle(&[x, y], &[true, false], t);
        assert!(r.acked(x) && !r.acked(y));
        let (_c, fc) = flight();
        assert_eq!(kinds(&r.claim(&[x, y], &fc, t)), ["acked", "produce"], "a failed id is produced again");
    }

    #[test]
    fn acknowledged_ids_are_forgotten_after_the_window_or_over_the_bound() {
        let r = Recent::new(Duration::from_secs(10), 2);
        let [a, b, c] = ["a", "b", "c"].map(|id| r.key(0, id));
        let t = Instant::now();
        let (_a, fa) = flight();
        r.claim(&[a, b, c], &fa, t);
        r.settle(&[a, b, c], &[true; 3], t);
        assert_eq!((r.acked(a), r.acked(b), r.acked(c)), (false, true, true), "oldest over the bound");
        let later = t + Duration::from_secs(11);
        let (_b, fb) = flight();
        assert_eq!(kinds(&r.claim(&[b], &fb, later)), ["produce"], "past the window");
        assert_eq!(r.len(), 1, "only the new flight remains");
    }

    #[test]
    fn a_flight_that_never_settled_is_produced_anew() {
        let r = Recent::new(Duration::from_secs(60), 100);
        let x = r.key(0, "x");
        let (gone, fa) = flight();
        r.claim(&[x], &fa, Instant::now());
        drop(gone);
        let (_b, fb) = flight();
        assert_eq!(kinds(&r.claim(&[x], &fb, Instant::now())), ["produce"]);
    }

    #[test]
    fn off_when_no_ids_are_kept() {
        let r = Recent::new(Duration::from_secs(10), 0);
        let a = r.key(0, "a");
        let (_a, fa) = flight();
        assert_eq!(kinds(&r.claim(&[a, a], &fa, Instant::now())), ["produce", "produce"]);
        assert!(r.is_empty());
    }
}
