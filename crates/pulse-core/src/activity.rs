//! Per-account usage activity as day bitmasks, plus the event ids that made them.
//!
//! Each active user is one entry (user-id hash -> days active, bit `i` = the account's
//! newest usage day minus `i`, 128 days as two `u64`s), about 24 bytes plus hash-table
//! slack, so tens of millions of (account, user) pairs fit in memory. DAU, WAU, MAU, the
//! 7-day DAU mean, last week's WAU and the MAU of 28 days earlier for any day within the
//! horizon are then a few shifts, masks and popcounts per user, never a scan of events.
//!
//! Why this representation makes the engine order- and duplicate-insensitive:
//! setting a bit is idempotent and commutative (any arrival order gives the same
//! masks). The only order-sensitive step would be the retention cut, so it is defined
//! on the final state: after every advance of the newest day `N`, bits older than
//! `N - retention` are cleared, and an event older than that is refused. Whatever the
//! order, the masks end up holding exactly the events of days `[N - retention, N]`.
//!
//! Retention is `horizon + LOOKBACK_DAYS`: a day `D` needs days `D-56..D` (the MAU of
//! `D-28`, and the previous day's), so keeping 56 days beyond the horizon is what lets
//! every day of the horizon be re-evaluated exactly after a late event (SPEC §2).
//!
//! Repeats (SPEC v3 §1, §2): a usage event re-sent under the same `event_id` counts
//! once whatever it carries, and which copy counts is decided *per day*: for day `D`,
//! among the copies dated within `D-55..=D` (the days `D`'s windows read) the earliest
//! wins (ties: the smaller user key, then the smaller feature key, both
//! [`crate::hash::hash_str`] of the string, no feature = 0); copies dated before `D-55`
//! take no part in `D`. So a day's result depends only on the events up to its end,
//! whatever range a replay covers and whatever order the scorer receives them in.
//!
//! Per event id the earliest copy overall (its *first* copy) is kept in `ids` and its
//! bits are in the masks: it is the winner of every day whose windows read its day.
//! Every other, differing copy is kept in `repeats` (sorted by key; usually empty): a
//! later copy `X` wins on the days `D` with `X.day <= D <= X.day + 55` for which no copy
//! with a smaller key is dated within `D-55..=D`, i.e. from the day after the window
//! of its latest-dated predecessor ends. [`Activity::windows`] adds those bits for the
//! day it counts (and the day before). Ids and repeats are kept for the whole retention
//! (`N - horizon - 56 ..= N`): a copy in the lookback still decides which later copy
//! counts for days within the horizon. When a first copy leaves the retention, its next
//! copy becomes the first (for the days still scored, the departed one's window is
//! over). Cost: one `ids` entry (8-byte key + 32-byte value, 45 to 60 bytes with table
//! slack) per distinct usage event of the retention (see `tests::id_memory_per_event`;
//! `Engine::usage_memory` reports it), plus one 32-byte entry per differing repeat.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::CopyKey;
use crate::hash::IdentityBuild;
use crate::num::Day;

/// Days kept beyond the horizon so that every day of the horizon has its full windows:
/// the previous day's MAU of 28 days earlier reaches back to `D - 56`.
pub(crate) const LOOKBACK_DAYS: u32 = 56;

/// Result of recording one usage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// A bit was newly set (or a repeat's contribution replaced): results may change.
    Changed,
    /// The user was already active that day (and the feature already used), or the
    /// event id was already counted with a copy that wins.
    Unchanged,
    /// Older than the retained days: not recorded.
    BeyondHorizon,
}

/// One usage event to record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageTouch {
    /// Stable hash of the event id.
    pub id: u64,
    /// Timestamp in microseconds since the epoch (which copy of a repeat wins).
    pub ts_us: i64,
    pub day: Day,
    pub user: u64,
    pub feature: Option<usize>,
    /// [`crate::event::feature_key`]; 0 = none (ties between copies).
    pub feature_key: u64,
}

/// What one copy of an event id contributes. There is one per usage event of the
/// retention, so it is serialized as a plain 5-tuple `[ts_us, user, day, feature,
/// feature_key]` (no field names: a snapshot holds millions); the derived
/// `Deserialize` reads that, the 4-tuples and the `{"ts_us":..}` maps of earlier
/// snapshots alike (their feature key reads as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct Contribution {
    ts_us: i64,
    user: u64,
    day: Day,
    /// Core-feature index + 1; 0 = none.
    feature: u16,
    #[serde(default)]
    feature_key: u64,
}

impl Serialize for Contribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(5)?;
        t.serialize_element(&self.ts_us)?;
        t.serialize_element(&self.user)?;
        t.serialize_element(&self.day)?;
        t.serialize_element(&self.feature)?;
        t.serialize_element(&self.feature_key)?;
        t.end()
    }
}

/// The days a window reads before its own (`D-55..=D`).
const WINDOW_SPAN: i64 = LOOKBACK_DAYS as i64 - 1;

impl Contribution {
    /// Which of two copies of an event id wins: the smaller key (SPEC v3 §1), the one
    /// the raw tables' `copy_rank` is made of.
    fn key(&self) -> CopyKey {
        CopyKey::usage(self.ts_us, self.user, self.feature_key)
    }
}

/// Whether the repeat `reps[i]` of an event whose first copy is `first` wins on day `d`:
/// it is dated within `d-55..=d` and no copy with a smaller key is (SPEC v3 §2).
fn repeat_wins(first: &Contribution, reps: &[Contribution], i: usize, d: i64) -> bool {
    let x = &reps[i];
    let day = i64::from(x.day);
    if day > d || d - day > WINDOW_SPAN {
        return false;
    }
    let latest_pred = reps[..i].iter().map(|c| i64::from(c.day)).fold(i64::from(first.day), i64::max);
    latest_pred < d - WINDOW_SPAN
}

/// A 128-day mask stored as two `u64`s (8-byte alignment keeps map entries small).
type Mask = [u64; 2];

fn get(m: &Mask) -> u128 {
    u128::from(m[0]) | (u128::from(m[1]) << 64)
}

fn put(x: u128) -> Mask {
    [x as u64, (x >> 64) as u64]
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Activity {
    /// Newest usage day seen: bit 0 of every mask. `None` before the first event.
    anchor: Option<Day>,
    /// user-id hash -> days active.
    users: HashMap<u64, Mask, IdentityBuild>,
    /// Per configured core feature (by index): days used.
    features: Vec<Mask>,
    /// event-id hash -> its first (earliest) copy, for days within the retention.
    #[serde(default)]
    ids: HashMap<u64, Contribution, IdentityBuild>,
    /// event-id hash -> its other differing copies, sorted by key (see the module doc).
    #[serde(default)]
    repeats: HashMap<u64, Vec<Contribution>, IdentityBuild>,
}

/// Distinct-user counts for one evaluation day `D` (and, shifted, `D - 1`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Window {
    /// `dau[k]` = distinct users active on `D - k`.
    pub dau: [u32; 7],
    /// Distinct users in `D-6..D`.
    pub wau: u32,
    /// Distinct users in `D-13..D-7` (the WAU of `D - 7`).
    pub wau_prev_week: u32,
    /// Distinct users in `D-27..D`.
    pub mau: u32,
    /// Distinct users in `D-55..D-28` (the MAU of `D - 28`).
    pub mau_prev_month: u32,
    /// Bit `i` set when core feature `i` was used in `D-27..D`.
    pub features_used: u64,
    /// Bit `k` set when any user was active on `D - k`, for `k` in `0..56` (the days
    /// the windows read): how old the newest usage behind a measure is (SPEC v3 §10).
    pub active_days: u64,
}

/// The days the windows read, as a mask of `Window::active_days` bits.
const READ_DAYS: u128 = (1 << 56) - 1;

impl Window {
    /// The newest day with usage among the `days` days ending at `d` (the window's own
    /// day), `days` at most 56; `None` when nobody was active in them.
    pub(crate) fn newest_active(&self, d: Day, days: u32) -> Option<Day> {
        let mask = if days >= 64 { u64::MAX } else { (1u64 << days) - 1 };
        let m = self.active_days & mask;
        (m != 0).then(|| d - m.trailing_zeros() as Day)
    }
}

const WEEK: u128 = 0x7f;
const MONTH: u128 = (1 << 28) - 1;

/// Move a mask so that bit 0 is day `d`: `off = anchor - d`.
fn align(mask: u128, off: i64) -> u128 {
    if off >= 0 {
        if off >= 128 {
            0
        } else {
            mask >> off
        }
    } else if -off >= 128 {
        0
    } else {
        mask << (-off)
    }
}

fn keep_mask(retention: u32) -> u128 {
    if retention >= 127 {
        u128::MAX
    } else {
        (1u128 << (retention + 1)) - 1
    }
}

impl Activity {
    /// Record one usage event. `horizon` is the scoring horizon in days; activity is
    /// retained for `horizon + LOOKBACK_DAYS`. No allocation unless the user or the
    /// event id is new to the account.
    pub(crate) fn record(&mut self, t: UsageTouch, horizon: u32) -> Touch {
        let retention = horizon + LOOKBACK_DAYS;
        let anchor = match self.anchor {
            None => {
                self.anchor = Some(t.day);
                t.day
            }
            Some(a) if t.day > a => {
                self.advance(t.day, a, horizon);
                t.day
            }
            Some(a) => a,
        };
        let age = i64::from(anchor) - i64::from(t.day);
        if age > i64::from(retention) {
            return Touch::BeyondHorizon;
        }
        let copy = Contribution {
            ts_us: t.ts_us,
            user: t.user,
            day: t.day,
            feature: t.feature.map_or(0, |f| f as u16 + 1),
            feature_key: t.feature_key,
        };
        // One probe of the id table (it holds every usage event of the retention).
        let replaced = match self.ids.entry(t.id) {
            Entry::Occupied(o) if o.get().key() == copy.key() => return Touch::Unchanged,
            Entry::Occupied(o) if o.get().key() < copy.key() => {
                // A later copy: it may win on days after its predecessors' windows.
                let reps = self.repeats.entry(t.id).or_default();
                return match reps.binary_search_by_key(&copy.key(), Contribution::key) {
                    Ok(_) => Touch::Unchanged,
                    Err(i) => {
                        reps.insert(i, copy);
                        Touch::Changed
                    }
                };
            }
            Entry::Occupied(mut o) => Some(o.insert(copy)),
            Entry::Vacant(v) => {
                v.insert(copy);
                None
            }
        };
        if let Some(old) = replaced {
            // An earlier copy after a later one: the later one becomes a repeat.
            let reps = self.repeats.entry(t.id).or_default();
            if let Err(i) = reps.binary_search_by_key(&old.key(), Contribution::key) {
                reps.insert(i, old);
            }
            self.remove(old, anchor);
            self.set(copy, anchor);
            return Touch::Changed;
        }
        if self.set(copy, anchor) {
            Touch::Changed
        } else {
            Touch::Unchanged
        }
    }

    /// Set the bits of one contribution; true when a bit was new.
    fn set(&mut self, c: Contribution, anchor: Day) -> bool {
        let bit = 1u128 << (anchor - c.day);
        let mut changed = false;
        let m = self.users.entry(c.user).or_insert([0, 0]);
        if get(m) & bit == 0 {
            *m = put(get(m) | bit);
            changed = true;
        }
        if c.feature > 0 {
            let i = usize::from(c.feature - 1);
            if self.features.len() <= i {
                self.features.resize(i + 1, [0, 0]);
            }
            if get(&self.features[i]) & bit == 0 {
                self.features[i] = put(get(&self.features[i]) | bit);
                changed = true;
            }
        }
        changed
    }

    /// Clear the bits of a contribution no other event id still makes. A rare path (an
    /// earlier copy of a repeat arriving after a later one), so a scan of the ids is
    /// fine. Every first copy of a day within the retention has an id entry.
    fn remove(&mut self, c: Contribution, anchor: Day) {
        let bit = 1u128 << (anchor - c.day);
        let user_kept = self.ids.values().any(|o| o.day == c.day && o.user == c.user);
        if !user_kept {
            if let Some(m) = self.users.get_mut(&c.user) {
                *m = put(get(m) & !bit);
                if get(m) == 0 {
                    self.users.remove(&c.user);
                }
            }
        }
        if c.feature > 0 {
            let feature_kept = self.ids.values().any(|o| o.day == c.day && o.feature == c.feature);
            let i = usize::from(c.feature - 1);
            if !feature_kept {
                if let Some(f) = self.features.get_mut(i) {
                    *f = put(get(f) & !bit);
                }
                self.trim_features();
            }
        }
    }

    fn trim_features(&mut self) {
        // Keep the vector canonical (no trailing empty masks) so equal histories give
        // equal state whatever the arrival order.
        while self.features.last() == Some(&[0, 0]) {
            self.features.pop();
        }
    }

    /// Shift every mask to the new newest day and forget days beyond the retention
    /// (and users with no day left) and event ids beyond the horizon. O(users + ids),
    /// once per new newest day.
    fn advance(&mut self, new: Day, old: Day, horizon: u32) {
        let delta = i64::from(new) - i64::from(old);
        let keep = keep_mask(horizon + LOOKBACK_DAYS);
        let shift = |m: u128| if delta >= 128 { 0 } else { (m << delta) & keep };
        self.users.retain(|_, m| {
            *m = put(shift(get(m)));
            *m != [0, 0]
        });
        for f in &mut self.features {
            *f = put(shift(get(f)));
        }
        self.trim_features();
        self.anchor = Some(new);
        let oldest = i64::from(new) - i64::from(horizon + LOOKBACK_DAYS);
        let mut departed = Vec::new();
        self.ids.retain(|id, c| {
            let keep = i64::from(c.day) >= oldest;
            if !keep {
                departed.push(*id);
            }
            keep
        });
        self.repeats.retain(|_, reps| {
            reps.retain(|c| i64::from(c.day) >= oldest);
            !reps.is_empty()
        });
        // A first copy that left the retention hands over to its next copy: for every
        // day still scored, the departed copy's window is over.
        for id in departed {
            let Some(mut reps) = self.repeats.remove(&id) else { continue };
            let next = reps.remove(0);
            self.set(next, new);
            self.ids.insert(id, next);
            if !reps.is_empty() {
                self.repeats.insert(id, reps);
            }
        }
    }

    pub(crate) fn users_len(&self) -> usize {
        self.users.len()
    }

    /// Event ids remembered (usage events of the retention).
    pub(crate) fn ids_len(&self) -> usize {
        self.ids.len()
    }

    /// Differing later copies remembered.
    pub(crate) fn repeats_len(&self) -> usize {
        self.repeats.values().map(Vec::len).sum()
    }

    /// Heap bytes of the (user -> days) table and of the event-id table: their slots
    /// (hashbrown: an entry plus one control byte per slot, at most 7/8 full).
    pub(crate) fn table_bytes(&self) -> (usize, usize) {
        let slot = |entry: usize, capacity: usize| if capacity == 0 { 0 } else { capacity * (entry + 1) };
        (
            slot(std::mem::size_of::<(u64, Mask)>(), self.users.capacity())
                + self.features.capacity() * std::mem::size_of::<Mask>(),
            slot(std::mem::size_of::<(u64, Contribution)>(), self.ids.capacity())
                + self.repeats.values().map(|r| r.capacity() * std::mem::size_of::<Contribution>()).sum::<usize>()
                + slot(std::mem::size_of::<(u64, Vec<Contribution>)>(), self.repeats.capacity()),
        )
    }

    /// The bits of the repeats that win on day `d` (index 0) and `d - 1` (index 1), by
    /// user, aligned so that bit 0 is day `d`; and the core features they use within
    /// each day's 28-day window.
    fn repeat_bits(&self, d: i64) -> (HashMap<u64, [u128; 2], IdentityBuild>, [u64; 2]) {
        let mut users: HashMap<u64, [u128; 2], IdentityBuild> = HashMap::default();
        let mut features = [0u64; 2];
        for (id, reps) in &self.repeats {
            let Some(first) = self.ids.get(id) else { continue };
            for (i, x) in reps.iter().enumerate() {
                for (s, used) in features.iter_mut().enumerate() {
                    let day = d - s as i64;
                    if !repeat_wins(first, reps, i, day) {
                        continue;
                    }
                    let off = d - i64::from(x.day);
                    users.entry(x.user).or_default()[s] |= 1u128 << off;
                    if x.feature > 0 && day - i64::from(x.day) < 28 && x.feature <= 64 {
                        *used |= 1 << (x.feature - 1);
                    }
                }
            }
        }
        (users, features)
    }

    /// Counts for day `d` (index 0) and `d - 1` (index 1) in one pass over users.
    pub(crate) fn windows(&self, d: Day) -> [Window; 2] {
        let mut out = [Window::default(); 2];
        let Some(anchor) = self.anchor else {
            return out;
        };
        let off = i64::from(anchor) - i64::from(d);
        let count = |out: &mut [Window; 2], w: [u128; 2]| {
            for (s, win) in out.iter_mut().enumerate() {
                let x = w[s] >> s;
                for (k, c) in win.dau.iter_mut().enumerate() {
                    *c += ((x >> k) & 1) as u32;
                }
                win.wau += u32::from(x & WEEK != 0);
                win.wau_prev_week += u32::from((x >> 7) & WEEK != 0);
                win.mau += u32::from(x & MONTH != 0);
                win.mau_prev_month += u32::from((x >> 28) & MONTH != 0);
                win.active_days |= (x & READ_DAYS) as u64;
            }
        };
        if self.repeats.is_empty() {
            // The common case: every first copy wins on every day that reads it.
            for m in self.users.values() {
                let w = align(get(m), off);
                if w != 0 {
                    count(&mut out, [w, w]);
                }
            }
        } else {
            let (extra, extra_features) = self.repeat_bits(i64::from(d));
            for (user, m) in &self.users {
                let w = align(get(m), off);
                let e = extra.get(user).copied().unwrap_or_default();
                if w != 0 || e != [0, 0] {
                    count(&mut out, [w | e[0], w | e[1]]);
                }
            }
            for (user, e) in &extra {
                if !self.users.contains_key(user) {
                    count(&mut out, *e);
                }
            }
            for (s, win) in out.iter_mut().enumerate() {
                win.features_used |= extra_features[s];
            }
        }
        for (i, f) in self.features.iter().enumerate().take(64) {
            let w = align(get(f), off);
            for (s, win) in out.iter_mut().enumerate() {
                if (w >> s) & MONTH != 0 {
                    win.features_used |= 1 << i;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A usage event of `user` on `day` with its own event id.
    fn ev(day: Day, user: u64, feature: Option<usize>) -> UsageTouch {
        UsageTouch {
            id: (day as u64) << 32 ^ user ^ (feature.map_or(0, |f| f as u64 + 1) << 20),
            ts_us: i64::from(day) * 86_400_000_000,
            day,
            user,
            feature,
            feature_key: feature.map_or(0, |f| f as u64 + 1),
        }
    }

    fn record(a: &mut Activity, day: Day, user: u64, feature: Option<usize>, h: u32) -> Touch {
        a.record(ev(day, user, feature), h)
    }

    #[test]
    fn windows_count_distinct_users_per_range() {
        let mut a = Activity::default();
        let d = 100;
        // user 1: D and D-1; user 2: D-8; user 3: D-27; user 4: D-28 (outside MAU),
        // user 5: D-55 (in the MAU of D-28), user 6: D-56 (only in that of D-29)
        for (day, user) in [(d, 1), (d - 1, 1), (d - 8, 2), (d - 27, 3), (d - 28, 4), (d - 55, 5), (d - 56, 6), (d, 1)]
        {
            record(&mut a, day, user, None, 60);
        }
        let [w0, w1] = a.windows(d);
        assert_eq!(w0.dau, [1, 1, 0, 0, 0, 0, 0]);
        assert_eq!((w0.wau, w0.wau_prev_week, w0.mau), (1, 1, 3));
        assert_eq!(w0.mau_prev_month, 2);
        assert_eq!(w1.dau, [1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((w1.wau, w1.wau_prev_week, w1.mau), (1, 1, 4));
        assert_eq!(w1.mau_prev_month, 2);
    }

    #[test]
    fn newest_active_day_within_the_days_read() {
        let mut a = Activity::default();
        let d = 100;
        // activity on D-8 and D-56 only (D-56 is read by D-1's windows, not D's)
        record(&mut a, d - 8, 1, None, 60);
        record(&mut a, d - 56, 2, None, 60);
        let [w0, w1] = a.windows(d);
        let cases = [
            (w0, d, 7, None),
            (w0, d, 8, None),
            (w0, d, 9, Some(d - 8)),
            (w0, d, 56, Some(d - 8)),
            (w1, d - 1, 7, None),
            (w1, d - 1, 8, Some(d - 8)),
        ];
        for (w, day, days, want) in cases {
            assert_eq!(w.newest_active(day, days), want, "day {day}, {days} days");
        }
        let [w0, _] = Activity::default().windows(d);
        assert_eq!(w0.newest_active(d, 56), None, "no usage at all");
        // only D-56: outside D's windows
        let mut b = Activity::default();
        record(&mut b, d - 56, 2, None, 60);
        record(&mut b, d, 3, None, 60);
        let [w0, w1] = b.windows(d);
        assert_eq!((w0.active_days.count_ones(), w1.active_days.count_ones()), (1, 1), "D-56 is read by D-1 only");
    }

    #[test]
    fn retention_is_cut_on_the_final_state() {
        // horizon 40: retention 96 days
        let mut early = Activity::default();
        record(&mut early, 0, 1, None, 40);
        record(&mut early, 100, 2, None, 40);
        let mut late = Activity::default();
        assert_eq!(record(&mut late, 100, 2, None, 40), Touch::Changed);
        assert_eq!(record(&mut late, 0, 1, None, 40), Touch::BeyondHorizon);
        assert_eq!(early, late);
        // within the lookback: counted (it is in windows of days still scored)
        assert_eq!(record(&mut late, 10, 1, None, 40), Touch::Changed);

        // a feature seen only beyond the retention leaves no trace either
        let mut a = Activity::default();
        record(&mut a, 0, 1, Some(2), 40);
        record(&mut a, 100, 1, None, 40);
        let mut b = Activity::default();
        record(&mut b, 100, 1, None, 40);
        record(&mut b, 0, 1, Some(2), 40);
        assert_eq!(a, b);
        assert_eq!(record(&mut late, 3, 1, None, 40), Touch::BeyondHorizon);
    }

    #[test]
    fn the_earliest_copy_of_a_repeat_wins_in_any_order() {
        let first = UsageTouch { id: 7, ts_us: 10, day: 50, user: 1, feature: Some(0), feature_key: 1 };
        let later = UsageTouch { id: 7, ts_us: 86_400_000_000, day: 51, user: 2, feature: Some(1), feature_key: 2 };
        let mut a = Activity::default();
        assert_eq!(a.record(first, 60), Touch::Changed);
        // Kept as a repeat: it counts on day 106 (day 50's copy out of the window).
        assert_eq!(a.record(later, 60), Touch::Changed);
        assert_eq!(a.record(later, 60), Touch::Unchanged, "the same copy again");
        let mut b = Activity::default();
        assert_eq!(b.record(later, 60), Touch::Changed);
        assert_eq!(b.record(first, 60), Touch::Changed);
        // the anchor (newest day seen) is order-independent too: same state
        let mut a2 = a.clone();
        a2.record(UsageTouch { id: 9, ts_us: 0, day: 51, user: 3, feature: None, feature_key: 0 }, 60);
        let mut b2 = b.clone();
        b2.record(UsageTouch { id: 9, ts_us: 0, day: 51, user: 3, feature: None, feature_key: 0 }, 60);
        assert_eq!(a2, b2);
        let [w, _] = b2.windows(51);
        assert_eq!((w.dau[0], w.dau[1], w.wau), (1, 1, 2), "user 2 never counted");
        assert_eq!(w.features_used, 0b01);

        // a bit another event id also sets survives the removal
        let other = UsageTouch { id: 8, ts_us: 86_400_000_001, day: 51, user: 2, feature: None, feature_key: 0 };
        let mut c = Activity::default();
        c.record(later, 60);
        c.record(other, 60);
        c.record(first, 60);
        let [w, _] = c.windows(51);
        assert_eq!(w.dau[0], 1, "user 2 still active through event 8");
    }

    #[test]
    fn id_memory_per_event() {
        // 60 days x 200 events: every id is kept, none beyond the horizon
        let mut a = Activity::default();
        let mut n = 0u64;
        for day in 0..60 {
            for k in 0..200u64 {
                n += 1;
                a.record(
                    UsageTouch { id: n, ts_us: i64::from(day), day, user: k % 50, feature: None, feature_key: 0 },
                    60,
                );
            }
        }
        assert_eq!(a.ids_len(), 12_000);
        let entry = std::mem::size_of::<(u64, Contribution)>();
        assert_eq!(entry, 40);
        // hashbrown: one control byte per slot, at most 7/8 full
        let bytes = a.ids.capacity() * (entry + 1);
        assert!(bytes / a.ids_len() <= 60, "{} bytes per id", bytes / a.ids_len());
        // ids are kept for the retention (horizon + 56 days), forgotten after
        a.record(UsageTouch { id: u64::MAX, ts_us: 0, day: 100, user: 1, feature: None, feature_key: 0 }, 60);
        assert_eq!(a.ids_len(), 12_000 + 1);
        a.record(UsageTouch { id: u64::MAX - 1, ts_us: 0, day: 150, user: 1, feature: None, feature_key: 0 }, 60);
        assert_eq!(a.ids_len(), 26 * 200 + 2, "days 34..=59 kept at newest day 150");
    }
}
