//! The effective rules for one account: base config plus the overrides matching its
//! segment and usage profile, resolved into typed arrays so scoring never looks up
//! strings.

use serde::{Deserialize, Serialize};

use super::{Bands, ScoringConfig};
use crate::event::{Dimension, UsageProfile};

/// A usage share of licensed seats (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    DauPct,
    WauPct,
    MauPct,
}

impl Share {
    pub const NAMES: &'static [&'static str] = &["dau_pct", "wau_pct", "mau_pct"];
    pub fn parse(s: &str) -> Option<Share> {
        match s {
            "dau_pct" => Some(Share::DauPct),
            "wau_pct" => Some(Share::WauPct),
            "mau_pct" => Some(Share::MauPct),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        Self::NAMES[*self as usize]
    }
}

/// A health measure (SPEC §4), in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Adoption,
    Trend,
    Breadth,
    Stickiness,
    Sentiment,
}

impl Measure {
    pub const ALL: [Measure; 5] =
        [Measure::Adoption, Measure::Trend, Measure::Breadth, Measure::Stickiness, Measure::Sentiment];
    pub const NAMES: &'static [&'static str] = &["adoption", "trend", "breadth", "stickiness", "sentiment"];
    pub fn parse(s: &str) -> Option<Measure> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
    pub fn as_str(&self) -> &'static str {
        Self::NAMES[*self as usize]
    }
}

/// Rules in force for one account (see [`ScoringConfig::effective`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub profile: UsageProfile,
    /// The usage thresholds of the account's profile (percent of seats).
    pub thresholds: Vec<(Share, f64)>,
    /// The share `low_engagement` looks at.
    pub primary: Share,
    pub stickiness_target: Option<f64>,
    pub low_engagement_pct: f64,
    /// The `usage_declining` red-flag line on the profile's change metric.
    pub usage_declining_pct: f64,
    /// Indexed by [`Measure`] as usize; percent.
    pub health_weights: [f64; 5],
    pub bands: Bands,
    /// Indexed by [`Dimension`] as usize; percent.
    pub readiness_weights: [f64; 5],
}

fn thresholds(m: &std::collections::BTreeMap<String, f64>) -> Vec<(Share, f64)> {
    // Validation guarantees known names; an unknown one (unvalidated config) is
    // skipped rather than panicking.
    m.iter().filter_map(|(k, v)| Share::parse(k).map(|s| (s, *v))).collect()
}

fn health_weights(m: &std::collections::BTreeMap<String, f64>) -> [f64; 5] {
    let mut out = [0.0; 5];
    for (k, v) in m {
        if let Some(x) = Measure::parse(k) {
            out[x as usize] = *v;
        }
    }
    out
}

fn readiness_weights(m: &std::collections::BTreeMap<String, f64>) -> [f64; 5] {
    let mut out = [0.0; 5];
    for (k, v) in m {
        if let Some(d) = Dimension::ALL.iter().find(|d| d.as_str() == k) {
            out[d.index()] = *v;
        }
    }
    out
}

impl ScoringConfig {
    /// The rules in force for an account with this segment and usage profile:
    /// overrides whose matchers all hold are applied in file order, later wins.
    pub fn effective(&self, segment: Option<&str>, profile: UsageProfile) -> Effective {
        let p = self.profiles.get(profile);
        let mut e = Effective {
            profile,
            thresholds: thresholds(&p.thresholds),
            primary: Share::parse(&p.primary).unwrap_or(Share::MauPct),
            stickiness_target: p.stickiness_target,
            low_engagement_pct: self.red_flags.low_engagement_pct,
            usage_declining_pct: match profile {
                UsageProfile::Periodic => self.red_flags.usage_declining_periodic_pct,
                _ => self.red_flags.usage_declining_pct,
            },
            health_weights: health_weights(&self.health.weights),
            bands: self.health.bands,
            readiness_weights: readiness_weights(&self.readiness.weights),
        };
        for o in &self.overrides {
            let seg_ok = o.segment.as_deref().is_none_or(|s| Some(s) == segment);
            let prof_ok = o.profile.is_none_or(|p| p == profile);
            if !(seg_ok && prof_ok) {
                continue;
            }
            if let Some(w) = &o.health_weights {
                e.health_weights = health_weights(w);
            }
            if let Some(b) = o.health_bands {
                e.bands = b;
            }
            if let Some(w) = &o.readiness_weights {
                e.readiness_weights = readiness_weights(w);
            }
            if let Some(t) = &o.usage_thresholds {
                e.thresholds = thresholds(t);
            }
            if let Some(s) = o.stickiness_target {
                e.stickiness_target = Some(s);
            }
            if let Some(x) = o.low_engagement_pct {
                e.low_engagement_pct = x;
            }
        }
        e
    }
}
