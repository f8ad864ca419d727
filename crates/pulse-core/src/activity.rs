//! Per-account usage activity as day bitmasks.
//!
//! Each active user is one `u64 -> u64` entry (user-id hash -> days active, bit `i` =
//! the account's newest usage day minus `i`), about 16 bytes plus hash-table slack,
//! so tens of millions of (account, user) pairs fit in memory. DAU, WAU, MAU, the
//! 7-day DAU mean and last week's WAU for any day within the horizon are then a few
//! shifts, masks and popcounts per user, never a scan of events.
//!
//! Why this representation makes the engine order- and duplicate-insensitive:
//! setting a bit is idempotent (a duplicate changes nothing) and commutative (any
//! arrival order gives the same masks). The only order-sensitive step would be the
//! horizon cut, so it is defined on the final state: after every advance of the
//! newest day `N`, bits older than `N - horizon` are cleared, and an event older
//! than that is refused. Whatever the order, the masks end up holding exactly the
//! events of days `[N - horizon, N]`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::hash::IdentityBuild;
use crate::num::Day;

/// Result of recording one usage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// A bit was newly set: results may change.
    Changed,
    /// The user was already active that day (and the feature already used).
    Unchanged,
    /// Older than the horizon before the newest day: not recorded.
    BeyondHorizon,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Activity {
    /// Newest usage day seen: bit 0 of every mask. `None` before the first event.
    anchor: Option<Day>,
    /// user-id hash -> days active.
    users: HashMap<u64, u64, IdentityBuild>,
    /// Per configured core feature (by index): days used.
    features: Vec<u64>,
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
    /// Bit `i` set when core feature `i` was used in `D-27..D`.
    pub features_used: u64,
}

const WEEK: u64 = 0x7f;
const MONTH: u64 = (1 << 28) - 1;

/// Move a mask so that bit 0 is day `d`: `off = anchor - d`.
fn align(mask: u64, off: i64) -> u64 {
    if off >= 0 {
        if off >= 64 {
            0
        } else {
            mask >> off
        }
    } else if -off >= 64 {
        0
    } else {
        mask << (-off)
    }
}

fn keep_mask(horizon: u32) -> u64 {
    if horizon >= 63 {
        u64::MAX
    } else {
        (1u64 << (horizon + 1)) - 1
    }
}

impl Activity {
    /// Record that `user` was active on `day`, using core feature `feature` if any.
    /// No allocation unless the user is new to the account.
    pub(crate) fn record(
        &mut self,
        day: Day,
        user: u64,
        feature: Option<usize>,
        horizon: u32,
    ) -> Touch {
        let anchor = match self.anchor {
            None => {
                self.anchor = Some(day);
                day
            }
            Some(a) if day > a => {
                self.advance(day, a, horizon);
                day
            }
            Some(a) => a,
        };
        let age = i64::from(anchor) - i64::from(day);
        if age > i64::from(horizon) {
            return Touch::BeyondHorizon;
        }
        let bit = 1u64 << age;
        let mut touch = Touch::Unchanged;
        let m = self.users.entry(user).or_insert(0);
        if *m & bit == 0 {
            *m |= bit;
            touch = Touch::Changed;
        }
        if let Some(i) = feature {
            if self.features.len() <= i {
                self.features.resize(i + 1, 0);
            }
            if self.features[i] & bit == 0 {
                self.features[i] |= bit;
                touch = Touch::Changed;
            }
        }
        touch
    }

    /// Shift every mask to the new newest day and forget days beyond the horizon
    /// (and users with no day left). O(users), once per new newest day.
    fn advance(&mut self, new: Day, old: Day, horizon: u32) {
        let delta = i64::from(new) - i64::from(old);
        let keep = keep_mask(horizon);
        let shift = |m: u64| if delta >= 64 { 0 } else { (m << delta) & keep };
        self.users.retain(|_, m| {
            *m = shift(*m);
            *m != 0
        });
        for f in &mut self.features {
            *f = shift(*f);
        }
        // Keep the vector canonical (no trailing empty masks) so equal histories give
        // equal state whatever the arrival order.
        while self.features.last() == Some(&0) {
            self.features.pop();
        }
        self.anchor = Some(new);
    }

    pub(crate) fn users_len(&self) -> usize {
        self.users.len()
    }

    /// Counts for day `d` (index 0) and `d - 1` (index 1) in one pass over users.
    pub(crate) fn windows(&self, d: Day) -> [Window; 2] {
        let mut out = [Window::default(); 2];
        let Some(anchor) = self.anchor else {
            return out;
        };
        let off = i64::from(anchor) - i64::from(d);
        for &m in self.users.values() {
            let w = align(m, off);
            if w == 0 {
                continue;
            }
            for (s, win) in out.iter_mut().enumerate() {
                let x = w >> s;
                for (k, c) in win.dau.iter_mut().enumerate() {
                    *c += ((x >> k) & 1) as u32;
                }
                win.wau += u32::from(x & WEEK != 0);
                win.wau_prev_week += u32::from((x >> 7) & WEEK != 0);
                win.mau += u32::from(x & MONTH != 0);
            }
        }
        for (i, &f) in self.features.iter().enumerate().take(64) {
            let w = align(f, off);
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

    #[test]
    fn windows_count_distinct_users_per_range() {
        let mut a = Activity::default();
        let d = 100;
        // user 1: D and D-1; user 2: D-8; user 3: D-27; user 4: D-28 (outside MAU)
        for (day, user) in [
            (d, 1),
            (d - 1, 1),
            (d - 8, 2),
            (d - 27, 3),
            (d - 28, 4),
            (d, 1),
        ] {
            a.record(day, user, None, 60);
        }
        let [w0, w1] = a.windows(d);
        assert_eq!(w0.dau, [1, 1, 0, 0, 0, 0, 0]);
        assert_eq!((w0.wau, w0.wau_prev_week, w0.mau), (1, 1, 3));
        assert_eq!(w1.dau, [1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((w1.wau, w1.wau_prev_week, w1.mau), (1, 1, 4));
    }

    #[test]
    fn horizon_is_cut_on_the_final_state() {
        let mut early = Activity::default();
        early.record(10, 1, None, 40);
        early.record(100, 2, None, 40);
        let mut late = Activity::default();
        assert_eq!(late.record(100, 2, None, 40), Touch::Changed);
        assert_eq!(late.record(10, 1, None, 40), Touch::BeyondHorizon);
        assert_eq!(early, late);
        assert_eq!(late.record(60, 1, None, 40), Touch::Changed);

        // a feature seen only beyond the horizon leaves no trace either
        let mut a = Activity::default();
        a.record(0, 1, Some(2), 40);
        a.record(100, 1, None, 40);
        let mut b = Activity::default();
        b.record(100, 1, None, 40);
        b.record(0, 1, Some(2), 40);
        assert_eq!(a, b);
        assert_eq!(late.record(59, 1, None, 40), Touch::BeyondHorizon);
    }
}
