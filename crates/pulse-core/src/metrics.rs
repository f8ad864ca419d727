//! SPEC §2 metrics for one day, from activity windows and the seats in force.

use serde::{Deserialize, Serialize};

use crate::activity::Window;
use crate::config::Share;
use crate::crm::CrmView;
use crate::event::UsageProfile;
use crate::num::{round, Day};

/// The published metrics of one account and day. Percentages are rounded to two
/// decimals, and every rule downstream compares the rounded values, so a published
/// `50.0` never triggers "below 50".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Licensed seats in force on the day; `None` when never set.
    pub seats: Option<u64>,
    pub dau: u32,
    pub wau: u32,
    pub mau: u32,
    /// Mean over D-6..D of daily distinct users / seats in force that day x 100;
    /// days without known seats are left out of the mean. Null when seats are
    /// unknown or 0 on D.
    pub dau_pct: Option<f64>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    /// (wau(D) - wau(D-7)) / wau(D-7) x 100; null when wau(D-7) = 0.
    pub wau_change_pct: Option<f64>,
    /// (mau(D) - mau(D-28)) / mau(D-28) x 100; null when mau(D-28) = 0.
    pub mau_change_pct: Option<f64>,
}

impl Metrics {
    pub fn share(&self, s: Share) -> Option<f64> {
        match s {
            Share::DauPct => self.dau_pct,
            Share::WauPct => self.wau_pct,
            Share::MauPct => self.mau_pct,
        }
    }

    /// The profile's change metric (SPEC §2): `wau_change_pct` for `daily` and
    /// `weekly`, `mau_change_pct` for `periodic` (used in bursts, so week-to-week
    /// swings are its normal rhythm, not a decline). It drives the `trend` measure,
    /// the `usage_declining` red flag and alert.
    pub fn change_pct(&self, profile: UsageProfile) -> Option<f64> {
        match profile {
            UsageProfile::Periodic => self.mau_change_pct,
            _ => self.wau_change_pct,
        }
    }

    /// True when the percentages cannot be computed (SPEC §2: seats unknown or 0).
    pub fn seats_unknown(&self) -> bool {
        !matches!(self.seats, Some(s) if s > 0)
    }
}

/// What the scoring rules need beyond the published metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Extra {
    /// WAU of D-7 (the denominator of `wau_change_pct`).
    pub wau_prev_week: u32,
    /// MAU of D-28 (the denominator of `mau_change_pct`).
    pub mau_prev_month: u32,
    /// Mean daily active users over D-6..D (stickiness numerator).
    pub dau_mean: f64,
    pub features_used: u64,
}

pub(crate) fn compute(w: &Window, d: Day, view: &CrmView<'_>) -> (Metrics, Extra) {
    let seats = view.seats_on(d);
    let pct = |n: u32| match seats {
        Some(s) if s > 0 => Some(round(f64::from(n) / s as f64 * 100.0, 2)),
        _ => None,
    };
    let dau_pct = match seats {
        Some(s) if s > 0 => {
            let mut sum = 0.0;
            let mut days = 0u32;
            for (k, &n) in w.dau.iter().enumerate() {
                if let Some(sk) = view.seats_on(d - k as Day).filter(|x| *x > 0) {
                    sum += f64::from(n) / sk as f64 * 100.0;
                    days += 1;
                }
            }
            (days > 0).then(|| round(sum / f64::from(days), 2))
        }
        _ => None,
    };
    let change = |now: u32, before: u32| {
        (before > 0).then(|| round((f64::from(now) - f64::from(before)) / f64::from(before) * 100.0, 2))
    };
    let wau_change_pct = change(w.wau, w.wau_prev_week);
    let mau_change_pct = change(w.mau, w.mau_prev_month);
    let metrics = Metrics {
        seats,
        dau: w.dau[0],
        wau: w.wau,
        mau: w.mau,
        dau_pct,
        wau_pct: pct(w.wau),
        mau_pct: pct(w.mau),
        wau_change_pct,
        mau_change_pct,
    };
    let extra = Extra {
        wau_prev_week: w.wau_prev_week,
        mau_prev_month: w.mau_prev_month,
        dau_mean: w.dau.iter().map(|&n| f64::from(n)).sum::<f64>() / 7.0,
        features_used: w.features_used,
    };
    (metrics, extra)
}

/// Conditions that block graduation and feed alerts (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedFlag {
    /// The profile's primary share is below `red_flags.low_engagement_pct`.
    LowEngagement,
    /// The profile's change metric at or below `red_flags.usage_declining_pct`
    /// (`usage_declining_periodic_pct` for `periodic`).
    UsageDeclining,
    /// Licensed seats unknown or 0: percentages cannot be computed.
    SeatsUnknown,
    /// At least one critical ticket whose latest status is open.
    CriticalTicketsOpen,
    /// A champion left and no champion is active.
    ChampionLeft,
}

impl RedFlag {
    pub fn as_str(&self) -> &'static str {
        match self {
            RedFlag::LowEngagement => "low_engagement",
            RedFlag::UsageDeclining => "usage_declining",
            RedFlag::SeatsUnknown => "seats_unknown",
            RedFlag::CriticalTicketsOpen => "critical_tickets_open",
            RedFlag::ChampionLeft => "champion_left",
        }
    }
}

impl std::fmt::Display for RedFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
