//! Notifications for the present (SPEC §5): which alert transitions go to the webhook,
//! and when. Pure bookkeeping, no I/O and no clock: the service passes lags, event ages,
//! instants and transitions in.
//!
//! While a partition of the events topic is catching up (a backlog forwarded by ingest,
//! the log replayed after a restart's snapshot, a partition taken over in a rebalance),
//! the transitions derived for the notify window come from partial data, and the next
//! batch may withdraw them (the alert tracker re-derives from the earliest changed day
//! and emits `retracted`). A CSM paged for an alert withdrawn seconds later stops
//! trusting alerts. So, per partition:
//!
//! - a [`Gate`] says whether the partition is caught up: closed while more than
//!   `max_lag` of its messages are not applied, or while the events it applies are old
//!   (a backlog delivered at the broker's pace looks like live traffic by lag alone), and
//!   open again only after it stayed caught up for `settle` (a backlog reaches the events
//!   topic in ingest's batches, with pauses between them);
//! - [`Held`] keeps the transitions not yet sent while the gate is closed. A retraction of
//!   a held transition removes it and is not sent either (nobody heard of it); a
//!   retraction of a transition already sent is itself held and sent. When the gate opens,
//!   what is held goes out in the order it was derived.
//!
//! Held transitions live in memory only: on a rebalance they are dropped with the
//! partition (the new owner restores and replays, and holds what it derives while it
//! catches up), and a crash loses them. That is at most once for held notifications, the
//! same guarantee webhook delivery gives today (best effort, dead-lettered on failure).

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use pulse_core::{alerts::TransitionKind, AlertRule, AlertState, AlertTransition};

/// Most transitions held per partition; more are dropped (and counted).
pub const MAX_HELD_PER_PARTITION: usize = 10_000;

/// When a partition counts as caught up.
#[derive(Debug, Clone, Copy)]
pub struct GateConfig {
    /// Messages of the partition not yet applied (high watermark minus the state's next
    /// offset) above which it is catching up.
    pub max_lag: i64,
    /// Seconds: a batch whose newest event is older than this (event time against the
    /// scorer's clock) is history being caught up. 0 = lag only.
    pub max_event_age_secs: i64,
    /// How long a partition must stay caught up before held transitions go out.
    pub settle: Duration,
}

/// Why a partition counts as catching up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// This many messages not yet applied.
    Lag(i64),
    /// The high watermark is not known yet (no fetch response since the assignment).
    UnknownLag,
    /// The newest event of the last batch is this many seconds old.
    OldEvents(i64),
}

/// What one check of a partition saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Messages not yet applied; `None` when the high watermark is not known.
    pub lag: Option<i64>,
    /// Age (seconds) of the newest event applied since the previous check; `None` when
    /// none was.
    pub newest_event_age_secs: Option<i64>,
}

/// A change of a partition's gate, to be logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    CaughtUp { lag: i64 },
    CatchingUp(Behind),
}

/// Whether a partition's transitions may be sent now. Starts closed: a partition just
/// assigned is restored from a snapshot and replays the log after it first.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    open: bool,
    /// Since when every check found the partition caught up.
    caught_up_since: Option<Instant>,
}

impl Gate {
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Records a check at `now`; returns the change, if the gate opened or closed.
    pub fn observe(&mut self, cfg: &GateConfig, obs: Observation, now: Instant) -> Option<Change> {
        let behind = match obs.lag {
            None => Some(Behind::UnknownLag),
            Some(lag) if lag > cfg.max_lag => Some(Behind::Lag(lag)),
            Some(_) => None,
        }
        .or(match obs.newest_event_age_secs {
            Some(age) if cfg.max_event_age_secs > 0 && age > cfg.max_event_age_secs => Some(Behind::OldEvents(age)),
            _ => None,
        });
        match (behind, obs.lag) {
            (Some(why), _) => {
                self.caught_up_since = None;
                let was_open = std::mem::replace(&mut self.open, false);
                was_open.then_some(Change::CatchingUp(why))
            }
            (None, lag) => {
                let since = *self.caught_up_since.get_or_insert(now);
                if !self.open && now.saturating_duration_since(since) >= cfg.settle {
                    self.open = true;
                    return Some(Change::CaughtUp { lag: lag.unwrap_or(0) });
                }
                None
            }
        }
    }
}

/// What [`Held::hold`] did with a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Kept, to be sent when the partition is caught up.
    Held,
    /// It replaced a held transition with the same identity (re-derived with other
    /// numbers); its place in the order is kept.
    Replaced,
    /// A retraction of this held transition: both are gone, neither is sent.
    Withdrawn(AlertTransition),
    /// Over [`MAX_HELD_PER_PARTITION`]: not kept, never sent.
    Dropped(AlertTransition),
}

/// A transition's identity: account, rule, the alert's opening day, which transition of
/// the alert and its day, and whether it is the retraction of that transition.
type Id = (String, AlertRule, NaiveDate, TransitionKind, NaiveDate, bool);

fn id(t: &AlertTransition) -> Id {
    (t.account_id.clone(), t.rule, t.opened_on, t.transition(), t.as_of, t.state == AlertState::Retracted)
}

/// The transitions of one partition derived but not yet sent, in the order derived.
#[derive(Debug, Clone)]
pub struct Held {
    cap: usize,
    next: u64,
    order: BTreeMap<u64, AlertTransition>,
    index: HashMap<Id, u64>,
}

impl Default for Held {
    fn default() -> Self {
        Self::with_capacity(MAX_HELD_PER_PARTITION)
    }
}

impl Held {
    pub fn with_capacity(cap: usize) -> Self {
        Self { cap, next: 0, order: BTreeMap::new(), index: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Keeps `t` until [`Held::take`], unless it withdraws a held transition.
    pub fn hold(&mut self, t: AlertTransition) -> Hold {
        if t.state == AlertState::Retracted {
            let (account, rule, opened_on, kind, as_of, _) = id(&t);
            if let Some(seq) = self.index.remove(&(account, rule, opened_on, kind, as_of, false)) {
                if let Some(held) = self.order.remove(&seq) {
                    return Hold::Withdrawn(held);
                }
            }
        }
        let key = id(&t);
        if let Some(seq) = self.index.get(&key) {
            self.order.insert(*seq, t);
            return Hold::Replaced;
        }
        if self.order.len() >= self.cap {
            return Hold::Dropped(t);
        }
        let seq = self.next;
        self.next += 1;
        self.index.insert(key, seq);
        self.order.insert(seq, t);
        Hold::Held
    }

    /// Everything held, in the order derived; the set is empty afterwards.
    pub fn take(&mut self) -> Vec<AlertTransition> {
        self.index.clear();
        std::mem::take(&mut self.order).into_values().collect()
    }
}

/// Snapshotted with the partition's state (as the held transitions in order), so a
/// scorer that crashes or loses the partition while catching up does not lose what it
/// held: the next owner restores them and releases them once it has caught up.
impl serde::Serialize for Held {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.order.values())
    }
}

impl<'de> serde::Deserialize<'de> for Held {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut held = Held::default();
        for t in Vec::<AlertTransition>::deserialize(d)? {
            held.hold(t);
        }
        Ok(held)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.order.values().eq(other.order.values())
    }
}

/// Per-partition notification gate (what it holds back is in the partition's state,
/// `PartitionState::held`, so it is snapshotted).
#[derive(Debug, Clone, Default)]
pub struct PartitionNotify {
    pub gate: Gate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_core::config::Severity;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).expect("date")
    }

    fn t(account: &str, rule: AlertRule, state: AlertState, opened_on: u32, as_of: u32) -> AlertTransition {
        AlertTransition {
            account_id: account.into(),
            rule,
            state,
            as_of: day(as_of),
            opened_on: day(opened_on),
            severity: Severity::Warning,
            message: format!("{} {}", rule.as_str(), state.as_str()),
            details: serde_json::Value::Null,
            retracts: None,
            reason: None,
            seq: 1,
        }
    }

    fn opened(account: &str, rule: AlertRule, d: u32) -> AlertTransition {
        t(account, rule, AlertState::Opened, d, d)
    }

    fn resolved(account: &str, rule: AlertRule, opened_on: u32, d: u32) -> AlertTransition {
        t(account, rule, AlertState::Resolved, opened_on, d)
    }

    fn retraction(of: &AlertTransition) -> AlertTransition {
        AlertTransition { state: AlertState::Retracted, retracts: Some(of.transition()), ..of.clone() }
    }

    #[test]
    fn a_retraction_of_a_held_transition_withdraws_it_and_is_not_sent() {
        let mut h = Held::default();
        let o = opened("a", AlertRule::LowEngagement, 10);
        assert_eq!(h.hold(o.clone()), Hold::Held);
        assert_eq!(h.hold(retraction(&o)), Hold::Withdrawn(o));
        assert!(h.is_empty());
        assert!(h.take().is_empty(), "neither the transition nor its retraction goes out");
    }

    #[test]
    fn a_retraction_of_a_transition_already_sent_is_held_and_sent_in_order() {
        let mut h = Held::default();
        let sent = opened("a", AlertRule::HealthDropped, 8); // went out while caught up
        let r = retraction(&sent);
        let now = opened("a", AlertRule::HealthDropped, 9); // what holds instead
        assert_eq!(h.hold(r.clone()), Hold::Held);
        assert_eq!(h.hold(now.clone()), Hold::Held);
        assert_eq!(h.take(), vec![r, now]);
    }

    #[test]
    fn a_retraction_withdraws_only_its_own_transition() {
        let mut h = Held::default();
        let open = opened("a", AlertRule::UsageDeclining, 5);
        let res = resolved("a", AlertRule::UsageDeclining, 5, 9);
        let other_account = opened("b", AlertRule::UsageDeclining, 5);
        let other_rule = opened("a", AlertRule::LowEngagement, 5);
        for x in [&open, &res, &other_account, &other_rule] {
            assert_eq!(h.hold(x.clone()), Hold::Held);
        }
        // The resolution is withdrawn (late data: still open on day 9); the opening stays.
        assert_eq!(h.hold(retraction(&res)), Hold::Withdrawn(res));
        // A retraction of a resolution on another day is not this one's.
        let elsewhere = resolved("a", AlertRule::UsageDeclining, 5, 12);
        assert_eq!(h.hold(retraction(&elsewhere)), Hold::Held);
        assert_eq!(h.take(), vec![open, other_account, other_rule, retraction(&elsewhere)]);
    }

    #[test]
    fn re_derived_transitions_replace_in_place_and_a_withdrawn_one_can_come_back() {
        let mut h = Held::default();
        let open = opened("a", AlertRule::LowEngagement, 5);
        let res = resolved("a", AlertRule::LowEngagement, 5, 7);
        h.hold(open.clone());
        h.hold(res.clone());
        let mut open2 = open.clone();
        open2.message = "now with other numbers".into();
        assert_eq!(h.hold(open2.clone()), Hold::Replaced);
        // Withdrawn, then derived again: it goes out once, after the resolution.
        assert_eq!(h.hold(retraction(&open2)), Hold::Withdrawn(open2.clone()));
        assert_eq!(h.hold(open2.clone()), Hold::Held);
        assert_eq!(h.len(), 2);
        assert_eq!(h.take(), vec![res, open2]);
        assert!(h.is_empty());
    }

    #[test]
    fn sent_then_retracted_then_re_derived_goes_out_as_retraction_then_transition() {
        let mut h = Held::default();
        let sent = opened("a", AlertRule::HealthDropped, 9);
        h.hold(retraction(&sent));
        h.hold(sent.clone());
        assert_eq!(h.take(), vec![retraction(&sent), sent.clone()]);
        // Held again and withdrawn again: the held retraction of the sent one stays.
        h.hold(retraction(&sent));
        h.hold(sent.clone());
        assert_eq!(h.hold(retraction(&sent)), Hold::Withdrawn(sent.clone()));
        assert_eq!(h.take(), vec![retraction(&sent)]);
    }

    #[test]
    fn the_held_set_is_bounded() {
        let mut h = Held::with_capacity(2);
        let a = opened("a", AlertRule::LowEngagement, 1);
        let b = opened("b", AlertRule::LowEngagement, 1);
        let c = opened("c", AlertRule::LowEngagement, 1);
        assert_eq!(h.hold(a.clone()), Hold::Held);
        assert_eq!(h.hold(b.clone()), Hold::Held);
        assert_eq!(h.hold(c.clone()), Hold::Dropped(c.clone()));
        // Replacing and withdrawing still work when full.
        assert_eq!(h.hold(a.clone()), Hold::Replaced);
        assert_eq!(h.hold(retraction(&b)), Hold::Withdrawn(b));
        assert_eq!(h.hold(c.clone()), Hold::Held);
        assert_eq!(h.take(), vec![a, c]);
    }

    const CFG: GateConfig = GateConfig { max_lag: 100, max_event_age_secs: 900, settle: Duration::from_secs(10) };

    fn obs(lag: Option<i64>, age: Option<i64>) -> Observation {
        Observation { lag, newest_event_age_secs: age }
    }

    #[test]
    fn the_gate_opens_after_staying_caught_up_for_the_settle_time() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut g = Gate::default();
        assert!(!g.is_open(), "a new partition starts catching up");
        assert_eq!(g.observe(&CFG, obs(None, None), at(0)), None, "watermark unknown: behind");
        assert_eq!(g.observe(&CFG, obs(Some(5_000), None), at(1)), None);
        assert_eq!(g.observe(&CFG, obs(Some(0), Some(30)), at(2)), None, "caught up, settling");
        // A pause between two of ingest's batches, then the next one: settling restarts.
        assert_eq!(g.observe(&CFG, obs(Some(20_000), None), at(8)), None);
        assert_eq!(g.observe(&CFG, obs(Some(0), None), at(9)), None);
        assert_eq!(g.observe(&CFG, obs(Some(100), None), at(18)), None, "at max_lag is caught up");
        assert_eq!(g.observe(&CFG, obs(Some(3), None), at(19)), Some(Change::CaughtUp { lag: 3 }));
        assert!(g.is_open());
        assert_eq!(g.observe(&CFG, obs(Some(0), Some(1)), at(20)), None, "a change is reported once");
        // Live traffic keeps it open; a lag above max_lag closes it at once.
        assert_eq!(g.observe(&CFG, obs(Some(101), None), at(21)), Some(Change::CatchingUp(Behind::Lag(101))));
        assert_eq!(g.observe(&CFG, obs(Some(5_000), None), at(22)), None);
        assert!(!g.is_open());
    }

    #[test]
    fn old_events_close_the_gate_even_without_lag() {
        let t0 = Instant::now();
        let mut g = Gate::default();
        g.observe(&CFG, obs(Some(0), None), t0);
        assert_eq!(g.observe(&CFG, obs(Some(0), None), t0 + CFG.settle), Some(Change::CaughtUp { lag: 0 }));
        // A backlog delivered at the broker's pace: no lag, but yesterday's events.
        assert_eq!(
            g.observe(&CFG, obs(Some(0), Some(86_400)), t0 + CFG.settle),
            Some(Change::CatchingUp(Behind::OldEvents(86_400)))
        );
        // Idle afterwards (no events since the last check): it settles and opens.
        assert_eq!(g.observe(&CFG, obs(Some(0), None), t0 + CFG.settle * 2), None);
        assert_eq!(g.observe(&CFG, obs(Some(0), None), t0 + CFG.settle * 3), Some(Change::CaughtUp { lag: 0 }));
        // With the age check off, only the lag counts.
        let lag_only = GateConfig { max_event_age_secs: 0, ..CFG };
        assert_eq!(g.observe(&lag_only, obs(Some(0), Some(86_400)), t0 + CFG.settle * 4), None);
        assert!(g.is_open());
    }

    #[test]
    fn no_settle_time_opens_at_the_first_caught_up_check() {
        let cfg = GateConfig { settle: Duration::ZERO, ..CFG };
        let mut g = Gate::default();
        assert_eq!(g.observe(&cfg, obs(Some(0), None), Instant::now()), Some(Change::CaughtUp { lag: 0 }));
    }
}
