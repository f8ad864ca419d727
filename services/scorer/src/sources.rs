//! Input sources and stalled-source detection (SPEC v3 §10): "the customer went quiet"
//! is not "our data went quiet".
//!
//! Each partition's state keeps, per source (usage, crm), the newest event time it
//! applied ([`Watermarks`], snapshotted with the partition); an event time ahead of its
//! receipt counts as its receipt, so one event stamped in the future cannot hide a stall.
//! The scorer merges its partitions' watermarks and compares them with the wall clock
//! ([`StallMonitor`]): a source whose newest event lags by more than its limit is
//! *stalled*. While it is, results of the days from the stall's start are published
//! `stale` with the color of the day before, and the per-account alert rules are held
//! for those days (not fed to the tracker); when it flows again, those days are fed to
//! the tracker at once, so the alert history becomes what it would have been without
//! the stall. One system alert per stall (`source_stalled`) opens and resolves.
//!
//! The stall's identity is deterministic: it starts at `since + limit` (`since`: the
//! source's newest event time), so a scorer restarted during a stall, which restores
//! the watermarks from its snapshots and the log, names the same stall again and its
//! rows collapse in `system_alerts`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::Event;
use serde::{Deserialize, Serialize};

/// An input source of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Product usage events (topic `pulse.usage`, the collector).
    Usage,
    /// CRM events of every kind (topic `pulse.crm`).
    Crm,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Usage, Source::Crm];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Usage => "usage",
            Source::Crm => "crm",
        }
    }

    /// The core's name for it (what a result's inputs rest on).
    pub fn feed(self) -> pulse_core::quality::Feed {
        match self {
            Source::Usage => pulse_core::quality::Feed::Usage,
            Source::Crm => pulse_core::quality::Feed::Crm,
        }
    }

    /// The source an event came from.
    pub fn of(ev: &Event) -> Self {
        match ev {
            Event::Usage(_) => Source::Usage,
            _ => Source::Crm,
        }
    }
}

/// Per source, the newest event time applied (milliseconds since the epoch), each
/// capped at its receipt time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermarks {
    #[serde(default)]
    pub usage_ms: Option<i64>,
    #[serde(default)]
    pub crm_ms: Option<i64>,
}

impl Watermarks {
    /// Records one event of `source` stamped `event_ms`, received at `receipt_ms`.
    pub fn observe(&mut self, source: Source, event_ms: i64, receipt_ms: i64) {
        let t = event_ms.min(receipt_ms);
        let slot = self.slot(source);
        *slot = Some(slot.map_or(t, |w| w.max(t)));
    }

    pub fn get(&self, source: Source) -> Option<i64> {
        match source {
            Source::Usage => self.usage_ms,
            Source::Crm => self.crm_ms,
        }
    }

    fn slot(&mut self, source: Source) -> &mut Option<i64> {
        match source {
            Source::Usage => &mut self.usage_ms,
            Source::Crm => &mut self.crm_ms,
        }
    }

    /// The newest of each source over several partitions.
    pub fn merged<'a>(all: impl IntoIterator<Item = &'a Watermarks>) -> Watermarks {
        let mut m = Watermarks::default();
        for w in all {
            for s in Source::ALL {
                if let Some(t) = w.get(s) {
                    let slot = m.slot(s);
                    *slot = Some(slot.map_or(t, |x| x.max(t)));
                }
            }
        }
        m
    }
}

/// `[scorer.stall]`: when a source counts as stalled.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StallConfig {
    /// The usage source is stalled when its newest event time lags the wall clock by
    /// more than this. Set it above the longest quiet period your product normally has
    /// (a B2B product may be silent on weekend nights). 0 disables the check.
    pub usage_limit_secs: u64,
    /// The same for the CRM source (every CRM event type together). 0 disables it.
    pub crm_limit_secs: u64,
}

impl Default for StallConfig {
    fn default() -> Self {
        Self { usage_limit_secs: 2 * 3600, crm_limit_secs: 26 * 3600 }
    }
}

/// The longest limit accepted (a year).
pub const MAX_LIMIT_SECS: u64 = 366 * 86_400;

impl StallConfig {
    pub fn limit_secs(&self, source: Source) -> u64 {
        match source {
            Source::Usage => self.usage_limit_secs,
            Source::Crm => self.crm_limit_secs,
        }
    }
}

/// One stall of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub source: Source,
    /// The source's newest event time when the stall was detected (ms): data from it
    /// is complete up to here.
    pub since_ms: i64,
    pub limit_secs: u64,
}

impl Stall {
    /// When the stall started: `since + limit` (ms). With the source, its identity.
    pub fn opened_at_ms(&self) -> i64 {
        self.since_ms.saturating_add(i64::try_from(self.limit_secs).unwrap_or(i64::MAX).saturating_mul(1000))
    }

    /// The first day whose results are published stale and whose alerts are held: the
    /// UTC day the stall started.
    pub fn held_from(&self) -> NaiveDate {
        millis_to_datetime(self.opened_at_ms()).date_naive()
    }
}

/// What [`StallMonitor::check`] saw change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallChange {
    Opened(Stall),
    /// The source flows again (its newest event is within the limit, or the check was
    /// disabled).
    Resolved(Stall),
}

/// The stalls open now, in this scorer.
#[derive(Debug, Default, Clone)]
pub struct StallMonitor {
    open: BTreeMap<Source, Stall>,
}

impl StallMonitor {
    /// Compares the watermarks with `now_ms`. A source never seen is not judged (a new
    /// pipeline has no feed to lose yet).
    pub fn check(&mut self, wm: &Watermarks, now_ms: i64, cfg: &StallConfig) -> Vec<StallChange> {
        let mut changes = Vec::new();
        for s in Source::ALL {
            let limit = cfg.limit_secs(s);
            let lagging = match wm.get(s) {
                Some(w) if limit > 0 => {
                    now_ms.saturating_sub(w) > i64::try_from(limit).unwrap_or(i64::MAX).saturating_mul(1000)
                }
                _ => false,
            };
            match (self.open.get(&s).copied(), lagging, wm.get(s)) {
                (None, true, Some(w)) => {
                    let stall = Stall { source: s, since_ms: w, limit_secs: limit };
                    self.open.insert(s, stall);
                    changes.push(StallChange::Opened(stall));
                }
                (Some(stall), false, _) => {
                    self.open.remove(&s);
                    changes.push(StallChange::Resolved(stall));
                }
                _ => {}
            }
        }
        changes
    }

    /// The first day held by any open stall; `None` while every source flows.
    pub fn held_from(&self) -> Option<NaiveDate> {
        self.open.values().map(Stall::held_from).min()
    }

    pub fn open(&self) -> impl Iterator<Item = &Stall> {
        self.open.values()
    }

    pub fn is_stalled(&self, s: Source) -> bool {
        self.open.contains_key(&s)
    }
}

pub fn millis_to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// "usage feed 6 h behind since 09:12 UTC" (the banner's words, also the alert message).
pub fn describe(source: Source, since_ms: i64, now_ms: i64) -> String {
    let lag = (now_ms.saturating_sub(since_ms) / 1000).max(0);
    let behind = if lag >= 2 * 86_400 {
        format!("{} days", lag / 86_400)
    } else if lag >= 3600 {
        format!("{} h", lag / 3600)
    } else {
        format!("{} min", lag / 60)
    };
    format!(
        "{} feed {behind} behind since {} UTC",
        source.as_str(),
        millis_to_datetime(since_ms).format("%Y-%m-%d %H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn an_event_ahead_of_its_receipt_counts_as_received() {
        let mut w = Watermarks::default();
        w.observe(Source::Usage, 10 * H, 5 * H);
        assert_eq!(w.usage_ms, Some(5 * H));
        w.observe(Source::Usage, 4 * H, 6 * H);
        assert_eq!(w.usage_ms, Some(5 * H), "older events do not move it back");
        assert_eq!(w.crm_ms, None);
    }

    #[test]
    fn merged_takes_the_newest_per_source() {
        let a = Watermarks { usage_ms: Some(3), crm_ms: None };
        let b = Watermarks { usage_ms: Some(2), crm_ms: Some(7) };
        assert_eq!(Watermarks::merged([&a, &b]), Watermarks { usage_ms: Some(3), crm_ms: Some(7) });
    }

    #[test]
    fn a_stall_opens_once_past_the_limit_and_resolves_when_the_source_flows() {
        let cfg = StallConfig { usage_limit_secs: 7200, crm_limit_secs: 26 * 3600 };
        let mut m = StallMonitor::default();
        let wm = Watermarks { usage_ms: Some(100 * H), crm_ms: Some(100 * H) };
        // (now, expected changes) in order.
        let steps: [(i64, usize); 4] = [(102 * H, 0), (102 * H + 1, 1), (110 * H, 0), (127 * H, 1)];
        let mut seen = Vec::new();
        for (now, n) in steps {
            let c = m.check(&wm, now, &cfg);
            assert_eq!(c.len(), n, "at {now}: {c:?}");
            seen.extend(c);
        }
        assert_eq!(seen[0], StallChange::Opened(Stall { source: Source::Usage, since_ms: 100 * H, limit_secs: 7200 }));
        assert!(matches!(seen[1], StallChange::Opened(Stall { source: Source::Crm, .. })));
        assert_eq!(m.held_from(), Some(millis_to_datetime(102 * H).date_naive()));
        let flowing = Watermarks { usage_ms: Some(127 * H), crm_ms: Some(100 * H) };
        let c = m.check(&flowing, 127 * H + 1, &cfg);
        assert!(matches!(c.as_slice(), [StallChange::Resolved(Stall { source: Source::Usage, .. })]), "{c:?}");
        assert!(m.is_stalled(Source::Crm) && !m.is_stalled(Source::Usage));
    }

    #[test]
    fn a_trickle_that_stays_behind_keeps_the_same_stall_and_restarts_name_it_again() {
        let cfg = StallConfig { usage_limit_secs: 3600, crm_limit_secs: 0 };
        let mut m = StallMonitor::default();
        assert_eq!(m.check(&Watermarks { usage_ms: Some(0), crm_ms: Some(0) }, 2 * H, &cfg).len(), 1);
        assert!(m.check(&Watermarks { usage_ms: Some(H / 2), crm_ms: None }, 3 * H, &cfg).is_empty());
        let first = *m.open().next().expect("open");
        let mut restarted = StallMonitor::default();
        let c = restarted.check(&Watermarks { usage_ms: Some(0), crm_ms: None }, 5 * H, &cfg);
        assert_eq!(c, vec![StallChange::Opened(first)], "same identity after a restart");
        assert_eq!(first.opened_at_ms(), H);
    }

    #[test]
    fn unseen_sources_and_disabled_limits_never_stall() {
        let mut m = StallMonitor::default();
        let off = StallConfig { usage_limit_secs: 0, crm_limit_secs: 0 };
        assert!(m.check(&Watermarks { usage_ms: Some(0), crm_ms: Some(0) }, 1000 * H, &off).is_empty());
        assert!(m.check(&Watermarks::default(), 1000 * H, &StallConfig::default()).is_empty());
    }

    #[test]
    fn the_description_reads_like_the_banner() {
        assert_eq!(
            describe(Source::Usage, 9 * H + 12 * 60_000, 15 * H + 20 * 60_000),
            "usage feed 6 h behind since 1970-01-01 09:12 UTC"
        );
        assert_eq!(describe(Source::Crm, 0, 50 * 60_000), "crm feed 50 min behind since 1970-01-01 00:00 UTC");
    }
}
